internal import CLibBPF
internal import Glibc

/// What the running kernel offers, asked before loading so that programs can be switched off
/// or a clear error given instead of a verifier failure.
public enum KernelSupport {
    /// Where tracefs lives; syscall tracepoints are attached through its event ids.
    public static let tracefsPath = "/sys/kernel/tracing"

    /// Whether the kernel exposes its own BTF (needed for CO-RE and `tp_btf`).
    public static var hasKernelBTF: Bool {
        access("/sys/kernel/btf/vmlinux", R_OK) == 0
    }

    /// Whether this process can read tracefs' event directory (where tracepoint ids live).
    public static var canReadTracefs: Bool {
        access(tracefsPath + "/events", X_OK) == 0 || access("/sys/kernel/debug/tracing/events", X_OK) == 0
    }

    /// Makes tracefs readable for attaching tracepoints by id: mounts it at `tracefsPath` if it
    /// is not mounted (it is not always at boot); explains what is missing when it cannot.
    public static func ensureTracefs() throws {
        if canReadTracefs { return }
        let probe = access(tracefsPath, X_OK) == 0 ? 0 : errno
        if probe == EACCES || probe == EPERM {
            throw BPFError(.permissionDenied, "read tracepoint ids from \(tracefsPath)", errno: probe,
                           details: "tracefs is readable by root only: run as root or add CAP_DAC_OVERRIDE")
        }
        try check("mount tracefs at \(tracefsPath)") { mount("nodev", tracefsPath, "tracefs", 0, nil) }
    }

    /// Whether the tracepoint `category/name` exists: from tracefs when readable, else from the
    /// kernel's BTF (every tracepoint has a `btf_trace_NAME` type there).
    public static func hasTracepoint(category: String, name: String) -> Bool {
        if canReadTracefs {
            let relative = "/events/\(category)/\(name)"
            return access(tracefsPath + relative, F_OK) == 0 || access("/sys/kernel/debug/tracing" + relative, F_OK) == 0
        }
        return hasBTFTracepoint(name)
    }

    /// Whether the kernel runs 32-bit x86 programs (CONFIG_IA32_EMULATION, not switched off with
    /// `ia32_emulation=0` on the kernel command line). False on other architectures.
    public static var hasIA32Emulation: Bool {
        #if arch(x86_64)
        guard access("/proc/sys/abi/vsyscall32", F_OK) == 0 else { return false }
        let arguments = readFile("/proc/cmdline")?.split(whereSeparator: { $0 == " " || $0 == "\n" }) ?? []
        return !arguments.contains { ["ia32_emulation=0", "ia32_emulation=false", "ia32_emulation=n", "ia32_emulation=off"].contains($0) }
        #else
        return false
        #endif
    }

    /// Whether tracepoint programs may call the helper `helper`.
    static func tracepointsCanCall(_ helper: bpf_func_id) -> Bool {
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, helper, nil) == 1
    }

    /// Whether tracepoint programs can run a loop body through `bpf_loop` (Linux 5.17), which the
    /// verifier checks once instead of once per iteration.
    public static var tracingCanLoop: Bool {
        tracepointsCanCall(BPF_FUNC_loop)
    }

    /// Whether tracepoint programs can read the current task through BTF (`bpf_get_current_task_btf`, Linux 5.11).
    public static var canReadCurrentTaskBTF: Bool {
        tracepointsCanCall(BPF_FUNC_get_current_task_btf)
    }

    /// Whether tracepoint programs can read a task's saved user registers (`bpf_task_pt_regs`, Linux 5.15).
    public static var canReadTaskRegisters: Bool {
        tracepointsCanCall(BPF_FUNC_task_pt_regs) && canReadCurrentTaskBTF
    }

    /// Whether this process can load tracing programs: root, or CAP_BPF with CAP_PERFMON
    /// (or CAP_SYS_ADMIN), judged from the effective capability set.
    public static var hasTracingPrivileges: Bool {
        guard let status = readFile("/proc/self/status") else { return geteuid() == 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: " \t")
            guard let caps = UInt64(hex, radix: 16) else { break }
            let sysAdmin: UInt64 = 1 << 21, perfmon: UInt64 = 1 << 38, bpf: UInt64 = 1 << 39
            return caps & sysAdmin != 0 || (caps & bpf != 0 && caps & perfmon != 0)
        }
        return geteuid() == 0
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return s
    }
}

extension KernelSupport {
    /// Whether the kernel's BTF has the BTF-enabled tracepoint `name` (for `tp_btf/name`).
    public static func hasBTFTracepoint(_ name: String) -> Bool {
        libbpf_find_vmlinux_btf_id(name, BPF_TRACE_RAW_TP) > 0
    }
}
