internal import CLibBPF
internal import Glibc

/// A BPF object file: its programs and maps, from open to load, and what its programs attached.
///
/// Lifecycle: `init(bytes:name:)` opens (parses) the ELF; before `load()` you may set read-only
/// globals, resize maps, reuse pinned maps and switch programs off; `load()` creates the maps and
/// runs the verifier; then attach programs. The object keeps every link it attached: nothing
/// detaches until you call `BPFLink.detach()`, take the link with `takeLink(_:)`, or release the
/// object, whose deinit detaches its links and unloads its programs and maps.
///
/// Not thread-safe (libbpf's object is not): configure, load and attach from one thread. What
/// comes out of it for other threads is `Sendable`: map handles and typed map views, links.
public final class BPFObject {
    let pointer: OpaquePointer
    /// Whether `load()` succeeded.
    public private(set) var isLoaded = false
    /// The links attached through this object's programs, detached when the object is released.
    public private(set) var links: [BPFLink] = []

    /// The cut-down kernel BTF libbpf relocates against (`CORETargetBTF`), open until load.
    private var targetBTF: Int32?
    /// Whether CO-RE relocates against a cut-down kernel BTF (else libbpf reads the whole one).
    package let usesCutTargetBTF: Bool
    /// Whether the kernel BTF work was done ahead, by `prefetch(_:)`.
    package let tookPrefetch: Bool

    /// Opens an object from the bytes of an ELF file built with `clang -target bpf`.
    ///
    /// CO-RE relocations are resolved at load against only the kernel types and members they
    /// use, cut from the kernel's BTF here, when the kernel allows (see `CORETargetBTF`);
    /// otherwise libbpf reads the kernel's whole BTF, with the same result.
    public convenience init(bytes: [UInt8], name: String) throws(BPFError) {
        try self.init(bytes: bytes, name: name, cutKernelBTF: true)
    }

    /// Opens an embedded object (a skeleton's), taking what `prefetch(_:)` did for it, if
    /// anything. Its bytes are not kept: libbpf has copied what it needs once this returns.
    public convenience init(embedded object: BPFEmbeddedObject) throws(BPFError) {
        if let prefetched = OpenPrefetch.take(object) {
            try self.init(bytes: prefetched.bytes, name: object.name, prepared: .some(prefetched.cut), cutKernelBTF: true)
        } else {
            try self.init(bytes: object.bytes, name: object.name, cutKernelBTF: true)
        }
    }

    /// Opens an object; `cutKernelBTF: false` leaves libbpf to read the kernel's whole BTF.
    package convenience init(bytes: [UInt8], name: String, cutKernelBTF: Bool) throws(BPFError) {
        try self.init(bytes: bytes, name: name, prepared: nil, cutKernelBTF: cutKernelBTF)
    }

    /// `prepared`: the cut, already made (by a prefetch).
    private init(bytes: [UInt8], name: String, prepared: [UInt8]??, cutKernelBTF: Bool) throws(BPFError) {
        _ = BTFTracepoints.registered
        tookPrefetch = prepared != nil
        let cut = prepared ?? Self.lookAtKernelBTF(bytes, cut: cutKernelBTF)
        // libbpf opens the cut by path at load: /proc/self/fd must work (not without /proc).
        let target = cut.flatMap { btf -> (fd: Int32, path: String)? in
            let fd = btf.withUnsafeBytes { clibbpf_memory_file("bpfkit-core-btf", $0.baseAddress, $0.count) }
            guard fd >= 0 else { return nil }
            let path = "/proc/self/fd/\(fd)"
            guard access(path, R_OK) == 0 else {
                close(fd)
                return nil
            }
            return (fd, path)
        }
        targetBTF = target?.fd
        usesCutTargetBTF = target != nil
        do {
            pointer = try libbpfPointer("open BPF object \(name)") {
                bytes.withUnsafeBytes { clibbpf_open_mem($0.baseAddress, $0.count, name, target?.path) }
            }
        } catch {
            if let target { close(target.fd) }
            throw error
        }
    }

    /// Starts on a thread of its own the part of opening `object` that needs no configuration:
    /// decoding it, parsing its sections, cutting the kernel's BTF for its CO-RE relocations and
    /// finding its tp_btf targets (milliseconds, most of an open). Call it first thing, before
    /// parsing arguments or probing the kernel: `init(embedded:)` of the same object then waits
    /// for that work instead of doing it.
    ///
    /// Only with more than two CPUs online: on two, the thread competed with the very work it
    /// overlaps (a tracer's measured start-up did not move) and its stack and malloc arena
    /// added 0.2 MiB to the peak RSS; the open then does the work itself.
    public static func prefetch(_ object: BPFEmbeddedObject) {
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 2 { OpenPrefetch.start(object) }
    }

    /// One look at the kernel's BTF for an object: the ids of its tp_btf targets, and the cut for
    /// its CO-RE relocations if `cut` (nil if there is none to make; see `CORETargetBTF`).
    static func lookAtKernelBTF(_ bytes: [UInt8], cut: Bool) -> [UInt8]? {
        bytes.withUnsafeBytes { object in
            guard let sections = ELFSections(object) else { return nil }
            return KernelBTFMapping.withKernelBTF { kernel in
                BTFTracepoints.resolve(BTFTracepoints.targets(sections), in: kernel)
                return cut ? CORETargetBTF.make(sections: sections, kernel: kernel) : nil
            }
        }
    }

