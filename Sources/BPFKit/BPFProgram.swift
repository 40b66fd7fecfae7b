internal import CLibBPF
internal import Glibc

/// One program of a `BPFObject`. Always safe to use: it keeps libbpf's object alive, but not the
/// `BPFObject` and its links (see there). Not thread-safe, like its object.
///
/// Attaching: `attach()` uses the section (libbpf's auto-attach); the explicit calls name the
/// attach point. Every attach call returns the link and the object keeps it, so a discarded
/// result does not detach (see `BPFObject`); attaching after the `BPFObject` is released throws.
/// A kind this kernel lacks throws `.notSupported`.
public struct BPFProgram {
    let storage: BPFObjectStorage
    /// The object that keeps the links: not kept alive by its programs.
    private weak var object: BPFObject?
    let pointer: OpaquePointer

    init(object: BPFObject, pointer: OpaquePointer) {
        storage = object.storage
        self.object = object
        self.pointer = pointer
    }

    /// The program's function name.
    public var name: String { String(cString: bpf_program__name(pointer)) }

    /// `NAME of OBJECT`, as errors name the program.
    var label: String { "\(name) of \(storage.name)" }

    /// The ELF section, e.g. `tracepoint/syscalls/sys_exit_openat`.
    public var section: String { String(cString: bpf_program__section_name(pointer)) }

    /// Where the section says the program attaches.
    public var attachPoint: BPFAttachPoint { BPFAttachPoint(section: section) }

    /// The kernel program type.
    public var type: BPFProgramType { BPFProgramType(rawValue: bpf_program__type(pointer).rawValue) }

    /// Whether `BPFObject.load()` loads this program. Switch off what the kernel lacks (before load).
    public var autoload: Bool {
        get { bpf_program__autoload(pointer) }
        nonmutating set { bpf_program__set_autoload(pointer, newValue) }
    }

    /// The program's file descriptor after load (-1 before); owned by the object.
    public var fileDescriptor: Int32 { bpf_program__fd(pointer) }

    /// What the verifier reported for this program, if its object was loaded with
    /// `load(collectingStatistics: true)`; nil otherwise.
    public var verifierStatistics: VerifierStatistics? { storage.statistics[name] }

    /// The program's instructions as libbpf prepared them (relocated, once loaded), each as its
    /// 8 raw bytes; map references hold this process's map descriptors.
    package var instructions: [UInt64] {
        guard let start = bpf_program__insns(pointer) else { return [] }
        return UnsafeRawBufferPointer(start: start, count: bpf_program__insn_cnt(pointer) * MemoryLayout<bpf_insn>.size)
            .withMemoryRebound(to: UInt64.self) { Array($0) }
    }

    /// Runs the loaded program once, in the calling thread's context (`BPF_PROG_TEST_RUN`), for
    /// kinds that allow it (raw tracepoints with no arguments, for instance): a way to learn
    /// something only the kernel knows, such as this process's id as the kernel numbers it.
    /// Returns the program's return value. See `run(context:data:repeat:)`.
    @discardableResult
    public func run() throws(BPFError) -> UInt32 {
        try run(context: []).returnValue
    }

