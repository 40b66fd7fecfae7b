public import OpenSnoopBPF
internal import OpenSnoopEvent

/// One traced open: a view of a ring-buffer record, checked once when made.
///
/// Nothing is copied: every field is read from the record, so the event and its byte views
/// (`pathBytes`, `fullPathBytes`) are valid only during the handler that received it. Use
/// `path`, `comm` (or `OpenRecord`) for owned copies.
///
/// The record starts with `struct opensnoop_event`, read through `Header.View`, which the build
/// generates from the BPF object's BTF: each field is one load at its C offset, and a field
/// added to the C struct is readable at once by its name camelCased (`event.cgroupId`, through
/// dynamic member lookup), next to the accessors below, which give fields their Swift meaning.
@dynamicMemberLookup
public struct OpenEvent {
    /// `struct opensnoop_event` in Swift, generated from the BPF object's BTF.
    public typealias Header = OpensnoopSkeleton.Types.OpensnoopEvent

    /// How the file was opened: `enum opensnoop_source`, generated from the BPF object's BTF
    /// (`.open`, `.openat`, `.openat2`, `.creat`, `.ioUring`, `.openByHandleAt`).
    public typealias Source = OpensnoopSkeleton.Types.OpensnoopSource

    /// The header's fields, where the record holds them.
    private let fields: Header.View
    private let pathLength: Int
    private let fullLength: Int
    private let rootLength: Int
    private let eventFlags: UInt16
    public let source: Source

    /// Decodes a record; nil if it is shorter than its header says or carries an unknown
    /// source (never reads past it).
    @inline(__always)
    public init?(record: UnsafeRawBufferPointer) {
        guard record.count >= Self.headerSize, let base = record.baseAddress else { return nil }
        let fields = Header.View(base)
        let source = fields.source
        guard source.isKnown else { return nil }
        let flags = fields.eventFlags
        let pathLength = Int(fields.pathLen)
        let hasFull = flags & UInt16(OPENSNOOP_EV_FULL_PATH.rawValue) != 0
        let fullLength = hasFull ? Int(fields.fullLen) : 0
        let rootLength = hasFull ? Int(fields.rootLen) : 0
        guard record.count >= Self.headerSize + pathLength + fullLength, rootLength <= fullLength else { return nil }
        self.fields = fields
        self.source = source
        self.eventFlags = flags
        self.pathLength = pathLength
        self.fullLength = fullLength
        self.rootLength = rootLength
    }

    /// The size of the header, which the path follows.
    static var headerSize: Int { MemoryLayout<Header>.size }

    /// A field of the header by its generated name (the C name camelCased), read in place:
    /// `event.cgroupId`; the accessors of the same names below take precedence.
    public subscript<T>(dynamicMember field: KeyPath<Header.View, T>) -> T { fields[keyPath: field] }

    /// The fixed-size part, as the kernel wrote it (a copy).
    public var header: Header { fields.load() }

