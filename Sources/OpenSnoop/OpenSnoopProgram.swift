public import BPFKit
internal import Glibc
internal import OpenSnoopBPF
internal import OpenSnoopEvent

/// The opensnoop BPF program, loaded, configured and attached.
///
/// Creating it checks privileges and BTF, picks the hooks this kernel offers, writes the
/// filters into the program's read-only data and maps, loads and attaches. Releasing it
/// detaches every program and frees every map. Not thread-safe.
public final class OpenSnoopProgram {
    public let object: BPFObject
    /// The attach mode in use (`auto` resolved).
    public let attachMode: TraceOptions.AttachMode
    /// Whether io_uring opens are traced.
    public let tracesIoUring: Bool
    /// Whether 32-bit (compat) opens are traced.
    public let tracesCompat: Bool
    private var links: [BPFLink] = []
    /// io_uring opens dropped from tracking because no completion came for too long.
    public private(set) var expiredIoUringOpens: UInt64 = 0

    /// What each program of `opensnoop.bpf.c` is for: the table that decides which ones load.
    private enum Role {
        /// The raw `sys_exit` hook of `raw` mode.
        case rawSyscalls
        /// One open syscall's exit tracepoint, in `tracepoints` mode.
        case syscallTracepoint(String)
        /// The raw `sys_enter` hook timing opens in `raw` mode (`--latency`).
        case rawSyscallStart
        /// One open syscall's entry tracepoint timing it in `tracepoints` mode (`--latency`).
        case syscallStart(String)
        /// io_uring open tracking.
        case ioUring
        /// Following a command's process tree.
        case follow
        /// Run once after load to learn our own process id as the kernel numbers it.
        case identify
    }

    private static let roles: [String: Role] = [
        "raw_sys_exit": .rawSyscalls,
        "tp_exit_open": .syscallTracepoint("sys_exit_open"),
        "tp_exit_openat": .syscallTracepoint("sys_exit_openat"),
        "tp_exit_openat2": .syscallTracepoint("sys_exit_openat2"),
        "tp_exit_creat": .syscallTracepoint("sys_exit_creat"),
        "tp_exit_open_by_handle_at": .syscallTracepoint("sys_exit_open_by_handle_at"),
        "raw_sys_enter": .rawSyscallStart,
        "tp_enter_open": .syscallStart("sys_enter_open"),
        "tp_enter_openat": .syscallStart("sys_enter_openat"),
        "tp_enter_openat2": .syscallStart("sys_enter_openat2"),
        "tp_enter_creat": .syscallStart("sys_enter_creat"),
        "tp_enter_open_by_handle_at": .syscallStart("sys_enter_open_by_handle_at"),
        "uring_submit": .ioUring,
        "uring_complete": .ioUring,
        "uring_req_failed": .ioUring,
        "follow_fork": .follow,
        "follow_exit": .follow,
        "whoami": .identify,
    ]

    /// How long an io_uring open may wait for its completion before it is dropped from tracking.
    public static let ioUringPendingLimitNanoseconds: UInt64 = 600 * 1_000_000_000

    public init(options: TraceOptions) throws {
        try options.validate()
        guard KernelSupport.hasTracingPrivileges else {
            throw OpenSnoopError.unsupported("root, or the capabilities CAP_BPF and CAP_PERFMON, are needed to trace")
        }
        guard KernelSupport.hasKernelBTF else {
            throw OpenSnoopError.unsupported(
                "this kernel has no BTF (/sys/kernel/btf/vmlinux): it needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)")
        }
        do {
            let mode = try Self.resolveMode(options)
            let compat = options.compat && mode == .raw && KernelSupport.hasIA32Emulation
            object = try BPFObject(bytes: OpenSnoopBPF.objectBytes, name: "opensnoop")
            tracesIoUring = try Self.selectPrograms(of: object, mode: mode, options: options)
            attachMode = mode
            tracesCompat = compat
            try Self.configure(object, options: options, compat: compat)
            try object.load()
            try object.program(named: "whoami").run()
            try Self.fillFilterMaps(object, options: options)
            for program in object.programs where program.autoload && Self.roles[program.name].map(Self.attaches) == true {
                links.append(try program.attach())
            }
        } catch let error as BPFError {
            throw OpenSnoopError.bpf(error)
        }
    }

    private static func attaches(_ role: Role) -> Bool {
        if case .identify = role { return false }
        return true
    }

    /// `auto` resolved for this kernel and these options.
    private static func resolveMode(_ options: TraceOptions) throws -> TraceOptions.AttachMode {
        let registers = KernelSupport.canReadTaskRegisters
        switch options.attachMode {
        case .auto:
            if options.compat && KernelSupport.hasIA32Emulation { return .raw }
            return registers && KernelSupport.canReadTracefs ? .tracepoints : .raw
        case .raw:
            return .raw
        case .tracepoints:
            guard registers else {
                throw OpenSnoopError.unsupported("attach mode 'tracepoints' needs bpf_task_pt_regs (Linux 5.15 or later)")
            }
            try KernelSupport.ensureTracefs()
            return .tracepoints
        }
    }

