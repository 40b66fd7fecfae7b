internal import CLibBPF
internal import Glibc

/// BTF read with libbpf's btf API: an object's (data-section variables and the shapes of their
/// types, for BPFKit and the skeleton generator) or the kernel's (its tracepoints, for
/// `KernelBTF`). Borrows the `struct btf`: its owner must outlive it. `package`: the
/// generator (bpfkit-build) uses it.
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

    /// A type reduced to what Swift mirrors: scalars, arrays of them, or opaque bytes.
    package indirect enum Shape: Equatable {
        case bool
        case integer(size: Int, signed: Bool)
        case float(size: Int)
        case array(Shape, count: Int)
        /// Structs, unions, pointers and anything else: raw bytes of this size.
        case bytes(Int)
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

    /// The shape of type `id`, looking through typedefs and qualifiers.
    package func shape(of id: UInt32) -> Shape {
        guard let type = btf__type_by_id(btf, id) else { return .bytes(0) }
        let size = Int(btf__resolve_size(btf, id))
        switch Int(btf_kind(type)) {
        case BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT, BTF_KIND_TYPE_TAG:
            return shape(of: type.pointee.type)
        case BTF_KIND_INT:
            let flags = Int32(btf_int_encoding(type)), bits = Int(btf_int_bits(type))
            if flags & BTF_INT_BOOL != 0 && size == 1 { return .bool }
            // C `char` (signed or not by target): bytes, as Swift reads them.
            if size == 1 && (flags & BTF_INT_CHAR != 0 || name(type.pointee.name_off) == "char") {
                return .integer(size: 1, signed: false)
            }
            guard bits == size * 8, [1, 2, 4, 8].contains(size) else { return .bytes(size) }
            return .integer(size: size, signed: flags & BTF_INT_SIGNED != 0)
        case BTF_KIND_ENUM, BTF_KIND_ENUM64:
            guard [1, 2, 4, 8].contains(size) else { return .bytes(size) }
            return .integer(size: size, signed: btf_kflag(type))
        case BTF_KIND_FLOAT where size == 4 || size == 8:
            return .float(size: size)
        case BTF_KIND_ARRAY:
            guard let array = btf_array(type)?.pointee else { return .bytes(size) }
            let element = shape(of: array.type)
            if case .bytes = element { return .bytes(size) }
            return .array(element, count: Int(array.nelems))
        default:
            return .bytes(max(size, 0))
        }
    }
}

extension BTFInfo {
    /// Every tracepoint this BTF declares, by name, with its number of parameters after the
    /// leading `void *` context: the kernel declares `btf_trace_NAME` as a pointer to the
    /// prototype of the tracepoint's BPF probe.
    func tracepointParameterCounts() -> [String: Int] {
        var result: [String: Int] = [:]
        for id in 1..<btf__type_cnt(btf) {
            guard let typedef = btf__type_by_id(btf, id), btf_is_typedef(typedef),
                  let name = btf__name_by_offset(btf, typedef.pointee.name_off), strncmp(name, "btf_trace_", 10) == 0,
                  let pointer = btf__type_by_id(btf, typedef.pointee.type), btf_is_ptr(pointer),
                  let prototype = btf__type_by_id(btf, pointer.pointee.type), btf_is_func_proto(prototype),
                  btf_vlen(prototype) >= 1 else { continue }
            result[String(cString: name + 10)] = Int(btf_vlen(prototype)) - 1
        }
        return result
    }
}

extension BTFInfo.Shape {
    /// The size in bytes.
    package var size: Int {
        switch self {
        case .bool: 1
        case .integer(let size, _), .float(let size), .bytes(let size): size
        case .array(let element, let count): element.size * count
        }
    }
}
