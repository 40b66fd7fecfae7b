internal import Glibc

/// Writes formatted output to a file descriptor: promptly to a terminal (every batch), in
/// large writes to a pipe or file (when 64 KiB are pending or 100 ms have passed).
public final class OutputSink {
    /// The reader went away (EPIPE): stop quietly.
    public struct Closed: Error {}

    public let fileDescriptor: Int32
    /// Whether the descriptor is a terminal.
    public let isTerminal: Bool
    public var buffer = OutputBuffer()
    private var lastFlush = Monotonic.nanoseconds()

    /// Bytes pending before a pipe or file gets a write.
    public static let flushBytes = 64 * 1024
    /// Longest time output waits in the buffer.
    public static let flushIntervalNanoseconds: UInt64 = 100_000_000

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
        self.isTerminal = isatty(fileDescriptor) == 1
    }

    /// Writes everything buffered. Throws `Closed` when the reader has gone.
    public func flush() throws {
        lastFlush = Monotonic.nanoseconds()
        var offset = 0
        let total = buffer.count
        while offset < total {
            let written = buffer.bytes.withUnsafeBytes { raw in
                write(fileDescriptor, raw.baseAddress! + offset, total - offset)
            }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                buffer.removeAll()
                if errno == EPIPE { throw Closed() }
                throw OpenSnoopError.unsupported("write output: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        buffer.removeAll()
    }

    /// Whether the reading end of a pipe has gone, even if nothing was written since
    /// (so that `opensnoop | head -3` ends on a quiet system too).
    public var readerGone: Bool {
        var descriptor = pollfd(fd: fileDescriptor, events: 0, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & Int16(POLLERR) != 0
    }

    /// Flushes if the policy says it is time (after a batch of events).
    public func flushIfDue() throws {
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
