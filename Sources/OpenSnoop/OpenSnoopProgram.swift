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
    private var links: [BPFLink] = []

    public init(options: TraceOptions) throws {
        try options.validate()
        guard KernelSupport.hasTracingPrivileges else {
            throw OpenSnoopError.unsupported("opensnoop needs root, or the capabilities CAP_BPF and CAP_PERFMON")
        }
        guard KernelSupport.hasKernelBTF else {
            throw OpenSnoopError.unsupported(
                "this kernel has no BTF (/sys/kernel/btf/vmlinux): it needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)")
        }
        do {
            try KernelSupport.ensureTracefs()
            object = try BPFObject(bytes: OpenSnoopBPF.objectBytes, name: "opensnoop")
            (attachMode, tracesIoUring) = try Self.selectPrograms(of: object, options: options)
            try Self.configure(object, options: options)
            try object.load()
            try Self.fillFilterMaps(object, options: options)
            for program in object.programs where program.autoload {
                links.append(try program.attach())
            }
        } catch let error as BPFError {
            throw OpenSnoopError.bpf(error)
        }
    }

    /// The ring buffer the events arrive in.
    public func eventsMap() throws -> BPFMap { try object.map(named: "events") }

    /// Events the kernel could not deliver because the ring buffer was full, since load.
    public func lostEvents() throws -> UInt64 {
        try BPFPerCPUArray<UInt64>(object.map(named: "counters")).sum(Int(OPENSNOOP_COUNTER_LOST.rawValue))
    }

    /// Switches on the programs this kernel and these options need; returns the mode chosen.
    private static func selectPrograms(of object: BPFObject, options: TraceOptions) throws
        -> (TraceOptions.AttachMode, Bool)
    {
        let mode: TraceOptions.AttachMode
        switch options.attachMode {
        case .auto: mode = KernelSupport.canReadTaskRegisters ? .registers : .pair
        case .registers:
            guard KernelSupport.canReadTaskRegisters else {
                throw OpenSnoopError.unsupported("attach mode 'registers' needs bpf_task_pt_regs (Linux 5.15 or later)")
            }
            mode = .registers
        case .pair: mode = .pair
        }
        let uringHooks = ["io_uring_submit_req", "io_uring_complete", "io_uring_req_failed"]
        let ioUring = options.ioUring && uringHooks.allSatisfy(KernelSupport.hasBTFTracepoint)
        var syscallHooks = 0
        for program in object.programs {
            let name = program.name
            let section = program.section
            if name.hasPrefix("uring_") {
                program.autoload = ioUring
            } else if name.hasPrefix("follow_") {
                program.autoload = options.followChildrenOf != nil
            } else if section.hasPrefix("tracepoint/") {
                let parts = section.split(separator: "/")
                let wanted = name.hasSuffix(mode == .registers ? "_regs" : "_pair")
                let exists = parts.count == 3
                    && KernelSupport.hasTracepoint(category: String(parts[1]), name: String(parts[2]))
                program.autoload = wanted && exists
                if wanted && exists { syscallHooks += 1 }
            }
        }
        guard syscallHooks > 0 else {
            throw OpenSnoopError.unsupported("this kernel has no open syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
        }
        return (mode, ioUring)
    }

    /// Writes the filters and settings into the program's read-only globals; sizes maps.
    private static func configure(_ object: BPFObject, options: TraceOptions) throws {
        try object.setReadOnlyGlobal("filter_pid", to: !options.pids.isEmpty)
        try object.setReadOnlyGlobal("filter_tid", to: !options.tids.isEmpty)
        try object.setReadOnlyGlobal("filter_uid", to: !options.uids.isEmpty)
        try object.setReadOnlyGlobal("failed_only", to: options.failedOnly)
        if let parent = options.followChildrenOf {
            try object.setReadOnlyGlobal("filter_traced", to: true)
            try object.setReadOnlyGlobal("follow_parent", to: UInt32(bitPattern: parent))
        }
        if let name = options.commandContains {
            try object.setReadOnlyGlobal("comm_len", to: UInt8(name.utf8.count))
            try object.setReadOnlyGlobal("targ_comm", bytes: Array(name.utf8))
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
                let bytes = Array(prefix.utf8)
                table.replaceSubrange(index * width..<(index * width + bytes.count), with: bytes)
                lengths.append(UInt16(bytes.count))
            }
            try object.setReadOnlyGlobal("n_prefixes", to: UInt8(options.pathPrefixes.count))
            try object.setReadOnlyGlobal("prefix_len", bytes: lengths.flatMap { withUnsafeBytes(of: $0, Array.init) })
            try object.setReadOnlyGlobal("prefixes", bytes: table)
        }
        if let path = options.cgroupMapPath {
            try object.setReadOnlyGlobal("filter_cgroup_ids", to: true)
            try reusePinned(object.map(named: "cgroup_ids"), at: path, option: "--cgroupmap")
        }
        if let path = options.mountNamespaceMapPath {
            try object.setReadOnlyGlobal("filter_mntns", to: true)
            try reusePinned(object.map(named: "mntns_ids"), at: path, option: "--mntnsmap")
        }
        if options.cgroupDirectory != nil {
            try object.setReadOnlyGlobal("filter_cgroup_tree", to: true)
        }
        let hasTaskBTF = KernelSupport.canReadCurrentTaskBTF
        if options.fullPath && !hasTaskBTF {
            throw OpenSnoopError.unsupported("-F/--full-path needs bpf_get_current_task_btf (Linux 5.11 or later)")
        }
        try object.setReadOnlyGlobal("full_path", to: options.fullPath)
        try object.setReadOnlyGlobal("has_task_btf", to: hasTaskBTF)
        try object.setReadOnlyGlobal("wakeup_bytes", to: UInt64(options.wakeupBytes))
        let pageSize = UInt32(sysconf(Int32(_SC_PAGESIZE)))
        try object.map(named: "events").setMaxEntries(options.ringBufferPages * Int(pageSize))
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
    private static func fillFilterMaps(_ object: BPFObject, options: TraceOptions) throws {
        let one: UInt8 = 1
        for pid in options.pids { try object.map(named: "pid_filter").handle().update(UInt32(bitPattern: pid), one) }
        for tid in options.tids { try object.map(named: "tid_filter").handle().update(UInt32(bitPattern: tid), one) }
        for uid in options.uids { try object.map(named: "uid_filter").handle().update(uid, one) }
        if let directory = options.cgroupDirectory {
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw OpenSnoopError.invalidArgument("cannot open cgroup directory \(directory): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            try object.map(named: "cgroup_tree").handle().update(UInt32(0), UInt32(bitPattern: fd))
        }
    }
}
