internal import CLibBPF

/// A C type's layout, field by field: what a Swift type mirroring it declares
/// (`BPFPlainData.bpfLayout`), or what the object's BTF says. A typed map view made from a
/// skeleton's `BPFMap` compares the two, so a hand-written mirror whose fields are in the wrong
/// place is an error when the view is made, not wrong data later.
public struct BPFTypeLayout: Sendable, Equatable, CustomStringConvertible {
    /// One C field: its name, byte offset and size.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var offset: Int
        public var size: Int

        public init(_ name: String, offset: Int, size: Int) {
            self.name = name
            self.offset = offset
            self.size = size
        }
    }

    /// The C type (`struct pair`), when known.
    public var name: String?
    /// The size in bytes.
    public var size: Int
    /// The fields, in offset order (bitfields are not listed).
    public var fields: [Field]

    public init(name: String? = nil, size: Int, fields: [Field]) {
        self.name = name
        self.size = size
        self.fields = fields
    }

    /// The layout of Swift type `type` mirroring a C type: each C field named with the key path
    /// of the stored property that holds it (`BPFTypeLayout(Pair.self, fields: ["a": \.a,
    /// "b": \.b])`); offsets and sizes are the Swift type's. A computed property has no offset:
    /// naming one is a programming error (trap).
    public init<T>(_ type: T.Type, fields: KeyValuePairs<String, PartialKeyPath<T>>) {
        self.init(size: MemoryLayout<T>.size, fields: fields.map { name, keyPath in
            guard let offset = MemoryLayout<T>.offset(of: keyPath) else {
                preconditionFailure("\(T.self): the key path of \(name) is not a stored property")
            }
            // Every key path of a BPFTypeLayout is a KeyPath<T, Value>: its value's size.
            let size = (Swift.type(of: keyPath) as? any ValueSized.Type)?.valueSize ?? 0
            return Field(name, offset: offset, size: size)
        })
    }

    /// `struct pair (16 bytes): a at 0 (8 bytes), b at 8 (4 bytes)`.
    public var description: String {
        let list = fields.map { "\($0.name) at \($0.offset) (\($0.size) bytes)" }.joined(separator: ", ")
        return "\(name ?? "a type") (\(size) bytes): \(list)"
    }

    /// What `actual` (the C layout) says differently about the fields this layout declares,
    /// for `swiftType`: nil if every declared field is there, at the same offset, of the same size.
    package func mismatch(with actual: BPFTypeLayout, swiftType: String) -> String? {
        let cName = actual.name ?? "the C type"
        for field in fields {
            guard let c = actual.fields.first(where: { $0.name == field.name }) else {
                let names = actual.fields.map(\.name).joined(separator: ", ")
                return "\(cName) has no field \(field.name) (its fields: \(names)), which \(swiftType) declares"
            }
            if c.offset != field.offset {
                return "field \(field.name) of \(cName) is at byte \(c.offset), \(swiftType) has it at byte \(field.offset)"
            }
            if c.size != field.size {
                return "field \(field.name) of \(cName) is \(c.size) bytes, \(swiftType)'s is \(field.size)"
            }
        }
        return nil
    }
}

extension BPFTypeLayout {
    /// For the tests of generated types: how `type`'s Swift layout (its size, and its stored
    /// properties, each named by the C field it holds) differs from its C layout, `bpfLayout`.
    public static func mismatches<T: BPFPlainData>(of type: T.Type,
                                                   storedFields: KeyValuePairs<String, PartialKeyPath<T>>) -> [String] {
        guard let c = T.bpfLayout else { return ["\(T.self) declares no C layout"] }
        let swift = BPFTypeLayout(T.self, fields: storedFields)
        var found: [String] = []
        if swift.size != c.size { found.append("\(T.self) is \(swift.size) bytes, \(c.name ?? "its C type") \(c.size)") }
        if let problem = swift.mismatch(with: c, swiftType: "\(T.self)") { found.append(problem) }
        return found
    }
}

