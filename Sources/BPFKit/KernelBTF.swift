internal import CLibBPF
internal import Synchronization

/// Questions about the running kernel's types, answered from its BTF before anything is loaded:
/// which program variant a kernel needs when a tracepoint's prototype changed between kernels
/// (Tetragon's way), which kernel functions fentry/fexit programs can attach to. Safe to call
/// from any thread.
///
/// The kernel's BTF (`/sys/kernel/btf/vmlinux`, megabytes) is read with libbpf once, at the
/// first question, and kept for the next ones (`KernelSupport.hasFentry` asks here too) until
/// `BPFObject.load()` frees it (`release()`), just before libbpf reads it for its own CO-RE: a
/// tool that asks its questions before loading reads the kernel's BTF twice in all, ours and
/// libbpf's, and never holds both copies at once.
public enum KernelBTF {
    /// The number of parameters of each tracepoint in `names` that the kernel has (its
    /// `btf_trace_NAME` prototype, without the leading `void *`); a tracepoint the kernel does
    /// not have (or only a module has) is left out; empty if the kernel has no BTF.
    ///
    /// A tracepoint's arguments cannot be relocated with CO-RE: where its prototype changed
    /// (`io_uring_complete` has 7 parameters on Linux 6.1, 3 since 6.13), compile one program
    /// per prototype and switch on, before load, the one that matches.
    public static func tracepointParameterCounts(_ names: [String]) -> [String: Int] {
        withKernelBTF { btf in
            var counts: [String: Int] = [:]
            for name in names { counts[name] = btf.tracepointParameterCount(name) }
            return counts
        } ?? [:]
    }

    /// Those of the kernel functions `names` that vmlinux's BTF has, so that fentry/fexit
    /// programs can attach to them (a function the compiler inlined everywhere has none); empty
    /// if the kernel has no BTF.
    public static func functionsPresent(_ names: [String]) -> Set<String> {
        withKernelBTF { btf in Set(names.filter { btf.functionID($0) != nil }) } ?? []
    }

    /// Frees the kernel's BTF read for these questions (a later question reads it again).
    /// `BPFObject.load()` calls it before libbpf reads its own copy; call it yourself when you
    /// are done asking and load nothing.
    public static func release() {
        cache.withLock { state in
            if let btf = state.info { btf__free(btf.btf) }
            state.btf = 0
        }
    }

    /// Whether vmlinux's BTF has the tracepoint `name`.
    static func hasTracepoint(_ name: String) -> Bool {
        withKernelBTF { $0.tracepointParameterCount(name) != nil } ?? false
    }

    /// The BTF type id of the kernel function `name`, nil if vmlinux's BTF has none (or the
    /// kernel has no BTF): an fentry/fexit program's attach target.
    static func functionID(_ name: String) -> UInt32? {
        withKernelBTF { $0.functionID(name) } ?? nil
    }

    /// The address of libbpf's `struct btf` for the kernel once read (0 before, or after
    /// `release()`; kept as bits, as `BPFLink` keeps its pointer, for the lock to hold);
    /// `unavailable` once the kernel was found to have none, so that it is not tried again.
    private struct State {
        var btf: UInt = 0
        var unavailable = false

        var info: BTFInfo? { UnsafeRawPointer(bitPattern: btf).map { BTFInfo(OpaquePointer($0)) } }
    }
    private static let cache = Mutex(State())

    /// Runs `body` on the kernel's BTF, read at the first call; nil if the kernel has none.
    /// The lock is held throughout, so `release()` cannot free it underneath.
    private static func withKernelBTF<T: Sendable>(_ body: (BTFInfo) -> T) -> T? {
        cache.withLock { state -> T? in
            if state.btf == 0 && !state.unavailable {
                if let btf = btf__load_vmlinux_btf() {
                    state.btf = UInt(bitPattern: UnsafeRawPointer(btf))
                } else {
                    state.unavailable = true
                }
            }
            return state.info.map(body)
        }
    }
}
