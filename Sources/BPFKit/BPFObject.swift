internal import CLibBPF
internal import Glibc

/// A BPF object file: its programs and maps, from open to load.
///
/// Lifecycle: `init(bytes:name:)` opens (parses) the ELF; before `load()` you may set read-only
/// globals, resize maps, reuse pinned maps and switch programs off; `load()` creates the maps and
/// runs the verifier; then attach programs. Closing the object (deinit) unloads its programs and
/// maps once no link still uses them. Not thread-safe: configure and load from one thread.
public final class BPFObject {
    let pointer: OpaquePointer
    private var loaded = false

    /// Opens an object from the bytes of an ELF file built with `clang -target bpf`.
    public init(bytes: [UInt8], name: String) throws {
        errno = 0
        let object = bytes.withUnsafeBytes { buffer in
            clibbpf_open_mem(buffer.baseAddress, buffer.count, name)
        }
        guard let object else {
            throw BPFError.system("open BPF object \(name)", errno: errno)
        }
        pointer = object
    }

    deinit {
        bpf_object__close(pointer)
    }

    /// The object's name.
    public var name: String { String(cString: bpf_object__name(pointer)) }

    /// All programs of the object, in ELF order.
    public var programs: [BPFProgram] {
        var result: [BPFProgram] = []
        var program = bpf_object__next_program(pointer, nil)
        while let current = program {
            result.append(BPFProgram(object: self, pointer: current))
            program = bpf_object__next_program(pointer, current)
        }
        return result
    }

    /// The program whose function is named `name`.
    public func program(named name: String) throws -> BPFProgram {
        guard let program = bpf_object__find_program_by_name(pointer, name) else {
            throw BPFError(.notFound, "find BPF program \(name)")
        }
        return BPFProgram(object: self, pointer: program)
    }

    /// The map named `name` (its variable name in the BPF source).
    public func map(named name: String) throws -> BPFMap {
        guard let map = bpf_object__find_map_by_name(pointer, name) else {
            throw BPFError(.notFound, "find BPF map \(name)")
        }
        return BPFMap(object: self, pointer: map)
    }

    /// Sets a `const volatile` global of the BPF program (in `.rodata`) before load.
    /// `value` must have exactly the variable's size.
    public func setReadOnlyGlobal<T: BitwiseCopyable>(_ variable: String, to value: T) throws {
        try withUnsafeBytes(of: value) { try setReadOnlyGlobal(variable, bytes: $0, exactSize: true) }
    }

    /// Sets a `const volatile` array global from raw bytes; shorter input leaves the rest zero.
    public func setReadOnlyGlobal(_ variable: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try setReadOnlyGlobal(variable, bytes: $0, exactSize: false) }
    }

    private func setReadOnlyGlobal(_ variable: String, bytes: UnsafeRawBufferPointer, exactSize: Bool) throws {
        guard !loaded else {
            throw BPFError(.invalidArgument, "set \(variable)", details: "the object is already loaded")
        }
        let context = "set BPF global \(variable)"
        let (offset, size) = try locateGlobal(variable, section: ".rodata")
        guard exactSize ? bytes.count == size : bytes.count <= size else {
            throw BPFError(.invalidArgument, context, details: "\(bytes.count) bytes given, variable has \(size)")
        }
        let map = try dataSectionMap(".rodata")
        var mapSize: Int = 0
        let data = UnsafeMutableRawPointer(mutating: bpf_map__initial_value(map, &mapSize))
        guard let data, offset + size <= mapSize else {
            throw BPFError(.notFound, context, details: "no .rodata contents")
        }
        let target = UnsafeMutableRawBufferPointer(start: data.advanced(by: offset), count: size)
        target.initializeMemory(as: UInt8.self, repeating: 0)
        target.copyMemory(from: bytes)
    }

    /// The internal map backing a data section (`.rodata`, `.bss`, `.data`).
    private func dataSectionMap(_ section: String) throws -> OpaquePointer {
        var map = bpf_object__next_map(pointer, nil)
        while let current = map {
            if bpf_map__is_internal(current), String(cString: bpf_map__name(current)).hasSuffix(section) {
                return current
            }
            map = bpf_object__next_map(pointer, current)
        }
        throw BPFError(.notFound, "find \(section) of BPF object \(name)")
    }

    /// Offset and size of a global variable inside its data section, from the object's BTF.
    private func locateGlobal(_ variable: String, section: String) throws -> (offset: Int, size: Int) {
        let context = "find BPF global \(variable)"
        guard let btf = bpf_object__btf(pointer) else {
            throw BPFError(.notFound, context, details: "the object has no BTF")
        }
        let sectionID = btf__find_by_name_kind(btf, section, btfKindDataSection)
        guard sectionID > 0, let sectionType = btf__type_by_id(btf, UInt32(sectionID)) else {
            throw BPFError(.notFound, context, details: "no \(section) section")
        }
        let count = Int(btf_vlen(sectionType))
        guard let infos = btf_var_secinfos(sectionType) else { throw BPFError(.notFound, context) }
        for index in 0..<count {
            let info = infos[index]
            guard let varType = btf__type_by_id(btf, info.type),
                  let varName = btf__name_by_offset(btf, varType.pointee.name_off),
                  String(cString: varName) == variable
            else { continue }
            return (Int(info.offset), Int(info.size))
        }
        throw BPFError(.notFound, context)
    }

    /// `BTF_KIND_DATASEC` (the C enum constant is ambiguous to Swift).
    private let btfKindDataSection: UInt32 = 15

    /// Creates the maps, loads and verifies every program whose autoload is on.
    public func load() throws {
        try check("load BPF object \(name)") { bpf_object__load(pointer) }
        loaded = true
    }
}
