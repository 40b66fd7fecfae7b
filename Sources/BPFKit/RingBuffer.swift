internal import CLibBPF
internal import Glibc

/// A consumer of a `BPF_MAP_TYPE_RINGBUF` map.
///
/// Each record is handed to `handler` as bytes that are valid only during the call: copy what
/// you keep. `poll` and `consume` must be called from one thread at a time; the handler runs
/// on that thread. Nothing is allocated per record.
public final class RingBuffer {
    /// Receives one record; valid only during the call.
    public typealias Handler = (UnsafeRawBufferPointer) -> Void

    private final class Box {
        let handler: Handler
        init(_ handler: @escaping Handler) { self.handler = handler }
    }

    private let pointer: OpaquePointer
    private let box: Box
    private let map: BPFMap

    /// Sets up the consumer of a loaded ring-buffer map.
    public init(map: BPFMap, handler: @escaping Handler) throws {
        let box = Box(handler)
        let callback: ring_buffer_sample_fn = { context, data, size in
            let box = Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue()
            box.handler(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
        errno = 0
        guard let ring = ring_buffer__new(map.fileDescriptor, callback, Unmanaged.passUnretained(box).toOpaque(), nil)
        else {
            throw BPFError.system("set up ring buffer \(map.name)", errno: errno != 0 ? errno : EINVAL)
        }
        self.pointer = ring
        self.box = box
        self.map = map
    }

    deinit {
        ring_buffer__free(pointer)
    }

    /// Waits up to `timeoutMilliseconds` for a wakeup, then handles every pending record,
    /// woken or not (producers may suppress wakeups to batch them). Returns the count handled;
    /// a signal interrupting the wait is not an error.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        let woken = ring_buffer__poll(pointer, timeoutMilliseconds)
        if woken < 0 && woken != -EINTR {
            throw BPFError.system("poll ring buffer \(map.name)", errno: -woken)
        }
        return Int(max(woken, 0)) + (try consume())
    }

    /// Handles every pending record without waiting. Returns the count handled.
    @discardableResult
    public func consume() throws -> Int {
        let count = ring_buffer__consume(pointer)
        if count < 0 { throw BPFError.system("read ring buffer \(map.name)", errno: -count) }
        return Int(count)
    }
}
