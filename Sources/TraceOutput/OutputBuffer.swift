/// A growable byte buffer that formatters append to; written out with one `write` per batch.
/// Number formatting here allocates nothing.
public struct OutputBuffer {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 1 << 16) {
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }
    public var isEmpty: Bool { bytes.isEmpty }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Removes the first `count` bytes (those written out).
    public mutating func removeFirst(_ count: Int) {
        if count >= bytes.count { bytes.removeAll(keepingCapacity: true) } else { bytes.removeFirst(count) }
    }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        bytes.append(byte)
    }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    public mutating func append(contentsOf raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }

    /// Appends `count` copies of `byte`.
    public mutating func append(repeating byte: UInt8, count: Int) {
        if count > 0 { bytes.append(contentsOf: repeatElement(byte, count: count)) }
    }

    /// Appends spaces until `count` has grown to `start + width` (nothing if already past it).
    public mutating func pad(from start: Int, toWidth width: Int) {
        append(repeating: UInt8(ascii: " "), count: start + width - bytes.count)
    }

    /// How many decimal digits `value` has.
    public static func decimalDigits(_ value: UInt64) -> Int {
        var n = value, digits = 1
        while n >= 10 { n /= 10; digits += 1 }
        return digits
    }

    /// Appends `value` in decimal, right-aligned in `width` columns (`%*d`), or left-aligned (`%-*d`).
    public mutating func appendDecimal(_ value: Int64, width: Int = 0, leftAligned: Bool = false) {
        appendNumber(magnitude: value.magnitude, negative: value < 0, radix: 10, width: width,
                     leftAligned: leftAligned, zeroPadded: false)
    }

    /// Appends `value` in decimal.
    public mutating func appendUnsigned(_ value: UInt64) {
        appendNumber(magnitude: value, negative: false, radix: 10, width: 0, leftAligned: false, zeroPadded: false)
    }

    /// Appends `value` in octal, zero-padded to `width` digits (`%0*o`).
    public mutating func appendOctal(_ value: UInt64, width: Int) {
        appendNumber(magnitude: value, negative: false, radix: 8, width: width, leftAligned: false, zeroPadded: true)
    }

    /// Appends `value` as exactly `width` decimal digits, zero-padded (for times).
    public mutating func appendZeroPadded(_ value: UInt64, width: Int) {
        appendNumber(magnitude: value, negative: false, radix: 10, width: width, leftAligned: false, zeroPadded: true)
    }

    private mutating func appendNumber(magnitude: UInt64, negative: Bool, radix: UInt64, width: Int,
                                       leftAligned: Bool, zeroPadded: Bool) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { digits in
            var n = magnitude
            var i = 24
            repeat {
                i -= 1
                digits[i] = UInt8(ascii: "0") + UInt8(n % radix)
                n /= radix
            } while n != 0
            let fill = max(0, width - (24 - i) - (negative ? 1 : 0))
            if !leftAligned { append(repeating: zeroPadded ? UInt8(ascii: "0") : UInt8(ascii: " "), count: fill) }
            if negative { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i..<24]))
            if leftAligned { append(repeating: UInt8(ascii: " "), count: fill) }
        }
    }
}
