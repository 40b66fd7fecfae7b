internal import BPFKit
internal import Glibc
internal import OpenSnoopEvent

/// What to trace and how: the filters (all applied in the kernel) and the tracer's settings.
public struct TraceOptions: Sendable {
    /// Which hooks deliver the open system calls.
    public enum AttachMode: String, Sendable, CaseIterable {
        /// `fexit` where the kernel allows tracing programs (native and 32-bit opens); else
        /// `tracepoints` (native opens only: 32-bit ones need `raw`); else, where that cannot run
        /// (before Linux 5.17: no bpf_loop or bpf_task_pt_regs; tracefs not mountable), `raw`.
        case auto
        /// fexit programs at the kernel functions the open syscalls go through: native and
        /// 32-bit opens; nothing runs for other system calls (tracing programs, Linux 5.17).
        case fexit
        /// One program at the raw `sys_exit` tracepoint: native and 32-bit opens; it runs for
        /// every system call on the machine.
        case raw
        /// One program per open syscall's `sys_exit_*` tracepoint (Linux 5.15): native opens
        /// only; nothing runs for other system calls.
        case tracepoints
    }

    /// Processes (thread groups) to trace; empty: all. When opensnoop runs in a child pid
    /// namespace, these are ids as that namespace numbers them.
    public var pids: [Int32] = []
    /// Threads to trace; empty: all.
    public var tids: [Int32] = []
    /// Users to trace; empty: all.
    public var uids: [UInt32] = []
    /// Only failed opens.
    public var failedOnly = false
    /// Only commands whose name contains one of these byte strings (each 1 to 15 bytes).
    public var commandNames: [[UInt8]] = []
    /// Only opens with one of these flags (`O_RDONLY` compares the access mode).
    public var flags: [OpenFlags.Named] = []
    /// Only opens whose path starts with one of these: the path as passed, or the path the
    /// kernel resolved (relative names, `..`, symlinks and chroots included).
    public var pathPrefixes: [[UInt8]] = []
    /// A pinned BPF hash map (u64 cgroup id keys) of cgroups to trace (BCC's `--cgroupmap`).
    public var cgroupMapPath: String? = nil
    /// A pinned BPF hash map (u64 mount-namespace id keys) to trace (BCC's `--mntnsmap`).
    public var mountNamespaceMapPath: String? = nil
    /// cgroup v2 directories: trace tasks in one of them or below.
    public var cgroupDirectories: [String] = []
    /// Trace only the processes this process forks after attaching, and their descendants
    /// (the command-tracing mode).
    public var followCommand = false

    /// Resolve each open's path in the kernel (`-F`).
    public var fullPath = false
    /// Trace 32-bit (ia32/x32) system calls too (x86-64; needs the raw hook).
    public var compat = true
    /// Record each task's cgroup v2 id in its events.
    public var recordCgroup = false

    /// Count opens in the kernel by these keys (`--summary`); nil: no counting.
    public var summary: SummaryKeys? = nil
    /// Rows a summary table holds (the kernel keeps two: one counting, one being read).
    public var summaryCapacity = 4096
    /// Send each open to user space as an event (off for `--summary` alone).
    public var emitEvents = true
    /// Measure how long each open takes, from its syscall's entry (or io_uring submission).
    public var latency = false
    /// Only opens that took at least this long (implies `latency`).
    public var slowerThanNanoseconds: UInt64? = nil

    /// Count the opens the filters drop (a map update per dropped open).
    public var countFiltered = false

    /// Ring-buffer size in pages (a power of two); with `perCPURings`, shared among the CPUs' rings.
    public var ringBufferPages = TraceOptions.defaultRingBufferPages
    /// The ring sized by need: producers come with CPUs, so 128 pages per possible CPU, at least
    /// 256 (1 MiB of 4 KiB pages, what 2 CPUs need: 4 threads opening flat out on 2 CPUs lost
    /// nothing in JSON, where 128 pages lost some) and at most 8192.
    public static var defaultRingBufferPages: Int {
        var pages = 256
        while pages < 128 * BPFMapHandle.possibleCPUs && pages < 8192 { pages *= 2 }
        return pages
    }
    /// One events ring per CPU instead of one shared ring: no contention between CPUs when
    /// many produce at once, but events of different CPUs may come out of time order within a
    /// batch (up to one poll interval, 10 ms).
    public var perCPURings = false
    /// Wake the reader once this many bytes are pending (batching), at most a quarter of a
    /// ring; 0 wakes per event.
    public var wakeupBytes = 256 * 1024
    public var attachMode = AttachMode.auto
    /// Trace io_uring opens.
    public var ioUring = true
    /// How long an io_uring open may wait for its completion before it is dropped from
    /// tracking and counted as lost (at most 1,024 are tracked at once).
    public var ioUringPendingLimitNanoseconds: UInt64 = 600 * 1_000_000_000

    public init() {}

