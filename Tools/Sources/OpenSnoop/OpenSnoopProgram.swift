public import BPFKit
internal import Glibc
internal import OpenSnoopBPF
internal import OpenSnoopEvent

/// The opensnoop BPF program, loaded, configured and attached, through its generated skeleton
/// (`OpensnoopSkeleton`: every program, map and global by a typed name).
///
/// Creating it checks privileges and BTF, picks the hooks this kernel offers from the hook
/// table, writes the filters into the program's read-only data and maps, loads and attaches.
/// Releasing it detaches every program and frees every map. Not thread-safe.
public final class OpenSnoopProgram {
    let skeleton: OpensnoopSkeleton
    /// The attach mode in use (`auto` resolved).
    public let attachMode: TraceOptions.AttachMode
    /// Whether io_uring opens are traced.
    public let tracesIoUring: Bool
    /// Why io_uring opens are not traced although asked for: this kernel cannot (nil otherwise).
    public let ioUringUnavailable: String?
    /// Whether 32-bit (compat) opens are traced.
    public let tracesCompat: Bool
    /// The options it was made with.
    public let options: TraceOptions
    /// The programs attached (their recursion misses count as lost events).
    private let attached: [BPFProgram]
    /// With --summary: the first summary table (the template of those `summary` holds).
    private let summaryTable: BPFMapHandle?
    /// With per-CPU rings: each CPU's events ring.
    public let cpuRings: [BPFMapHandle]
    /// io_uring opens dropped from tracking because no completion came for too long.
    public private(set) var expiredIoUringOpens: UInt64 = 0

    /// What each program of `opensnoop.bpf.c` is for: the table that decides which ones load.
    /// A program the table does not know is a compile error (the switch is exhaustive).
    private enum Hook {
        /// The raw `sys_exit` hook of `raw` mode; `full`: with path resolution and path hashes
        /// (bpf_loop, 5.17) and compare-and-swap (5.12), which older verifiers refuse outright.
        case rawExit(full: Bool)
        /// The raw `sys_enter` hook timing opens in `raw` mode (`--latency`).
        case rawEntry
        /// The end of a kernel function that open syscalls go through (its section names it), in
        /// `fexit` mode.
        case functionExit
        /// Its start, timing opens in `fexit` mode (`--latency`).
        case functionEntry
        /// The exit tracepoints of the open syscalls (one program for all), in `tracepoints` mode.
        case syscallExit
        /// Their entry tracepoints, timing opens in `tracepoints` mode (`--latency`).
        case syscallEntry
        /// A stage of an io_uring open, at the tracepoint its section names, written for the
        /// prototype with this many parameters: `io_uring_submit_req` (1), or before 6.4
        /// `io_uring_submit_sqe` (2, taking the request first from 6.0); `io_uring_req_failed`
        /// (3); nil for `io_uring_complete`, whose two (3 since 6.13, 7 before) the program
        /// tells apart itself (CO-RE).
        case ioUring(IoUringStage, parameters: Int?)
        /// Following a command's process tree.
        case follow
        /// Run once after load, never attached: learns our own process id as the kernel numbers it.
        case identify

        init(_ program: OpensnoopSkeleton.Program) {
            switch program {
            case .rawSysExit: self = .rawExit(full: true)
            case .rawSysExitBasic: self = .rawExit(full: false)
            case .rawSysEnter: self = .rawEntry
            case .fexitOpenat2, .fexitHandleOpen: self = .functionExit
            case .fentryOpenat2, .fentryHandleOpen: self = .functionEntry
            case .tpSysExit: self = .syscallExit
            case .tpSysEnter: self = .syscallEntry
            case .uringSubmitReq: self = .ioUring(.submit, parameters: 1)
            case .uringSubmitSqe: self = .ioUring(.submit, parameters: 2)
            case .uringComplete: self = .ioUring(.complete, parameters: nil)
            case .uringReqFailed: self = .ioUring(.failed, parameters: 3)
            case .followFork, .followExit: self = .follow
            case .whoami: self = .identify
            }
        }
    }

    /// The stages of an io_uring open: each needs one program whose prototype the kernel has.
    private enum IoUringStage: CaseIterable { case submit, complete, failed }

