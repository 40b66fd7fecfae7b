internal import Glibc
internal import Synchronization

/// The kernel-BTF work of opening one object (`BPFObject.lookAtKernelBTF`), done ahead on a
/// thread of its own (`BPFObject.prefetch(name:bytes:)`) and taken once by the open of the same
/// bytes.
final class OpenPrefetch: @unchecked Sendable {
    /// Prefetches not taken yet, by object name.
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

    /// Starts the work for the object `name`, unless a prefetch of that name is pending.
    static func start(name: String, bytes: @escaping @Sendable () -> [UInt8]) {
        let prefetch = OpenPrefetch()
        let started = pending.withLock { table in
            guard table[name] == nil else { return false }
            table[name] = prefetch
            return true
        }
        guard started else { return }
        DetachedThread.start {
            prefetch.bytes = bytes()
            prefetch.cut = BPFObject.lookAtKernelBTF(prefetch.bytes, cut: true)
            sem_post(prefetch.finished)
        }
    }

    /// The cut a prefetch named `name` made, once it is done, if it made it for this very array
    /// (the prefetch holds its own reference, so the same storage means the same bytes); nil if
    /// there is no such prefetch. A prefetch is taken once, whatever its bytes.
    static func take(name: String, bytes: [UInt8]) -> [UInt8]?? {
        guard let prefetch = pending.withLock({ $0.removeValue(forKey: name) }) else { return nil }
        while sem_wait(prefetch.finished) != 0 && errno == EINTR {}
        let same = prefetch.bytes.withUnsafeBufferPointer { mine in
            bytes.withUnsafeBufferPointer { theirs in mine.baseAddress == theirs.baseAddress && mine.count == theirs.count }
        }
        return same ? .some(prefetch.cut) : nil
    }
}
