internal import Glibc

/// Writes formatted output to a file descriptor: promptly to a terminal (every batch), in
/// large writes to a pipe or file (when 64 KiB are pending or 100 ms have passed).
///
/// Nothing is dropped silently: the reader going away ends output (`OutputError.closed`), any
/// other write error is kept and thrown (`.failed`), and a write that cannot progress (a full
/// pipe whose reader stalled, a non-blocking descriptor) waits for room but gives up when
/// `interrupted` says a stop was asked for (`.interrupted`). A pipe is given whole lines only,
/// so that its reader never gets half a record when we give up.
public final class OutputSink {
    /// Why output stopped.
    public enum OutputError: Error, Equatable {
        /// The reader went away (EPIPE).
        case closed
        /// A write failed with this errno (ENOSPC, EIO, ...).
        case failed(Int32)
        /// A stop was asked for while a write was blocked.
        case interrupted
    }

    public private(set) var fileDescriptor: Int32
    /// Whether the descriptor is a terminal.
    public private(set) var isTerminal: Bool
    /// Output formatted and not yet written.
    @inlinable public var buffer: OutputBuffer {
        _read { yield pending.pointee }
        _modify { yield &pending.pointee }
    }
    /// Where `buffer` lives: behind a pointer rather than in a stored property, so that appending
    /// to it once per event costs no dynamic exclusivity check (nor, inlined, a call).
    @usableFromInline let pending: UnsafeMutablePointer<OutputBuffer> = {
        let pending = UnsafeMutablePointer<OutputBuffer>.allocate(capacity: 1)
        pending.initialize(to: OutputBuffer())
        return pending
    }()
    private var lastFlush = Monotonic.nanoseconds()
    /// The file this sink writes to, when it opened one (`-o`): it can be reopened.
    public let path: String?
    /// Rotates that file by size, when asked.
    private let rotator: LogRotator?
    /// Bytes in the file now (with rotation).
    private var fileBytes = 0
    /// Asked while a write waits: true gives up the write.
    private let interrupted: () -> Bool
    /// What a pipe (or FIFO) holds, when the descriptor is one (see `fitting`).
    private var pipeCapacity: Int?
    /// What every file this sink starts (`-o` reopened or rotated) begins with: the text
    /// format's header line, so that each file reads on its own.
    public var fileHeader: [UInt8] = []

    /// Bytes pending before a pipe or file gets a write (a constant, not a `let`: read once an
    /// event from other modules, a stored static would cost a lazy-initialization check).
    @inlinable public static var flushBytes: Int { 64 * 1024 }
    /// Longest time output waits in the buffer.
    public static let flushIntervalNanoseconds: UInt64 = 100_000_000

    /// Writes to an open descriptor (standard output).
    public init(fileDescriptor: Int32, interrupted: @escaping () -> Bool = { false }) {
        self.fileDescriptor = fileDescriptor
        self.isTerminal = isatty(fileDescriptor) == 1
        self.path = nil
        self.rotator = nil
        self.interrupted = interrupted
        self.pipeCapacity = Self.pipeCapacity(of: fileDescriptor)
    }

    /// Writes to the file at `path`, created with mode 0600 if missing, appended to otherwise;
    /// rotated by size with `rotation` (never in the middle of a line).
    public init(path: String, rotation: RotationPolicy? = nil, interrupted: @escaping () -> Bool = { false })
        throws(OutputError)
    {
        self.path = path
        self.rotator = rotation.map { LogRotator(path: path, policy: $0) }
        self.interrupted = interrupted
        self.fileDescriptor = try Self.open(path, interrupted: interrupted)
        self.isTerminal = isatty(fileDescriptor) == 1
        self.fileBytes = Self.size(of: fileDescriptor)
        self.pipeCapacity = Self.pipeCapacity(of: fileDescriptor)
        startOnNewLine()
    }

    /// A file that ends inside a line (a run killed while writing) gets a newline first, so
    /// that our lines stay whole.
    private func startOnNewLine() {
        guard fileBytes > 0, let path else { return }
        let reader = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard reader >= 0 else { return }
        defer { close(reader) }
        var last: UInt8 = 0
        if pread(reader, &last, 1, off_t(fileBytes - 1)) == 1, last != UInt8(ascii: "\n") {
            buffer.append(UInt8(ascii: "\n"))
        }
    }

    deinit {
        if path != nil { close(fileDescriptor) }
        pending.deinitialize(count: 1)
        pending.deallocate()
    }

    /// Waits for rotations still compressing in the background (call before exiting).
    public func finishRotations() {
        rotator?.finish()
    }

    private static func size(of fd: Int32) -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    /// A pipe's or FIFO's capacity in bytes (F_GETPIPE_SZ); nil for anything else.
    private static func pipeCapacity(of fd: Int32) -> Int? {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFIFO else { return nil }
        let capacity = fcntl(fd, 1032 /* F_GETPIPE_SZ */)
        return capacity > 0 ? Int(capacity) : nil
    }

    private static let pageSize = sysconf(Int32(_SC_PAGESIZE))

