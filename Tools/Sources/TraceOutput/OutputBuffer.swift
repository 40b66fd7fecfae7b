internal import Glibc

/// A growable byte buffer that formatters append to; written out with one `write` per batch.
///
/// Raw, noncopyable storage: appending costs a capacity check and a store (no reference
/// counting, no copy-on-write check), and nothing is allocated except when the buffer grows.
public struct OutputBuffer: ~Copyable {
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var capacity: Int
    @usableFromInline var used = 0

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Bytes appended and not yet removed.
    @inlinable public var count: Int { used }
    @inlinable public var isEmpty: Bool { used == 0 }

    /// A copy of the bytes (for tests and small caches; the output path uses `withUnsafeBytes`).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: used)) }

    /// The bytes, valid during `body`.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: used))
    }

    public mutating func removeAll() {
        used = 0
    }

    /// Removes the first `count` bytes (those written out).
    public mutating func removeFirst(_ count: Int) {
        if count >= used {
            used = 0
        } else if count > 0 {
            memmove(base, base + count, used - count)
            used -= count
        }
    }

    /// Makes room for `extra` more bytes.
    @inlinable @inline(__always)
    public mutating func reserve(_ extra: Int) {
        if _slowPath(used + extra > capacity) { grow(to: used + extra) }
    }

    @usableFromInline
    mutating func grow(to minimum: Int) {
        let newCapacity = Swift.max(minimum, capacity * 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: used)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inlinable @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1)
        base[used] = byte
        used += 1
    }

    @inlinable @inline(__always)
    public mutating func append(_ text: StaticString) {
        append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @_disfavoredOverload  // a literal is a StaticString: no String is made for it
    public mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: UnsafeRawBufferPointer($0)) }
    }

    @inlinable @inline(__always)
    public mutating func append(contentsOf raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress else { return }
        let count = raw.count
        reserve(count)
        Self.copy(source, count: count, to: UnsafeMutableRawPointer(base + used))
        used &+= count
    }

    /// Copies `count` bytes; up to 16 with two (possibly overlapping) loads and stores of the
    /// largest size that fits, reading and writing nothing outside the two ranges.
    @inlinable @inline(__always)
    static func copy(_ from: UnsafeRawPointer, count: Int, to: UnsafeMutableRawPointer) {
        func pair<T>(_ type: T.Type) {
            let size = MemoryLayout<T>.size
            let first = from.loadUnaligned(as: T.self), last = from.loadUnaligned(fromByteOffset: count &- size, as: T.self)
            to.storeBytes(of: first, as: T.self)
            to.storeBytes(of: last, toByteOffset: count &- size, as: T.self)
        }
        switch count {
        case 8...16: pair(UInt64.self)
        case 4..<8: pair(UInt32.self)
        case 2..<4: pair(UInt16.self)
        case 1: to.storeBytes(of: from.load(as: UInt8.self), as: UInt8.self)
        case 0: break
        default: to.copyMemory(from: from, byteCount: count)
        }
    }

    /// Appends `count` copies of `byte`.
    @inlinable @inline(__always)
    public mutating func append(repeating byte: UInt8, count: Int) {
        guard count > 0 else { return }
        reserve(count + 16)
        Self.fill(base + used, with: byte, count: count)
        used += count
    }

    /// Appends spaces until `count` has grown to `start + width` (nothing if already past it).
    @inlinable @inline(__always)
    public mutating func pad(from start: Int, toWidth width: Int) {
        append(repeating: UInt8(ascii: " "), count: start + width - used)
    }

    /// Writes `count` copies of `byte` at `at`, where at least `count + 16` bytes are writable:
    /// a short run is two 8-byte stores (bytes past `count` are beyond the buffer's end).
    @inlinable @inline(__always)
    static func fill(_ at: UnsafeMutablePointer<UInt8>, with byte: UInt8, count: Int) {
        if count <= 16 {
            let word = UInt64(byte) &* 0x0101_0101_0101_0101
            UnsafeMutableRawPointer(at).storeBytes(of: word, as: UInt64.self)
            UnsafeMutableRawPointer(at + 8).storeBytes(of: word, as: UInt64.self)
        } else {
            fillLong(at, with: byte, count: count)
        }
    }

    /// `fill` for more than 16 bytes, kept out of line so that the short case stays two stores.
    @usableFromInline @inline(never)
    static func fillLong(_ at: UnsafeMutablePointer<UInt8>, with byte: UInt8, count: Int) {
        at.initialize(repeating: byte, count: count)
    }

    /// How many decimal digits `value` has.
    @inlinable @inline(__always)
    public static func decimalDigits(_ value: UInt64) -> Int {
        var n = value, digits = 1
        while n >= 10_000 { n /= 10_000; digits += 4 }
        if n >= 100 { return digits + (n >= 1_000 ? 3 : 2) }
        return digits + (n >= 10 ? 1 : 0)
    }

    /// Appends `value` in decimal, right-aligned in `width` columns (`%*d`), or left-aligned (`%-*d`).
    @inlinable @inline(__always)
    public mutating func appendDecimal(_ value: Int64, width: Int = 0, leftAligned: Bool = false) {
        let magnitude = value.magnitude
        let digits = Self.decimalDigits(magnitude)
        let length = value < 0 ? digits &+ 1 : digits
        let columns = Swift.max(width, length)
        reserve(columns &+ 16)
        let at = base + used
        if columns > length { Self.fill(at, with: UInt8(ascii: " "), count: columns) }
        let number = leftAligned ? at : at + (columns &- length)
        if value < 0 { number[0] = UInt8(ascii: "-") }
        Self.writeDecimal(magnitude, digits: digits, at: number + (length &- digits))
        used &+= columns
    }

    /// Appends `value` in decimal.
    @inlinable
    public mutating func appendUnsigned(_ value: UInt64) {
        let digits = Self.decimalDigits(value)
        reserve(digits)
        Self.writeDecimal(value, digits: digits, at: base + used)
        used += digits
    }

    /// Appends `value` in octal, zero-padded to `width` digits (`%0*o`).
    public mutating func appendOctal(_ value: UInt64, width: Int) {
        var digits = 1
        while digits < 22 && value >> (3 * UInt64(digits)) != 0 { digits += 1 }
        let total = Swift.max(width, digits)
        reserve(total)
        var n = value
        for i in stride(from: total - 1, through: 0, by: -1) {
            base[used + i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n & 7)
            n >>= 3
        }
        used += total
    }

    /// Appends `value` as at least `width` decimal digits, zero-padded (for times).
    @inlinable
    public mutating func appendZeroPadded(_ value: UInt64, width: Int) {
        let digits = Swift.max(width, Self.decimalDigits(value))
        reserve(digits)
        Self.writeDecimal(value, digits: digits, at: base + used)
        used += digits
    }

    /// Writes the last `digits` decimal digits of `value` (leading zeros if it has fewer) at `at`,
    /// two at a time from a table.
    @inlinable @inline(__always)
    static func writeDecimal(_ value: UInt64, digits: Int, at: UnsafeMutablePointer<UInt8>) {
        let pairs = UnsafeRawPointer(digitPairs)
        var n = value
        var i = digits
        while i >= 2 {
            let quotient = n / 100
            let pair = pairs.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: n &- quotient &* 100) &* 2, as: UInt16.self)
            n = quotient
            i &-= 2
            UnsafeMutableRawPointer(at + i).storeBytes(of: pair, as: UInt16.self)
        }
        if i == 1 { at[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n % 10) }
    }

    /// "00", "01", ... "99" back to back.
    @inlinable
    static var digitPairs: UnsafePointer<UInt8> {
        ("00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899" as StaticString).utf8Start
    }
}
