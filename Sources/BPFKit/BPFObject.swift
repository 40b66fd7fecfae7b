internal import CLibBPF
internal import Glibc

/// A BPF object file: its programs and maps, from open to load, and what its programs attached.
///
/// Lifecycle: `init(bytes:name:kernelBTFPath:)` opens (parses) the ELF; before `load()` you may
/// set read-only globals, resize maps, reuse pinned maps and switch programs off; `load()` creates
/// the maps, relocates (CO-RE, by libbpf) and runs the verifier; then attach programs. The object keeps every link it attached: nothing
/// detaches until you call `BPFLink.detach()`, take the link with `takeLink(_:)`, or release the
/// object, whose deinit detaches its links.
///
/// Attachments last as long as this object, and only it: a `BPFMap`, `BPFProgram` or
/// `BPFGlobalData` taken from it keeps libbpf's object (its maps and loaded programs) alive, so
/// that it stays safe to use, but not its links. Holding `skeleton.maps.counts` after the
/// skeleton is gone reads the map while nothing writes it any more; to keep tracing, keep the
/// skeleton (or its `object`), or take the links (`takeLink(_:)`) and keep those.
///
/// Not thread-safe (libbpf's object is not): configure, load and attach from one thread. What
/// comes out of it for other threads is `Sendable`: map handles and typed map views, links.
public final class BPFObject {
    /// libbpf's object and what lives as long as it, shared with the programs, maps and
    /// globals taken from this object; closed when the last of them and this object are gone.
    let storage: BPFObjectStorage
    /// The links attached through this object's programs, detached when the object is released.
    public private(set) var links: [BPFLink] = []

    var pointer: OpaquePointer { storage.pointer }

    /// Whether `load()` succeeded.
    public var isLoaded: Bool { storage.isLoaded }

    /// Opens an object from the bytes of an ELF file built with `clang -target bpf`.
    ///
    /// At load, libbpf resolves the object's CO-RE relocations against the running kernel's BTF
    /// (`/sys/kernel/btf/vmlinux`), or against `kernelBTFPath` when given: a BTF file for a kernel
    /// that does not expose its own, such as one from BTFHub or one cut down to what this object
    /// uses with `bpftool gen min_core_btf` (libbpf's `btf_custom_path`). The file is read at
    /// load; here it must only be readable. `tp_btf`, fentry and iterator programs still need
    /// the kernel's own BTF: their targets are kernel type ids.
    public init(bytes: [UInt8], name: String, kernelBTFPath: String? = nil) throws(BPFError) {
        if let kernelBTFPath {
            try systemCall("open BPF object \(name) with kernel BTF \(kernelBTFPath)", retryOnInterrupt: false) {
                access(kernelBTFPath, R_OK)
            }
        }
        storage = BPFObjectStorage(pointer: try libbpfPointer("open BPF object \(name)") {
            bytes.withUnsafeBytes { clibbpf_open_mem($0.baseAddress, $0.count, name, kernelBTFPath) }
        })
    }

    /// Opens an embedded object (a skeleton's); see `init(bytes:name:kernelBTFPath:)`. Its bytes
    /// are not kept: libbpf has copied what it needs once this returns.
    public convenience init(embedded object: BPFEmbeddedObject, kernelBTFPath: String? = nil) throws(BPFError) {
        try self.init(bytes: object.bytes, name: object.name, kernelBTFPath: kernelBTFPath)
    }

    deinit { BPFLink.detach(links) }

