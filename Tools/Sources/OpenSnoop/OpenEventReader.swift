internal import BPFKit
internal import Glibc

/// Loads the opensnoop program and hands each open to a callback: the library entry point
/// for tracers built on opensnoop's kernel side.
///
/// ```swift
/// var options = TraceOptions()
/// options.failedOnly = true
/// let reader = try OpenEventReader(options: options) { event in
///     print(event.pid, event.comm, event.path, event.errorNumber)
/// }
/// while true { try reader.poll(timeoutMilliseconds: 100) }
/// ```
/// The event and its bytes are valid only during the callback. `poll` must be called from
/// one thread at a time; the callback runs on that thread. With `TraceOptions.summary`, the
/// kernel's counts are read with `summary()`.
public final class OpenEventReader {
    public let program: OpenSnoopProgram
    private var ring: RingBuffer! = nil
    private var summaryReader: SummaryReader? = nil
    /// Records that were too short to decode (should stay 0; a mismatch of kernel and user layouts otherwise).
    public private(set) var malformedRecords = 0

    public init(options: TraceOptions, handler: @escaping (OpenEvent) -> Void) throws {
        program = try OpenSnoopProgram(options: options)
        do {
            let rings = try program.eventRings()
            let decode: RingBuffer.Handler = { [unowned self] record in
                if let event = OpenEvent(record: record) {
                    handler(event)
                } else {
                    self.malformedRecords += 1
                }
            }
            ring = try RingBuffer(rings[0], handler: decode)
            for other in rings.dropFirst() { try ring.add(other, handler: decode) }
            if let keys = options.summary {
                let reader = try SummaryReader(program: program, keys: keys, now: monotonicNanoseconds())
                summaryReader = reader
                if keys.contains(.path) {
                    try ring.add(program.namesMap().handle()) { reader.receiveName($0) }
                }
            }
        } catch let error as BPFError {
            throw OpenSnoopError.bpf(error)
        }
    }

    /// What the kernel counted since the last call (or since load): with `TraceOptions.summary`.
    public func summary() throws -> SummarySnapshot {
        guard let summaryReader else {
            throw OpenSnoopError.invalidArgument("no summary: the reader was made without TraceOptions.summary")
        }
        do {
            return try summaryReader.snapshot(now: monotonicNanoseconds()) { _ = try ring.consume() }
        } catch let error as BPFError {
            throw OpenSnoopError.bpf(error)
        }
    }

    /// Waits up to `timeoutMilliseconds` for events and handles all that are pending.
    /// Returns how many were handled.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        try ring.poll(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Handles the pending events without waiting.
    @discardableResult
    public func drain() throws -> Int {
        try ring.consume()
    }

    /// Events dropped in the kernel because the ring buffer was full, since load.
    public func lostEvents() throws -> UInt64 {
        try program.lostEvents()
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of the kernel's timestamps (`bpf_ktime_get_ns`).
func monotonicNanoseconds() -> UInt64 {
    var clock = timespec()
    clock_gettime(CLOCK_MONOTONIC, &clock)
    return UInt64(clock.tv_sec) * 1_000_000_000 + UInt64(clock.tv_nsec)
}
