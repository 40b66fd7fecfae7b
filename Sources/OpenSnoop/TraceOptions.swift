/// What to trace and how: the filters (all applied in the kernel) and the tracer's settings.
public struct TraceOptions: Sendable {
    /// How syscall arguments reach the exit program.
    public enum AttachMode: String, Sendable, CaseIterable {
        /// Read them from the task's saved registers when the kernel allows, else `pair`.
        case auto
        /// One program per syscall exit reading the saved registers (Linux 5.15+).
        case registers
        /// Enter programs stash the arguments in a map; exit programs join them.
        case pair
    }

    /// Processes (thread groups) to trace; empty: all.
    public var pids: [Int32] = []
    /// Threads to trace; empty: all.
    public var tids: [Int32] = []
    /// Users to trace; empty: all.
    public var uids: [UInt32] = []
    /// Only failed opens.
    public var failedOnly = false
    /// Only commands whose name contains this (at most 15 bytes).
    public var commandContains: String? = nil
    /// Only opens with one of these flags (`O_RDONLY` compares the access mode).
    public var flags: [OpenFlags.Named] = []
    /// Only paths (as passed) starting with one of these.
    public var pathPrefixes: [String] = []
    /// A pinned BPF hash map (u64 cgroup id keys) of cgroups to trace (BCC's `--cgroupmap`).
    public var cgroupMapPath: String? = nil
    /// A pinned BPF hash map (u64 mount-namespace id keys) to trace (BCC's `--mntnsmap`).
    public var mountNamespaceMapPath: String? = nil
    /// A cgroup v2 directory: trace tasks in it and below it.
    public var cgroupDirectory: String? = nil
    /// Trace only this process's children forked after attach, and their descendants
    /// (set by the command-tracing mode).
    public var followChildrenOf: Int32? = nil

    /// Resolve each open's absolute path in the kernel (`-F`).
    public var fullPath = false

    /// Ring-buffer size in pages (a power of two).
    public var ringBufferPages = 512
    /// Wake the reader once this many bytes are pending (batching); 0 wakes per event.
    public var wakeupBytes = 256 * 1024
    public var attachMode = AttachMode.auto
    /// Trace io_uring opens.
    public var ioUring = true

    public init() {}

    /// Checks what can be checked without the kernel. Throws `OpenSnoopError.invalidArgument`.
    public func validate() throws {
        for pid in pids where pid <= 0 {
            throw OpenSnoopError.invalidArgument("invalid PID \(pid): expected a positive process id")
        }
        for tid in tids where tid <= 0 {
            throw OpenSnoopError.invalidArgument("invalid TID \(tid): expected a positive thread id")
        }
        if pids.count > 1024 || tids.count > 1024 || uids.count > 1024 {
            throw OpenSnoopError.invalidArgument("too many PIDs, TIDs or UIDs: at most 1024 of each")
        }
        if let name = commandContains {
            if name.isEmpty { throw OpenSnoopError.invalidArgument("empty command name: expected 1 to 15 bytes") }
            if name.utf8.count > 15 {
                throw OpenSnoopError.invalidArgument(
                    "command name '\(name)' is \(name.utf8.count) bytes: a command name has at most 15")
            }
        }
        let bitFlags = flags.filter { if case .bits = $0 { true } else { false } }
        if bitFlags.count > Int(OPENSNOOP_MAX_FLAG_MASKS) {
            throw OpenSnoopError.invalidArgument("too many -f flags: at most \(OPENSNOOP_MAX_FLAG_MASKS)")
        }
        if pathPrefixes.count > Int(OPENSNOOP_MAX_PREFIXES) {
            throw OpenSnoopError.invalidArgument("too many --path prefixes: at most \(OPENSNOOP_MAX_PREFIXES)")
        }
        for prefix in pathPrefixes where prefix.isEmpty || prefix.utf8.count > Int(OPENSNOOP_PREFIX_MAX) {
            throw OpenSnoopError.invalidArgument(
                "--path prefix must be 1 to \(OPENSNOOP_PREFIX_MAX) bytes, got \(prefix.utf8.count)")
        }
        if let directory = cgroupDirectory {
            guard access(directory, F_OK) == 0 else {
                throw OpenSnoopError.invalidArgument(
                    "cannot use cgroup directory \(directory): \(String(cString: strerror(errno)))")
            }
            guard access(directory + "/cgroup.controllers", F_OK) == 0 else {
                throw OpenSnoopError.invalidArgument(
                    "\(directory) is not a cgroup v2 directory (expected one under /sys/fs/cgroup)")
            }
        }
        if ringBufferPages < 1 || ringBufferPages & (ringBufferPages - 1) != 0 {
            throw OpenSnoopError.invalidArgument(
                "buffer pages must be a power of two (e.g. 64, 1024, 2048), got \(ringBufferPages)")
        }
        if ringBufferPages > 1 << 18 {
            throw OpenSnoopError.invalidArgument("buffer pages must be at most \(1 << 18) (1 GiB), got \(ringBufferPages)")
        }
    }
}

internal import OpenSnoopEvent
internal import Glibc