    /// Runs the loaded program in the kernel without attaching it (`BPF_PROG_TEST_RUN`,
    /// libbpf's `bpf_prog_test_run_opts`), so that it can be tested like a function: with
    /// `context` as its context (empty: none) and `data` as its packet, `repeat` times.
    ///
    /// What a kind takes is the kernel's rule: raw tracepoints take a context (their `u64`
    /// arguments), once, with no data (Linux 5.10); socket filter, `tc` and XDP programs take a
    /// packet of at least 14 bytes (an Ethernet header) and an optional `__sk_buff`/`xdp_md`
    /// context, and can be repeated, which averages the duration (each repetition runs on the
    /// packet the one before left); tracepoint and kprobe programs cannot be run
    /// (`.notSupported`). Arguments a kind refuses are `.invalidArgument`.
    public func run(context: [UInt8], data: [UInt8] = [], repeat count: Int = 1) throws(BPFError) -> BPFTestRun {
        let label = "run BPF program \(self.label)"
        try loaded(label)
        guard count >= 1, let repetitions = Int32(exactly: count) else {
            throw BPFError(.invalidArgument, label, details: "repeat must be at least 1, not \(count)")
        }
        // Output room: the packet may grow (XDP's headroom is 256 bytes); on ENOSPC the kernel
        // says how much it needs.
        var output = [UInt8](repeating: 0, count: data.isEmpty ? 0 : data.count + 256)
        while true {
            var options = bpf_test_run_opts()
            options.sz = MemoryLayout<bpf_test_run_opts>.size
            options.repeat = repetitions > 1 ? repetitions : 0
            let result = context.withUnsafeBytes { contextBytes in
                data.withUnsafeBytes { dataBytes in
                    output.withUnsafeMutableBytes { outputBytes in
                        if !contextBytes.isEmpty {
                            options.ctx_in = contextBytes.baseAddress
                            options.ctx_size_in = UInt32(contextBytes.count)
                        }
                        if !dataBytes.isEmpty {
                            options.data_in = dataBytes.baseAddress
                            options.data_size_in = UInt32(dataBytes.count)
                            options.data_out = outputBytes.baseAddress
                            options.data_size_out = UInt32(outputBytes.count)
                        }
                        return bpf_prog_test_run_opts(fileDescriptor, &options)
                    }
                }
            }
            if result == -ENOSPC && Int(options.data_size_out) > output.count {
                output = [UInt8](repeating: 0, count: Int(options.data_size_out))
                continue
            }
            switch -result {
            case 0:
                return BPFTestRun(returnValue: options.retval, duration: .nanoseconds(Int64(options.duration)),
                                  data: Array(output.prefix(Int(options.data_size_out))))
            case kernelENOTSUPP, EOPNOTSUPP:
                throw BPFError(.notSupported, label, errno: -result, details: "the kernel cannot run \(type) programs on request")
            case EINVAL:
                throw BPFError(.invalidArgument, label, errno: EINVAL,
                               details: "the kernel refused this context, data or repeat count for a \(type) program")
            default:
                throw BPFError.system(label, errno: -result)
            }
        }
    }

    /// Runs the loaded program with the bytes of `context` as its context; see
    /// `run(context:data:repeat:)`. For instance a raw tracepoint's two arguments:
    /// `run(context: (UInt64(40), UInt64(2)))`.
    public func run<Context: BitwiseCopyable>(context: Context, data: [UInt8] = [], repeat count: Int = 1) throws(BPFError) -> BPFTestRun {
        try run(context: withUnsafeBytes(of: context) { Array($0) }, data: data, repeat: count)
    }

    /// How many times the kernel skipped the loaded program because it was already running on
    /// that CPU (a hook that fired inside itself): runs it never saw (Linux 5.12; 0 before).
    public func recursionMisses() throws(BPFError) -> UInt64 {
        let context = "read BPF program info of \(label)"
        try loaded(context)
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        try libbpfCall(context) { bpf_obj_get_info_by_fd(fileDescriptor, &info, &length) }
        return info.recursion_misses
    }

    /// Throws before load what the kernel would only answer with a bare errno, or with nothing
    /// clear: a section libbpf does not know (`.invalidArgument`), a kind this kernel cannot load
    /// (`.notSupported`), or one this process may not load (`.permissionDenied`): the kernel's
    /// probes fail alike for both, so a failed probe without the privileges is reported as such.
    func checkKernelSupport() throws(BPFError) {
        let context = "load BPF program \(label) (\(section))"
        guard BPFProgramType(section: section) != nil else {
            throw BPFError(.invalidArgument, context, details: "libbpf knows no section '\(section)' (a misspelled SEC()?)")
        }
        let missing: String?
        switch attachPoint {
        case .fentry, .lsm:
            missing = KernelSupport.hasFentry ? nil : "fentry/fexit/LSM programs are not available on this kernel"
        case .btfTracepoint, .iterator:
            missing = KernelSupport.hasKernelBTF ? nil : "tp_btf and iterator programs need kernel BTF (/sys/kernel/btf/vmlinux)"
        default:
            // The probe of the tracing type loads an fentry program: not a test of other kinds.
            missing = type == .tracing || KernelSupport.supports(type) ? nil : "\(type) programs are not available on this kernel"
        }
        guard let missing else { return }
        guard KernelSupport.hasTracingPrivileges else {
            throw BPFError(.permissionDenied, context, errno: EPERM,
                           details: "loading BPF programs needs root, or CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"
                               + (KernelSupport.isInUserNamespace ? " in the initial user namespace" : ""))
        }
        throw BPFError(.notSupported, context, details: missing)
    }

