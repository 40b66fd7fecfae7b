internal import CLibBPF

/// A kernel map type (`BPF_MAP_TYPE_*`), with a readable name for messages.
public struct BPFMapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let hash = BPFMapType(rawValue: 1)
    public static let array = BPFMapType(rawValue: 2)
    public static let programArray = BPFMapType(rawValue: 3)
    public static let perfEventArray = BPFMapType(rawValue: 4)
    public static let perCPUHash = BPFMapType(rawValue: 5)
    public static let perCPUArray = BPFMapType(rawValue: 6)
    public static let cgroupArray = BPFMapType(rawValue: 8)
    public static let lruHash = BPFMapType(rawValue: 9)
    public static let lruPerCPUHash = BPFMapType(rawValue: 10)
    public static let lpmTrie = BPFMapType(rawValue: 11)
    public static let arrayOfMaps = BPFMapType(rawValue: 12)
    public static let queue = BPFMapType(rawValue: 22)
    public static let stack = BPFMapType(rawValue: 23)
    public static let ringBuffer = BPFMapType(rawValue: 27)
    public static let taskStorage = BPFMapType(rawValue: 29)

    private static let names: [UInt32: String] = [
        1: "hash", 2: "array", 3: "program array", 4: "perf event array", 5: "per-CPU hash",
        6: "per-CPU array", 7: "stack trace", 8: "cgroup array", 9: "LRU hash", 10: "LRU per-CPU hash",
        11: "LPM trie", 12: "array of maps", 13: "hash of maps", 22: "queue", 23: "stack",
        25: "devmap hash", 26: "struct_ops", 27: "ring buffer", 28: "inode storage", 29: "task storage",
        30: "bloom filter", 31: "user ring buffer", 32: "cgroup storage",
    ]

    /// The type's name, e.g. `per-CPU array`.
    public var description: String { Self.names[rawValue] ?? "map type \(rawValue)" }

    /// Whether values are stored once per possible CPU.
    public var isPerCPU: Bool { [Self.perCPUHash, .perCPUArray, .lruPerCPUHash].contains(self) || rawValue == 21 }
}

/// A kernel program type (`BPF_PROG_TYPE_*`).
public struct BPFProgramType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let kprobe = BPFProgramType(rawValue: 2)
    public static let tracepoint = BPFProgramType(rawValue: 5)
    public static let perfEvent = BPFProgramType(rawValue: 7)
    public static let rawTracepoint = BPFProgramType(rawValue: 17)
    public static let tracing = BPFProgramType(rawValue: 26)
    public static let lsm = BPFProgramType(rawValue: 29)

    private static let names: [UInt32: String] = [
        1: "socket filter", 2: "kprobe", 3: "sched_cls", 4: "sched_act", 5: "tracepoint", 6: "xdp",
        7: "perf_event", 8: "cgroup_skb", 17: "raw_tracepoint", 26: "tracing", 27: "struct_ops",
        28: "ext", 29: "lsm", 30: "sk_lookup", 31: "syscall",
    ]

    /// The type's name, e.g. `raw_tracepoint`.
    public var description: String { Self.names[rawValue] ?? "program type \(rawValue)" }

    /// The type libbpf gives a program in ELF section `section` (a leading `?` is ignored), or
    /// nil if libbpf knows no such section: a misspelled `SEC()`, which libbpf itself only
    /// notices at load.
    public init?(section: String) {
        var type = BPF_PROG_TYPE_UNSPEC
        var attachType = bpf_attach_type(0)
        let name = section.hasPrefix("?") ? String(section.dropFirst()) : section
        guard libbpf_prog_type_by_name(name, &type, &attachType) == 0 else { return nil }
        self.init(rawValue: type.rawValue)
    }
}

/// Where a program attaches, as its ELF section says (libbpf's `SEC()` conventions), typed so
/// that a tool selects and attaches programs by data instead of by parsing names.
public enum BPFAttachPoint: Hashable, Sendable {
    /// `tracepoint/CATEGORY/NAME` (also `tp/`).
    case tracepoint(category: String, name: String)
    /// `raw_tracepoint/NAME` (also `raw_tp/`).
    case rawTracepoint(String)
    /// `tp_btf/NAME`: a BTF-typed raw tracepoint (Linux 5.5).
    case btfTracepoint(String)
    /// `kprobe/FUNCTION` or `kretprobe/FUNCTION` (needs kprobes in the kernel).
    case kprobe(function: String, isReturn: Bool)
    /// `ksyscall/NAME` or `kretsyscall/NAME` (kprobe-based).
    case ksyscall(String, isReturn: Bool)
    /// `uprobe...`/`uretprobe...`: attached explicitly with `BPFProgram.attachUprobe`.
    case uprobe(isReturn: Bool)
    /// `fentry/FUNCTION`, `fexit/FUNCTION` (BPF trampolines, Linux 5.5, not on every kernel).
    case fentry(function: String, isReturn: Bool)
    /// `lsm/HOOK`.
    case lsm(String)
    /// `iter/KIND`, e.g. `iter/task`: attached with `BPFProgram.attachIterator()`.
    case iterator(String)
    /// Any other section (networking, cgroup, perf_event...): attach through libbpf's `attach()`.
    case other(String)

    /// `tracepoint/NAME` or `tp/NAME`: libbpf takes it, and it attaches nowhere (a bare
    /// `tracepoint`, for a program attached by explicit calls, is fine).
    package var namesNoTracepointCategory: Bool {
        guard case .other(let section) = self else { return false }
        let parts = section.split(separator: "/", omittingEmptySubsequences: false)
        return (parts.first == "tracepoint" || parts.first == "tp") && parts.count == 2
    }

    /// Parses an ELF section name; a leading `?` (autoload off) is ignored.
    public init(section: String) {
        var section = Substring(section)
        if section.first == "?" { section = section.dropFirst() }
        let parts = section.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        let head = parts[0]
        let rest = parts.dropFirst().joined(separator: "/")
        switch head {
        case "tracepoint" where parts.count == 3, "tp" where parts.count == 3: self = .tracepoint(category: parts[1], name: parts[2])
        case "raw_tracepoint", "raw_tp": self = .rawTracepoint(rest)
        case "tp_btf": self = .btfTracepoint(rest)
        case "kprobe", "kretprobe": self = .kprobe(function: rest, isReturn: head == "kretprobe")
        case "ksyscall", "kretsyscall": self = .ksyscall(rest, isReturn: head == "kretsyscall")
        case "uprobe", "uretprobe", "uprobe.s", "uretprobe.s":
            self = .uprobe(isReturn: head.hasPrefix("uretprobe"))
        case "fentry", "fexit", "fentry.s", "fexit.s":
            self = .fentry(function: rest, isReturn: head.hasPrefix("fexit"))
        case "lsm", "lsm.s": self = .lsm(rest)
        case "iter", "iter.s": self = .iterator(rest)
        default: self = .other(String(section))
        }
    }
}
