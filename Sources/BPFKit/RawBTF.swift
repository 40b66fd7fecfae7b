internal import Glibc

/// BTF read in place from its raw bytes (the kernel's, memory-mapped, or an object's `.BTF`
/// section): an index of where each type's record starts, and accessors for the fields CO-RE
/// matching needs. Nothing is copied; the bytes must outlive the value. Native byte order only.
struct RawBTF {
    enum Kind: UInt32 {
        case int = 1, pointer, array, structure, union, enumeration, forward, typedef, volatile, const,
             restrict, function, functionPrototype, variable, dataSection, float, declarationTag, typeTag,
             enumeration64
    }

    /// One member of a struct or union, as stored.
    struct Member {
        let nameOffset: UInt32
        let type: UInt32
        /// Bit offset, or (with the kind flag) bitfield size << 24 | bit offset.
        let offset: UInt32
    }

    let bytes: UnsafeRawBufferPointer
    private let typesStart: Int
    private let strings: Range<Int>
    /// Byte offset of each type's record; index 0 (void) has none.
    private var records: [UInt32]

    static let magic: UInt16 = 0xEB9F
    private static let headerSize = 24, recordSize = 12

    /// Indexes `bytes`; nil unless it is well-formed BTF of a kind this reader knows.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize, bytes.loadUnaligned(as: UInt16.self) == Self.magic,
              bytes[2] == 1 else { return nil }
        let headerLength = Int(bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let typeOffset = Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let typeLength = Int(bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        let stringOffset = Int(bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        let stringLength = Int(bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        let typesStart = headerLength + typeOffset, typesEnd = typesStart + typeLength
        let stringsStart = headerLength + stringOffset, stringsEnd = stringsStart + stringLength
        guard headerLength >= Self.headerSize, typesEnd <= bytes.count, stringsEnd <= bytes.count,
              stringLength > 0 else { return nil }
        self.bytes = bytes
        self.typesStart = typesStart
        self.strings = stringsStart..<stringsEnd
        // Trailer bytes per kind: fixed, or per vlen entry (negative); 0 for an unknown kind.
        let trailers: [Int] = (0..<32).map { raw in
            guard let kind = Kind(rawValue: UInt32(raw)) else { return 0 }
            let one = Self.trailerSize(kind, vlen: 1), two = Self.trailerSize(kind, vlen: 2)
            return one == two ? one : -one
        }
        // One pass over the kernel's ~150,000 records, so written without checked appends.
        var wellFormed = true
        let records = [UInt32](unsafeUninitializedCapacity: typeLength / Self.recordSize + 1) { records, count in
            trailers.withUnsafeBufferPointer { trailers in
                records[0] = 0
                count = 1
                var position = typesStart
                while position < typesEnd {
                    guard position + Self.recordSize <= typesEnd else { break }
                    let info = bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)
                    let raw = Int((info >> 24) & 0x1f)
                    guard raw >= 1 && raw <= 19 else { break }
                    let trailer = trailers[raw]
                    records[count] = UInt32(position)
                    count += 1
                    position += Self.recordSize + (trailer >= 0 ? trailer : -trailer * Int(info & 0xffff))
                }
                wellFormed = position == typesEnd
            }
        }
        guard wellFormed else { return nil }
        self.records = records
    }

    /// Calls `body` with the id and name offset of each type of the kinds in `kinds` (bit
    /// 1 << kind) whose name starts with a byte in `firstBytes` (bit `byte`): the scans for
    /// names, without reading most names.
    func forEachType(kinds: UInt32, firstBytes: NameStarts, _ body: (UInt32, UInt32) -> Void) {
        let base = bytes.baseAddress!
        let stringsStart = strings.lowerBound, stringsEnd = strings.upperBound
        records.withUnsafeBufferPointer { records in
            for id in 1..<records.count {
                let record = Int(records[id])
                let info = base.loadUnaligned(fromByteOffset: record + 4, as: UInt32.self)
                guard kinds & (1 << (info >> 24 & 0x1f)) != 0 else { continue }
                let nameOffset = base.loadUnaligned(fromByteOffset: record, as: UInt32.self)
                let start = stringsStart + Int(nameOffset)
                guard start < stringsEnd, firstBytes.contains(base.load(fromByteOffset: start, as: UInt8.self)) else { continue }
                body(UInt32(id), nameOffset)
            }
        }
    }

    /// A set of bytes, for `forEachType`.
    struct NameStarts {
        private var bits = SIMD4<UInt64>()

        init<S: Sequence>(_ names: S) where S.Element == [UInt8] {
            for name in names where !name.isEmpty {
                bits[Int(name[0] >> 6)] |= 1 << UInt64(name[0] & 63)
            }
        }

        func contains(_ byte: UInt8) -> Bool { bits[Int(byte >> 6)] & (1 << UInt64(byte & 63)) != 0 }
    }

    /// Bytes after the common 12-byte record, by kind.
    static func trailerSize(_ kind: Kind, vlen: Int) -> Int {
        switch kind {
        case .int, .variable, .declarationTag: return 4
        case .array: return 12
        case .structure, .union, .dataSection, .enumeration64: return 12 * vlen
        case .enumeration, .functionPrototype: return 8 * vlen
        case .pointer, .forward, .typedef, .volatile, .const, .restrict, .function, .float, .typeTag: return 0
        }
    }

    /// The number of type ids, void (0) included.
    var count: Int { records.count }

    private func word(_ id: UInt32, _ index: Int) -> UInt32 {
        bytes.loadUnaligned(fromByteOffset: Int(records[Int(id)]) + 4 * index, as: UInt32.self)
    }

    func isValid(_ id: UInt32) -> Bool { id > 0 && Int(id) < records.count }
    func kind(_ id: UInt32) -> Kind { Kind(rawValue: (word(id, 1) >> 24) & 0x1f)! }
    func vlen(_ id: UInt32) -> Int { Int(word(id, 1) & 0xffff) }
    func nameOffset(_ id: UInt32) -> UInt32 { word(id, 0) }
    /// Kind, kind flag and vlen, as stored.
    func info(_ id: UInt32) -> UInt32 { word(id, 1) }
    /// An int's encoding word (bit offset in bits 16-23, width in 0-7).
    func intEncoding(_ id: UInt32) -> UInt32 { word(id, 3) }
    /// The size (int, struct, union, enum, float, datasec) or the referenced type (the others).
    func sizeOrType(_ id: UInt32) -> UInt32 { word(id, 2) }
    /// Byte offset and length of the whole record of `id`, trailer included.
    func record(_ id: UInt32) -> Range<Int> {
        let start = Int(records[Int(id)])
        return start..<(start + Self.recordSize + Self.trailerSize(kind(id), vlen: vlen(id)))
    }

    func member(_ id: UInt32, _ index: Int) -> Member {
        Member(nameOffset: word(id, 3 + 3 * index), type: word(id, 4 + 3 * index), offset: word(id, 5 + 3 * index))
    }

    /// An array's element type and length.
    func array(_ id: UInt32) -> (element: UInt32, index: UInt32, count: UInt32) {
        (word(id, 3), word(id, 4), word(id, 5))
    }

    /// A function prototype's parameter: its name and type.
    func parameter(_ id: UInt32, _ index: Int) -> (nameOffset: UInt32, type: UInt32) {
        (word(id, 3 + 2 * index), word(id, 4 + 2 * index))
    }

    /// An enumerator's name (enum and enum64).
    func enumeratorNameOffset(_ id: UInt32, _ index: Int) -> UInt32 {
        word(id, kind(id) == .enumeration ? 3 + 2 * index : 3 + 3 * index)
    }

    /// The name at `offset` in the string section, without its NUL; empty if out of range.
    func name(at offset: UInt32) -> UnsafeRawBufferPointer {
        let start = strings.lowerBound + Int(offset)
        guard start < strings.upperBound else { return UnsafeRawBufferPointer(rebasing: bytes[0..<0]) }
        let length = strnlen(bytes.baseAddress!.assumingMemoryBound(to: CChar.self) + start, strings.upperBound - start)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
    }

    func name(_ id: UInt32) -> UnsafeRawBufferPointer { name(at: nameOffset(id)) }

    /// `id` with typedefs and const/volatile/restrict/type tags skipped.
    func resolved(_ id: UInt32) -> UInt32 {
        var id = id
        for _ in 0..<64 where isValid(id) {
            switch kind(id) {
            case .typedef, .volatile, .const, .restrict, .typeTag: id = sizeOrType(id)
            default: return id
            }
        }
        return id
    }

    func isComposite(_ id: UInt32) -> Bool { isValid(id) && (kind(id) == .structure || kind(id) == .union) }
}

/// A name without its CO-RE flavor (`task_struct___old` is `task_struct`), as libbpf cuts it:
/// before the last `___` that has a non-underscore on each side.
func essentialName(_ name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    let underscore: UInt8 = 0x5F
    var index = name.count - 5
    while index >= 0 {
        if name[index] != underscore && name[index + 1] == underscore && name[index + 2] == underscore
            && name[index + 3] == underscore && name[index + 4] != underscore {
            return UnsafeRawBufferPointer(rebasing: name[0..<(index + 1)])
        }
        index -= 1
    }
    return name
}