    /// The path as the process passed it (no NUL; empty for `open_by_handle_at`).
    public var pathBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: fields.baseAddress + Self.headerSize, count: pathLength)
    }

    /// The resolved path as the mount tree has it (the host's view), when resolved; `/` for the
    /// root itself.
    public var hostPathBytes: UnsafeRawBufferPointer? {
        guard has(OPENSNOOP_EV_FULL_PATH) else { return nil }
        if fullLength == 0 { return Self.rootPath }
        return UnsafeRawBufferPointer(start: fields.baseAddress + Self.headerSize + pathLength, count: fullLength)
    }

    /// The resolved path as the process sees it (below its root directory, after chroot), when
    /// resolved; `/` when the file is the root itself.
    public var fullPathBytes: UnsafeRawBufferPointer? {
        guard has(OPENSNOOP_EV_FULL_PATH) else { return nil }
        if fullLength == rootLength { return Self.rootPath }
        return UnsafeRawBufferPointer(start: fields.baseAddress + Self.headerSize + pathLength + rootLength,
                                      count: fullLength - rootLength)
    }

    /// "/" (static storage, valid for ever).
    private static var rootPath: UnsafeRawBufferPointer {
        let slash: StaticString = "/"
        return UnsafeRawBufferPointer(start: slash.utf8Start, count: 1)
    }

    @inline(__always)
    private func has(_ flag: opensnoop_event_flag) -> Bool {
        eventFlags & UInt16(flag.rawValue) != 0
    }

    /// Kernel monotonic time when the open ended (`bpf_ktime_get_ns`).
    public var timestampNanoseconds: UInt64 { fields.tsNs }
    /// The process (thread-group) id, as the initial pid namespace numbers it.
    public var pid: Int32 { Int32(bitPattern: fields.pid) }
    /// The thread id.
    public var tid: Int32 { Int32(bitPattern: fields.tid) }
    public var uid: UInt32 { fields.uid }
    /// The syscall's result: an fd (a fixed-file slot's result for io_uring direct opens), or `-errno`.
    public var result: Int32 { fields.ret }
    /// The fd opened, or -1 on failure (opensnoop's FD column); -1 too for an io_uring open into
    /// a fixed-file slot, which makes no fd (see `fixedSlot`).
    public var fileDescriptor: Int32 { result >= 0 && !has(OPENSNOOP_EV_FIXED_SLOT) ? result : -1 }
    /// The errno of a failed open, 0 on success (opensnoop's ERR column).
    public var errorNumber: Int32 { result >= 0 ? 0 : -result }
    public var flags: OpenFlags { OpenFlags(rawValue: fields.flags) }
    public var mode: UInt32 { fields.mode }
    /// The directory fd the path is relative to (`AT_FDCWD` is -100); the mount fd for
    /// `open_by_handle_at`.
    public var directoryFD: Int32 { fields.dirfd }
    /// The io_uring fixed-file slot the open was asked to fill (the one filled, once it
    /// succeeded), or nil for an open that returns an fd, and for one that was to allocate a
    /// slot and failed (the kernel chose none: `IORING_FILE_INDEX_ALLOC` is left).
    public var fixedSlot: UInt32? {
        has(OPENSNOOP_EV_FIXED_SLOT) && fields.fixedSlot != UInt32.max ? fields.fixedSlot : nil
    }
    /// A 32-bit (ia32 or x32) system call.
    public var isCompat: Bool { has(OPENSNOOP_EV_COMPAT) }
    /// How long the open took (with latency measured; nil when unknown: the syscall began
    /// before tracing did).
    public var latencyNanoseconds: UInt64? { has(OPENSNOOP_EV_LATENCY) ? fields.latencyNs : nil }
    /// The cgroup v2 id of the task (when recorded; 0 otherwise).
    public var cgroupID: UInt64 { fields.cgroupId }
    /// The path was longer than PATH_MAX and was cut.
    public var pathTruncated: Bool { has(OPENSNOOP_EV_PATH_TRUNCATED) }
    /// The path could not be read from the process (a bad pointer).
    public var pathUnreadable: Bool { has(OPENSNOOP_EV_PATH_UNREADABLE) }
    /// The resolved path was cut at its root end (too deep or too long).
    public var fullPathCutAtRoot: Bool { has(OPENSNOOP_EV_FULL_TRUNCATED) }
    /// The resolved path is a directory joined with the name as passed (the open failed, or
    /// went to a fixed-file slot), so a cut name cuts it too.
    public var fullPathJoined: Bool { has(OPENSNOOP_EV_FULL_JOINED) }
    /// For a joined resolved path, where its directory part ends (before the "/" and the name).
    public var joinedDirectoryLength: Int? {
        guard fullPathJoined, let full = fullPathBytes else { return nil }
        let name = pathBytes.count + (pathBytes.first == UInt8(ascii: "/") ? 0 : 1)
        return full.count >= name ? full.count - name : nil
    }

    /// The resolved path is incomplete: cut at its root end, or ending in a cut name.
    public var fullPathTruncated: Bool { fullPathCutAtRoot || (fullPathJoined && pathTruncated) }
    /// What the resolved path names was deleted (d_path's " (deleted)").
    public var fullPathDeleted: Bool { has(OPENSNOOP_EV_FULL_DELETED) }
    /// The resolved path is the kernel's name of a pseudo file (`pipe:[N]`, `mnt:[N]`).
    public var fullPathIsPseudo: Bool { has(OPENSNOOP_EV_FULL_PSEUDO) }
    /// The process's root is not the mount tree's (chroot): the two views of the path differ.
    public var isChrooted: Bool { rootLength > 0 }

    /// The command name's 16 bytes as the kernel wrote them (NUL-padded).
    public var commField: UnsafeRawBufferPointer { fields.comm }

    /// The command name's bytes (up to 15, no NUL), valid during `body`.
    public func withCommBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let raw = commField
        let length = raw.firstIndex(of: 0) ?? raw.count
        return try body(UnsafeRawBufferPointer(rebasing: raw[0..<length]))
    }

    /// The command name (invalid UTF-8 replaced).
    public var comm: String { withCommBytes { String(decoding: $0, as: UTF8.self) } }
    /// The path as passed (invalid UTF-8 replaced).
    public var path: String { String(decoding: pathBytes, as: UTF8.self) }
}

extension OpenEvent.Source {
    /// The name used in JSON output (the syscall's, or "io_uring"), from the C contract.
    public var name: String { String(cString: opensnoop_source_name(UInt32(rawValue))) }
}
