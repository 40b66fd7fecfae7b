package import BPFKit

/// Writes the Swift mirrors of a BPF object's C types (what bpf2go writes for `-type`): a
/// struct per C struct or union, at the C offsets, with explicit padding so that its
/// `MemoryLayout` size and every stored field's offset are the C ones; a struct of named
/// constants per C enum. Pure: the same shapes give the same text.
///
/// Mapping: integers, floats and enums by size and sign; a pointer is a `UInt64` (an address);
/// `bool` a `UInt8` (0 is false); `char[N]` a `BPFCharArray<N>` (read as a string), any other
/// array an `InlineArray`. A named C type (`struct foo`) becomes a type of `Types` (`Foo`), an
/// anonymous one a type nested in its user (`Outer.Member`; `CountsValue` for map `counts`). Members
/// of anonymous members are reached as in C (`qstr.len`). What Swift cannot store at its C
/// place (union members, bitfields, a misaligned field of a packed struct) is a computed
/// property over bytes the struct keeps (`_bytesN`); padding is `_padN`. A zero-sized member (a
/// flexible array) has no property in the value; its `View` gives the address where it starts.
package struct TypeGenerator {
    /// The declarations of `Types`, in the order they were first needed.
    private var declarations: [String] = []
    /// Each struct's layout check (for `layoutMismatches()`).
    private var checks: [String] = []
    /// The Swift names given to named C types (`struct foo` → `Foo`).
    private var names: [String: String] = [:]
    /// The top-level names in use.
    private var taken: Set<String> = []

    package init() {}

    /// Whether any type was declared.
    package var isEmpty: Bool { declarations.isEmpty }

    /// The Swift type mirroring `shape`, declaring the types it needs; `anonymousName` names an
    /// anonymous struct, union or enum; generated names get `qualifier` (`Types.` outside `Types`).
    package mutating func swiftType(_ shape: BTFInfo.Shape, anonymousName: String, qualifier: String) -> String {
        var nested: [String] = []
        return reference(shape, anonymousName: anonymousName, parent: nil, qualifier: qualifier, nested: &nested)
    }

    /// The source of `public enum Types { ... }` (indented for a member of the skeleton).
    package func source() -> String {
        var out = "\n    /// The C types of the object's maps, globals and `BPFKIT_TYPE` names, generated from its\n"
        out += "    /// BTF: each struct has the C field names (camelCased) at the C offsets.\n"
        out += "    public enum Types {\n"
        for declaration in declarations { out += indent(declaration, by: 2) }
        out += "\n        /// How each generated struct's Swift layout differs from its C layout (BTF's): empty,\n"
        out += "        /// unless Swift laid out a struct otherwise than the generator expects. Tests call it.\n"
        out += "        public static func layoutMismatches() -> [String] {\n"
        out += "            var found: [String] = []\n"
        for check in checks { out += "            found += \(check)\n" }
        out += "            return found\n        }\n    }\n"
        return out
    }

    // MARK: References

    private mutating func reference(_ shape: BTFInfo.Shape, anonymousName: String, parent: String?,
                                    qualifier: String = "", nested: inout [String]) -> String {
        switch shape {
        case .bool, .char: return "UInt8"
        case .integer(let size, let signed): return (signed ? "Int" : "UInt") + String(size * 8)
        case .float(let size): return size == 4 ? "Float" : "Double"
        case .pointer: return "UInt64"
        case .bytes(let size): return "InlineArray<\(size), UInt8>"
        case .array(.char, let count): return "BPFCharArray<\(count)>"
        case .array(let element, let count):
            let element = reference(element, anonymousName: anonymousName, parent: parent, qualifier: qualifier, nested: &nested)
            return "InlineArray<\(count), \(element)>"
        case .record(let record):
            let name = named(record.name.map { _ in record.cName }, record.name, anonymousName, parent: parent, nested: &nested) {
                $0.declareRecord(record, path: $1)
            }
            return parent == nil ? qualifier + name : name
        case .enumeration(let enumeration):
            let name = named(enumeration.name.map { "enum " + $0 }, enumeration.name, anonymousName, parent: parent,
                             nested: &nested) { $0.declareEnumeration(enumeration, path: $1) }
            return parent == nil ? qualifier + name : name
        }
    }

    /// The name of a struct, union or enum, declared on first use: a named one in `Types`, an
    /// anonymous one nested in `parent` (or in `Types` when it is a root).
    private mutating func named(_ key: String?, _ cName: String?, _ anonymousName: String, parent: String?,
                                nested: inout [String], declare: (inout Self, String) -> String) -> String {
        if let key, let name = names[key] { return name }
        if let key, let cName {
            let name = unique(typeName(cName))
            names[key] = name
            let declaration = declare(&self, name)
            declarations.append(declaration)
            return name
        }
        let name = typeName(anonymousName)
        if let parent {
            let declaration = declare(&self, parent + "." + name)
            nested.append(declaration)
            return name
        }
        let unique = unique(name)
        let declaration = declare(&self, unique)
        declarations.append(declaration)
        return unique
    }

    private mutating func unique(_ name: String) -> String {
        var result = name, suffix = 2
        while taken.contains(result) { result = name + "_\(suffix)"; suffix += 1 }
        taken.insert(result)
        return result
    }

    // MARK: Structs and unions

    /// A member as Swift reaches it: out of anonymous members, its offset from the record's start.
    private struct Field {
        var cName: String
        var property: String
        var shape: BTFInfo.Shape
        var bitOffset: Int
        var bitSize: Int
        /// Reached through a union: shares its bytes with other members.
        var overlaps: Bool
        var offset: Int { bitOffset / 8 }
        var isBitfield: Bool { bitSize > 0 || bitOffset % 8 != 0 }
    }

    private func fields(of record: BTFInfo.Record) -> [Field] {
        var result: [Field] = []
        func collect(_ record: BTFInfo.Record, at base: Int, overlapping: Bool) {
            for member in record.members {
                let overlaps = overlapping || record.isUnion
                if member.name.isEmpty {
                    if case .record(let inner) = member.shape { collect(inner, at: base + member.bitOffset, overlapping: overlaps) }
                    continue
                }
                result.append(Field(cName: member.name, property: "", shape: member.shape,
                                    bitOffset: base + member.bitOffset, bitSize: member.bitSize, overlaps: overlaps))
            }
        }
        collect(record, at: 0, overlapping: false)
        var used: Set<String> = []
        for index in result.indices {
            var property = identifier(result[index].cName)
            while used.contains(property) { property += "_" }
            used.insert(property)
            result[index].property = property
        }
        return result
    }

    /// The fields Swift stores at their C place: not overlapping, not bitfields, aligned for
    /// their Swift type, and no more aligned than the C size allows (so that the stride is the
    /// C size), in offset order.
    private func storedFields(of record: BTFInfo.Record) -> [Field] {
        let limit = record.size == 0 ? 16 : min(16, record.size & -record.size)
        var stored: [Field] = []
        var end = 0
        for field in fields(of: record).sorted(by: { $0.bitOffset < $1.bitOffset }) {
            let align = alignment(field.shape), size = field.shape.size
            guard !field.overlaps, !field.isBitfield, size > 0, align <= limit, field.offset % align == 0,
                  field.offset >= end, field.offset + size <= record.size else { continue }
            stored.append(field)
            end = field.offset + size
        }
        return stored
    }

    /// The alignment Swift gives the type mirroring `shape`.
    private func alignment(_ shape: BTFInfo.Shape) -> Int {
        switch shape {
        case .bool, .char, .bytes: 1
        case .pointer: 8
        case .integer(let size, _), .float(let size): size
        case .enumeration(let enumeration): enumeration.size
        case .array(let element, _): alignment(element)
        case .record(let record): storedFields(of: record).map { alignment($0.shape) }.max() ?? 1
        }
    }

    private mutating func declareRecord(_ record: BTFInfo.Record, path: String) -> String {
        let name = path.split(separator: ".").last.map(String.init) ?? path
        let all = fields(of: record)
        let stored = storedFields(of: record)
        let storedNames = Set(stored.map(\.cName))
        let computed = all.filter { !storedNames.contains($0.cName) }
        var nested: [String] = []
        var types: [String: String] = [:]
        for field in all {
            types[field.cName] = reference(field.shape, anonymousName: field.cName, parent: path, nested: &nested)
        }

        var out = "\n/// `\(record.cName)` (\(record.size) bytes), mirrored at its C offsets.\n"
        out += "public struct \(name): BPFPlainData, Hashable, Sendable {\n"
        // Stored properties, with explicit bytes wherever C has padding or unstored members.
        var position = 0
        func gap(upTo end: Int) -> String {
            guard end > position else { return "" }
            let backsMembers = computed.contains { $0.offset < end && $0.offset + max($0.shape.size, 1) > position }
            let line = "    fileprivate var _\(backsMembers ? "bytes" : "pad")\(position): InlineArray<\(end - position), UInt8>\n"
            position = end
            return line
        }
        for field in stored {
            out += gap(upTo: field.offset)
            out += "    /// `\(field.cName)`: offset \(field.offset), \(bytes(field.shape.size)).\n"
            out += "    public var \(field.property): \(types[field.cName]!)\n"
            position = field.offset + field.shape.size
        }
        out += gap(upTo: record.size)

        for field in computed where field.shape.size > 0 {
            out += computedProperty(field, type: types[field.cName]!)
        }

        // The initializer: stored fields by name, everything else zero.
        let parameters = stored.map { "\($0.property): \(types[$0.cName]!) = \(zero($0.shape))" }
        out += "\n    /// A value with the fields given and every other byte zero.\n"
        out += "    public init(\(parameters.joined(separator: ", "))) {\n        self = .zeroed\n"
        for field in stored { out += "        self.\(field.property) = \(field.property)\n" }
        out += "    }\n"

        let layout = BPFTypeLayout(record)
        out += "\n    /// The C layout, from BTF: what typed map views check a map's BTF against.\n"
        out += "    public static let bpfLayout: BPFTypeLayout? = BPFTypeLayout(name: \(literal(record.cName)), size: \(record.size), fields: ["
        for field in layout.fields { out += "\n        .init(\(literal(field.name)), offset: \(field.offset), size: \(field.size))," }
        out += layout.fields.isEmpty ? "])\n" : "\n    ])\n"
        out += "\n    /// Byte for byte, as the kernel compares keys.\n"
        out += "    public static func == (a: Self, b: Self) -> Bool { bytesEqual(a, b) }\n"
        out += "    public func hash(into hasher: inout Hasher) { hashBytes(into: &hasher) }\n"
        out += view(of: record, name: name, fields: all, types: types)
        for declaration in nested { out += indent(declaration, by: 1) }
        out += "}\n"

        let keyPaths = stored.map { "\(literal($0.cName)): \\.\($0.property)" }
        checks.append("BPFTypeLayout.mismatches(of: \(path).self, storedFields: [\(keyPaths.isEmpty ? ":" : keyPaths.joined(separator: ", "))])")
        return out
    }

    /// A property over the bytes of a member Swift does not store at its place.
    private func computedProperty(_ field: Field, type: String) -> String {
        var out = "\n    /// `\(field.cName)`: "
        guard field.isBitfield else {
            out += "offset \(field.offset), \(bytes(field.shape.size))\(field.overlaps ? " (shares its bytes)" : "").\n"
            out += "    public var \(field.property): \(type) {\n"
            out += "        get { loadField(at: \(field.offset)) }\n"
            out += "        set { storeField(newValue, at: \(field.offset)) }\n    }\n"
            return out
        }
        guard let access = bitfieldAccess(field, type: type) else { return "" }
        let bits = "bitOffset: \(field.bitOffset), bitCount: \(field.bitSize)"
        out += "bitfield of \(field.bitSize) bits at bit \(field.bitOffset).\n"
        out += "    public var \(field.property): \(type) {\n"
        out += "        get { withUnsafeBytes(of: self) { \(access.wrap("BPFBitfield.\(access.load)(from: $0, \(bits))")) } }\n"
        out += "        set { withUnsafeMutableBytes(of: &self) { BPFBitfield.store(\(access.unwrap), into: $0, \(bits)) } }\n"
        out += "    }\n"
        return out
    }

    /// How a bitfield's bits become its Swift type and back.
    private func bitfieldAccess(_ field: Field, type: String) -> (load: String, wrap: (String) -> String, unwrap: String)? {
        switch field.shape {
        case .integer(_, let signed):
            return (signed ? "loadSigned" : "load", { "\(type)(truncatingIfNeeded: \($0))" },
                    "UInt64(truncatingIfNeeded: newValue)")
        case .bool, .char:
            return ("load", { "UInt8(truncatingIfNeeded: \($0))" }, "UInt64(newValue)")
        case .enumeration(let enumeration):
            let raw = (enumeration.signed ? "Int" : "UInt") + String(enumeration.size * 8)
            return (enumeration.signed ? "loadSigned" : "load", { "\(type)(rawValue: \(raw)(truncatingIfNeeded: \($0)))" },
                    "UInt64(truncatingIfNeeded: newValue.rawValue)")
        default:
            return nil
        }
    }

    /// A zero value of the type mirroring `shape`, for a default argument.
    private func zero(_ shape: BTFInfo.Shape) -> String {
        switch shape {
        case .bool, .char, .integer, .float, .pointer: "0"
        default: ".zeroed"
        }
    }

    /// The `View` of a struct or union: its fields read where they lie, nothing copied.
    private func view(of record: BTFInfo.Record, name: String, fields: [Field], types: [String: String]) -> String {
        var out = "\n    /// A `\(record.cName)` where it lies in memory (a ring-buffer record, say): each field is\n"
        out += "    /// loaded when asked for, nothing else is copied. Valid as long as that memory is.\n"
        out += "    public struct View {\n"
        out += "        /// Where the value starts.\n        public let baseAddress: UnsafeRawPointer\n\n"
        out += "        @inlinable public init(_ baseAddress: UnsafeRawPointer) { self.baseAddress = baseAddress }\n\n"
        out += "        /// The whole value (a copy).\n"
        out += "        @inlinable public func load() -> \(name) { baseAddress.loadUnaligned(as: \(name).self) }\n"
        for field in fields {
            var property = field.property
            if property == "baseAddress" || property == "load" { property += "_" }
            let type = types[field.cName]!
            let at = "baseAddress + \(field.offset)"
            if field.shape.size == 0 {
                out += "        /// `\(field.cName)` (zero-sized): where it starts, and what follows the struct.\n"
                out += "        @inlinable public var \(property): UnsafeRawPointer { \(at) }\n"
                continue
            }
            switch field.shape {
            case .array(.char, let count):
                out += "        /// `\(field.cName)`: its \(count) bytes, in place.\n"
                out += "        @inlinable public var \(property): UnsafeRawBufferPointer {\n"
                out += "            UnsafeRawBufferPointer(start: \(at), count: \(count))\n        }\n"
                continue
            case .record:
                out += "        /// `\(field.cName)`, in place.\n"
                out += "        @inlinable public var \(property): \(type).View { \(type).View(\(at)) }\n"
                continue
            default:
                break
            }
            let getter: String
            if field.isBitfield {
                guard let access = bitfieldAccess(field, type: type) else { continue }
                let whole = "UnsafeRawBufferPointer(start: baseAddress, count: \(record.size))"
                getter = access.wrap("BPFBitfield.\(access.load)(from: \(whole), bitOffset: \(field.bitOffset), bitCount: \(field.bitSize))")
            } else {
                getter = "baseAddress.loadUnaligned(fromByteOffset: \(field.offset), as: \(type).self)"
            }
            out += "        /// `\(field.cName)`.\n"
            out += "        @inlinable public var \(property): \(type) { \(getter) }\n"
        }
        out += "    }\n"
        return out
    }

    // MARK: Enums

    private func declareEnumeration(_ enumeration: BTFInfo.Enumeration, path: String) -> String {
        let name = path.split(separator: ".").last.map(String.init) ?? path
        let raw = (enumeration.signed ? "Int" : "UInt") + String(enumeration.size * 8)
        var out = "\n/// `enum \(enumeration.name ?? "(anonymous)")` (\(enumeration.size) bytes): its values as constants;\n"
        out += "/// any other value is kept as it is (never a trap on a value this build does not know), and\n"
        out += "/// `isKnown` tells whether it is one of them.\n"
        out += "public struct \(name): BPFPlainData, RawRepresentable, Hashable, CaseIterable, CustomStringConvertible, Sendable {\n"
        out += "    public var rawValue: \(raw)\n\n"
        out += "    @inlinable public init(rawValue: \(raw)) { self.rawValue = rawValue }\n"
        let mask: UInt64 = enumeration.size == 8 ? .max : (1 << (enumeration.size * 8)) - 1
        let constants = constantNames(enumeration.cases.map(\.name))
        let numbers = enumeration.cases.map { enumeration.signed ? String(Int64(bitPattern: $0.bits)) : String($0.bits & mask) }
        for (constant, (value, number)) in zip(constants, zip(enumeration.cases, numbers)) {
            out += "\n    /// `\(value.name)` (\(number)).\n"
            out += "    @inlinable public static var \(constant): \(name) { \(name)(rawValue: \(number)) }\n"
        }
        out += "\n    /// The C enum's values, in its order.\n"
        out += "    public static let allCases: [\(name)] = [\(constants.map { "." + $0 }.joined(separator: ", "))]\n"
        out += "\n    /// Whether the value is one of the C enum's (a compare, no lookup: for checking records).\n"
        out += "    @inlinable public var isKnown: Bool {\n"
        out += numbers.isEmpty ? "        false\n" : "        switch rawValue { case \(Set(numbers).sorted().joined(separator: ", ")): true; default: false }\n"
        out += "    }\n"
        out += "\n    /// The C name of the value, `\(name)(rawValue: N)` for another.\n"
        out += "    public var description: String {\n        switch rawValue {\n"
        var named: Set<String> = []
        for (value, number) in zip(enumeration.cases, numbers) where named.insert(number).inserted {
            out += "        case \(number): \"\(value.name)\"\n"
        }
        out += "        default: \"\(name)(rawValue: \\(rawValue))\"\n        }\n    }\n"
        out += "}\n"
        return out
    }
}

