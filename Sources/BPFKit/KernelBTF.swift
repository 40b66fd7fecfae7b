internal import CLibBPF

/// Questions about the running kernel's types, answered from its BTF (read by libbpf): how a tool
/// picks the program variant a kernel needs when a tracepoint's prototype changed between
/// kernels, before anything is loaded (Tetragon's way). Safe to call from any thread.
public enum KernelBTF {
    /// The number of parameters of each tracepoint in `names` that the kernel has (its
    /// `btf_trace_NAME` prototype, without the leading `void *`); a tracepoint the kernel does
    /// not have (or only a module has) is left out; empty if the kernel has no BTF.
    ///
    /// A tracepoint's arguments cannot be relocated with CO-RE: where its prototype changed
    /// (`io_uring_complete` has 7 parameters on Linux 6.1, 3 since 6.13), compile one program
    /// per prototype and switch on, before load, the one that matches.
    public static func tracepointParameterCounts(_ names: [String]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for name in names { counts[name] = tracepoints[name] }
        return counts
    }

    /// Those of the kernel functions `names` that vmlinux's BTF has, so that fentry/fexit
    /// programs can attach to them (a function the compiler inlined everywhere has none). Reads
    /// the kernel's BTF for the question (a few milliseconds); empty if the kernel has no BTF.
    public static func functionsPresent(_ names: [String]) -> Set<String> {
        guard let btf = btf__load_vmlinux_btf() else { return [] }
        defer { btf__free(btf) }
        return Set(names.filter { btf__find_by_name_kind(btf, $0, UInt32(BTF_KIND_FUNC as Int)) > 0 })
    }

    /// Whether vmlinux's BTF has the tracepoint `name`.
    static func hasTracepoint(_ name: String) -> Bool { tracepoints[name] != nil }

    /// Every tracepoint of vmlinux's BTF with its number of parameters: read with libbpf once per
    /// process, at first use (a few milliseconds), and kept as this table while the BTF itself
    /// (megabytes) is freed. Empty if the kernel has no BTF.
    private static let tracepoints: [String: Int] = {
        guard let btf = btf__load_vmlinux_btf() else { return [:] }
        defer { btf__free(btf) }
        return BTFInfo(btf).tracepointParameterCounts()
    }()
}