    private func loaded(_ context: String) throws(BPFError) {
        guard fileDescriptor >= 0 else {
            throw BPFError(.invalidArgument, context, details: "the program is not loaded")
        }
    }

    private func attaching(_ what: String, _ call: () -> OpaquePointer?) throws(BPFError) -> BPFLink {
        let context = "attach BPF program \(label) to \(what)"
        try loaded(context)
        guard let object else {
            throw BPFError(.invalidArgument, context, details: "its BPFObject is released (keep the skeleton or object to attach)")
        }
        let link = try libbpfPointer(context, call)
        return object.keep(BPFLink(pointer: link, programName: name, target: what))
    }

    /// Attaches the loaded program where its section says (libbpf's auto-attach). A second call
    /// while the object keeps the first one's link attached throws `.alreadyExists` (every event
    /// would arrive twice); `BPFObject.attachAll()` (a skeleton's `attach()`) skips such programs.
    @discardableResult
    public func attach() throws(BPFError) -> BPFLink {
        let context = "attach BPF program \(label) (\(section))"
        switch attachPoint {
        case .kprobe, .ksyscall: try requireKprobes(context)
        case .other(let kind):
            throw BPFError(.unimplemented, context,
                           details: "BPFKit attaches no '\(kind)' program by its section: use an explicit attach call")
        default: break
        }
        if object?.links.contains(where: { $0.programName == name && $0.target == section && $0.isAttached }) == true {
            throw BPFError(.alreadyExists, context, details: "already attached there: detach its link first")
        }
        guard case .tracepoint(let category, let tracepoint) = attachPoint else {
            return try attaching(section) { bpf_program__attach(pointer) }
        }
        return try explainingTracepoint(category, tracepoint) { () throws(BPFError) in
            try attaching(section) { bpf_program__attach(pointer) }
        }
    }

    /// Attaches to the tracepoint `category/name` (tracefs), whatever the section says.
    @discardableResult
    public func attachTracepoint(category: String, name: String) throws(BPFError) -> BPFLink {
        try explainingTracepoint(category, name) { () throws(BPFError) in
            try attaching("tracepoint \(category)/\(name)") { bpf_program__attach_tracepoint(pointer, category, name) }
        }
    }

    /// Runs a tracepoint attach, putting libbpf's bare errno in words: libbpf reads the
    /// tracepoint's id from tracefs, so ENOENT is a tracepoint the kernel does not have (or
    /// tracefs not mounted) and EACCES a tracefs this process may not read.
    private func explainingTracepoint(_ category: String, _ name: String,
                                      _ attach: () throws(BPFError) -> BPFLink) throws(BPFError) -> BPFLink {
        do {
            return try attach()
        } catch {
            let readable = KernelSupport.canReadTracefs
            switch error.errno {
            case ENOENT? where !readable:
                throw BPFError(.notFound, error.context, errno: ENOENT,
                               details: "tracefs, where a tracepoint's id is read, is not mounted at \(KernelSupport.tracefsPath) (KernelSupport.ensureTracefs() mounts it)")
            case ENOENT? where !KernelSupport.hasTracepoint(category: category, name: name):
                throw BPFError(.notFound, error.context, errno: ENOENT,
                               details: "the kernel has no tracepoint \(category)/\(name) (no events/\(category)/\(name) in tracefs)")
            case EACCES? where !readable, EPERM? where !readable:
                throw BPFError(.permissionDenied, error.context, errno: error.errno,
                               details: "a tracepoint is attached by its id, read from tracefs (\(KernelSupport.tracefsPath)/events), which this process may not read: run as root, or add CAP_DAC_OVERRIDE")
            default:
                throw error
            }
        }
    }

