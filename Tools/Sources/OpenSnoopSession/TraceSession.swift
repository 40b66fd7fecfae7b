public import OpenSnoop
public import OpenSnoopFormats
public import TraceOutput
internal import Glibc
internal import TraceLifecycle

/// The opensnoop tool's loop: read events, format them, write them out, report what was lost,
/// and end on a signal, at a deadline, when the traced command's processes are all gone, or
/// when the reader of the output goes away.
///
/// With a traced command, SIGINT, SIGTERM, SIGHUP (without `-o`) and the deadline are passed on
/// to it and tracing goes on until it exits, so that it is never left running untraced; once it
/// has exited, tracing goes on while any of its descendants lives, and a signal ends it at once.
public final class TraceSession<Formatter: EventFormatter> {
    /// Why the session ended.
    public enum Ending: Equatable, Sendable {
        /// SIGINT, SIGTERM or SIGHUP.
        case signalled(Int32)
        case durationElapsed
        case outputClosed
        /// The traced command exited with this wait status.
        case commandExited(Int32)
    }

    private let reader: OpenEventReader
    private let output: OutputSink
    private let report: (String) -> Void
    /// Where the reader's callback puts each event (shared with it: the callback does not
    /// refer to the session, which owns the reader).
    private let writer: EventWriter<Formatter>
    private var reportedLost: UInt64 = 0
    private var reportedMalformed = 0

    /// How long one wait for events lasts; bounds the delay of output and of stopping.
    public static var pollMilliseconds: Int32 { 10 }
    /// How often stale io_uring opens are looked for.
    static var expiryIntervalNanoseconds: UInt64 { 10_000_000_000 }

    /// What to do with the kernel's counts every `intervalNanoseconds` and at the end
    /// (`--summary` prints them, `--metrics` exports them): `consume` gets each snapshot on the
    /// tracing thread, with the program, and may append to the output.
    public struct Snapshots {
        public let intervalNanoseconds: UInt64
        public let consume: (SummarySnapshot, OpenSnoopProgram, inout OutputBuffer) throws -> Void

        public init(intervalNanoseconds: UInt64,
                    consume: @escaping (SummarySnapshot, OpenSnoopProgram, inout OutputBuffer) throws -> Void) {
            self.intervalNanoseconds = intervalNanoseconds
            self.consume = consume
        }
    }

    private let summary: Snapshots?
    private let emitsEvents: Bool

    /// Loads and attaches; events (and summaries, with `summary`) go to `output`, notices (lost
    /// events in text formats, errors) to `report`.
    public init(options: TraceOptions, formatter: Formatter, output: OutputSink, summary: Snapshots? = nil,
                report: @escaping (String) -> Void) throws {
        let writer = EventWriter(formatter: formatter, output: output)
        self.writer = writer
        self.output = output
        self.report = report
        self.summary = summary
        self.emitsEvents = options.emitEvents
        reader = try OpenEventReader(options: options) { writer.write($0) }
    }

    /// The loaded program (its attach mode, whether io_uring is traced).
    public var program: OpenSnoopProgram { reader.program }

    /// Writes the header (at once, so a reader knows tracing has started); a file `-o` starts
    /// anew (reopened, rotated) gets it too.
    public func start() throws(OutputSink.OutputError) {
        if emitsEvents {
            var header = OutputBuffer()
            writer.formatter.appendHeader(into: &header)
            output.fileHeader = header.bytes
            header.withUnsafeBytes { output.buffer.append(contentsOf: $0) }
        }
        try output.flush()
    }

    /// Hands what the kernel counted since the last snapshot to `summary`.
    private func appendSummary() throws {
        guard let summary else { return }
        try summary.consume(try reader.summary(), reader.program, &output.buffer)
    }

    /// Runs until an ending (see the type's documentation). Drains pending events before
    /// returning. Throws `OutputSink.OutputError.failed` when the output cannot be written.
    public func run(deadline: UInt64? = nil, command: TracedCommand? = nil) throws -> Ending {
        var ending: Ending
        do {
            ending = try loop(deadline: deadline, command: command)
        } catch OutputSink.OutputError.interrupted {
            // A stop came while a write was blocked: pass it on to the command (as the loop
            // would), stop, and give the reader a last chance.
            let signal = TerminationSignals.take() ?? SIGTERM
            command?.forward(signal)
            ending = .signalled(signal)
            writer.outputError = nil  // that write's stop, taken: the last chance below is the reader's
        } catch OutputSink.OutputError.closed {
            return try finishCommand(command, after: .outputClosed)
        } catch {
            reportLosses()
            _ = try? finishCommand(command, after: .outputClosed)
            throw error
        }
        // Last events: formatted without writing (a stalled reader must not hold us), then
        // written, giving up after a while when a signal asked us to stop.
        writer.draining = true
        do {
            try writer.reading { try reader.drain() }
            if let outputError = writer.outputError { throw outputError }
            try appendSummary()
            reportLosses()
            if case .signalled = ending {
                try output.flush(within: Self.finalFlushNanoseconds)
            } else {
                try output.flush()
            }
        } catch OutputSink.OutputError.interrupted {
            // What was not written may hold JSON's record of lost events: say it here too.
            reportLosses()
            let lost = reportedLost > 0 ? "; \(reportedLost) events were lost in the kernel in total" : ""
            report("\(output.buffer.count) bytes of output were not written: the reader stopped reading\(lost)")
        } catch OutputSink.OutputError.closed {
            if case .signalled = ending {} else { ending = .outputClosed }
        }
        if let command, command.isRunning { return try finishCommand(command, after: ending) }
        return ending
    }

