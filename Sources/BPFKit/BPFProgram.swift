internal import CLibBPF
internal import Glibc

/// One program of a `BPFObject`. Valid as long as the object it came from (it keeps it alive).
/// Not thread-safe, like its object.
///
/// Attaching: `attach()` uses the section (libbpf's auto-attach); the explicit calls name the
/// attach point. Every attach call returns the link and the object keeps it, so a discarded
/// result does not detach (see `BPFObject`). A kind this kernel lacks throws `.notSupported`.
public struct BPFProgram {
    let object: BPFObject
    let pointer: OpaquePointer

    /// The program's function name.
    public var name: String { String(cString: bpf_program__name(pointer)) }

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
    public var verifierStatistics: VerifierStatistics? { object.statistics[name] }

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
    /// Returns the program's return value.
    @discardableResult
    public func run() throws(BPFError) -> UInt32 {
        let context = "run BPF program \(name)"
        try loaded(context)
        var options = bpf_test_run_opts()
        options.sz = MemoryLayout<bpf_test_run_opts>.size
        try libbpfCall(context) { bpf_prog_test_run_opts(fileDescriptor, &options) }
        return options.retval
    }

    /// How many times the kernel skipped the loaded program because it was already running on
    /// that CPU (a hook that fired inside itself): runs it never saw (Linux 5.12; 0 before).
    public func recursionMisses() throws(BPFError) -> UInt64 {
        let context = "read BPF program info \(name)"
        try loaded(context)
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        try libbpfCall(context) { bpf_obj_get_info_by_fd(fileDescriptor, &info, &length) }
        return info.recursion_misses
    }

    /// Throws `.notSupported` if this kernel cannot load a program of this kind.
    func checkKernelSupport() throws(BPFError) {
        let context = "load BPF program \(name) (\(section))"
        switch attachPoint {
        case .fentry, .lsm:
            guard KernelSupport.hasFentry else {
                throw BPFError(.notSupported, context, details: "fentry/fexit/LSM programs are not available on this kernel")
            }
        case .btfTracepoint, .iterator:
            guard KernelSupport.hasKernelBTF else {
                throw BPFError(.notSupported, context, details: "tp_btf and iterator programs need kernel BTF (/sys/kernel/btf/vmlinux)")
            }
        default:
            // The probe of the tracing type loads an fentry program: not a test of other kinds.
            guard type == .tracing || KernelSupport.supports(type) else {
                throw BPFError(.notSupported, context, details: "\(type) programs are not available on this kernel")
            }
        }
    }

    private func loaded(_ context: String) throws(BPFError) {
        guard fileDescriptor >= 0 else {
            throw BPFError(.invalidArgument, context, details: "the program is not loaded")
        }
    }

    private func attaching(_ what: String, _ call: () -> OpaquePointer?) throws(BPFError) -> BPFLink {
        let context = "attach \(name) to \(what)"
        try loaded(context)
        let link = try libbpfPointer(context, call)
        return object.keep(BPFLink(pointer: link, programName: name))
    }

    /// Attaches the loaded program where its section says (libbpf's auto-attach).
    @discardableResult
    public func attach() throws(BPFError) -> BPFLink {
        switch attachPoint {
        case .kprobe, .ksyscall: try requireKprobes("attach \(name) (\(section))")
        case .other(let kind):
            throw BPFError(.unimplemented, "attach \(name) (\(section))",
                           details: "BPFKit attaches no '\(kind)' program by its section: use an explicit attach call")
        default: break
        }
        return try attaching(section) { bpf_program__attach(pointer) }
    }

    /// Attaches to the tracepoint `category/name` (tracefs), whatever the section says.
    @discardableResult
    public func attachTracepoint(category: String, name: String) throws(BPFError) -> BPFLink {
        try attaching("tracepoint \(category)/\(name)") { bpf_program__attach_tracepoint(pointer, category, name) }
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
        try libbpfCall("set attach target of \(name) to \(function)") {
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
        try requireKprobes("attach \(name) to \(what)")
        return try attaching(what) { clibbpf_attach_kprobe(pointer, isReturn, function, offset) }
    }

    /// Attaches a kprobe-type program to the system call `syscall` (e.g. `openat`), in whatever
    /// form this kernel's syscall wrappers take.
    @discardableResult
    public func attachKsyscall(_ syscall: String, isReturn: Bool = false) throws(BPFError) -> BPFLink {
        let what = "\(isReturn ? "kretsyscall" : "ksyscall") \(syscall)"
        try requireKprobes("attach \(name) to \(what)")
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
            throw BPFError(.notSupported, "attach \(name) to \(what)", details: "uprobes are not available on this kernel (CONFIG_UPROBE_EVENTS)")
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
