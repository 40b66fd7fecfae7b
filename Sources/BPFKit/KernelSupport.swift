internal import CLibBPF
internal import Glibc
internal import Synchronization

/// What the running kernel offers, asked before loading so that programs can be switched off
/// or a clear error given instead of a verifier failure. Probes that load something into the
/// kernel run once per process and are cached. Safe to call from any thread.
public enum KernelSupport {
    /// Where tracefs lives; syscall tracepoints are attached through its event ids.
    public static let tracefsPath = "/sys/kernel/tracing"
    private static let debugfsTracing = "/sys/kernel/debug/tracing"

    private enum Probe: Hashable {
        case programType(UInt32), mapType(UInt32), helper(UInt32, UInt32), fentry
    }
    private static let cache = Mutex<[Probe: Bool]>([:])

    private static func cached(_ probe: Probe, _ run: () -> Bool) -> Bool {
        if let known = cache.withLock({ $0[probe] }) { return known }
        let result = run()
        cache.withLock { $0[probe] = result }
        return result
    }

    /// Whether the kernel exposes its own BTF: needed for `tp_btf`, fentry and iterator programs,
    /// and for CO-RE unless the object is opened with a BTF file for this kernel (`kernelBTFPath`).
    public static var hasKernelBTF: Bool {
        access("/sys/kernel/btf/vmlinux", R_OK) == 0
    }

    /// Whether programs of `type` load (cached).
    public static func supports(_ type: BPFProgramType) -> Bool {
        cached(.programType(type.rawValue)) {
            libbpf_probe_bpf_prog_type(bpf_prog_type(type.rawValue), nil) == 1
        }
    }

    /// Whether maps of `type` can be created (cached).
    public static func supports(_ type: BPFMapType) -> Bool {
        cached(.mapType(type.rawValue)) {
            libbpf_probe_bpf_map_type(bpf_map_type(type.rawValue), nil) == 1
        }
    }

    /// Whether programs of `type` may call the helper numbered `helper` (`BPF_FUNC_*`; cached).
    public static func supports(helper: UInt32, in type: BPFProgramType) -> Bool {
        cached(.helper(type.rawValue, helper)) {
            libbpf_probe_bpf_helper(bpf_prog_type(type.rawValue), bpf_func_id(helper), nil) == 1
        }
    }

    /// Whether kprobes (and so kretprobes and ksyscall programs) can be attached.
    public static var hasKprobes: Bool {
        access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0 || tracingFileExists("kprobe_events")
    }

    /// Whether uprobes can be attached.
    public static var hasUprobes: Bool {
        access("/sys/bus/event_source/devices/uprobe/type", F_OK) == 0 || tracingFileExists("uprobe_events")
    }