    /// Attaches to the raw tracepoint `name`.
    @discardableResult
    public func attachRawTracepoint(_ name: String) throws(BPFError) -> BPFLink {
        try attaching("raw tracepoint \(name)") { bpf_program__attach_raw_tracepoint(pointer, name) }
    }

    /// Attaches a `tp_btf`, `fentry`, `fexit` or `lsm` program at the target fixed when it was
    /// loaded (its section, or `setAttachTarget(_:)`).
    @discardableResult
    public func attachTracing() throws(BPFError) -> BPFLink {
        if case .lsm = attachPoint {
            return try attaching("LSM hook") { bpf_program__attach_lsm(pointer) }
        }
        return try attaching("its BTF target") { bpf_program__attach_trace(pointer) }
    }

    /// Sets the kernel function (fentry/fexit) or tracepoint (tp_btf) to attach to. Before load.
    public func setAttachTarget(_ function: String) throws(BPFError) {
        try libbpfCall("set attach target of BPF program \(label) to \(function)") {
            bpf_program__set_attach_target(pointer, 0, function)
        }
    }

    private func requireKprobes(_ context: String) throws(BPFError) {
        guard KernelSupport.hasKprobes else {
            throw BPFError(.notSupported, context, details: "kprobes are not available on this kernel (CONFIG_KPROBES)")
        }
    }

    /// Attaches a kprobe-type program to kernel function `function` (+ `offset`), or to its
    /// return with `isReturn`.
    @discardableResult
    public func attachKprobe(function: String, offset: Int = 0, isReturn: Bool = false) throws(BPFError) -> BPFLink {
        let what = "\(isReturn ? "kretprobe" : "kprobe") \(function)"
        try requireKprobes("attach BPF program \(label) to \(what)")
        return try attaching(what) { clibbpf_attach_kprobe(pointer, isReturn, function, offset) }
    }

    /// Attaches a kprobe-type program to the system call `syscall` (e.g. `openat`), in whatever
    /// form this kernel's syscall wrappers take.
    @discardableResult
    public func attachKsyscall(_ syscall: String, isReturn: Bool = false) throws(BPFError) -> BPFLink {
        let what = "\(isReturn ? "kretsyscall" : "ksyscall") \(syscall)"
        try requireKprobes("attach BPF program \(label) to \(what)")
        return try attaching(what) { clibbpf_attach_ksyscall(pointer, isReturn, syscall) }
    }

    /// Attaches a uprobe (or uretprobe with `isReturn`) to `symbol` + `offset` in `binary` (a path,
    /// or a library name such as `libc.so.6`), or to file offset `offset` when `symbol` is nil;
    /// only in process `pid` when given.
    @discardableResult
    public func attachUprobe(binary: String, symbol: String? = nil, offset: Int = 0, pid: Int32? = nil,
                             isReturn: Bool = false) throws(BPFError) -> BPFLink {
        let what = "\(isReturn ? "uretprobe" : "uprobe") \(binary):\(symbol ?? "")+\(offset)"
        guard KernelSupport.hasUprobes else {
            throw BPFError(.notSupported, "attach BPF program \(label) to \(what)", details: "uprobes are not available on this kernel (CONFIG_UPROBE_EVENTS)")
        }
        return try attaching(what) {
            clibbpf_attach_uprobe(pointer, isReturn, pid ?? -1, binary, symbol, offset)
        }
    }

    /// Attaches an `iter/...` program; read its output with the returned iterator.
    public func attachIterator() throws(BPFError) -> BPFIterator {
        let link = try attaching("iterator \(section)") { bpf_program__attach_iter(pointer, nil) }
        return BPFIterator(link: link)
    }
}

/// What one `BPFProgram.run(context:data:repeat:)` gave.
public struct BPFTestRun: Sendable, Equatable {
    /// The program's return value (of its last run).
    public let returnValue: UInt32
    /// The kernel's measure of one run, averaged over the repetitions; zero for kinds it does
    /// not time (raw tracepoints).
    public let duration: Duration
    /// The packet as the program left it (empty when no data was given).
    public let data: [UInt8]
}
