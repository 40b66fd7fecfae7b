public import TraceOutput
internal import Glibc

/// The main loop of a tracer that prints what one reader delivers. It runs until SIGINT,
/// SIGTERM or SIGHUP, a deadline, or the reader of the output going away (a quiet end, not an
/// error); then it handles what is still pending and writes it out (giving up after 2 s when a
/// signal stopped it and the reader has stalled). Events lost are reported as they are counted,
/// every 100 ms and at the end: as a record in the output with `lostRecords` (JSON Lines),
/// otherwise as `TOOL: N events lost (M in total)` on standard error.
///
/// Install `TerminationSignals` first. Not thread-safe: one loop per output.
public struct TraceLoop {
    private let output: OutputSink
    private let tool: String
    private let lostRecords: Bool
    private var reported: UInt64 = 0

    public init(output: OutputSink, tool: String, lostRecords: Bool) {
        self.output = output
        self.tool = tool
        self.lostRecords = lostRecords
    }

    /// Writes what is buffered (the header), tells a supervisor that tracing has started
    /// (`Readiness`), then loops: `poll` waits up to the given milliseconds for events and
    /// handles them (0: only those pending), `lostEvents` is the total lost so far. Returns
    /// at an ending; throws what they throw, and `WriteFailure` when the output cannot be written.
    public mutating func run(until deadline: UInt64?, poll: (Int32) throws -> Void,
                             lostEvents: () throws -> UInt64) throws {
        var signalled = false
        do {
            do {
                try output.flush()
                Readiness.notifyReady()
                var lastReport = Monotonic.nanoseconds()
                while !output.readerGone {
                    if TerminationSignals.take() != nil { signalled = true }
                    if signalled || deadline.map({ Monotonic.nanoseconds() >= $0 }) == true { break }
                    try poll(10)
                    try output.flushIfDue()
                    if Monotonic.nanoseconds() &- lastReport >= OutputSink.flushIntervalNanoseconds {
                        try report(lostEvents())
                        lastReport = Monotonic.nanoseconds()
                    }
                }
            } catch OutputSink.OutputError.interrupted {
                // A stop came while a write waited for the reader: taken here, and the reader
                // still gets its last chance below, as after any stop.
                _ = TerminationSignals.take()
                signalled = true
            }
            try poll(0)
            try report(lostEvents())
            try output.flush(within: signalled ? 2_000_000_000 : nil)
        } catch OutputSink.OutputError.closed {
        } catch OutputSink.OutputError.failed(let code) {
            throw WriteFailure(errno: code)
        } catch OutputSink.OutputError.interrupted {
            // What was not written may hold JSON's records of lost events: say the total here too.
            let lost = reported > 0 ? "; \(reported) events were lost in the kernel in total" : ""
            Diagnostics.report("\(output.buffer.count) bytes of output were not written: the reader stopped reading\(lost)",
                               tool: tool)
        }
    }

    /// The output could not be written (ENOSPC, EIO, ...).
    public struct WriteFailure: Error, CustomStringConvertible {
        public let errno: Int32
        public var description: String { "cannot write the output: \(String(cString: strerror(errno)))" }
    }

    /// Reports the events lost since the last report, if any.
    private mutating func report(_ total: UInt64) throws(OutputSink.OutputError) {
        guard total > reported else { return }
        if lostRecords {
            output.buffer.appendJSONLostRecord(total - reported, total: total)
        } else {
            Diagnostics.report("\(total - reported) events lost (\(total) in total)", tool: tool)
        }
        reported = total
    }
}