    /// A write to a pipe that has less room than it is given blocks, and is cut wherever the pipe
    /// fills; a stop that comes then leaves a line cut in two for the reader, and one that came
    /// just before is not seen until the reader reads. So on a pipe `piece` shrinks to the whole
    /// lines that fit the room left (its capacity, less what is unread, less two pages that a
    /// partly read page and the last page may hold); with less room than PIPE_BUF, it waits for
    /// the pipe to take one more page (or a stop: `.interrupted`) and takes whole lines of at most
    /// PIPE_BUF bytes, which a pipe takes whole and at once. (A longer line can still be cut.)
    private func fitting(_ piece: Int, at offset: Int) throws(OutputError) -> Int {
        guard let capacity = pipeCapacity else { return piece }
        var unread: Int32 = 0
        guard ioctl(fileDescriptor, UInt(FIONREAD), &unread) == 0 else { return piece }
        let room = capacity - Int(unread) - 2 * Self.pageSize
        if piece <= room { return piece }
        if room < Int(PIPE_BUF) { try waitForRoom() }
        return wholeLines(upTo: min(piece, max(room, Int(PIPE_BUF))), at: offset)
    }

    /// With rotation: how much of the `pending` bytes at `offset` may go to the current file —
    /// whole lines only — rotating first when not even one line fits after what it holds.
    private func writable(_ pending: Int, at offset: Int) throws(OutputError) -> Int {
        guard let rotator else { return pending }
        let room = rotator.policy.maxBytes - fileBytes
        if pending <= room { return pending }
        if let end = lastLineEnd(in: offset..<(offset + max(room, 0))) { return end - offset }
        if fileBytes > 0 {
            try rotate()
            return try writable(pending, at: offset)
        }
        // One line longer than a whole file: it gets a file of its own.
        let end = buffer.withUnsafeBytes { raw in (offset..<(offset + pending)).first { raw[$0] == UInt8(ascii: "\n") } }
        return end.map { $0 + 1 - offset } ?? pending
    }