    /// The object's name.
    public var name: String { storage.name }

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
            result.append(BPFMap(storage: storage, pointer: current))
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
        return BPFMap(storage: storage, pointer: map)
    }

    // MARK: Loading

    /// Bytes of verifier log kept per program when a load fails (the kernel keeps the end
    /// of a longer log since Linux 6.4; earlier kernels keep its start).
    static let verifierLogSize = 1 << 20

    /// The verifier's `BPF_LOG_STATS` log level: statistics only, no instruction trace.
    static let statisticsLogLevel: UInt32 = 4

    /// Creates the maps, loads and verifies every program whose autoload is on.
    ///
    /// With `collectingStatistics`, the verifier reports what verifying each program took
    /// (`BPF_LOG_STATS`, what libbpf's `veristat` shows; Linux 5.2): read it after the load from
    /// `BPFProgram.verifierStatistics`. A rejected program's log then holds the verifier's
    /// messages without its instruction trace.
    ///
    /// Errors name the object, the program and the cause: `.permissionDenied` when this process
    /// may not load BPF programs, `.invalidArgument` for a program whose section libbpf does not
    /// know (a misspelled `SEC()`), `.notSupported` (before asking the kernel) for a program
    /// whose kind this kernel cannot load, `.notFound` for a `tp_btf` program whose tracepoint
    /// the kernel does not have, `.verifierRejected` with the verifier's last lines when it
    /// refuses a program, and a system error otherwise (libbpf's own codes in libbpf's words).
    public func load(collectingStatistics: Bool = false) throws(BPFError) {
        guard !isLoaded else { throw BPFError(.invalidArgument, "load BPF object \(name)", details: "already loaded") }
        let programs = programs.filter(\.autoload)
        for program in programs { try program.checkKernelSupport() }
        let logs = programs.map { _ in UnsafeMutablePointer<CChar>.allocate(capacity: Self.verifierLogSize) }
        for (program, log) in zip(programs, logs) {
            log[0] = 0
            bpf_program__set_log_buf(program.pointer, log, Self.verifierLogSize)
            if collectingStatistics { bpf_program__set_log_level(program.pointer, Self.statisticsLogLevel) }
        }
        defer {
            for (program, log) in zip(programs, logs) {
                bpf_program__set_log_buf(program.pointer, nil, 0)
                log.deallocate()
            }
        }
        // libbpf reads the kernel's BTF now for CO-RE: the copy our probes read is freed first.
        KernelBTF.release()
        let result = bpf_object__load(pointer)
        guard result < 0 else {
            storage.isLoaded = true
            if collectingStatistics {
                for (program, log) in zip(programs, logs) {
                    storage.statistics[program.name] = VerifierStatistics(log: String(cString: log))
                }
            }
            return
        }
        // Programs load in order until one fails: the last log written is the failed program's,
        // unless it holds only the statistics of a program that loaded (libbpf failed before
        // the kernel saw the next one).
        if let (program, log) = Array(zip(programs, logs)).last(where: { $0.1[0] != 0 }),
           case let text = String(cString: log), !collectingStatistics || !VerifierStatistics.isStatisticsOnly(text) {
            throw Self.verifierError(program: "\(program.label) (\(program.section))", code: -result, log: text)
        }
        if -result == ESRCH {  // libbpf found no attach target: name a tp_btf program's missing tracepoint
            for program in programs {
                guard case .btfTracepoint(let target) = program.attachPoint, !KernelSupport.hasBTFTracepoint(target) else { continue }
                throw BPFError(.notFound, "load BPF program \(program.label) (\(program.section))",
                               details: "the kernel has no tracepoint \(target) (no btf_trace_\(target) in its BTF)")
            }
            throw BPFError(.notFound, "load BPF object \(name)", errno: ESRCH,
                           details: "something a program names (fentry/fexit function, LSM hook, __ksym) is not in the kernel's BTF")
        }
        throw BPFError.system("load BPF object \(name)", errno: -result)
    }

    /// A `.verifierRejected` error for `program` (`NAME of OBJECT (SECTION)`) whose details are
    /// the log's last lines, after the last source line the log names (`; C code @ FILE:LINE`,
    /// from the object's BTF line info) when those lines do not include it.
    static func verifierError(program: String, code: Int32, log: String, lines: Int = 8) -> BPFError {
        let all = log.split(separator: "\n", omittingEmptySubsequences: true)
        let tail = all.suffix(lines)
        var details = "the verifier rejected it:\n"
        if let source = all.last(where: { $0.hasPrefix("; ") }), !tail.contains(source) {
            details += "at \(source.dropFirst(2))\n...\n"
        }
        return BPFError(.verifierRejected, "load BPF program \(program)", errno: code,
                        details: details + tail.joined(separator: "\n"), verifierLog: log,
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

    /// Attaches every loaded program whose section names its attach point (libbpf's auto-attach),
    /// once: a program for which this object already keeps an attached link (from an earlier
    /// `attachAll()` or skeleton `attach()`, or an explicit attach call) is left as it is, so a
    /// second call is a no-op, as with libbpf's skeletons (`bpf_object__attach_skeleton`), and
    /// no event arrives twice. Programs of kinds that need an explicit target (uprobe, iterator,
    /// sections BPFKit does not know) are skipped. Returns the links of the programs it covers,
    /// made now or before; the object keeps them.
    @discardableResult
    public func attachAll() throws(BPFError) -> [BPFLink] {
        var attached: [BPFLink] = []
        for program in programs where program.autoload {
            switch program.attachPoint {
            case .other(let section) where program.attachPoint.namesNoTracepointCategory:
                throw BPFError(.invalidArgument, "attach BPF program \(program.label) (\(section))",
                               details: "a tracepoint section names a category: tracepoint/CATEGORY/NAME")
            case .uprobe, .iterator, .other: continue
            default:
                let existing = links.filter { $0.programName == program.name && $0.isAttached }
                attached += existing.isEmpty ? [try program.attach()] : existing
            }
        }
        return attached
    }
}

/// libbpf's object, closed when the last holder lets go: the `BPFObject` and every program, map
/// and globals view taken from it (which must stay valid), but no link (see `BPFObject`).
final class BPFObjectStorage {
    let pointer: OpaquePointer
    /// Whether `BPFObject.load()` succeeded.
    var isLoaded = false
    /// Each program's verifier statistics from a `load(collectingStatistics: true)`, by name.
    var statistics: [String: VerifierStatistics] = [:]

    init(pointer: OpaquePointer) { self.pointer = pointer }

    deinit { bpf_object__close(pointer) }

    /// The object's name.
    var name: String { String(cString: bpf_object__name(pointer)) }
}
