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

    /// Copies `count` bytes; up to 64 with two (possibly overlapping) loads and stores of the
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
        case 17...32: pair(SIMD16<UInt8>.self)  // a repeated run's bytes: no call to memcpy
        case 33...64: pair(SIMD32<UInt8>.self)
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
        // The digits are written before the spaces after them (the write of a number may
        // store past its end) and after the spaces before them (so may a short fill).
        if leftAligned {
            if value < 0 { at[0] = UInt8(ascii: "-") }
            Self.writeDecimal(magnitude, digits: digits, at: at + (length &- digits))
            if columns > length { Self.fill(at + length, with: UInt8(ascii: " "), count: columns &- length) }
        } else {
            if columns > length { Self.fill(at, with: UInt8(ascii: " "), count: columns &- length) }
            let number = at + (columns &- length)
            if value < 0 { number[0] = UInt8(ascii: "-") }
            Self.writeDecimal(magnitude, digits: digits, at: number + (length &- digits))
        }
        used &+= columns
    }

    /// Appends `value` in decimal.
    @inlinable
    public mutating func appendUnsigned(_ value: UInt64) {
        let digits = Self.decimalDigits(value)
        reserve(digits &+ 8)
        Self.writeDecimal(value, digits: digits, at: base + used)
        used &+= digits
    }

    /// Appends the 8 decimal digits of `value` (< 100,000,000), zero-padded.
    @inlinable @inline(__always)
    public mutating func appendEightDigits(_ value: UInt64) {
        reserve(8)
        UnsafeMutableRawPointer(base + used).storeBytes(of: Self.eightDigits(value).littleEndian, as: UInt64.self)
        used &+= 8
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
        let digits = Self.decimalDigits(value)
        if width > 20 { append(repeating: UInt8(ascii: "0"), count: width - Swift.max(digits, 20)) }
        let count = Swift.max(Swift.min(width, 20), digits)
        reserve(count &+ 8)
        Self.writeDecimal(value, digits: count, at: base + used)
        used &+= count
    }

    /// Writes the last `digits` (at most 20) decimal digits of `value` (leading zeros if it has
    /// fewer) at `at`, 8 at a time (`eightDigits`); may write up to 8 bytes past them, which
    /// must be writable (scratch: the next append overwrites them).
    @inlinable @inline(__always)
    static func writeDecimal(_ value: UInt64, digits: Int, at: UnsafeMutablePointer<UInt8>) {
        if digits == 1 {
            at[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
        } else if digits <= 8 {
            storeDigits(value % 100_000_000, count: digits, at: UnsafeMutableRawPointer(at))
        } else {
            writeLongDecimal(value, digits: digits, at: UnsafeMutableRawPointer(at))
        }
    }

    /// `writeDecimal` for 9 to 20 digits, out of line so that the short cases stay small where
    /// they are inlined. The first group is stored first: the bytes it stores past its digits
    /// are overwritten by the next.
    @usableFromInline @inline(never)
    static func writeLongDecimal(_ value: UInt64, digits: Int, at: UnsafeMutableRawPointer) {
        let low = value % 100_000_000
        if digits <= 16 {
            storeDigits(value / 100_000_000 % 100_000_000, count: digits &- 8, at: at)
        } else {
            storeDigits(value / 10_000_000_000_000_000 % 100_000_000, count: digits &- 16, at: at)
            storeDigits(value / 100_000_000 % 100_000_000, count: 8, at: at + (digits &- 16))
        }
        storeDigits(low, count: 8, at: at + (digits &- 8))
    }

    /// Stores the last `count` (1...8) of the 8 digits of `group` (< 100,000,000) at `at`, and
    /// 8 - `count` bytes of scratch after them.
    @inlinable @inline(__always)
    static func storeDigits(_ group: UInt64, count: Int, at: UnsafeMutableRawPointer) {
        at.storeBytes(of: (eightDigits(group) >> (UInt64(8 &- count) &* 8)).littleEndian, as: UInt64.self)
    }

    /// The 8 decimal digits of `value` (< 100,000,000; zero-padded) as ASCII in a word, first
    /// digit in the lowest byte: the number is split into lanes of the word (two of 4 digits,
    /// then four of 2, then eight of 1), each split done for all lanes at once by a multiply
    /// and shift that divides exactly in these ranges (x * 10486 >> 20 == x / 100 for x < 10,000;
    /// x * 103 >> 10 == x / 10 for x < 100). About 15 instructions for 8 digits.
    @inlinable @inline(__always)
    static func eightDigits(_ value: UInt64) -> UInt64 {
        let fours = value / 10_000 | (value % 10_000) << 32
        let hundreds = (fours &* 10_486) >> 20 & 0x0000_007F_0000_007F
        let twos = hundreds | (fours &- hundreds &* 100) << 16
        let tens = (twos &* 103) >> 10 & 0x000F_000F_000F_000F
        let ones = tens | (twos &- tens &* 10) << 8
        return ones | 0x3030_3030_3030_3030
    }
}