    /// Loads and attaches the programs `options` select on this kernel. With
    /// `collectingStatistics`, `verifierStatistics` says what verifying each one took.
    public init(options: TraceOptions, collectingStatistics: Bool = false) throws {
        try options.validate()
        guard KernelSupport.hasTracingPrivileges else {
            if KernelSupport.isInUserNamespace {
                throw OpenSnoopError.unsupported(
                    "this is a user namespace: tracing needs root, or CAP_BPF and CAP_PERFMON, in the initial one")
            }
            throw OpenSnoopError.unsupported("root, or the capabilities CAP_BPF and CAP_PERFMON, are needed to trace")
        }
        guard BPFMapHandle.possibleCPUCount != nil else {
            throw OpenSnoopError.unsupported(
                "cannot tell how many CPUs this machine may have: /sys/devices/system/cpu/possible cannot be read (is /sys mounted?)")
        }
        guard KernelSupport.hasKernelBTF else {
            throw OpenSnoopError.unsupported(
                "this kernel has no BTF (/sys/kernel/btf/vmlinux): it needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)")
        }
        self.options = options
        do {
            let mode = try Self.resolveMode(options)
            let compat = options.compat && (mode == .raw || mode == .fexit) && KernelSupport.hasIA32Emulation
            let open = try OpensnoopSkeleton.open()
            let ioUring = try Self.selectPrograms(open.programs, mode: mode, options: options)
            ioUringUnavailable = ioUring.unavailable
            summaryTable = try Self.configure(open, options: options, compat: compat)
            let skeleton = try open.load(collectingStatistics: collectingStatistics)
            try skeleton.programs.whoami.run()
            try Self.fillFilterMaps(skeleton, options: options)
            cpuRings = options.perCPURings ? try Self.makeCPURings(skeleton, pages: Self.ringPages(options)) : []
            var attached: [BPFProgram] = []
            for program in OpensnoopSkeleton.Program.allCases where skeleton.programs[program].autoload {
                switch Hook(program) {
                case .identify: continue
                case .syscallExit: try Self.attachSyscallTracepoints(skeleton.programs[program], "exit")
                case .syscallEntry: try Self.attachSyscallTracepoints(skeleton.programs[program], "enter")
                default: try skeleton.programs[program].attach()
                }
                attached.append(skeleton.programs[program])
            }
            self.skeleton = skeleton
            self.attached = attached
            attachMode = mode
            tracesIoUring = ioUring.traced
            tracesCompat = compat
        } catch let error as BPFError {
            throw OpenSnoopError.bpf(error)
        }
    }

    /// The `syscalls` tracepoints this kernel has at the `direction` ("enter" or "exit") of the
    /// open syscalls (`OPENSNOOP_SYSCALLS`; some architectures lack `open` and `creat`).
    private static func syscallTracepoints(_ direction: String) -> [String] {
        (0...).lazy.map { opensnoop_syscall_name(UInt32($0)) }.prefix { $0 != nil }
            .map { "sys_\(direction)_" + String(cString: $0!) }
            .filter { KernelSupport.hasTracepoint(category: "syscalls", name: $0) }
    }

    /// Attaches `program` at every one of `syscallTracepoints(direction)`.
    private static func attachSyscallTracepoints(_ program: BPFProgram, _ direction: String) throws {
        for name in syscallTracepoints(direction) { try program.attachTracepoint(category: "syscalls", name: name) }
    }

    /// The kernel functions `fexit` mode attaches to: every open syscall goes through one of them.
    private static let openFunctions = OpensnoopSkeleton.attachPoints.values.compactMap { point -> String? in
        if case .fentry(let function, isReturn: true) = point { function } else { nil }
    }

    /// Why `fexit` mode cannot run here, or nil if it can.
    private static func fexitUnavailable() -> String? {
        guard KernelSupport.hasFentry else { return "this kernel refuses fentry/fexit programs" }
        guard KernelSupport.tracingCanLoop && KernelSupport.canReadTaskRegisters else {
            return "it needs Linux 5.17 or later (bpf_loop, bpf_task_pt_regs)"
        }
        let missing = Set(openFunctions).subtracting(KernelBTF.functionsPresent(openFunctions))
        guard missing.isEmpty else {
            return "this kernel's BTF has no \(missing.sorted().joined(separator: ", ")) (inlined) to attach to"
        }
        return nil
    }

