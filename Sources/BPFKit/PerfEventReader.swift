internal import CLibBPF
internal import Glibc

/// A reader of a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map (`bpf_perf_event_output`), for kernels
/// without the BPF ring buffer (before Linux 5.8): one perf ring per CPU.
///
/// Handlers work as with `RingBuffer` (bytes valid during the call; `throw BPFStopReading()`
/// stops the reader, another error stops it and is rethrown by `poll`). Records the kernel could not store are counted in
/// `lostRecords`. Not thread-safe and not `Sendable`, like `RingBuffer`.
public final class PerfEventReader {
    /// Receives one record and the CPU it came from; may stop the reader or fail.
    public typealias Handler = (_ cpu: Int, _ record: UnsafeRawBufferPointer) throws -> Void

    private final class Box {
        let handler: Handler
        let state = ConsumerState()
        var lost: UInt64 = 0
        init(_ handler: @escaping Handler) { self.handler = handler }
    }

    private let pointer: OpaquePointer
    private let box: Box
    private let map: BPFMapHandle

    private static let callback: perf_buffer_event_fn = { context, cpu, header in
        let box = Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue()
        guard let header else { return LIBBPF_PERF_EVENT_CONT }
        let raw = UnsafeRawPointer(header)
        let headerSize = MemoryLayout<perf_event_header>.size
        switch header.pointee.type {
        case PERF_RECORD_SAMPLE.rawValue:
            let size = Int(raw.loadUnaligned(fromByteOffset: headerSize, as: UInt32.self))
            let record = UnsafeRawBufferPointer(start: raw + headerSize + 4, count: size)
            return box.state.handle { try box.handler(Int(cpu), record) } ? LIBBPF_PERF_EVENT_CONT : LIBBPF_PERF_EVENT_ERROR
        case PERF_RECORD_LOST.rawValue:
            box.lost &+= raw.loadUnaligned(fromByteOffset: headerSize + 8, as: UInt64.self)
            return LIBBPF_PERF_EVENT_CONT
        default:
            return LIBBPF_PERF_EVENT_CONT
        }
    }

    /// A reader of `map` with `pagesPerCPU` pages (a power of two) of ring per CPU.
    public init(_ map: BPFMapHandle, pagesPerCPU: Int = 64, handler: @escaping Handler) throws(BPFError) {
        let context = "set up perf event reader \(map.name)"
        guard map.type == .perfEventArray else {
            throw BPFError(.invalidArgument, context, details: "is \(article(map.type)) map, must be a perf event array map")
        }
        guard pagesPerCPU > 0, pagesPerCPU.nonzeroBitCount == 1 else {
            throw BPFError(.invalidArgument, context, details: "pages per CPU must be a power of two")
        }
        let box = Box(handler)
        pointer = try libbpfPointer(context) {
            clibbpf_perf_buffer_new(map.fileDescriptor, pagesPerCPU, Self.callback, Unmanaged.passUnretained(box).toOpaque())
        }
        self.box = box
        self.map = map
    }

    /// A reader of a loaded object's map.
    public convenience init(_ map: BPFMap, pagesPerCPU: Int = 64, handler: @escaping Handler) throws(BPFError) {
        try self.init(map.handle(), pagesPerCPU: pagesPerCPU, handler: handler)
    }

    deinit {
        perf_buffer__free(pointer)
    }

    /// Records the kernel dropped because a CPU's ring was full, since this reader was made.
    public var lostRecords: UInt64 { box.lost }

    /// The epoll descriptor that becomes readable when records arrive (owned by this reader).
    public var epollDescriptor: Int32 { perf_buffer__epoll_fd(pointer) }

    /// Waits up to `timeoutMilliseconds` and handles the records that arrived. Returns the count.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        try box.state.finish(perf_buffer__poll(pointer, timeoutMilliseconds), context: "poll perf event reader \(map.name)")
    }

    /// Handles every pending record without waiting. Returns the count.
    @discardableResult
    public func consume() throws -> Int {
        try box.state.finish(perf_buffer__consume(pointer), context: "read perf event reader \(map.name)")
    }
}
