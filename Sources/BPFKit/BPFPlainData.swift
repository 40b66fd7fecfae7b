/// A type for which every bit pattern of its size is a valid value (aya's `Pod`, bytemuck's
/// `AnyBitPattern`): what a BPF map, a ring-buffer record or a global holds can be read as one
/// without checking, whatever the kernel wrote there. Typed map views accept only such types.
///
/// Conforming: the fixed-width integers, `Int`, `UInt`, `Float`, `Double`, `InlineArray`s of
/// conforming elements, `BPFCharArray`, and every type the skeleton generator writes from BTF.
/// Not conforming, so refused at compile time as a key or value: `Bool` (only 0 and 1 are
/// valid), Swift enums (only their cases' tags), `Optional` and references. Tuples cannot
/// conform (Swift has no tuple conformances): use `InlineArray` or a struct.
///
/// Declare a conformance for your own struct only if each of its stored properties conforms.
/// Give `bpfLayout` too (`BPFTypeLayout(Self.self, fields: [...])`), and views made from a
/// skeleton's `BPFMap` check each field's offset and size against the map's BTF, not only the
/// type's size.
public protocol BPFPlainData: BitwiseCopyable {
    /// The C layout this type mirrors: the C fields it declares, with their offsets and sizes.
    /// nil (the default): only the size is checked.
    static var bpfLayout: BPFTypeLayout? { get }
}

extension BPFPlainData {
    public static var bpfLayout: BPFTypeLayout? { nil }

    /// The value whose bytes are all zero (valid, as every bit pattern is).
    public static var zeroed: Self {
        withUnsafeTemporaryAllocation(byteCount: max(MemoryLayout<Self>.size, 1), alignment: MemoryLayout<Self>.alignment) {
            $0.initializeMemory(as: UInt8.self, repeating: 0)
            return $0.loadUnaligned(as: Self.self)
        }
    }

    /// Copies a value from the start of `bytes` (a ring-buffer record, say); nil if `bytes` is
    /// shorter than the type. Bytes past it are ignored.
    public init?(loading bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MemoryLayout<Self>.size else { return nil }
        self = bytes.loadUnaligned(as: Self.self)
    }

    /// Copies a value from the start of `record` (a ring-buffer record's span, say); nil if the
    /// record is shorter than the type. Bytes past it are ignored.
    public init?(loading record: RawSpan) {
        guard record.byteCount >= MemoryLayout<Self>.size else { return nil }
        self = record.unsafeLoadUnaligned(as: Self.self)
    }

    /// The `T` at byte `offset` of this value (generated accessors of union members and
    /// misaligned fields).
    public func loadField<T: BPFPlainData>(at offset: Int, as type: T.Type = T.self) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= MemoryLayout<Self>.size, "field outside \(Self.self)")
        return withUnsafeBytes(of: self) { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }

    /// Stores `value` at byte `offset` of this value.
    public mutating func storeField<T: BPFPlainData>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= MemoryLayout<Self>.size, "field outside \(Self.self)")
        withUnsafeMutableBytes(of: &self) { $0.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    }

    /// Whether `a` and `b` have the same bytes: how the kernel compares keys (generated types'
    /// `==`; a float's `-0` and `0` differ, two equal NaNs do not).
    public static func bytesEqual(_ a: Self, _ b: Self) -> Bool {
        withUnsafeBytes(of: a) { a in withUnsafeBytes(of: b) { b in a.elementsEqual(b) } }
    }

    /// Feeds this value's bytes to `hasher` (generated types' `hash(into:)`).
    public func hashBytes(into hasher: inout Hasher) {
        withUnsafeBytes(of: self) { hasher.combine(bytes: $0) }
    }
}