    /// `auto` resolved for this kernel and these options.
    private static func resolveMode(_ options: TraceOptions) throws -> TraceOptions.AttachMode {
        let registers = KernelSupport.canReadTaskRegisters
        switch options.attachMode {
        case .auto:
            // fexit costs other system calls nothing; the open tracepoints put every thread on
            // the slow syscall path but run nothing for other calls; raw sys_exit runs for every
            // call of every process (it alone sees 32-bit opens there: `--attach-mode raw`).
            if fexitUnavailable() == nil { return .fexit }
            if registers && KernelSupport.tracingCanLoop && (try? KernelSupport.ensureTracefs()) != nil { return .tracepoints }
            return .raw
        case .fexit:
            if let reason = fexitUnavailable() {
                throw OpenSnoopError.unsupported("attach mode 'fexit' cannot run here: \(reason)")
            }
            return .fexit
        case .raw:
            return .raw
        case .tracepoints:
            guard registers else {
                throw OpenSnoopError.unsupported("attach mode 'tracepoints' needs bpf_task_pt_regs (Linux 5.15 or later)")
            }
            guard KernelSupport.tracingCanLoop else {
                throw OpenSnoopError.unsupported("attach mode 'tracepoints' needs bpf_loop (Linux 5.17 or later)")
            }
            try KernelSupport.ensureTracefs()
            return .tracepoints
        }
    }

    /// The ring buffers the events arrive in: the shared one, and each CPU's with per-CPU rings.
    public func eventRings() throws -> [BPFMapHandle] { [try skeleton.maps.events.handle()] + cpuRings }

    /// The pages of each events ring: the shared ring's, or with per-CPU rings each CPU's equal
    /// share of them (a power of two, at least a page).
    private static func ringPages(_ options: TraceOptions) -> Int {
        guard options.perCPURings else { return options.ringBufferPages }
        let cpus = BPFMapHandle.possibleCPUs
        var share = 1
        while share * 2 <= options.ringBufferPages / cpus { share *= 2 }
        return share
    }

    /// One ring per possible CPU, of `pages` each, put in `cpu_events`.
    private static func makeCPURings(_ skeleton: OpensnoopSkeleton, pages: Int) throws -> [BPFMapHandle] {
        let cpus = BPFMapHandle.possibleCPUs
        let slots = try skeleton.maps.cpuEvents.handle()
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        return try (0..<cpus).map { cpu in
            let ring = try BPFMapHandle(creating: .ringBuffer, name: "events_cpu\(cpu)", keySize: 0, valueSize: 0,
                                        maxEntries: pages * pageSize)
            try slots.update(UInt32(cpu), UInt32(bitPattern: ring.fileDescriptor))
            return ring
        }
    }

    /// What the verifier reported for each program loaded (with `collectingStatistics`), in the
    /// skeleton's order.
    public var verifierStatistics: [(program: String, statistics: VerifierStatistics)] {
        OpensnoopSkeleton.Program.allCases.compactMap { program in
            let loaded = skeleton.programs[program]
            return loaded.verifierStatistics.map { (loaded.name, $0) }
        }
    }

    /// The ring buffer the summary's path names arrive in.
    public func namesMap() -> BPFMap { skeleton.maps.names }

    private func counter(_ index: opensnoop_counter) throws -> UInt64 {
        try BPFPerCPUArray<UInt64>(skeleton.maps.counters).sum(Int(index.rawValue))
    }

    /// Events that never reached user space, since load: dropped in the kernel because the ring
    /// buffer was full or too many io_uring opens were in flight, skipped by the kernel because
    /// a hook fired inside itself, or io_uring opens whose completion never came.
    public func lostEvents() throws -> UInt64 {
        var total = try counter(OPENSNOOP_COUNTER_LOST)
        for program in attached { total &+= try program.recursionMisses() }
        return total &+ expiredIoUringOpens
    }

    /// Opens the filters dropped since load (with `countFiltered`; 0 otherwise).
    public func filteredOpens() throws -> UInt64 { try counter(OPENSNOOP_COUNTER_FILTERED) }

    /// Bytes waiting in the events ring buffers now.
    public func ringBufferUsedBytes() throws -> UInt64 {
        try eventRings().reduce(0) { $0 + (try $1.ringBufferPendingBytes()) }
    }

    /// The events ring buffers' size in bytes, all together.
    public var ringBufferCapacity: Int { skeleton.maps.events.maxEntries + cpuRings.reduce(0) { $0 + $1.maxEntries } }

