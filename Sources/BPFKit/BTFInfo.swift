internal import CLibBPF
internal import Glibc

/// BTF read with libbpf's btf API: an object's (data-section variables, the shapes of types and
/// the layouts of structs, for BPFKit's checks and the skeleton generator) or the kernel's (its
/// tracepoints and functions, for `KernelBTF`). Borrows the `struct btf`: its owner must outlive
/// it. `package`: the generator (bpfkit-build) uses it.
package struct BTFInfo {
    let btf: OpaquePointer

    /// Reads `btf` (not freed here).
    init(_ btf: OpaquePointer) { self.btf = btf }

    /// The BTF of an opened object, if it has any.
    init?(object: OpaquePointer) {
        guard let btf = bpf_object__btf(object) else { return nil }
        self.btf = btf
    }

    /// One variable of a data section.
    package struct Variable {
        package let name: String
        package let offset: Int
        package let size: Int
        package let type: UInt32
    }

    /// A type reduced to what Swift mirrors: scalars, pointers, arrays, structs, unions and
    /// enums, or opaque bytes (typedefs and qualifiers looked through).
    package indirect enum Shape: Equatable {
        case bool
        case integer(size: Int, signed: Bool)
        /// C `char`: one byte (an array of it holds a string).
        case char
        case float(size: Int)
        /// A pointer: an address, 8 bytes on BPF.
        case pointer
        case array(Shape, count: Int)
        /// A struct or union.
        case record(Record)
        case enumeration(Enumeration)
        /// Anything else (an odd-sized integer, a `long double`): raw bytes of this size.
        case bytes(Int)
    }

    /// A struct or union, with its members as BTF lays them out.
    package struct Record: Equatable {
        /// The C name: the tag, or the typedef's name for an anonymous type; nil if it has none.
        package var name: String?
        /// Whether `name` is a typedef's (`point_t`), not a tag.
        package var isTypedefName = false
        package var isUnion: Bool
        package var size: Int
        package var members: [Member]

        package init(name: String?, isUnion: Bool, size: Int, members: [Member]) {
            self.name = name; self.isUnion = isUnion; self.size = size; self.members = members
        }

        /// `struct name`, `union name`, a typedef's name, or `struct (anonymous)`.
        package var cName: String {
            if isTypedefName, let name { return name }
            return (isUnion ? "union " : "struct ") + (name ?? "(anonymous)")
        }
    }

    /// A member of a struct or union.
    package struct Member: Equatable {
        /// The C name; empty for an anonymous struct or union member (whose members C reaches
        /// as if they were the parent's).
        package var name: String
        package var shape: Shape
        package var bitOffset: Int
        /// The width of a bitfield, 0 for an ordinary member.
        package var bitSize: Int

        package init(name: String, shape: Shape, bitOffset: Int, bitSize: Int = 0) {
            self.name = name; self.shape = shape; self.bitOffset = bitOffset; self.bitSize = bitSize
        }
    }

    /// An enum: its integer size and signedness, and its named values.
    package struct Enumeration: Equatable {
        package struct Case: Equatable {
            package var name: String
            /// The value's bits, sign-extended to 64 for a signed enum.
            package var bits: UInt64
            package init(name: String, bits: UInt64) { self.name = name; self.bits = bits }
        }
        /// The C name (the tag or a typedef's), nil if it has none.
        package var name: String?
        package var size: Int
        package var signed: Bool
        package var cases: [Case]

        package init(name: String?, size: Int, signed: Bool, cases: [Case]) {
            self.name = name; self.size = size; self.signed = signed; self.cases = cases
        }
    }

    private func name(_ offset: UInt32) -> String { btf__name_by_offset(btf, offset).map { String(cString: $0) } ?? "" }

    /// The name of the data section a DATASEC type id describes (`.bss`, `.rodata`...).
    func dataSectionName(typeID: UInt32) -> String? {
        guard let type = btf__type_by_id(btf, typeID), btf_is_datasec(type) else { return nil }
        return name(type.pointee.name_off)
    }

    /// The variables of data section `section`, in offset order (empty if it has none).
    package func variables(inSection section: String) -> [Variable] {
        let id = btf__find_by_name_kind(btf, section, UInt32(BTF_KIND_DATASEC as Int))
        guard id > 0, let type = btf__type_by_id(btf, UInt32(id)), let infos = btf_var_secinfos(type) else { return [] }
        var result: [Variable] = []
        for index in 0..<Int(btf_vlen(type)) {
            let info = infos[index]
            guard let variable = btf__type_by_id(btf, info.type), btf_is_var(variable) else { continue }
            result.append(Variable(name: name(variable.pointee.name_off), offset: Int(info.offset),
                                   size: Int(info.size), type: variable.pointee.type))
        }
        return result.sorted { $0.offset < $1.offset }
    }

    /// The shape of type `id`, looking through typedefs and qualifiers; structs, unions and
    /// arrays with their members and elements (a pointer stops there: its target is not read).
    package func shape(of id: UInt32) -> Shape { shape(of: id, depth: 0) }

    private func shape(of id: UInt32, depth: Int) -> Shape {
        guard let type = btf__type_by_id(btf, id) else { return .bytes(0) }
        let size = Int(btf__resolve_size(btf, id))
        // By value, a type cannot contain itself: only a malformed BTF nests this deep.
        guard depth < 64 else { return .bytes(max(size, 0)) }
        let typeName = name(type.pointee.name_off)
        switch Int(btf_kind(type)) {
        case BTF_KIND_TYPEDEF:
            // An anonymous struct, union or enum is known by its typedef's name.
            switch shape(of: type.pointee.type, depth: depth + 1) {
            case .record(var record) where record.name == nil:
                record.name = typeName
                record.isTypedefName = true
                return .record(record)
            case .enumeration(var enumeration) where enumeration.name == nil:
                enumeration.name = typeName
                return .enumeration(enumeration)
            case let other:
                return other
            }
        case BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG:
            return shape(of: type.pointee.type, depth: depth + 1)
        case BTF_KIND_INT:
            let flags = Int32(btf_int_encoding(type)), bits = Int(btf_int_bits(type))
            if flags & BTF_INT_BOOL != 0 && size == 1 { return .bool }
            if size == 1 && (flags & BTF_INT_CHAR != 0 || typeName == "char") { return .char }
            guard bits == size * 8, [1, 2, 4, 8, 16].contains(size) else { return .bytes(size) }
            return .integer(size: size, signed: flags & BTF_INT_SIGNED != 0)
        case BTF_KIND_PTR:
            return .pointer
        case BTF_KIND_ENUM, BTF_KIND_ENUM64:
            guard [1, 2, 4, 8].contains(size) else { return .bytes(size) }
            return .enumeration(enumeration(type, name: typeName, size: size))
        case BTF_KIND_FLOAT where size == 4 || size == 8:
            return .float(size: size)
        case BTF_KIND_ARRAY:
            guard let array = btf_array(type)?.pointee else { return .bytes(size) }
            return .array(shape(of: array.type, depth: depth + 1), count: Int(array.nelems))
        case BTF_KIND_STRUCT, BTF_KIND_UNION:
            let members = btf_members(type)
            let list = (0..<Int(btf_vlen(type))).map { index in
                Member(name: name(members![index].name_off), shape: shape(of: members![index].type, depth: depth + 1),
                       bitOffset: Int(btf_member_bit_offset(type, UInt32(index))),
                       bitSize: Int(btf_member_bitfield_size(type, UInt32(index))))
            }
            return .record(Record(name: typeName.isEmpty ? nil : typeName, isUnion: btf_is_union(type),
                                  size: size, members: list))
        default:
            return .bytes(max(size, 0))
        }
    }

    /// The cases of an enum or enum64 type.
    private func enumeration(_ type: UnsafePointer<btf_type>, name typeName: String, size: Int) -> Enumeration {
        let signed = btf_kflag(type)
        var cases: [Enumeration.Case] = []
        if btf_is_enum(type), let values = btf_enum(type) {
            for index in 0..<Int(btf_vlen(type)) {
                let value = values[index].val
                cases.append(.init(name: name(values[index].name_off),
                                   bits: signed ? UInt64(bitPattern: Int64(value)) : UInt64(UInt32(bitPattern: value))))
            }
        } else {
            // struct btf_enum64 { name_off, val_lo32, val_hi32 } (libbpf 1.1 leaves it incomplete).
            let entries = UnsafeRawPointer(type + 1)
            for index in 0..<Int(btf_vlen(type)) {
                let entry = entries + index * 12
                let low = entry.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                let high = entry.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
                cases.append(.init(name: name(entry.loadUnaligned(as: UInt32.self)), bits: UInt64(high) << 32 | UInt64(low)))
            }
        }
        return Enumeration(name: typeName.isEmpty ? nil : typeName, size: size, signed: signed, cases: cases)
    }

    /// The C layout of struct or union `id` (typedefs and qualifiers looked through), as
    /// `BPFTypeLayout(Record)` gives it from `shape(of:)`, without walking nested types: what a
    /// typed view checks a declared layout against when it is made. nil for any other type.
    package func layout(of id: UInt32) -> BPFTypeLayout? {
        let resolved = btf__resolve_type(btf, id)
        guard resolved > 0, let type = btf__type_by_id(btf, UInt32(resolved)), btf_is_composite(type) else { return nil }
        var fields: [BPFTypeLayout.Field] = []
        func collect(_ type: UnsafePointer<btf_type>, at base: Int) {
            guard let members = btf_members(type) else { return }
            for index in 0..<UInt32(btf_vlen(type)) {
                let bitOffset = Int(btf_member_bit_offset(type, index))
                guard btf_member_bitfield_size(type, index) == 0, bitOffset % 8 == 0 else { continue }
                let member = members[Int(index)], memberName = name(member.name_off)
                if memberName.isEmpty {
                    let inner = btf__resolve_type(btf, member.type)
                    if inner > 0, let innerType = btf__type_by_id(btf, UInt32(inner)), btf_is_composite(innerType) {
                        collect(innerType, at: base + bitOffset / 8)
                    }
                } else {
                    let size = Int(btf__resolve_size(btf, member.type))
                    if size > 0 { fields.append(.init(memberName, offset: base + bitOffset / 8, size: size)) }
                }
            }
        }
        collect(type, at: 0)
        var typeName = name(type.pointee.name_off)
        if typeName.isEmpty, let outer = btf__type_by_id(btf, id), btf_is_typedef(outer) {
            typeName = name(outer.pointee.name_off)
        } else {
            typeName = (btf_is_union(type) ? "union " : "struct ") + (typeName.isEmpty ? "(anonymous)" : typeName)
        }
        return BPFTypeLayout(name: typeName, size: Int(btf__resolve_size(btf, id)), fields: fields.sorted { $0.offset < $1.offset })
    }

    /// The types named by `BPFKIT_TYPE(...)` in the BPF source (bpfkit.h): each is a pointer
    /// variable in section `.bpfkit.types`, which puts the type in BTF and names it for the
    /// skeleton generator.
    package func namedTypes() -> [Shape] {
        variables(inSection: ".bpfkit.types").compactMap { variable in
            guard let pointer = btf__type_by_id(btf, variable.type), btf_is_ptr(pointer) else { return nil }
            return shape(of: pointer.pointee.type)
        }
    }
}