    /// The ring buffer the events arrive in.
    public func eventsMap() throws -> BPFMap { try object.map(named: "events") }

    /// Events that never reached user space, since load: dropped in the kernel because the ring
    /// buffer was full or too many io_uring opens were in flight, skipped by the kernel because
    /// a hook hit itself, or io_uring opens whose completion never came.
    public func lostEvents() throws -> UInt64 {
        var total = try object.map(named: "counters").sumPerCPU(UInt32(OPENSNOOP_COUNTER_LOST.rawValue))
        for link in links { total &+= try link.program.recursionMisses() }
        return total &+ expiredIoUringOpens
    }

    /// Processes of the followed command's tree still alive (with `followCommand`).
    public func tracedProcessesAlive() throws -> Int64 {
        Int64(bitPattern: try object.map(named: "counters").sumPerCPU(UInt32(OPENSNOOP_COUNTER_TRACED_LIVE.rawValue)))
    }

    /// Drops io_uring opens whose completion has not come within `ioUringPendingLimitNanoseconds`
    /// (their submitter may have died with the ring); counts them as lost.
    public func expireStaleIoUringOpens() throws {
        guard tracesIoUring else { return }
        let pending = try object.map(named: "pending_uring")
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let now = UInt64(clock.tv_sec) * 1_000_000_000 + UInt64(clock.tv_nsec)
        for key in try pending.keys(as: UInt64.self) {
            guard let value = try pending.valueBytes(key), value.count >= 8 else { continue }
            let submitted = value.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            if now > submitted && now - submitted > Self.ioUringPendingLimitNanoseconds, try pending.delete(key) {
                expiredIoUringOpens += 1
            }
        }
    }

