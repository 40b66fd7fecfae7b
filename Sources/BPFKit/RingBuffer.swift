internal import CLibBPF
internal import Synchronization
internal import Glibc

/// Thrown by a record handler to stop its reader cleanly: `poll`/`consume` return normally
/// after this record (which counts as consumed); the rest stay for the next call.
public struct BPFStopReading: Error, Sendable {
    public init() {}
}

/// The bookkeeping a handler's C callback shares with its reader: the first error a handler
/// threw, whether a handler asked to stop, and how many records were handed over.
final class ConsumerState {
    var failure: (any Error)?
    var stopRequested = false
    var handled = 0

    /// Runs a handler; false means "stop now" (it threw `BPFStopReading` or another error).
    @inline(__always)
    func handle(_ body: () throws -> Void) -> Bool {
        handled &+= 1
        do {
            try body()
        } catch is BPFStopReading {
            stopRequested = true
        } catch {
            if failure == nil { failure = error }
            stopRequested = true
        }
        return !stopRequested
    }

    /// Ends one `poll`/`consume`: rethrows the first handler error, else returns the count.
    func finish(_ result: Int32, context: @autoclosure () -> String) throws -> Int {
        defer { handled = 0; stopRequested = false; failure = nil }
        if let failure { throw failure }
        if result < 0 && !stopRequested && result != -EINTR {
            throw BPFError.system(context(), errno: -result)
        }
        return handled
    }
}

/// A consumer of one or more `BPF_MAP_TYPE_RINGBUF` maps (Linux 5.8), each with its handler.
///
/// A handler gets each record as bytes valid only during the call (copy what you keep): as a
/// `RawSpan` with `init(spans:handler:)`, which the compiler does not let the handler keep
/// (a record cannot outlive its call), or as an `UnsafeRawBufferPointer`, whose lifetime is the
/// caller's to respect. It may
/// throw `BPFStopReading()` to stop the reader cleanly, or any other error: the record counts as
/// consumed, the reader stops, and `poll` rethrows the first error. `epollDescriptor` lets another event loop wait for records.
///
/// Not thread-safe: `poll` and `consume` must be called from one thread at a time, and the
/// handlers run on that thread; the type is not `Sendable`. For records on another task,
/// use `BPFRecordStream`. One reader per map: the kernel keeps one read position per ring, so
/// two readers of one map would race for each record and both get some of them. A second
/// reader of a map in this process is refused (`.alreadyExists`) until the first is released;
/// another process reading it (a pinned map) cannot be seen from here.
public final class RingBuffer {
    /// Receives one record; may stop the reader (`throw BPFStopReading()`) or fail.
    public typealias Handler = (UnsafeRawBufferPointer) throws -> Void

    /// Receives one record as a span of its bytes, which cannot escape the call: storing it
    /// anywhere is a compile error ("lifetime-dependent variable escapes its scope"). Copy what
    /// you keep (`Record(loading: span)`). May stop the reader or fail, as a `Handler`.
    public typealias RecordHandler = (RawSpan) throws -> Void

    private final class Box {
        let handler: Handler
        /// The reader's state. A strong reference: read through the box the callback borrows,
        /// it costs no reference counting per record (an unowned(unsafe) one was retained and
        /// released around each call, 40 instructions a record).
        let state: ConsumerState
        init(_ handler: @escaping Handler, _ state: ConsumerState) { self.handler = handler; self.state = state }

        /// Hands `record` to the handler; returns what the callback returns to libbpf (0: go on).
        @inline(__always)
        func receive(_ record: UnsafeRawBufferPointer) -> Int32 {
            state.handle { try handler(record) } ? 0 : -ECANCELED
        }
    }

    private let pointer: OpaquePointer
    private let state = ConsumerState()
    /// Set when the last read stopped before the rings were empty (a handler stopped or
    /// failed): what it left may have had its wakeup already, which an edge-triggered wait would
    /// not see again, so the next `poll` reads before it waits.
    private var stoppedEarly = false
    private var boxes: [Box] = []
    private var maps: [BPFMapHandle] = []

    /// The C callback: no reference counting per record (the reader keeps every box alive).
    private static let callback: ring_buffer_sample_fn = { context, data, size in
        Unmanaged<Box>.fromOpaque(context!)._withUnsafeGuaranteedRef { $0.receive(UnsafeRawBufferPointer(start: data, count: size)) }
    }

    /// The ring-buffer maps (by id) that a reader in this process reads.
    private static let read = Mutex<Set<UInt32>>([])

    /// Checks that `map` is a ring buffer no reader reads, and takes it for this one.
    private static func claim(_ map: BPFMapHandle, _ context: String) throws(BPFError) {
        guard map.type == .ringBuffer else {
            throw BPFError(.invalidArgument, context, details: "is \(article(map.type)) map, must be a ring buffer")
        }
        guard read.withLock({ $0.insert(map.id).inserted }) else {
            throw BPFError(.alreadyExists, context,
                           details: "a reader in this process reads it already (two would race for its records)")
        }
    }

    /// Gives `maps` back: another reader may read them.
    private static func release(_ maps: [BPFMapHandle]) {
        read.withLock { read in for map in maps { read.remove(map.id) } }
    }