extension UInt8: BPFPlainData {}
extension UInt16: BPFPlainData {}
extension UInt32: BPFPlainData {}
extension UInt64: BPFPlainData {}
extension UInt: BPFPlainData {}
extension Int8: BPFPlainData {}
extension Int16: BPFPlainData {}
extension Int32: BPFPlainData {}
extension Int64: BPFPlainData {}
extension Int: BPFPlainData {}
extension UInt128: BPFPlainData {}
extension Int128: BPFPlainData {}
extension Float: BPFPlainData {}
extension Double: BPFPlainData {}
extension InlineArray: BPFPlainData where Element: BPFPlainData {}

/// A C `char name[count]`, stored as its bytes and read as a string: what the skeleton
/// generator writes for a char array (`comm`, a path). Every bit pattern is valid.
public struct BPFCharArray<let count: Int>: BPFPlainData, Hashable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral {
    /// The bytes, as C has them (a string ends at the first NUL, if any).
    public var bytes: InlineArray<count, UInt8>

    /// `string`'s UTF-8 bytes, cut at `count` bytes; the rest zero.
    public init(_ string: some StringProtocol) {
        bytes = .init(repeating: 0)
        for (index, byte) in string.utf8.prefix(count).enumerated() { bytes[index] = byte }
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// The bytes before the first NUL (all of them if there is none), valid during `body`.
    public func withStringBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: bytes) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[..<(raw.firstIndex(of: 0) ?? raw.count)]))
        }
    }

    /// The string: the bytes before the first NUL, invalid UTF-8 repaired.
    public var string: String { withStringBytes { String(decoding: $0, as: UTF8.self) } }

    public var description: String { string }

    public static func == (a: Self, b: Self) -> Bool { bytesEqual(a, b) }
    public func hash(into hasher: inout Hasher) { hashBytes(into: &hasher) }
}

/// Reads and writes C bitfields: `bitCount` bits starting `bitOffset` bits into `bytes`, with
/// BTF's numbering on a little-endian target (bit `n` is bit `n % 8` of byte `n / 8`).
/// Generated accessors of bitfield members use it.
public enum BPFBitfield {
    /// The bitfield's bits, zero-extended (`bitCount` is 1...64).
    public static func load(from bytes: UnsafeRawBufferPointer, bitOffset: Int, bitCount: Int) -> UInt64 {
        let first = bitOffset / 8, shift = bitOffset % 8
        let count = (shift + bitCount + 7) / 8
        precondition(bitCount > 0 && bitCount <= 64 && first + count <= bytes.count, "bitfield outside its bytes")
        var word: UInt128 = 0
        for index in 0..<count { word |= UInt128(bytes[first + index]) << (8 * index) }
        return UInt64(truncatingIfNeeded: word >> shift) & mask(bitCount)
    }

    /// The bitfield's bits, sign-extended: for a signed bitfield.
    public static func loadSigned(from bytes: UnsafeRawBufferPointer, bitOffset: Int, bitCount: Int) -> Int64 {
        let bits = load(from: bytes, bitOffset: bitOffset, bitCount: bitCount)
        return Int64(bitPattern: bits << (64 - bitCount)) >> (64 - bitCount)
    }

    /// Writes the low `bitCount` bits of `value` into the bitfield; the bits around it stay.
    public static func store(_ value: UInt64, into bytes: UnsafeMutableRawBufferPointer, bitOffset: Int, bitCount: Int) {
        let first = bitOffset / 8, shift = bitOffset % 8
        let count = (shift + bitCount + 7) / 8
        precondition(bitCount > 0 && bitCount <= 64 && first + count <= bytes.count, "bitfield outside its bytes")
        var word: UInt128 = 0
        for index in 0..<count { word |= UInt128(bytes[first + index]) << (8 * index) }
        let field = UInt128(mask(bitCount)) << shift
        word = (word & ~field) | (UInt128(value & mask(bitCount)) << shift)
        for index in 0..<count { bytes[first + index] = UInt8(truncatingIfNeeded: word >> (8 * index)) }
    }

    private static func mask(_ bitCount: Int) -> UInt64 { bitCount >= 64 ? .max : (1 << bitCount) - 1 }
}