/// Swift names for C enum constants: their common leading words dropped (`OPENSNOOP_SRC_OPEN`,
/// `OPENSNOOP_SRC_IO_URING` → `open`, `ioUring`) unless a name would be left empty or start
/// with a digit; all-capital words lowercased; camelCased.
func constantNames(_ names: [String]) -> [String] {
    let words = names.map { $0.split(separator: "_").map(String.init) }
    var common = words.first?.count ?? 0
    for list in words.dropFirst() {
        common = min(common, zip(words[0], list).prefix { $0 == $1 }.count)
    }
    if names.count < 2 { common = 0 }
    while common > 0, words.contains(where: { $0.count <= common || $0[common].first!.isNumber }) { common -= 1 }
    var used: Set<String> = []
    return words.map { list in
        let parts = list.dropFirst(common).enumerated().map { index, word -> String in
            let lower = word == word.uppercased() ? word.lowercased() : word
            return index == 0 ? lower.prefix(1).lowercased() + lower.dropFirst() : lower.prefix(1).uppercased() + lower.dropFirst()
        }
        var name = parts.joined()
        if name.isEmpty || name.first!.isNumber { name = "_" + name }
        while used.contains(name) { name += "_" }
        used.insert(name)
        return swiftKeywords.contains(name) ? "`\(name)`" : name
    }
}