    /// Whether every program that should be attached still is.
    public var isAttached: Bool { skeleton.object.links.allSatisfy(\.isAttached) && !skeleton.object.links.isEmpty }

    /// Processes of the followed command's tree still alive (with `followCommand`).
    public func tracedProcessesAlive() throws -> Int64 {
        Int64(bitPattern: try counter(OPENSNOOP_COUNTER_TRACED_LIVE))
    }

    /// Opens no summary row counted because the table was full, and those of them that failed;
    /// and path names the names ring had no room for. Totals since load.
    func summaryOverflow() throws -> (other: UInt64, otherFailed: UInt64, namesLost: UInt64) {
        (try counter(OPENSNOOP_COUNTER_OTHER), try counter(OPENSNOOP_COUNTER_OTHER_FAILED),
         try counter(OPENSNOOP_COUNTER_NAMES_LOST))
    }

    /// The outer map whose one slot holds the summary table in use, and that first table.
    func summaryMaps() throws -> (slot: BPFMapHandle, first: BPFMapHandle) {
        guard let summaryTable else { throw OpenSnoopError.invalidArgument("no summary was asked for") }
        return (try skeleton.maps.summary.handle(), summaryTable)
    }

    /// Drops io_uring opens whose completion has not come within
    /// `TraceOptions.ioUringPendingLimitNanoseconds` (their submitter may have died with the
    /// ring); counts them as lost.
    public func expireStaleIoUringOpens() throws {
        guard tracesIoUring else { return }
        let pending = try BPFHashMap<UInt64, PendingIoUringOpen>(skeleton.maps.pendingUring)
        let now = monotonicNanoseconds()
        for (key, open) in try pending.entries() {
            let submitted = withUnsafeBytes(of: open) { $0.loadUnaligned(as: opensnoop_event.self).ts_ns }
            if now > submitted && now - submitted > options.ioUringPendingLimitNanoseconds, try pending.delete(key) {
                expiredIoUringOpens += 1
            }
        }
    }