    /// The loop proper; see `run`.
    private func loop(deadline: UInt64?, command: TracedCommand?) throws -> Ending {
        var lastReport: UInt64 = 0
        var lastExpiry = Monotonic.nanoseconds()
        var nextSummary = lastExpiry &+ (summary?.intervalNanoseconds ?? 0)
        var passedOn = false      // a stop was passed on to the command: end when it exits
        var deadlineSeen = false
        while true {
            if let signal = TerminationSignals.take() {
                if signal == SIGHUP && output.path != nil {
                    try output.reopen()
                } else if let command, command.isRunning {
                    command.forward(signal)
                    passedOn = true
                } else {
                    return .signalled(signal)
                }
            }
            if let deadline, !deadlineSeen, Monotonic.nanoseconds() >= deadline {
                deadlineSeen = true
                if let command, command.isRunning {
                    command.forward(SIGTERM)
                    passedOn = true
                } else {
                    return .durationElapsed
                }
            }
            if let command, let status = try command.pollExit() {
                let alive = passedOn ? 0 : try reader.program.tracedProcessesAlive()
                if alive <= 0 { return .commandExited(status) }
            }
            try writer.reading { try reader.poll(timeoutMilliseconds: Self.pollMilliseconds) }
            if let outputError = writer.outputError { throw outputError }
            try output.flushIfDue()
            if output.readerGone { throw OutputSink.OutputError.closed }
            let now = Monotonic.nanoseconds()
            if now &- lastReport >= OutputSink.flushIntervalNanoseconds {
                lastReport = now
                reportLosses()
            }
            if now &- lastExpiry >= Self.expiryIntervalNanoseconds {
                lastExpiry = now
                try? reader.program.expireStaleIoUringOpens()
            }
            // (Not when the deadline is about to end the run: its final table covers this.)
            if let interval = summary?.intervalNanoseconds, now >= nextSummary,
               deadlineSeen || deadline.map({ $0 > now &+ 100_000_000 }) ?? true {
                nextSummary = now &+ interval
                try appendSummary()
                try output.flush()
            }
        }
    }

    /// How long the last write may wait for a stalled reader once a signal asked us to stop.
    static var finalFlushNanoseconds: UInt64 { 2_000_000_000 }

    /// Output can go no further: ends a command still running (SIGTERM, unless the signal that
    /// stopped us was passed on to it already; any further signal is passed on) and waits for
    /// it, so that it is not left behind untraced.
    private func finishCommand(_ command: TracedCommand?, after ending: Ending) throws -> Ending {
        guard let command else { return ending }
        if case .signalled = ending {} else { command.forward(SIGTERM) }
        while command.isRunning {
            if let signal = TerminationSignals.take() { command.forward(signal) }
            try command.pollExit(block: true)
        }
        return .commandExited(command.waitStatus ?? 0)
    }

    /// Total events lost so far.
    public var lostEvents: UInt64 { reportedLost }

    /// Reports events lost, and records that could not be decoded, since the last report: a
    /// record in the output's buffer for JSON (written with the next flush: never a wait here,
    /// which would hold a stop up), a line on standard error for text.
    private func reportLosses() {
        if let total = try? reader.lostEvents(), total > reportedLost {
            let count = total - reportedLost
            reportedLost = total
            if !writer.formatter.appendLost(count, total: total, into: &output.buffer) {
                report("\(count) events lost (\(total) in total): the ring buffer was full (try a larger -b/--buffer-pages) or over 1024 io_uring opens were in flight")
            }
        }
        let malformed = reader.malformedRecords
        if malformed > reportedMalformed {
            report("\(malformed - reportedMalformed) records could not be decoded (\(malformed) in total): the BPF program and opensnoop disagree on the event layout")
            reportedMalformed = malformed
        }
    }
}

/// Formats each event into the output's buffer, and writes it out when a long run of events
/// has filled it (not while draining at the end, when a stalled reader must not hold us); a
/// write error is kept for the session's loop to throw.
private final class EventWriter<Formatter: EventFormatter> {
    var formatter: Formatter
    let output: OutputSink
    /// The first write error, for the loop to throw.
    var outputError: OutputSink.OutputError? = nil
    /// Set once the loop ended: events are only buffered, not written, while the ring is drained.
    var draining = false
    /// `formatter`, during `reading` only.
    ///
    /// Appending an event through the stored property would cost a dynamic exclusivity check
    /// each time (`swift_beginAccess`/`swift_endAccess`, as for any mutation of a class's stored
    /// property across an opaque call): about 90 instructions an event (callgrind, 100,000
    /// opens), more than the rest of the session's per-event path. Through a pointer taken once
    /// per read it costs nothing; the pointer is valid for the whole of `reading` and cleared
    /// before it returns.
    private var lent: UnsafeMutablePointer<Formatter>? = nil

    init(formatter: Formatter, output: OutputSink) {
        self.formatter = formatter
        self.output = output
    }

    /// Runs `body`, which reads events, with `formatter` lent to `write`.
    @discardableResult
    func reading<R>(_ body: () throws -> R) rethrows -> R {
        try withUnsafeMutablePointer(to: &formatter) { pointer in
            lent = pointer
            defer { lent = nil }
            return try body()
        }
    }

    func write(_ event: OpenEvent) {
        if let lent {
            lent.pointee.append(event, into: &output.buffer)
        } else {
            formatter.append(event, into: &output.buffer)  // read outside `reading` (a summary's)
        }
        guard output.buffer.count >= 4 * OutputSink.flushBytes, outputError == nil, !draining else { return }
        do throws(OutputSink.OutputError) { try output.flush() } catch { outputError = error }
    }
}