    /// A consumer of `map` (a ring-buffer map) calling `handler` for each record.
    public init(_ map: BPFMapHandle, handler: @escaping Handler) throws(BPFError) {
        try Self.claim(map, "set up ring buffer \(map.name)")
        let box = Box(handler, state)
        do {
            pointer = try libbpfPointer("set up ring buffer \(map.name)") {
                ring_buffer__new(map.fileDescriptor, Self.callback, Unmanaged.passUnretained(box).toOpaque(), nil)
            }
        } catch {
            Self.release([map])
            throw error
        }
        boxes.append(box)
        maps.append(map)
        try edgeTriggered(map)
    }

    /// A consumer of a loaded object's ring-buffer map.
    public convenience init(_ map: BPFMap, handler: @escaping Handler) throws(BPFError) {
        try self.init(map.handle(), handler: handler)
    }

    /// A consumer of `map` (a ring-buffer map) calling `handler` with each record as a
    /// `RawSpan`, which the handler cannot keep past its call.
    public convenience init(spans map: BPFMapHandle, handler: @escaping RecordHandler) throws(BPFError) {
        try self.init(map) { bytes in try handler(bytes.bytes) }
    }

    /// A consumer of a loaded object's ring-buffer map, calling `handler` with each record as a
    /// `RawSpan`, which the handler cannot keep past its call.
    public convenience init(spans map: BPFMap, handler: @escaping RecordHandler) throws(BPFError) {
        try self.init(spans: map.handle(), handler: handler)
    }

    deinit {
        ring_buffer__free(pointer)
        Self.release(maps)
    }

    /// Adds another ring-buffer map with its own handler to this consumer (`.alreadyExists` for
    /// a map that this or another reader in this process reads already).
    public func add(_ map: BPFMapHandle, handler: @escaping Handler) throws(BPFError) {
        try Self.claim(map, "add ring buffer \(map.name)")
        let box = Box(handler, state)
        do {
            try libbpfCall("add ring buffer \(map.name)") {
                ring_buffer__add(pointer, map.fileDescriptor, Self.callback, Unmanaged.passUnretained(box).toOpaque())
            }
        } catch {
            Self.release([map])
            throw error
        }
        boxes.append(box)
        maps.append(map)
        try edgeTriggered(map)
    }

    /// Adds another ring-buffer map, whose records `handler` gets as `RawSpan`s.
    public func add(spans map: BPFMapHandle, handler: @escaping RecordHandler) throws(BPFError) {
        try add(map) { bytes in try handler(bytes.bytes) }
    }

    /// A wait ends at a wakeup, not whenever a record is pending: with level-triggered epoll a
    /// fast reader came back to find a record or two each time and woke thousands of times a
    /// second, whatever wakeups producers held back to batch records. Every wait is followed
    /// by reading every map (`poll`), and a read a handler stopped is finished before the next
    /// wait, so nothing pending is left behind.
    private func edgeTriggered(_ map: BPFMapHandle) throws(BPFError) {
        try libbpfCall("watch ring buffer \(map.name)") {
            clibbpf_ring_buffer_edge_triggered(pointer, map.fileDescriptor, Int32(maps.count - 1))
        }
    }

    /// The epoll descriptor that becomes readable when a producer wakes the reader, once per
    /// wakeup (edge-triggered; owned by this consumer): put it in another event loop, wait with
    /// a timeout, and call `consume()` each time it is readable, each time a wait times out, and
    /// again after a read a handler stopped.
    public var epollDescriptor: Int32 { ring_buffer__epoll_fd(pointer) }

    /// Waits up to `timeoutMilliseconds` for a wakeup, then handles every pending record of
    /// every map, woken or not (producers may suppress wakeups to batch them). Returns the
    /// count handled; a signal interrupting the wait is not an error. Rethrows a handler's error.
    ///
    /// A negative timeout waits until records are handled or a signal comes, in waits of at
    /// most 100 ms, each followed by a read: a producer's wakeup can be missed when it commits
    /// a record at the moment a read ends (the kernel orders the two sides with acquire and
    /// release only), and an edge-triggered wait would not end for that record.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        if stoppedEarly { return try consume() }
        guard timeoutMilliseconds < 0 else { return try pollOnce(timeoutMilliseconds).count }
        while true {
            let (count, interrupted) = try pollOnce(100)
            if count > 0 || interrupted || stoppedEarly { return count }
        }
    }

    private func pollOnce(_ timeoutMilliseconds: Int32) throws -> (count: Int, interrupted: Bool) {
        let woken = ring_buffer__poll(pointer, timeoutMilliseconds)
        let count = try finish(woken, context: "poll ring buffer \(maps[0].name)")
        if woken == -ECANCELED { return (count, false) }
        return (count + (try consume()), woken == -EINTR)
    }

    /// Handles every pending record without waiting. Returns the count handled.
    @discardableResult
    public func consume() throws -> Int {
        let result = ring_buffer__consume(pointer)
        return try finish(result, context: "read ring buffer \(maps[0].name)")
    }

    private func finish(_ result: Int32, context: @autoclosure () -> String) throws -> Int {
        stoppedEarly = state.stopRequested
        return try state.finish(result, context: context())
    }
}
