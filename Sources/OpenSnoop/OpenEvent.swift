public import OpenSnoopEvent

/// One traced open, decoded from a ring-buffer record.
///
/// The header is copied; `pathBytes` and `fullPathBytes` point into the ring buffer and are
/// valid only during the handler that received the event. Use `path` for an owned copy.
public struct OpenEvent {
    /// How the file was opened.
    public enum Source: UInt8, Sendable, CaseIterable {
        case open = 1, openat = 2, openat2 = 3, creat = 4, ioUring = 5, openByHandleAt = 6

        /// The name used in JSON output.
        public var name: String {
            switch self {
            case .open: "open"
            case .openat: "openat"
            case .openat2: "openat2"
            case .creat: "creat"
            case .ioUring: "io_uring"
            case .openByHandleAt: "open_by_handle_at"
            }
        }
    }

    /// The fixed-size part, as the kernel wrote it.
    public let header: opensnoop_event
    public let source: Source
    /// The path as the process passed it (no NUL; empty for `open_by_handle_at`).
    public let pathBytes: UnsafeRawBufferPointer
    /// The resolved path as the mount tree has it (the host's view), when resolved; `/` for the
    /// root itself.
    public let hostPathBytes: UnsafeRawBufferPointer?
    /// The resolved path as the process sees it (below its root directory, after chroot), when
    /// resolved; `/` when the file is the root itself.
    public let fullPathBytes: UnsafeRawBufferPointer?

    /// Decodes a record; nil if it is shorter than its header says or carries an unknown
    /// source (never reads past it).
    public init?(record: UnsafeRawBufferPointer) {
        let headerSize = MemoryLayout<opensnoop_event>.size
        guard record.count >= headerSize else { return nil }
        let header = record.loadUnaligned(as: opensnoop_event.self)
        let pathLength = Int(header.path_len)
        let hasFull = header.event_flags & UInt16(OPENSNOOP_EV_FULL_PATH.rawValue) != 0
        let fullLength = hasFull ? Int(header.full_len) : 0
        let rootLength = hasFull ? Int(header.root_len) : 0
        guard record.count >= headerSize + pathLength + fullLength, rootLength <= fullLength,
              let source = Source(rawValue: header.source)
        else { return nil }
        self.header = header
        self.source = source
        self.pathBytes = UnsafeRawBufferPointer(rebasing: record[headerSize..<(headerSize + pathLength)])
        let fullStart = headerSize + pathLength
        if hasFull {
            let host = UnsafeRawBufferPointer(rebasing: record[fullStart..<(fullStart + fullLength)])
            let view = UnsafeRawBufferPointer(rebasing: host[rootLength...])
            hostPathBytes = host.isEmpty ? Self.rootPath : host
            fullPathBytes = view.isEmpty ? Self.rootPath : view
        } else {
            hostPathBytes = nil
            fullPathBytes = nil
        }
    }

    /// "/" (static storage, valid for ever).
    private static var rootPath: UnsafeRawBufferPointer {
        let slash: StaticString = "/"
        return UnsafeRawBufferPointer(start: slash.utf8Start, count: 1)
    }

    private func has(_ flag: opensnoop_event_flag) -> Bool {
        header.event_flags & UInt16(flag.rawValue) != 0
    }

    /// Kernel monotonic time when the open ended (`bpf_ktime_get_ns`).
    public var timestampNanoseconds: UInt64 { header.ts_ns }
    /// The process (thread-group) id, as the initial pid namespace numbers it.
    public var pid: Int32 { Int32(bitPattern: header.pid) }
    /// The thread id.
    public var tid: Int32 { Int32(bitPattern: header.tid) }
    public var uid: UInt32 { header.uid }
    /// The syscall's result: an fd (a fixed-file slot's result for io_uring direct opens), or `-errno`.
    public var result: Int32 { header.ret }
    /// The fd opened, or -1 on failure (opensnoop's FD column); -1 too for an io_uring open into
    /// a fixed-file slot, which makes no fd (see `fixedSlot`).
    public var fileDescriptor: Int32 { header.ret >= 0 && !has(OPENSNOOP_EV_FIXED_SLOT) ? header.ret : -1 }
    /// The errno of a failed open, 0 on success (opensnoop's ERR column).
    public var errorNumber: Int32 { header.ret >= 0 ? 0 : -header.ret }
    public var flags: OpenFlags { OpenFlags(rawValue: header.flags) }
    public var mode: UInt32 { header.mode }
    /// The directory fd the path is relative to (`AT_FDCWD` is -100); the mount fd for
    /// `open_by_handle_at`.
    public var directoryFD: Int32 { header.dirfd }
    /// The io_uring fixed-file slot the open was asked to fill (the one filled, once it
    /// succeeded), or nil for an open that returns an fd.
    public var fixedSlot: UInt32? { has(OPENSNOOP_EV_FIXED_SLOT) ? header.fixed_slot : nil }
    /// A 32-bit (ia32 or x32) system call.
    public var isCompat: Bool { has(OPENSNOOP_EV_COMPAT) }
    /// How long the open took (with latency measured; nil when unknown: the syscall began
    /// before tracing did).
    public var latencyNanoseconds: UInt64? { has(OPENSNOOP_EV_LATENCY) ? header.latency_ns : nil }
    /// The cgroup v2 id of the task (when recorded; 0 otherwise).
    public var cgroupID: UInt64 { header.cgroup_id }
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
    public var isChrooted: Bool { header.root_len > 0 }

    /// The bytes to show as the path when no name was passed (open_by_handle_at): the resolved one.
    public var displayPathBytes: UnsafeRawBufferPointer {
        source == .openByHandleAt ? (fullPathBytes ?? pathBytes) : pathBytes
    }

    /// The command name's bytes (up to 15, no NUL), valid during `body`.
    public func withCommBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: header.comm) { raw in
            let length = raw.firstIndex(of: 0) ?? raw.count
            return try body(UnsafeRawBufferPointer(rebasing: raw[0..<length]))
        }
    }

    /// The command name (invalid UTF-8 replaced).
    public var comm: String { withCommBytes { String(decoding: $0, as: UTF8.self) } }
    /// The path as passed (invalid UTF-8 replaced).
    public var path: String { String(decoding: pathBytes, as: UTF8.self) }
}