/// The Swift name of a C type: upper camel case, clear of the names generated code uses.
func typeName(_ cName: String) -> String {
    var name = upperCamel(cName)
    if name.isEmpty || name.first!.isNumber { name = "_" + name }
    return reservedTypeNames.contains(name) ? name + "_" : name
}

/// Type names that generated code refers to, or Swift does not allow for a member type.
private let reservedTypeNames: Set<String> = [
    "Type", "Self", "Protocol", "Any", "View", "Types", "String", "Hasher", "Bool", "Int", "UInt", "Int8", "Int16",
    "Int32", "Int64", "Int128", "UInt8", "UInt16", "UInt32", "UInt64", "UInt128", "Float", "Double", "InlineArray",
    "UnsafeRawPointer", "UnsafeRawBufferPointer", "BPFCharArray", "BPFTypeLayout", "BPFBitfield", "BPFPlainData",
    "Hashable", "Sendable", "RawRepresentable",
]

/// "1 byte", "8 bytes".
func bytes(_ count: Int) -> String { count == 1 ? "1 byte" : "\(count) bytes" }

/// `text` with each line indented by `levels` × 4 spaces (empty lines left empty).
func indent(_ text: String, by levels: Int) -> String {
    let prefix = String(repeating: "    ", count: levels)
    return text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.isEmpty ? "" : prefix + $0 }
        .joined(separator: "\n")
}
