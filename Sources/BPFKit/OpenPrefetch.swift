internal import Glibc
internal import Synchronization

/// The decoding and the kernel-BTF work of opening one embedded object, done ahead on a thread
/// of its own (`BPFObject.prefetch(_:)`) and taken once by `BPFObject(embedded:)`.
final class OpenPrefetch: @unchecked Sendable {
    /// Prefetches not taken yet, by the embedded object's identity (name and text).
    private static let pending = Mutex<[String: OpenPrefetch]>([:])

    /// Posted when `bytes` and `cut` are set; they are not touched again after.
    private let finished = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private var bytes: [UInt8] = []
    private var cut: [UInt8]?

    private init() { sem_init(finished, 0, 0) }

    deinit {
        sem_destroy(finished)
        finished.deallocate()
    }

    /// Starts the work for `object`, unless a prefetch of it is pending.
    static func start(_ object: BPFEmbeddedObject) {
        let prefetch = OpenPrefetch()
        let started = pending.withLock { table in
            guard table[object.identity] == nil else { return false }
            table[object.identity] = prefetch
            return true
        }
        guard started else { return }
        let failed = DetachedThread.start {
            prefetch.bytes = object.bytes
            prefetch.cut = BPFObject.lookAtKernelBTF(prefetch.bytes, cut: true)
            sem_post(prefetch.finished)
        }
        if failed != nil {  // no thread to spare: the open does the work itself
            pending.withLock { _ = $0.removeValue(forKey: object.identity) }
        }
    }

    /// The bytes and the cut (nil if there is none to make) a prefetch of `object` made, once it
    /// is done; nil if there is no such prefetch. A prefetch is taken once.
    static func take(_ object: BPFEmbeddedObject) -> (bytes: [UInt8], cut: [UInt8]?)? {
        guard let prefetch = pending.withLock({ $0.removeValue(forKey: object.identity) }) else { return nil }
        while sem_wait(prefetch.finished) != 0 && errno == EINTR {}
        return (prefetch.bytes, prefetch.cut)
    }
}
