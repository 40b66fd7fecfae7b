public import OpenSnoopEvent

/// One traced open, decoded from a ring-buffer record.
///
/// The header is copied; `pathBytes` and `fullPathBytes` point into the ring buffer and are
/// valid only during the handler that received the event. Use `path` for an owned copy.
public struct OpenEvent {
    /// How the file was opened.
    public enum Source: UInt8, Sendable, CaseIterable {
        case open = 1, openat = 2, openat2 = 3, creat = 4, ioUring = 5

        /// The name used in JSON output.
        public var name: String {
            switch self {
            case .open: "open"
            case .openat: "openat"
            case .openat2: "openat2"
            case .creat: "creat"
            case .ioUring: "io_uring"
            }
        }
    }

    /// The fixed-size part, as the kernel wrote it.
    public let header: opensnoop_event
    /// The path as the process passed it (no NUL).
    public let pathBytes: UnsafeRawBufferPointer
    /// The resolved absolute path, when full-path resolution is on.
    public let fullPathBytes: UnsafeRawBufferPointer?

    /// Decodes a record; nil if it is shorter than its header says (never reads past it).
    public init?(record: UnsafeRawBufferPointer) {
        let headerSize = MemoryLayout<opensnoop_event>.size
        guard record.count >= headerSize else { return nil }
        let header = record.loadUnaligned(as: opensnoop_event.self)
        let pathLength = Int(header.path_len)
        let hasFull = header.event_flags & UInt8(OPENSNOOP_EV_FULL_PATH.rawValue) != 0
        let fullLength = hasFull ? Int(header.full_len) : 0
        guard record.count >= headerSize + pathLength + fullLength,
              let source = Source(rawValue: header.source)
        else { return nil }
        self.header = header
        self.source = source
        self.pathBytes = UnsafeRawBufferPointer(rebasing: record[headerSize..<(headerSize + pathLength)])
        let fullStart = headerSize + pathLength
        self.fullPathBytes = hasFull
            ? UnsafeRawBufferPointer(rebasing: record[fullStart..<(fullStart + fullLength)]) : nil
    }

    public let source: Source
    /// Kernel monotonic time of the open (`bpf_ktime_get_ns`).
    public var timestampNanoseconds: UInt64 { header.ts_ns }
    /// The process (thread-group) id.
    public var pid: Int32 { Int32(bitPattern: header.pid) }
    /// The thread id.
    public var tid: Int32 { Int32(bitPattern: header.tid) }
    public var uid: UInt32 { header.uid }
    /// The syscall's result: an fd, or `-errno`.
    public var result: Int32 { header.ret }
    /// The fd opened, or -1 on failure (opensnoop's FD column).
    public var fileDescriptor: Int32 { header.ret >= 0 ? header.ret : -1 }
    /// The errno of a failed open, 0 on success (opensnoop's ERR column).
    public var errorNumber: Int32 { header.ret >= 0 ? 0 : -header.ret }
    public var flags: OpenFlags { OpenFlags(rawValue: header.flags) }
    public var mode: UInt32 { header.mode }
    /// The directory fd the path is relative to (`AT_FDCWD` is -100).
    public var directoryFD: Int32 { header.dirfd }
    /// The path was longer than PATH_MAX and was cut.
    public var pathTruncated: Bool { header.event_flags & UInt8(OPENSNOOP_EV_PATH_TRUNCATED.rawValue) != 0 }
    /// The path could not be read from the process (a bad pointer).
    public var pathUnreadable: Bool { header.event_flags & UInt8(OPENSNOOP_EV_PATH_UNREADABLE.rawValue) != 0 }
    /// The resolved path was cut at its root end.
    public var fullPathTruncated: Bool { header.event_flags & UInt8(OPENSNOOP_EV_FULL_TRUNCATED.rawValue) != 0 }

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
