internal import CLibBPF

/// The object's BTF, read for what BPFKit and its skeleton generator need: data-section
/// variables and the shapes of their types. `package`: the generator (bpf-embed) uses it.
package struct BTFInfo {
    let btf: OpaquePointer

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

    private static let kindInt: UInt32 = 1, kindPointer: UInt32 = 2, kindArray: UInt32 = 3,
        kindEnum: UInt32 = 6, kindTypedef: UInt32 = 8, kindVolatile: UInt32 = 9, kindConst: UInt32 = 10,
        kindRestrict: UInt32 = 11, kindVar: UInt32 = 14, kindDataSection: UInt32 = 15,
        kindFloat: UInt32 = 16, kindTypeTag: UInt32 = 18, kindEnum64: UInt32 = 19

    private func kind(_ type: UnsafePointer<btf_type>) -> UInt32 { (type.pointee.info >> 24) & 0x1f }
    private func vlen(_ type: UnsafePointer<btf_type>) -> Int { Int(type.pointee.info & 0xffff) }
    private func name(_ offset: UInt32) -> String { btf__name_by_offset(btf, offset).map { String(cString: $0) } ?? "" }

    /// The name of the data section a DATASEC type id describes (`.bss`, `.rodata`...).
    func dataSectionName(typeID: UInt32) -> String? {
        guard let type = btf__type_by_id(btf, typeID), kind(type) == Self.kindDataSection else { return nil }
        return name(type.pointee.name_off)
    }

    /// The variables of data section `section`, in offset order (empty if it has none).
    package func variables(inSection section: String) -> [Variable] {
        let id = btf__find_by_name_kind(btf, section, Self.kindDataSection)
        guard id > 0, let type = btf__type_by_id(btf, UInt32(id)) else { return [] }
        let infos = UnsafeRawPointer(type.advanced(by: 1)).assumingMemoryBound(to: btf_var_secinfo.self)
        var result: [Variable] = []
        for index in 0..<vlen(type) {
            let info = infos[index]
            guard let variable = btf__type_by_id(btf, info.type), kind(variable) == Self.kindVar else { continue }
            result.append(Variable(name: name(variable.pointee.name_off), offset: Int(info.offset),
                                   size: Int(info.size), type: variable.pointee.type))
        }
        return result.sorted { $0.offset < $1.offset }
    }

    /// The shape of type `id`, looking through typedefs and qualifiers.
    package func shape(of id: UInt32) -> Shape {
        guard let type = btf__type_by_id(btf, id) else { return .bytes(0) }
        let size = Int(btf__resolve_size(btf, id))
        switch kind(type) {
        case Self.kindTypedef, Self.kindVolatile, Self.kindConst, Self.kindRestrict, Self.kindTypeTag:
            return shape(of: type.pointee.type)
        case Self.kindInt:
            let encoding = UnsafeRawPointer(type.advanced(by: 1)).load(as: UInt32.self)
            let flags = (encoding >> 24) & 0x0f, bits = encoding & 0xff
            if flags & 4 != 0 && size == 1 { return .bool }
            // C `char` (signed or not by target): bytes, as Swift reads them.
            if size == 1 && (flags & 2 != 0 || name(type.pointee.name_off) == "char") { return .integer(size: 1, signed: false) }
            guard bits == size * 8, [1, 2, 4, 8].contains(size) else { return .bytes(size) }
            return .integer(size: size, signed: flags & 1 != 0)
        case Self.kindEnum, Self.kindEnum64:
            guard [1, 2, 4, 8].contains(size) else { return .bytes(size) }
            return .integer(size: size, signed: (type.pointee.info >> 31) != 0)
        case Self.kindFloat where size == 4 || size == 8:
            return .float(size: size)
        case Self.kindArray:
            let array = UnsafeRawPointer(type.advanced(by: 1)).load(as: btf_array.self)
            let element = shape(of: array.type)
            if case .bytes = element { return .bytes(size) }
            return .array(element, count: Int(array.nelems))
        default:
            return .bytes(max(size, 0))
        }
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