    /// Whether opens are timed (`latency`, or needed by `slowerThanNanoseconds`).
    public var measuresLatency: Bool { latency || slowerThanNanoseconds != nil }

    /// At most this many ids of each kind (`-p`, `-t`, `-u`).
    public static let maxIDs = 1024

    /// Checks what can be checked without the kernel. Throws `OpenSnoopError.invalidArgument`.
    public func validate() throws {
        for pid in pids where pid <= 0 {
            throw OpenSnoopError.invalidArgument("invalid PID \(pid): expected a positive process id")
        }
        for tid in tids where tid <= 0 {
            throw OpenSnoopError.invalidArgument("invalid TID \(tid): expected a positive thread id")
        }
        if Set(pids).count > Self.maxIDs || Set(tids).count > Self.maxIDs || Set(uids).count > Self.maxIDs {
            throw OpenSnoopError.invalidArgument("too many PIDs, TIDs or UIDs: at most \(Self.maxIDs) of each")
        }
        if commandNames.count > Int(OPENSNOOP_MAX_COMMS) {
            throw OpenSnoopError.invalidArgument("too many -n names: at most \(OPENSNOOP_MAX_COMMS)")
        }
        for name in commandNames {
            if name.isEmpty { throw OpenSnoopError.invalidArgument("empty command name: expected 1 to 15 bytes") }
            if name.count > 15 {
                throw OpenSnoopError.invalidArgument(
                    "command name '\(String(decoding: name, as: UTF8.self))' is \(name.count) bytes: a command name has at most 15")
            }
        }
        let bitFlags = flags.filter { if case .bits = $0 { true } else { false } }
        if bitFlags.count > Int(OPENSNOOP_MAX_FLAG_MASKS) {
            throw OpenSnoopError.invalidArgument("too many -f flags: at most \(OPENSNOOP_MAX_FLAG_MASKS)")
        }
        if pathPrefixes.count > Int(OPENSNOOP_MAX_PREFIXES) {
            throw OpenSnoopError.invalidArgument("too many --path prefixes: at most \(OPENSNOOP_MAX_PREFIXES)")
        }
        for prefix in pathPrefixes where prefix.isEmpty || prefix.count > Int(OPENSNOOP_PREFIX_MAX) {
            throw OpenSnoopError.invalidArgument(
                "--path prefix must be 1 to \(OPENSNOOP_PREFIX_MAX) bytes, got \(prefix.count)")
        }
        if cgroupDirectories.count > Int(OPENSNOOP_MAX_CGROUPS) {
            throw OpenSnoopError.invalidArgument("too many --cgroup directories: at most \(OPENSNOOP_MAX_CGROUPS)")
        }
        for directory in cgroupDirectories {
            guard access(directory, F_OK) == 0 else {
                throw OpenSnoopError.invalidArgument(
                    "cannot use cgroup directory \(directory): \(String(cString: strerror(errno)))")
            }
            guard access(directory + "/cgroup.controllers", F_OK) == 0 else {
                throw OpenSnoopError.invalidArgument(
                    "\(directory) is not a cgroup v2 directory (expected one under the cgroup2 mount)")
            }
        }
        if summaryCapacity < 1 || summaryCapacity > 1 << 20 {
            throw OpenSnoopError.invalidArgument("the summary table's capacity must be 1 to \(1 << 20) rows, got \(summaryCapacity)")
        }
        if let slower = slowerThanNanoseconds, slower == 0 {
            throw OpenSnoopError.invalidArgument("--slower must be more than 0 ms")
        }
        if summary == nil && !emitEvents {
            throw OpenSnoopError.invalidArgument("nothing to trace: neither events nor a summary")
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

/// What summary rows are counted by (`--summary-by`); any combination.
public struct SummaryKeys: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let comm = SummaryKeys(rawValue: UInt8(OPENSNOOP_BY_COMM.rawValue))
    public static let path = SummaryKeys(rawValue: UInt8(OPENSNOOP_BY_PATH.rawValue))
    public static let pid = SummaryKeys(rawValue: UInt8(OPENSNOOP_BY_PID.rawValue))
    public static let errno = SummaryKeys(rawValue: UInt8(OPENSNOOP_BY_ERRNO.rawValue))
    public static let cgroup = SummaryKeys(rawValue: UInt8(OPENSNOOP_BY_CGROUP.rawValue))

    /// The keys' names, as `--summary-by` takes them.
    public static let names: [(name: String, keys: SummaryKeys)] = [
        ("comm", .comm), ("path", .path), ("pid", .pid), ("errno", .errno), ("cgroup", .cgroup),
    ]

    /// Parses a comma-separated list (`comm,path`); nil for an unknown name.
    public init?(parsing text: String) {
        var keys: SummaryKeys = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let named = Self.names.first(where: { $0.name == part }) else { return nil }
            keys.insert(named.keys)
        }
        guard !keys.isEmpty else { return nil }
        self = keys
    }
}
