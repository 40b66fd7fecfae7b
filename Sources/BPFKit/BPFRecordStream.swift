internal import CLibBPF
internal import DetachedThreads
internal import Glibc
internal import Synchronization

/// Records of ring buffers (or a perf event array) as an `AsyncSequence` of copies, read on a
/// dedicated thread and buffered up to `capacity` records.
///
/// When the consumer falls behind and the buffer is full, new records are dropped and counted
/// in `droppedRecords`; `lostRecords` adds what the kernel dropped (perf event arrays report
/// it; ring-buffer programs count their own failed reservations). Iterating ends when
/// `finish()` is called or the stream is released; a reading error ends it by throwing.
/// One iteration per stream. `Sendable`.
public final class BPFRecordStream<Element: Sendable>: AsyncSequence, Sendable {
    public typealias AsyncIterator = AsyncThrowingStream<Element, any Error>.Iterator

    private let stream: AsyncThrowingStream<Element, any Error>
    private let control: Control

    /// The reader thread's controls: a wakeup descriptor to stop it and the drop counters.
    private final class Control: Sendable {
        let wakeup: Int32
        let dropped = Atomic<UInt64>(0)
        let kernelLost = Atomic<UInt64>(0)
        init() throws(BPFError) {
            wakeup = try systemCall("create eventfd", retryOnInterrupt: false) { eventfd(0, Int32(EFD_CLOEXEC)) }
        }
        deinit { close(wakeup) }
        func stop() {
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }
    }

    /// A source moved onto the reader thread, which alone uses it from then on.
    private struct Source: @unchecked Sendable {
        let epoll: () -> Int32
        let consume: () throws -> Void
        let lost: () -> UInt64
    }

    /// Records of the ring-buffer maps `maps`, each turned into an `Element` by `decode` (on the
    /// reader thread; a throw ends the stream with that error).
    public convenience init(ringBuffers maps: [BPFMapHandle], capacity: Int = 4096,
                            decode: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Element) throws(BPFError) {
        guard let first = maps.first else {
            throw BPFError(.invalidArgument, "stream ring buffers", details: "no map given")
        }
        var yield: (@Sendable (Element) -> Void)? = nil
        let reader = try RingBuffer(first) { record in yield?(try decode(record)) }
        for map in maps.dropFirst() {
            try reader.add(map) { record in yield?(try decode(record)) }
        }
        try self.init(capacity: capacity, source: Source(epoll: { reader.epollDescriptor },
                                                         consume: { try reader.consume() }, lost: { 0 })) {
            yield = $0
        }
    }

    /// Records of the perf event array `map` (kernels before 5.8), turned into `Element`s by `decode`.
    public convenience init(perfEventArray map: BPFMapHandle, pagesPerCPU: Int = 64, capacity: Int = 4096,
                            decode: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Element) throws(BPFError) {
        var yield: (@Sendable (Element) -> Void)? = nil
        let reader = try PerfEventReader(map, pagesPerCPU: pagesPerCPU) { _, record in
            yield?(try decode(record))
        }
        try self.init(capacity: capacity, source: Source(epoll: { reader.epollDescriptor },
                                                         consume: { try reader.consume() }, lost: { reader.lostRecords })) {
            yield = $0
        }
    }

    private init(capacity: Int, source: Source, connect: (@escaping @Sendable (Element) -> Void) -> Void) throws(BPFError) {
        guard capacity > 0 else { throw BPFError(.invalidArgument, "stream BPF records", details: "capacity must be positive") }
        let control = try Control()
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Element.self, throwing: (any Error).self,
                                                                    bufferingPolicy: .bufferingOldest(capacity))
        connect { element in
            if case .dropped = continuation.yield(element) { control.dropped.add(1, ordering: .relaxed) }
        }
        continuation.onTermination = { _ in control.stop() }
        self.stream = stream
        self.control = control
        do {
            try DetachedThread.start {
                do {
                    try Self.run(source, control: control)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        } catch {
            continuation.finish()
            throw BPFError.system("start the reader thread", errno: error.errno)
        }
    }

    /// The reader thread's loop: wait on the source's epoll descriptor and the stop descriptor.
    private static func run(_ source: Source, control: Control) throws {
        let epoll = try systemCall("create epoll", retryOnInterrupt: false) { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        defer { close(epoll) }
        for (fd, tag) in [(source.epoll(), UInt64(0)), (control.wakeup, 1)] {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = tag
            try systemCall("watch BPF records", retryOnInterrupt: false) { epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) }
        }
        var events = [epoll_event](repeating: epoll_event(), count: 2)
        while true {
            let count = try systemCall("wait for BPF records", retryOnInterrupt: true) {
                epoll_wait(epoll, &events, 2, 100)
            }
            try source.consume()
            control.kernelLost.store(source.lost(), ordering: .relaxed)
            if events[0..<Int(count)].contains(where: { $0.data.u64 == 1 }) { return }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { stream.makeAsyncIterator() }

    /// Records dropped because the buffer was full.
    public var droppedRecords: UInt64 { control.dropped.load(ordering: .relaxed) }

    /// Records lost in all: dropped here, plus those the kernel reported lost (perf event arrays).
    public var lostRecords: UInt64 { droppedRecords &+ control.kernelLost.load(ordering: .relaxed) }

    /// Stops reading; iteration ends after the records already buffered.
    public func finish() { control.stop() }
}