    /// Whether fentry/fexit programs (BPF trampolines) load: some kernels refuse them (cached).
    /// libbpf's probe of the program type first, which needs no BTF: a kernel that refuses it
    /// costs no read of its BTF. Then an empty fentry program on `bpf_fentry_test1`, whose id
    /// comes from the kernel's BTF as `KernelBTF` keeps it (not read again for this).
    public static var hasFentry: Bool {
        cached(.fentry) {
            guard supports(.tracing), let target = KernelBTF.functionID("bpf_fentry_test1") else { return false }
            var options = bpf_prog_load_opts()
            options.sz = MemoryLayout<bpf_prog_load_opts>.size
            options.expected_attach_type = BPF_TRACE_FENTRY
            options.attach_btf_id = target
            var program = [bpf_insn(), bpf_insn()]
            program[0].code = 0xb7  // r0 = 0
            program[1].code = 0x95  // exit
            let fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "bpfkit_probe", "GPL", &program, 2, &options)
            if fd >= 0 { close(fd) }
            return fd >= 0
        }
    }

    /// Whether this process can read tracefs' event directory (where tracepoint ids live).
    public static var canReadTracefs: Bool {
        access(tracefsPath + "/events", X_OK) == 0 || access(debugfsTracing + "/events", X_OK) == 0
    }

    /// Makes tracefs readable for attaching tracepoints by id: mounts it at `tracefsPath` if it
    /// is not mounted (it is not always at boot); explains what is missing when it cannot.
    public static func ensureTracefs() throws(BPFError) {
        if canReadTracefs { return }
        let denied = access(tracefsPath, X_OK) == 0 ? 0 : errno
        if denied == EACCES || denied == EPERM {
            throw BPFError(.permissionDenied, "read tracepoint ids from \(tracefsPath)", errno: denied,
                           details: "tracefs is readable by root only: run as root or add CAP_DAC_OVERRIDE")
        }
        try systemCall("mount tracefs at \(tracefsPath)", retryOnInterrupt: true) {
            mount("nodev", tracefsPath, "tracefs", 0, nil)
        }
    }

    private static func tracingFileExists(_ relative: String) -> Bool {
        access(tracefsPath + "/" + relative, F_OK) == 0 || access(debugfsTracing + "/" + relative, F_OK) == 0
    }

    /// Whether the tracepoint `category/name` exists: from tracefs when readable, else from the
    /// kernel's BTF (see `hasBTFTracepoint(_:)`), which has no types for the per-syscall events
    /// of `syscalls`: without tracefs they count as absent (attaching them needs tracefs anyway).
    public static func hasTracepoint(category: String, name: String) -> Bool {
        canReadTracefs ? tracingFileExists("events/\(category)/\(name)") : hasBTFTracepoint(name)
    }

    /// Whether the kernel runs 32-bit x86 programs (CONFIG_IA32_EMULATION, not switched off with
    /// `ia32_emulation=0` on the kernel command line). False on other architectures.
    public static var hasIA32Emulation: Bool {
        #if arch(x86_64)
        guard access("/proc/sys/abi/vsyscall32", F_OK) == 0 else {
            // Without /proc (a chroot, a container that does not mount it) there is no telling:
            // x86-64 kernels nearly all run 32-bit programs, and watching for them costs nothing.
            return access("/proc/self", F_OK) != 0
        }
        let text = (try? readFile("/proc/cmdline")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let arguments = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return !arguments.contains { ["ia32_emulation=0", "ia32_emulation=false", "ia32_emulation=n",
                                      "ia32_emulation=off"].contains($0) }
        #else
        return false
        #endif
    }

    /// Whether tracepoint programs can run a loop body through `bpf_loop` (Linux 5.17), which the
    /// verifier checks once instead of once per iteration.
    public static var tracingCanLoop: Bool {
        supports(helper: BPF_FUNC_loop.rawValue, in: .tracepoint)
    }

    /// Whether tracepoint programs can format text with `bpf_snprintf` (Linux 5.13).
    public static var tracingCanFormat: Bool {
        supports(helper: BPF_FUNC_snprintf.rawValue, in: .tracepoint)
    }

    /// Whether the kernel's BTF has the tracepoint `name` (for `tp_btf/name`): a `btf_trace_NAME`
    /// type in vmlinux's BTF (modules' tracepoints are not looked at), as `KernelBTF` keeps it.
    public static func hasBTFTracepoint(_ name: String) -> Bool { KernelBTF.hasTracepoint(name) }

    /// Whether tracepoint programs can read the current task through BTF (`bpf_get_current_task_btf`, Linux 5.11).
    public static var canReadCurrentTaskBTF: Bool {
        supports(helper: BPF_FUNC_get_current_task_btf.rawValue, in: .tracepoint)
    }

    /// Whether tracepoint programs can read a task's saved user registers (`bpf_task_pt_regs`, Linux 5.15).
    public static var canReadTaskRegisters: Bool {
        supports(helper: BPF_FUNC_task_pt_regs.rawValue, in: .tracepoint) && canReadCurrentTaskBTF
    }

    /// Whether this process runs in a user namespace other than the initial one (its uid map is
    /// not the identity over all ids): capabilities there do not let it load tracing programs.
    public static var isInUserNamespace: Bool {
        guard let map = try? readFile("/proc/self/uid_map") else { return false }
        let fields = String(decoding: map, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields != ["0", "0", "4294967295"]
    }

    /// Whether this process can load tracing programs: root, or CAP_BPF with CAP_PERFMON
    /// (or CAP_SYS_ADMIN), judged from the effective capability set, in the initial user namespace.
    public static var hasTracingPrivileges: Bool {
        if isInUserNamespace { return false }
        guard let status = try? readFile("/proc/self/status") else { return geteuid() == 0 }
        let text = String(decoding: status, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }
            guard let caps = UInt64(hex, radix: 16) else { break }
            let sysAdmin: UInt64 = 1 << 21, perfmon: UInt64 = 1 << 38, bpf: UInt64 = 1 << 39
            return caps & sysAdmin != 0 || (caps & bpf != 0 && caps & perfmon != 0)
        }
        return geteuid() == 0
    }
}

/// Reads a whole file (or a pseudo-file) through `fd`, until end of file.
func readAll(_ fd: Int32, context: @autoclosure () -> String) throws(BPFError) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = try systemCall(context(), retryOnInterrupt: true) {
            chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        }
        if count == 0 { return bytes }
        bytes += chunk[0..<count]
    }
}

/// Reads a whole file.
func readFile(_ path: String) throws(BPFError) -> [UInt8] {
    let fd = try systemCall("open \(path)", retryOnInterrupt: true) { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    return try readAll(fd, context: "read \(path)")
}