    /// Switches on the programs this mode and these options need, from the role table; returns
    /// whether io_uring is traced. A program missing from the table is an error (the C side
    /// was changed without this table).
    private static func selectPrograms(of object: BPFObject, mode: TraceOptions.AttachMode,
                                       options: TraceOptions) throws -> Bool {
        let uringHooks = ["io_uring_submit_req", "io_uring_complete", "io_uring_req_failed"]
        let ioUring = options.ioUring && uringHooks.allSatisfy { KernelSupport.hasTracepoint(category: "io_uring", name: $0) }
        var syscallHooks = 0
        for program in object.programs {
            guard let role = roles[program.name] else {
                throw OpenSnoopError.unsupported("internal error: BPF program \(program.name) has no role")
            }
            switch role {
            case .rawSyscalls:
                program.autoload = mode == .raw
                if mode == .raw {
                    guard KernelSupport.hasTracepoint(category: "raw_syscalls", name: "sys_exit") else {
                        throw OpenSnoopError.unsupported("this kernel has no raw_syscalls:sys_exit tracepoint (CONFIG_FTRACE_SYSCALLS)")
                    }
                    syscallHooks += 1
                }
            case .syscallTracepoint(let name):
                let wanted = mode == .tracepoints && KernelSupport.hasTracepoint(category: "syscalls", name: name)
                program.autoload = wanted
                if wanted { syscallHooks += 1 }
            case .rawSyscallStart:
                program.autoload = false
            case .syscallStart:
                program.autoload = false
            case .ioUring:
                program.autoload = ioUring
            case .follow:
                program.autoload = options.followCommand
            case .identify:
                program.autoload = true
            }
        }
        guard syscallHooks > 0 else {
            throw OpenSnoopError.unsupported("this kernel has no open syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
        }
        return ioUring
    }

    /// Writes the filters and settings into the program's read-only globals; sizes maps.
    private static func configure(_ object: BPFObject, options: TraceOptions, compat: Bool) throws {
        try object.setReadOnlyGlobal("filter_pid", to: !options.pids.isEmpty)
        try object.setReadOnlyGlobal("filter_tid", to: !options.tids.isEmpty)
        try object.setReadOnlyGlobal("filter_uid", to: !options.uids.isEmpty)
        try object.setReadOnlyGlobal("failed_only", to: options.failedOnly)
        try object.setReadOnlyGlobal("filter_traced", to: options.followCommand)
        if !options.pids.isEmpty || !options.tids.isEmpty, let namespace = PIDNamespace.current, !namespace.isInitial {
            try object.setReadOnlyGlobal("ids_in_pidns", to: true)
            try object.setReadOnlyGlobal("pidns_dev", to: namespace.device)
            try object.setReadOnlyGlobal("pidns_ino", to: namespace.inode)
        }
        if !options.commandNames.isEmpty {
            let width = Int(OPENSNOOP_COMM_LEN)
            var table = [UInt8](repeating: 0, count: width * options.commandNames.count)
            for (index, name) in options.commandNames.enumerated() {
                table.replaceSubrange(index * width..<(index * width + name.count), with: name)
            }
            try object.setReadOnlyGlobal("n_comms", to: UInt8(options.commandNames.count))
            try object.setReadOnlyGlobal("comm_len", bytes: options.commandNames.map { UInt8($0.count) })
            try object.setReadOnlyGlobal("targ_comm", bytes: table)
        }
        if !options.flags.isEmpty {
            var accessModes: UInt8 = 0
            var masks: [UInt64] = []
            for flag in options.flags {
                switch flag {
                case .accessMode(let mode): accessModes |= 1 << mode
                case .bits(let bits): masks.append(bits)
                }
            }
            try object.setReadOnlyGlobal("filter_flags", to: true)
            try object.setReadOnlyGlobal("targ_accmodes", to: accessModes)
            try object.setReadOnlyGlobal("n_flag_masks", to: UInt8(masks.count))
            try object.setReadOnlyGlobal("flag_masks", bytes: masks.flatMap { withUnsafeBytes(of: $0, Array.init) })
        }
        if !options.pathPrefixes.isEmpty {
            let width = Int(OPENSNOOP_PREFIX_MAX)
            var table = [UInt8](repeating: 0, count: width * options.pathPrefixes.count)
            var lengths: [UInt16] = []
            for (index, prefix) in options.pathPrefixes.enumerated() {
                table.replaceSubrange(index * width..<(index * width + prefix.count), with: prefix)
                lengths.append(UInt16(prefix.count))
            }
            try object.setReadOnlyGlobal("n_prefixes", to: UInt8(options.pathPrefixes.count))
            try object.setReadOnlyGlobal("prefix_len", bytes: lengths.flatMap { withUnsafeBytes(of: $0, Array.init) })
            try object.setReadOnlyGlobal("prefixes", bytes: table)
        }
        if let path = options.cgroupMapPath {
            try object.setReadOnlyGlobal("filter_cgroup_ids", to: true)
            try object.map(named: "cgroup_ids").reusePinned(at: path)
        }
        if let path = options.mountNamespaceMapPath {
            try object.setReadOnlyGlobal("filter_mntns", to: true)
            try object.map(named: "mntns_ids").reusePinned(at: path)
        }
        try object.setReadOnlyGlobal("n_cgroup_trees", to: UInt8(options.cgroupDirectories.count))
        let hasTaskBTF = KernelSupport.canReadCurrentTaskBTF
        if (options.fullPath || !options.pathPrefixes.isEmpty) && !hasTaskBTF {
            throw OpenSnoopError.unsupported("-F/--full-path and --path need bpf_get_current_task_btf (Linux 5.11 or later)")
        }
        try object.setReadOnlyGlobal("full_path", to: options.fullPath)
        try object.setReadOnlyGlobal("has_task_btf", to: hasTaskBTF)
        try object.setReadOnlyGlobal("trace_compat", to: compat)
        try object.setReadOnlyGlobal("has_bpf_loop", to: KernelSupport.tracingCanLoop)
        try object.setReadOnlyGlobal("want_cgroup", to: options.recordCgroup)
        try object.setReadOnlyGlobal("wakeup_bytes", to: UInt64(options.wakeupBytes))
        let pageSize = UInt32(sysconf(Int32(_SC_PAGESIZE)))
        try object.map(named: "events").setMaxEntries(UInt32(options.ringBufferPages) * pageSize)
    }

    /// Fills the filter maps, which exist only after load.
    private static func fillFilterMaps(_ object: BPFObject, options: TraceOptions) throws {
        let one: UInt8 = 1
        for pid in Set(options.pids) { try object.map(named: "pid_filter").update(UInt32(bitPattern: pid), one) }
        for tid in Set(options.tids) { try object.map(named: "tid_filter").update(UInt32(bitPattern: tid), one) }
        for uid in Set(options.uids) { try object.map(named: "uid_filter").update(uid, one) }
        for (index, directory) in options.cgroupDirectories.enumerated() {
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw OpenSnoopError.invalidArgument("cannot open cgroup directory \(directory): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            try object.map(named: "cgroup_tree").update(UInt32(index), UInt32(bitPattern: fd))
        }
    }
}

/// The pid namespace this process lives in.
struct PIDNamespace {
    /// The device (as the kernel encodes a dev_t) and inode of its nsfs file.
    let device: UInt64
    let inode: UInt64

    /// The inode of the initial pid namespace (PROC_PID_INIT_INO).
    static let initialInode: UInt64 = 0xEFFF_FFFC

    var isInitial: Bool { inode == Self.initialInode }

    static var current: PIDNamespace? {
        var info = stat()
        guard stat("/proc/self/ns/pid", &info) == 0 else { return nil }
        let dev = UInt64(info.st_dev)
        let major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
        let minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
        return PIDNamespace(device: (major << 20) | minor, inode: UInt64(info.st_ino))
    }
}