    deinit {
        for link in links { link.detach() }
        bpf_object__close(pointer)
        if let targetBTF { close(targetBTF) }
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

    /// All maps of the object, including the internal ones backing `.rodata`, `.data` and `.bss`.
    public var maps: [BPFMap] {
        var result: [BPFMap] = []
        var map = bpf_object__next_map(pointer, nil)
        while let current = map {
            result.append(BPFMap(object: self, pointer: current))
            map = bpf_object__next_map(pointer, current)
        }
        return result
    }

    /// The program whose function is named `name`.
    public func program(named name: String) throws(BPFError) -> BPFProgram {
        guard let program = bpf_object__find_program_by_name(pointer, name) else {
            throw BPFError(.notFound, "find BPF program \(name) in \(self.name)")
        }
        return BPFProgram(object: self, pointer: program)
    }

    /// The map named `name` (its variable name in the BPF source).
    public func map(named name: String) throws(BPFError) -> BPFMap {
        guard let map = bpf_object__find_map_by_name(pointer, name) else {
            throw BPFError(.notFound, "find BPF map \(name) in \(self.name)")
        }
        return BPFMap(object: self, pointer: map)
    }

    // MARK: Loading

    /// Bytes of verifier log kept per program when a load fails (the kernel keeps the end
    /// of a longer log since Linux 6.4; earlier kernels keep its start).
    static let verifierLogSize = 1 << 20

    /// Creates the maps, loads and verifies every program whose autoload is on.
    ///
    /// Throws `.notSupported` (before asking the kernel) for a program whose kind this kernel
    /// cannot load, `.verifierRejected` with the verifier's reason when it refuses a program,
    /// and a system error otherwise.
    public func load() throws(BPFError) {
        guard !isLoaded else { throw BPFError(.invalidArgument, "load BPF object \(name)", details: "already loaded") }
        let programs = programs.filter(\.autoload)
        for program in programs { try program.checkKernelSupport() }
        let logs = programs.map { _ in UnsafeMutablePointer<CChar>.allocate(capacity: Self.verifierLogSize) }
        for (program, log) in zip(programs, logs) {
            log[0] = 0
            bpf_program__set_log_buf(program.pointer, log, Self.verifierLogSize)
        }
        defer {
            for (program, log) in zip(programs, logs) {
                bpf_program__set_log_buf(program.pointer, nil, 0)
                log.deallocate()
            }
        }
        let result = bpf_object__load(pointer)
        clibbpf_tp_btf_loaded()
        if let targetBTF {
            close(targetBTF)
            self.targetBTF = nil
        }
        guard result < 0 else {
            isLoaded = true
            return
        }
        for (program, log) in zip(programs, logs) where log[0] != 0 {
            throw Self.verifierError(program: program.name, code: -result, log: String(cString: log))
        }
        throw BPFError.system("load BPF object \(name)", errno: -result)
    }

    /// A `.verifierRejected` error whose details are the log's last lines.
    static func verifierError(program: String, code: Int32, log: String, lines: Int = 8) -> BPFError {
        let all = log.split(separator: "\n", omittingEmptySubsequences: true)
        let tail = all.suffix(lines).joined(separator: "\n")
        return BPFError(.verifierRejected, "load BPF program \(program)", errno: code,
                        details: "the verifier rejected it:\n" + tail, verifierLog: log,
                        verifierLogTruncated: log.utf8.count >= verifierLogSize - 1)
    }

    // MARK: Global variables

    /// The `.rodata`, `.data` or `.bss` section's variables: before load, `.rodata` is written
    /// into the object's initial data; after load, `.data` and `.bss` are the live values
    /// (memory-mapped) and `.rodata` is read-only.
    public func globals(_ section: BPFDataSection) throws(BPFError) -> BPFGlobalData {
        try BPFGlobalData(object: self, section: section)
    }

    /// The object's BTF (for the skeleton generator).
    package var btfInfo: BTFInfo? { BTFInfo(object: pointer) }

    /// The internal map backing a data section, found by its BTF type, not by its name.
    package func dataSectionMap(_ section: BPFDataSection) throws(BPFError) -> BPFMap {
        guard let map = maps.first(where: { $0.isInternal && $0.dataSection == section }) else {
            throw BPFError(.notFound, "find \(section.rawValue) of BPF object \(name)",
                           details: "the program has no such variables")
        }
        return map
    }

    /// Sets a `const volatile` global of the BPF program (in `.rodata`) before load.
    /// `value` must have exactly the variable's size.
    public func setReadOnlyGlobal<T: BitwiseCopyable>(_ variable: String, to value: T) throws(BPFError) {
        try globals(.rodata).write(variable, value)
    }

    /// Sets a `const volatile` array global from raw bytes; shorter input leaves the rest zero.
    public func setReadOnlyGlobal(_ variable: String, bytes: [UInt8]) throws(BPFError) {
        try globals(.rodata).write(variable, bytes: bytes)
    }

    // MARK: Links

    func keep(_ link: BPFLink) -> BPFLink {
        links.removeAll { !$0.isAttached }
        links.append(link)
        return link
    }

    /// Removes `link` from the links this object keeps: from now on it stays attached as long
    /// as the caller holds it (or until `detach()`), even after the object is released.
    public func takeLink(_ link: BPFLink) -> BPFLink {
        links.removeAll { $0 === link }
        return link
    }

    /// Attaches every loaded program whose section names its attach point (libbpf's auto-attach);
    /// programs of kinds that need an explicit target (uprobe, iterator, sections BPFKit does not
    /// know) are skipped.
    /// Returns the new links; the object keeps them.
    @discardableResult
    public func attachAll() throws(BPFError) -> [BPFLink] {
        var attached: [BPFLink] = []
        for program in programs where program.autoload {
            switch program.attachPoint {
            case .uprobe, .iterator, .other: continue
            default: attached.append(try program.attach())
            }
        }
        return attached
    }
}
