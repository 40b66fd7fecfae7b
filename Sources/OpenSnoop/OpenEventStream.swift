internal import Glibc
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
    /// Traces with `options` and yields each open as it arrives, from a dedicated thread.
    /// Loading errors are thrown by the stream's first `next()`. Tracing stops (programs
    /// detached, maps freed) when the consumer stops iterating or the task is cancelled.
    /// At most `capacity` opens wait for the consumer; past that they are dropped and counted
    /// (`OpenEventStream.droppedRecords`), so a slow consumer costs bounded memory.
    ///
    /// ```swift
    /// for try await open in OpenEventReader.events(options: TraceOptions()) {
    ///     print(open.pid, open.commString, open.pathString)
    /// }
    /// ```
    public static func events(options: TraceOptions, capacity: Int = 65_536) -> OpenEventStream {
        OpenEventStream(options: options, capacity: max(capacity, 1))
    }
}

/// The opens `OpenEventReader.events(options:capacity:)` yields, with what could not be
/// delivered: one iteration per stream. `Sendable`.
public final class OpenEventStream: AsyncSequence, Sendable {
    public typealias Element = OpenRecord
    public typealias AsyncIterator = AsyncThrowingStream<OpenRecord, any Error>.Iterator

    private let stream: AsyncThrowingStream<OpenRecord, any Error>
    /// Shared with the reader thread (which must not keep the stream itself alive: dropping the
    /// stream is what stops an unconsumed trace).
    private final class Counters: Sendable {
        let dropped = Atomic<UInt64>(0)
        let lost = Atomic<UInt64>(0)
    }
    private let counters = Counters()

    /// Opens dropped because the consumer was `capacity` opens behind.
    public var droppedRecords: UInt64 { counters.dropped.load(ordering: .relaxed) }
    /// Opens the kernel could not deliver (ring buffer full), as last read (every 100 ms).
    public var lostRecords: UInt64 { counters.lost.load(ordering: .relaxed) }

    init(options: TraceOptions, capacity: Int) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: OpenRecord.self, throwing: (any Error).self,
                                                                    bufferingPolicy: .bufferingOldest(capacity))
        self.stream = stream
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        let counters = self.counters
        let thread = PollingThread {
            do {
                let reader = try OpenEventReader(options: options) { event in
                    if case .dropped = continuation.yield(OpenRecord(event)) { counters.dropped.add(1, ordering: .relaxed) }
                }
                var lastCount: UInt64 = 0
                while !stop.isSet {
                    try reader.poll(timeoutMilliseconds: 50)
                    let now = monotonicNanoseconds()
                    if now &- lastCount >= 100_000_000 {
                        lastCount = now
                        counters.lost.store(try reader.lostEvents(), ordering: .relaxed)
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.start()
    }

    public func makeAsyncIterator() -> AsyncIterator { stream.makeAsyncIterator() }
}

/// A flag set from one thread and read from another.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// A detached POSIX thread running one closure (the reader blocks in epoll: it must not
/// occupy a Swift concurrency thread).
private final class PollingThread: @unchecked Sendable {
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let me = Unmanaged<PollingThread>.fromOpaque(context!).takeRetainedValue()
            me.body()
            return nil
        }, context)
        pthread_detach(thread)
    }
}
