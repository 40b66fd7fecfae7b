public import BPFKit
internal import Synchronization

/// An open as a value that outlives the callback: what `OpenEventReader.events(options:)` yields.
public struct OpenRecord: Sendable {
    public let source: OpenEvent.Source
    public let timestampNanoseconds: UInt64
    public let pid: Int32
    public let tid: Int32
    public let uid: UInt32
    /// The fd, or `-errno`.
    public let result: Int32
    public let flags: OpenFlags
    public let mode: UInt32
    public let directoryFD: Int32
    public let comm: [UInt8]
    public let path: [UInt8]
    /// The resolved absolute path, with `TraceOptions.fullPath`.
    public let fullPath: [UInt8]?

    public init(_ event: OpenEvent) {
        source = event.source
        timestampNanoseconds = event.timestampNanoseconds
        pid = event.pid
        tid = event.tid
        uid = event.uid
        result = event.result
        flags = event.flags
        mode = event.mode
        directoryFD = event.directoryFD
        comm = event.withCommBytes { Array($0) }
        path = Array(event.pathBytes)
        fullPath = event.fullPathBytes.map { Array($0) }
    }

    /// The path as a string (invalid UTF-8 replaced).
    public var pathString: String { String(decoding: path, as: UTF8.self) }
    /// The command name as a string (invalid UTF-8 replaced).
    public var commString: String { String(decoding: comm, as: UTF8.self) }
}

extension OpenEventReader {
    /// Loads and attaches with `options` (throwing what stops that), then yields each open as
    /// it arrives, read on a dedicated thread (`BPFRecordStream`). Tracing stops (programs
    /// detached, maps freed) when the consumer stops iterating or the task is cancelled.
    /// At most `capacity` opens wait for the consumer; past that they are dropped and counted
    /// (`OpenEventStream.droppedRecords`), so a slow consumer costs bounded memory. A record
    /// that does not decode ends the stream with `OpenSnoopError.malformedRecord`. Events only:
    /// for `TraceOptions.summary`, use `OpenEventReader` and `summary()`.
    ///
    /// ```swift
    /// for try await open in try OpenEventReader.events(options: TraceOptions()) {
    ///     print(open.pid, open.commString, open.pathString)
    /// }
    /// ```
    public static func events(options: TraceOptions, capacity: Int = 65_536) throws -> OpenEventStream {
        try OpenEventStream(options: options, capacity: max(capacity, 1))
    }
}

/// The opens `OpenEventReader.events(options:capacity:)` yields, with what could not be
/// delivered: one iteration per stream. `Sendable`.
public final class OpenEventStream: AsyncSequence, Sendable {
    public typealias Element = OpenRecord
    public typealias AsyncIterator = BPFRecordStream<OpenRecord>.AsyncIterator

    private let records: BPFRecordStream<OpenRecord>
    private let kernelLost = LostCount()

    /// Opens dropped because the consumer was `capacity` opens behind.
    public var droppedRecords: UInt64 { records.droppedRecords }
    /// Opens the kernel could not deliver (ring buffer full), as last read: at most every
    /// 100 ms, while opens arrive.
    public var lostRecords: UInt64 { kernelLost.value.load(ordering: .relaxed) }

    init(options: TraceOptions, capacity: Int) throws {
        let program = try OpenSnoopProgram(options: options)
        let tracing = Tracing(program, lost: kernelLost)
        do {
            // The decoder, run on the reader thread, is all that holds the program: it goes,
            // and its programs are detached, when reading ends.
            records = try BPFRecordStream(ringBuffers: try program.eventRings(), capacity: capacity) { record in
                try tracing.decode(record)
            }
        } catch let error as BPFError {
            throw OpenSnoopError.bpf(error)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { records.makeAsyncIterator() }
}

/// The kernel's count of lost opens, as the reader thread last read it.
private final class LostCount: Sendable {
    let value = Atomic<UInt64>(0)
}

/// The loaded program, used on the reader thread alone (hence `@unchecked Sendable`): it
/// decodes each record and reads the kernel's count of lost opens now and then.
private final class Tracing: @unchecked Sendable {
    private let program: OpenSnoopProgram
    private let lost: LostCount
    private var lastCount: UInt64 = 0

    init(_ program: OpenSnoopProgram, lost: LostCount) {
        self.program = program
        self.lost = lost
    }

    func decode(_ record: UnsafeRawBufferPointer) throws -> OpenRecord {
        guard let event = OpenEvent(record: record) else { throw OpenSnoopError.malformedRecord(size: record.count) }
        let now = monotonicNanoseconds()
        if now &- lastCount >= 100_000_000 {
            lastCount = now
            lost.value.store(try program.lostEvents(), ordering: .relaxed)
        }
        return OpenRecord(event)
    }
}