/// The size of a key path's value, read from its type (a `PartialKeyPath` hides it).
private protocol ValueSized {
    static var valueSize: Int { get }
}

extension KeyPath: ValueSized {
    static var valueSize: Int { MemoryLayout<Value>.size }
}

extension BPFTypeLayout {
    /// The layout of a C struct or union as BTF describes it: the members of anonymous members
    /// at their place in the parent (as C reaches them), bitfields and zero-sized members left out.
    package init(_ record: BTFInfo.Record) {
        var fields: [Field] = []
        func collect(_ record: BTFInfo.Record, at base: Int) {
            for member in record.members where member.bitSize == 0 && member.bitOffset % 8 == 0 {
                let offset = base + member.bitOffset / 8
                if member.name.isEmpty, case .record(let inner) = member.shape {
                    collect(inner, at: offset)
                } else if member.shape.size > 0 {
                    fields.append(Field(member.name, offset: offset, size: member.shape.size))
                }
            }
        }
        collect(record, at: 0)
        self.init(name: record.cName, size: record.size, fields: fields.sorted { $0.offset < $1.offset })
    }
}

extension BPFMap {
    /// The BTF type of the key (0 when the definition gives only its size).
    package var btfKeyTypeID: UInt32 { bpf_map__btf_key_type_id(pointer) }
    /// The BTF type of the value (0 when the definition gives only its size).
    package var btfValueTypeID: UInt32 { bpf_map__btf_value_type_id(pointer) }

    /// For a map of maps, the definition of the maps it holds (`__array(values, ...)`).
    package var innerMap: BPFMap? { bpf_map__inner_map(pointer).map { BPFMap(storage: storage, pointer: $0) } }

    /// Checks a view's key and value types against the map's BTF: a type must reach at least to
    /// the end of the C struct's last field (the view's size check allows for C's trailing
    /// padding, not for a type that stops short), and for each type that declares its layout
    /// (`BPFPlainData.bpfLayout`), every field it names must be a field of the C type at the same
    /// offset and of the same size.
    func checkLayout<Key: BPFPlainData, Value: BPFPlainData>(key: Key.Type, value: Value.Type) throws(BPFError) {
        try checkLayout(Key.self, typeID: btfKeyTypeID, "key")
        try checkLayout(Value.self, typeID: btfValueTypeID, "value")
    }

    /// Checks a view's value type against the map's BTF (an array's key is its index).
    func checkLayout<Value: BPFPlainData>(value: Value.Type) throws(BPFError) {
        try checkLayout(Value.self, typeID: btfValueTypeID, "value")
    }

    private func checkLayout<T: BPFPlainData>(_ type: T.Type, typeID: UInt32, _ what: String) throws(BPFError) {
        guard typeID != 0, let btf = BTFInfo(object: storage.pointer) else { return }
        let context = "view BPF map \(name)"
        guard let actual = btf.layout(of: typeID) else {
            guard T.bpfLayout?.fields.isEmpty ?? true else {
                throw BPFError(.invalidArgument, context,
                               details: "its \(what) is not a struct or union, and \(T.self) declares fields")
            }
            return
        }
        // The size check lets a type be as small as C's size less its trailing padding: BTF
        // says where the C fields end, and a type that stops short of that would read part of
        // the value and zero the rest on update, whether or not it declares its layout.
        let end = actual.fields.map { $0.offset + $0.size }.max() ?? 0
        guard MemoryLayout<T>.size >= end else {
            throw BPFError(.invalidArgument, context, details: "its \(what) is \(actual.name ?? "a struct"), "
                               + "whose fields end at byte \(end); \(T.self) is \(MemoryLayout<T>.size) bytes")
        }
        if let declared = T.bpfLayout, let problem = declared.mismatch(with: actual, swiftType: "\(T.self)") {
            throw BPFError(.invalidArgument, context, details: "its \(what) is \(actual.name ?? "a struct"): \(problem)")
        }
    }
}
