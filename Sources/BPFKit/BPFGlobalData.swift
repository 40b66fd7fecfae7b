internal import CLibBPF
internal import Glibc

/// A data section of a BPF object: the home of its global variables.
public enum BPFDataSection: String, Sendable {
    /// `const volatile` globals: written before load, read-only (frozen) after.
    case rodata = ".rodata"
    /// Initialised globals, live after load.
    case data = ".data"
    /// Zero-initialised globals, live after load.
    case bss = ".bss"
}

/// The global variables of one data section, by name, size-checked on every access.
///
/// Before load, `.rodata` writes go into the object's initial data (what `load()` freezes).
/// After load, `.data` and `.bss` are memory-mapped (Linux 5.5): reads and writes are the live
/// values the programs see, with no system call; `.rodata` can only be read.
/// A read may tear if a program writes the same variable meanwhile (as in C). Not `Sendable`
/// (it keeps libbpf's object alive, not the `BPFObject`'s links, and points into its memory);
/// use it on one thread.
public final class BPFGlobalData {
    /// The section.
    public let section: BPFDataSection
    private let object: BPFObjectStorage
    private let variables: [String: BTFInfo.Variable]
    private let memory: UnsafeMutableRawBufferPointer
    private let mapping: UnsafeMutableRawBufferPointer?
    private let writable: Bool

    init(object: BPFObject, section: BPFDataSection) throws(BPFError) {
        let context = "use \(section.rawValue) of BPF object \(object.name)"
        let map = try object.dataSectionMap(section)
        guard let btf = BTFInfo(object: object.pointer) else {
            throw BPFError(.notFound, context, details: "the object has no BTF")
        }
        self.section = section
        self.object = object.storage
        variables = Dictionary(btf.variables(inSection: section.rawValue).map { ($0.name, $0) }) { first, _ in first }
        if object.isLoaded && section != .rodata {
            let mmapable: UInt32 = 1 << 10  // BPF_F_MMAPABLE
            guard bpf_map__map_flags(map.pointer) & mmapable != 0 else {
                throw BPFError(.notSupported, context, details: "mapping global data needs Linux 5.5")
            }
            let length = (map.valueSize + 4095) / 4096 * 4096
            let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, map.fileDescriptor, 0)
            guard let address, address != MAP_FAILED else { throw BPFError.system(context, errno: errno) }
            mapping = UnsafeMutableRawBufferPointer(start: address, count: length)
            memory = UnsafeMutableRawBufferPointer(start: address, count: map.valueSize)
            writable = true
        } else {
            // Before load: the initial data. After load, .rodata's initial data is what the
            // kernel froze, so it is read there too.
            var size = 0
            guard let initial = bpf_map__initial_value(map.pointer, &size) else {
                throw BPFError(.notFound, context, details: "no initial data")
            }
            mapping = nil
            memory = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(mutating: initial), count: size)
            writable = section == .rodata
        }
    }

    deinit {
        if let mapping { munmap(mapping.baseAddress, mapping.count) }
    }

    /// The names of the section's variables.
    public var names: [String] { variables.keys.sorted() }

    private func locate(_ name: String, _ context: String) throws(BPFError) -> BTFInfo.Variable {
        guard let variable = variables[name] else {
            throw BPFError(.notFound, context, details: "no variable \(name) in \(section.rawValue)")
        }
        guard variable.offset + variable.size <= memory.count else {
            throw BPFError(.invalidArgument, context, details: "variable lies outside the section")
        }
        return variable
    }

    /// Whether writes land: `.rodata` before load, `.data` and `.bss` after.
    var acceptsStores: Bool { writable && !isFrozen }

    /// Whether this is `.rodata` of a loaded object, which the kernel froze.
    var isFrozen: Bool { section == .rodata && object.isLoaded }

    private func writableVariable(_ name: String, _ context: String) throws(BPFError) -> BTFInfo.Variable {
        guard acceptsStores else {
            throw BPFError(.invalidArgument, context, details: object.isLoaded
                ? "\(section.rawValue) is read-only after load" : "\(section.rawValue) is writable only after load")
        }
        return try locate(name, context)
    }

    /// The bytes of variable `name`.
    public func bytes(_ name: String) throws(BPFError) -> [UInt8] {
        let variable = try locate(name, "read BPF global \(name)")
        return Array(memory[variable.offset..<(variable.offset + variable.size)])
    }

    /// Reads variable `name` as a `T` of exactly its size.
    public func read<T: BPFPlainData>(_ name: String, as type: T.Type = T.self) throws(BPFError) -> T {
        let context = "read BPF global \(name)"
        let variable = try locate(name, context)
        guard MemoryLayout<T>.size == variable.size else {
            throw BPFError(.invalidArgument, context, details: "it has \(variable.size) bytes, \(T.self) has \(MemoryLayout<T>.size)")
        }
        return memory.loadUnaligned(fromByteOffset: variable.offset, as: T.self)
    }

    /// Writes `value`, which must have exactly the variable's size.
    public func write<T: BitwiseCopyable>(_ name: String, _ value: T) throws(BPFError) {
        let context = "set BPF global \(name)"
        let variable = try writableVariable(name, context)
        guard MemoryLayout<T>.size == variable.size else {
            throw BPFError(.invalidArgument, context, details: "it has \(variable.size) bytes, \(T.self) has \(MemoryLayout<T>.size)")
        }
        memory.storeBytes(of: value, toByteOffset: variable.offset, as: T.self)
    }

    /// Writes raw bytes at the start of variable `name` and zeroes the rest; more bytes than
    /// the variable holds is an error.
    public func write(_ name: String, bytes: some Collection<UInt8>) throws(BPFError) {
        let context = "set BPF global \(name)"
        let variable = try writableVariable(name, context)
        guard bytes.count <= variable.size else {
            throw BPFError(.invalidArgument, context, details: "\(bytes.count) bytes given, the variable holds \(variable.size)")
        }
        let target = UnsafeMutableRawBufferPointer(rebasing: memory[variable.offset..<(variable.offset + variable.size)])
        target.initializeMemory(as: UInt8.self, repeating: 0)
        target.copyBytes(from: bytes)
    }

    /// The section's size in bytes.
    public var size: Int { memory.count }

    /// The name of the variable at byte `offset`, for messages.
    func variableName(at offset: Int) -> String {
        variables.first { $0.value.offset == offset }?.key ?? "at offset \(offset)"
    }

    /// The object's name, for messages.
    var objectName: String { object.name }

    /// The section's memory, for the skeleton accessors (`SkeletonSupport.swift`).
    var storage: UnsafeMutableRawBufferPointer { memory }
}