    /// Switches on the programs this mode, these options and this kernel need, from the hook
    /// table; returns whether io_uring is traced, or why it cannot be.
    private static func selectPrograms(_ programs: OpensnoopSkeleton.Programs, mode: TraceOptions.AttachMode,
                                       options: TraceOptions) throws -> (traced: Bool, unavailable: String?) {
        let canLoop = KernelSupport.tracingCanLoop
        if !canLoop {
            if options.fullPath || !options.pathPrefixes.isEmpty || options.summary?.contains(.path) == true {
                throw OpenSnoopError.unsupported(
                    "-F, --path and --summary-by path resolve or hash paths with bpf_loop (Linux 5.17 or later); this kernel has none")
            }
        }
        let ioUring = options.ioUring ? ioUringHooks(canLoop: canLoop) : (hooks: [:], unavailable: nil)
        let timed = options.measuresLatency
        var syscallHooks = 0
        for program in OpensnoopSkeleton.Program.allCases {
            let hook = Hook(program)
            let wanted: Bool
            switch hook {
            case .rawExit(let full):
                wanted = mode == .raw && full == canLoop
                if wanted && !KernelSupport.hasTracepoint(category: "raw_syscalls", name: "sys_exit") {
                    throw OpenSnoopError.unsupported("this kernel has no raw_syscalls:sys_exit tracepoint (CONFIG_FTRACE_SYSCALLS)")
                }
            case .rawEntry:
                wanted = mode == .raw && timed
            case .functionExit:
                wanted = mode == .fexit
            case .functionEntry:
                wanted = mode == .fexit && timed
            case .syscallExit:
                wanted = mode == .tracepoints && !syscallTracepoints("exit").isEmpty
            case .syscallEntry:
                wanted = mode == .tracepoints && timed
            case .ioUring:
                wanted = ioUring.hooks[program] == true
            case .follow:
                wanted = options.followCommand
            case .identify:
                wanted = true
            }
            if wanted, case .rawExit = hook { syscallHooks += 1 }
            if wanted, case .syscallExit = hook { syscallHooks += 1 }
            if wanted, case .functionExit = hook { syscallHooks += 1 }
            programs[program].autoload = wanted
        }
        guard syscallHooks > 0 else {
            throw OpenSnoopError.unsupported("this kernel has no open syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
        }
        return (!ioUring.hooks.isEmpty, options.ioUring ? ioUring.unavailable : nil)
    }

    /// The io_uring programs whose tracepoints this kernel has with the prototypes they were
    /// written for, or why io_uring opens cannot be traced here.
    private static func ioUringHooks(canLoop: Bool) -> (hooks: [OpensnoopSkeleton.Program: Bool], unavailable: String?) {
        guard canLoop else { return ([:], "they are traced on Linux 6.0 or later; this kernel is older (it has no bpf_loop)") }
        let programs = OpensnoopSkeleton.Program.allCases.compactMap {
            program -> (OpensnoopSkeleton.Program, IoUringStage, parameters: Int?, tracepoint: String)? in
            if case .ioUring(let stage, let parameters) = Hook(program),
               case .btfTracepoint(let name) = OpensnoopSkeleton.attachPoints[program] {
                (program, stage, parameters, name)
            } else { nil }
        }
        // From Linux 6.4, which named the submission tracepoint io_uring_submit_req, each is the
        // prototype its program was written for: tracefs tells, without reading the kernel's BTF
        // (megabytes: about 6 ms of start-up). Before, its BTF tells which fit.
        let fits: (_ parameters: Int?, _ tracepoint: String) -> Bool
        if KernelSupport.canReadTracefs && KernelSupport.hasTracepoint(category: "io_uring", name: "io_uring_submit_req") {
            fits = { _, name in KernelSupport.hasTracepoint(category: "io_uring", name: name) }
        } else {
            let found = KernelBTF.tracepointParameterCounts(programs.map { $0.tracepoint })
            fits = { parameters, name in found[name].map { parameters == nil || $0 == parameters } ?? false }
        }
        var hooks: [OpensnoopSkeleton.Program: Bool] = [:]
        var stages: Set<IoUringStage> = []
        for (program, stage, parameters, name) in programs where fits(parameters, name) {
            if stages.insert(stage).inserted { hooks[program] = true }  // the first that fits
        }
        guard stages.count == IoUringStage.allCases.count else {
            return ([:], "this kernel's io_uring tracepoints do not name the request (Linux 6.0 or later does)")
        }
        return (hooks, nil)
    }

    /// Writes the filters and settings into the program's read-only globals; sizes maps. Returns
    /// the first summary table, made here as the template of those `summary` holds.
    private static func configure(_ open: borrowing OpensnoopSkeleton.Open, options: TraceOptions,
                                  compat: Bool) throws -> BPFMapHandle? {
        var taskFilters: opensnoop_task_filter.RawValue = 0
        if !options.pids.isEmpty { taskFilters |= OPENSNOOP_FILTER_PID.rawValue }
        if !options.tids.isEmpty { taskFilters |= OPENSNOOP_FILTER_TID.rawValue }
        if !options.uids.isEmpty { taskFilters |= OPENSNOOP_FILTER_UID.rawValue }
        if options.followCommand { taskFilters |= OPENSNOOP_FILTER_TRACED.rawValue }
        if options.cgroupMapPath != nil { taskFilters |= OPENSNOOP_FILTER_CGROUP_IDS.rawValue }
        if options.mountNamespaceMapPath != nil { taskFilters |= OPENSNOOP_FILTER_MNTNS.rawValue }
        open.rodata.taskFilters = UInt8(taskFilters)
        open.rodata.failedOnly = options.failedOnly
        if !options.pids.isEmpty || !options.tids.isEmpty, let namespace = PIDNamespace.current, !namespace.isInitial {
            open.rodata.pidnsDev = namespace.device
            open.rodata.pidnsIno = namespace.inode
        }
        if !options.commandNames.isEmpty {
            open.rodata.nComms = UInt8(options.commandNames.count)
            try open.rodata.setCommLen(options.commandNames.map { UInt8($0.count) })
            try open.rodata.setTargComm(options.commandNames)
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
            open.rodata.targAccmodes = accessModes
            open.rodata.nFlagMasks = UInt8(masks.count)
            try open.rodata.setFlagMasks(masks)
        }
        if !options.pathPrefixes.isEmpty {
            open.rodata.nPrefixes = UInt8(options.pathPrefixes.count)
            try open.rodata.setPrefixLen(options.pathPrefixes.map { UInt16($0.count) })
            try open.rodata.setPrefixes(options.pathPrefixes)
        }
        if let path = options.cgroupMapPath {
            try reusePinned(open.maps.cgroupIds, at: path, option: "--cgroupmap")
        }
        if let path = options.mountNamespaceMapPath {
            try reusePinned(open.maps.mntnsIds, at: path, option: "--mntnsmap")
        }
        open.rodata.nCgroupTrees = UInt8(options.cgroupDirectories.count)
        open.rodata.fullPath = options.fullPath
        open.rodata.traceCompat = compat
        open.rodata.wantCgroup = options.recordCgroup || options.summary?.contains(.cgroup) == true
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        // At most a quarter of a ring: a threshold the ring cannot reach left the reader to its
        // 10 ms timer, and a small ring (-b 64: 256 KiB) lost an event in eight under a flood.
        open.rodata.wakeupBytes = UInt64(min(options.wakeupBytes, ringPages(options) * pageSize / 4))
        open.rodata.emitEvents = options.emitEvents
        open.rodata.summaryBy = options.summary?.rawValue ?? 0
        open.rodata.wantLatency = options.measuresLatency
        open.rodata.slowerNs = options.slowerThanNanoseconds ?? 0
        open.rodata.countFiltered = options.countFiltered
        // Rings and tables not used are made as small as the kernel allows.
        let sharedRing = options.emitEvents && !options.perCPURings
        try open.maps.events.setMaxEntries(sharedRing ? options.ringBufferPages * pageSize : pageSize)
        open.rodata.perCpuRings = options.emitEvents && options.perCPURings
        try open.maps.cpuEvents.setMaxEntries(options.perCPURings ? BPFMapHandle.possibleCPUs : 1)
        try open.maps.names.setMaxEntries(options.summary?.contains(.path) == true ? 256 * 1024 : pageSize)
        // Preallocated hash maps cost their full size in kernel memory at every start (the
        // followed processes' set: 4 MiB): one entry unless used.
        let unused = [(open.maps.tracedPids, !options.followCommand), (open.maps.pidFilter, options.pids.isEmpty),
                      (open.maps.tidFilter, options.tids.isEmpty), (open.maps.uidFilter, options.uids.isEmpty)]
        for (map, isUnused) in unused where isUnused { try map.setMaxEntries(1) }
        if !options.measuresLatency { try open.maps.starts.setMaxEntries(1) }
        guard options.summary != nil else { return nil }
        return try open.maps.summary.makeInnerMap(name: "summary_first", maxEntries: options.summaryCapacity)
    }

    /// A user's pinned map that cannot stand in for ours is a bad argument: one line naming
    /// the option and the user's path, not our map.
    private static func reusePinned(_ map: BPFMap, at path: String, option: String) throws {
        do {
            try map.reusePinned(at: path)
        } catch {
            guard error.kind == .invalidArgument || error.kind == .notFound else { throw error }
            throw OpenSnoopError.invalidArgument("\(option) \(path): \(error.reason)")
        }
    }

    /// Fills the filter maps, which exist only after load.
    private static func fillFilterMaps(_ skeleton: OpensnoopSkeleton, options: TraceOptions) throws {
        let one: UInt8 = 1
        let pids = try BPFHashMap<UInt32, UInt8>(skeleton.maps.pidFilter)
        for pid in Set(options.pids) { try pids.update(UInt32(bitPattern: pid), one) }
        let tids = try BPFHashMap<UInt32, UInt8>(skeleton.maps.tidFilter)
        for tid in Set(options.tids) { try tids.update(UInt32(bitPattern: tid), one) }
        let uids = try BPFHashMap<UInt32, UInt8>(skeleton.maps.uidFilter)
        for uid in Set(options.uids) { try uids.update(uid, one) }
        let trees = try skeleton.maps.cgroupTree.handle()
        for (index, directory) in options.cgroupDirectories.enumerated() {
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw OpenSnoopError.invalidArgument("cannot open cgroup directory \(directory): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            try trees.update(UInt32(index), UInt32(bitPattern: fd))
        }
    }
}

/// `struct opensnoop_uring_open` as bytes (Swift does not import a C array this long); its
/// size is checked against the C header by a test and by `_Static_assert`.
typealias PendingIoUringOpen = InlineArray<4192, UInt8>

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