    /// Moves the full file aside (see `LogRotator`) and opens a new one.
    private func rotate() throws(OutputError) {
        guard let rotator, let path else { return }
        try rotator.rotateAway()
        let fd = try Self.open(path, interrupted: interrupted)
        close(fileDescriptor)
        fileDescriptor = fd
        fileBytes = 0
        // A file (rotation moves it aside, never a pipe): the header goes first, in full.
        var offset = 0
        while offset < fileHeader.count {
            let written = fileHeader.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .failed(written < 0 ? errno : EIO) }
            offset += written
        }
        fileBytes = offset
    }

    /// Opening a FIFO waits for its reader: a stop asked for meanwhile gives up (`.interrupted`).
    private static func open(_ path: String, interrupted: () -> Bool) throws(OutputError) -> Int32 {
        while true {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            if fd >= 0 { return fd }
            guard errno == EINTR else { throw .failed(errno) }
            if interrupted() { throw .interrupted }
        }
    }

    /// Writes what is buffered, then opens the file anew at its path (after a log rotation
    /// moved it away). Only for a sink made with a path.
    public func reopen() throws(OutputError) {
        guard let path else { return }
        try flush()
        let fd = try Self.open(path, interrupted: interrupted)
        close(fileDescriptor)
        fileDescriptor = fd
        isTerminal = isatty(fd) == 1
        fileBytes = Self.size(of: fd)
        pipeCapacity = Self.pipeCapacity(of: fd)
        startOnNewLine()
        if fileBytes == 0 { fileHeader.withUnsafeBytes { buffer.append(contentsOf: $0) } }
    }

    /// Writes everything buffered. On error the buffer is kept (nothing is discarded unseen).
    /// With `within`, gives up (`.interrupted`) when the descriptor takes nothing for that long,
    /// writing whole lines in pieces small enough not to block on a pipe (so what was written
    /// ends with a whole line).
    public func flush(within nanoseconds: UInt64? = nil) throws(OutputError) {
        lastFlush = Monotonic.nanoseconds()
        var giveUp = nanoseconds.map { lastFlush + $0 }
        var offset = 0
        let total = buffer.count
        defer {
            if offset > 0 { buffer.removeFirst(offset) }
        }
        while offset < total {
            var piece = try writable(total - offset, at: offset)
            if let deadline = giveUp {
                try waitForRoom(until: deadline)
                // Small pieces of whole lines do not block a pipe; a rotated file is a file.
                if rotator == nil && piece > Int(PIPE_BUF) { piece = wholeLines(upTo: Int(PIPE_BUF), at: offset) }
            } else {
                piece = try fitting(piece, at: offset)
            }
            let written = buffer.withUnsafeBytes { raw in
                write(fileDescriptor, raw.baseAddress! + offset, piece)
            }
            if written >= 0 {
                offset += written
                fileBytes += written
                if let nanoseconds, written > 0 { giveUp = Monotonic.nanoseconds() + nanoseconds }
                // A write cut short by a signal: give up if it asked us to stop.
                if written < piece && giveUp == nil && interrupted() { throw .interrupted }
                continue
            }
            switch errno {
            case EINTR:
                if interrupted() { throw .interrupted }
            case EAGAIN:
                try waitForRoom()
            case EPIPE:
                throw .closed
            case let code:
                offset = cutPartialLine(written: offset)
                throw .failed(code)
            }
        }
    }

    /// After a failed write (a full disk) to a regular file: takes back the start of a line the
    /// file got only part of, so that it ends with a whole line. Returns how much of the buffer
    /// is in the file now.
    private func cutPartialLine(written: Int) -> Int {
        guard written > 0 else { return 0 }
        var info = stat()
        guard fstat(fileDescriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return written }
        let partial = written - (lastLineEnd(in: 0..<written) ?? 0)
        guard partial > 0, partial <= Int(info.st_size), ftruncate(fileDescriptor, info.st_size - off_t(partial)) == 0 else {
            return written
        }
        fileBytes -= partial
        return written - partial
    }

    /// The length of the longest run of whole lines at `offset` within `limit` bytes (`limit`
    /// when the first line is longer).
    private func wholeLines(upTo limit: Int, at offset: Int) -> Int {
        (lastLineEnd(in: offset..<(offset + limit)) ?? offset + limit) - offset
    }

    /// Where the last whole line in `range` of the buffer ends (just past its newline), or nil.
    private func lastLineEnd(in range: Range<Int>) -> Int? {
        buffer.withUnsafeBytes { raw in range.last { raw[$0] == UInt8(ascii: "\n") }.map { $0 + 1 } }
    }

    /// Waits until the descriptor takes more (a non-blocking descriptor said EAGAIN), until
    /// `deadline` (monotonic ns) if given.
    private func waitForRoom(until deadline: UInt64? = nil) throws(OutputError) {
        while true {
            if deadline == nil && interrupted() { throw .interrupted }
            if let deadline, Monotonic.nanoseconds() >= deadline { throw .interrupted }
            var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready > 0 {
                if descriptor.revents & Int16(POLLERR) != 0 { throw .closed }
                return
            }
            if ready < 0 && errno != EINTR { throw .failed(errno) }
        }
    }

    /// The terminal's height in rows, when the descriptor is a terminal that says.
    public var terminalRows: Int? {
        guard isTerminal else { return nil }
        var size = winsize()
        guard ioctl(fileDescriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0 else { return nil }
        return Int(size.ws_row)
    }

    /// Whether the reading end of a pipe has gone, even if nothing was written since
    /// (so that `opensnoop | head -3` ends on a quiet system too).
    public var readerGone: Bool {
        var descriptor = pollfd(fd: fileDescriptor, events: 0, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & Int16(POLLERR) != 0
    }

    /// Flushes if the policy says it is time (after a batch of events).
    public func flushIfDue() throws(OutputError) {
        if buffer.isEmpty { return }
        if isTerminal || buffer.count >= Self.flushBytes
            || Monotonic.nanoseconds() &- lastFlush >= Self.flushIntervalNanoseconds {
            try flush()
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
public enum Monotonic {
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// One-line messages on standard error, written with `write(2)`: never a crash when standard
/// error is closed or broken, never buffered (a message is out before the process exits).
public enum Diagnostics {
    /// Writes `tool: message` and a newline: one line whatever the message holds (a name the
    /// user gave, say), its control characters written as `\n`, `\t`, `\r` or `\xNN` (a C1
    /// control's two bytes each as `\xNN`), as `SafeText` writes them. Backslashes stay as they
    /// are: a name a caller escaped already with `SafeText.terminalSafe` is not escaped twice.
    public static func report(_ message: String, tool: String) {
        var line: [UInt8] = Array("\(tool): ".utf8)
        let bytes = Array(message.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\n"): line += Array("\\n".utf8)
            case UInt8(ascii: "\t"): line += Array("\\t".utf8)
            case UInt8(ascii: "\r"): line += Array("\\r".utf8)
            case 0..<0x20, 0x7F: line += Array("\\x".utf8) + hexDigits(byte)
            case 0xC2 where index < bytes.count && (0x80..<0xA0).contains(bytes[index]):  // a C1 control
                line += Array("\\xc2\\x".utf8) + hexDigits(bytes[index])  // as SafeText writes it
                index += 1
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    private static func hexDigits(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return [digits[Int(byte >> 4)], digits[Int(byte & 15)]]
    }

    /// The standard descriptors (0, 1, 2) that were closed when the process started, found by
    /// `guardStandardDescriptors`, which put /dev/null there: a program this process runs gets
    /// them closed again, as it would have.
    nonisolated(unsafe) public private(set) static var closedStandardDescriptors: [Int32] = []

    /// Whether standard output was closed when the process started: output meant for it
    /// would go nowhere.
    public static var standardOutputWasClosed: Bool { closedStandardDescriptors.contains(STDOUT_FILENO) }

    /// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were closed), so that no
    /// file this process opens later takes their place and receives its output.
    public static func guardStandardDescriptors() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 && errno == EBADF {
            closedStandardDescriptors.append(fd)
            let null = open("/dev/null", O_RDWR)
            if null >= 0 && null != fd {
                dup2(null, fd)
                close(null)
            }
        }
    }
}
