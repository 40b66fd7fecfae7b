internal import Glibc

/// The opensnoop tool's loop: read events, format them, write them out, report lost events,
/// and stop on request, at a deadline, when the traced command exits or when the reader of
/// the output goes away.
public final class TraceSession<Formatter: EventFormatter> {
    /// Why the session ended.
    public enum Ending: Equatable, Sendable {
        case stopRequested
        case durationElapsed
        case outputClosed
        /// The traced command exited with this wait status.
        case commandExited(Int32)
    }

    private let reader: OpenEventReader
    private let output: OutputSink
    private let diagnostics: OutputSink
    private var formatter: Formatter
    private var reportedLost: UInt64 = 0

    /// How long one wait for events lasts; bounds the delay of output and of stopping.
    public static var pollMilliseconds: Int32 { 10 }

    /// Loads and attaches; output goes to `output`, lost-event notices (text formats) to `diagnostics`.
    public init(options: TraceOptions, formatter: Formatter, output: OutputSink, diagnostics: OutputSink) throws {
        self.formatter = formatter
        self.output = output
        self.diagnostics = diagnostics
        // The reader's callback formats into the output buffer; set up after all stored properties.
        var handler: ((OpenEvent) -> Void)? = nil
        reader = try OpenEventReader(options: options) { event in handler?(event) }
        handler = { [unowned self] event in
            self.formatter.append(event, into: &self.output.buffer)
            if self.output.buffer.count >= 4 * OutputSink.flushBytes { try? self.output.flush() }
        }
    }

    /// The loaded program (its attach mode, whether io_uring is traced).
    public var program: OpenSnoopProgram { reader.program }

    /// Writes the header (at once, so a reader knows tracing has started).
    public func start() throws {
        formatter.appendHeader(into: &output.buffer)
        try output.flush()
    }

    /// Runs until `shouldStop` returns true, `deadline` (monotonic ns) passes, the process
    /// `command` exits, or the output closes. Drains pending events before returning.
    public func run(deadline: UInt64? = nil, command: Int32? = nil, shouldStop: () -> Bool) throws -> Ending {
        var lastLostCheck: UInt64 = 0
        var ending: Ending
        do {
            while true {
                if shouldStop() { ending = .stopRequested; break }
                if let deadline, Monotonic.nanoseconds() >= deadline { ending = .durationElapsed; break }
                if let command, let status = CommandLauncher.exitStatus(of: command) {
                    ending = .commandExited(status)
                    break
                }
                try reader.poll(timeoutMilliseconds: Self.pollMilliseconds)
                try output.flushIfDue()
                if output.readerGone { return .outputClosed }
                let now = Monotonic.nanoseconds()
                if now &- lastLostCheck >= OutputSink.flushIntervalNanoseconds {
                    lastLostCheck = now
                    try reportLost()
                }
            }
            try reader.drain()
            try output.flush()
            try reportLost()
        } catch is OutputSink.Closed {
            return .outputClosed
        }
        return ending
    }

    /// Total events lost so far.
    public var lostEvents: UInt64 { reportedLost }

    /// Reports events lost since the last report: a record in the output for JSON, a line on
    /// standard error for text.
    private func reportLost() throws {
        let total = try reader.lostEvents()
        guard total > reportedLost else { return }
        let count = total - reportedLost
        reportedLost = total
        if formatter.appendLost(count, total: total, into: &output.buffer) {
            try output.flush()
        } else {
            diagnostics.buffer.append("opensnoop: \(count) events lost (\(total) in total): try a larger -b/--buffer-pages\n")
            try? diagnostics.flush()
        }
    }
}