extension BTFInfo {
    /// The number of parameters of tracepoint `name` after the leading `void *` context, nil if
    /// this BTF does not declare it: the kernel declares `btf_trace_NAME` as a pointer to the
    /// prototype of the tracepoint's BPF probe.
    func tracepointParameterCount(_ name: String) -> Int? {
        let id = btf__find_by_name_kind(btf, "btf_trace_" + name, UInt32(BTF_KIND_TYPEDEF as Int))
        guard id > 0, let typedef = btf__type_by_id(btf, UInt32(id)),
              let pointer = btf__type_by_id(btf, typedef.pointee.type), btf_is_ptr(pointer),
              let prototype = btf__type_by_id(btf, pointer.pointee.type), btf_is_func_proto(prototype),
              btf_vlen(prototype) >= 1 else { return nil }
        return Int(btf_vlen(prototype)) - 1
    }

    /// The type id of function `name` (a `BTF_KIND_FUNC`), nil if this BTF has none.
    func functionID(_ name: String) -> UInt32? {
        let id = btf__find_by_name_kind(btf, name, UInt32(BTF_KIND_FUNC as Int))
        return id > 0 ? UInt32(id) : nil
    }
}

extension BTFInfo.Shape {
    /// The size in bytes.
    package var size: Int {
        switch self {
        case .bool, .char: 1
        case .pointer: 8
        case .integer(let size, _), .float(let size), .bytes(let size): size
        case .array(let element, let count): element.size * count
        case .record(let record): record.size
        case .enumeration(let enumeration): enumeration.size
        }
    }
}
