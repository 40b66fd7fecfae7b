internal import CLibBPF
internal import DetachedThreads
internal import Glibc
internal import Synchronization

/// An attached program. It stays attached until `detach()`, or until its last holder lets go:
/// the `BPFObject` that attached it (unless taken with `BPFObject.takeLink(_:)`), or you.
/// A pinned link stays attached after the process exits, until `unpin()`.
/// Thread-safe: all state is behind a lock.
public final class BPFLink: Sendable {
    /// The libbpf link's address (0 once detached): a plain integer, so the lock can be `Sendable`.
    private let state: Mutex<UInt>
    /// The name of the program this link attaches.
    public let programName: String
    /// Where it attached, as the attach call named it (a section, `tracepoint CATEGORY/NAME`...).
    let target: String

    init(pointer: OpaquePointer, programName: String, target: String) {
        state = Mutex(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(pointer))))
        self.programName = programName
        self.target = target
    }

    deinit { detach() }

    /// Whether the link is still attached (by this handle).
    public var isAttached: Bool { state.withLock { $0 != 0 } }

    /// The link's file descriptor, or -1 once detached. Owned by the link, and closed by
    /// `detach()`: when another thread may detach it, use `withFileDescriptor(_:)`.
    public var fileDescriptor: Int32 { state.withLock { OpaquePointer(bitPattern: $0).map { bpf_link__fd($0) } ?? -1 } }

    /// Runs `body` with the link's file descriptor, which no `detach()` can close meanwhile;
    /// throws if the link is detached.
    public func withFileDescriptor<T>(_ body: (Int32) throws(BPFError) -> T) throws(BPFError) -> T {
        try withLink("use link of \(programName)") { link throws(BPFError) in try body(bpf_link__fd(link)) }
    }

    /// Detaches now (idempotent). A pinned link stays in the kernel until unpinned.
    public func detach() {
        state.withLock { address in
            if let link = OpaquePointer(bitPattern: address) { bpf_link__destroy(link) }
            address = 0
        }
    }

    /// Detaches `links`, all at once, and returns when they are: detaching a tracepoint's link
    /// waits for the kernel's RCU grace periods (30-40 ms here), which overlap when the links
    /// detach on threads of their own instead of one after another. A link whose thread cannot
    /// start is detached on this one.
    static func detach(_ links: [BPFLink]) {
        let attached = links.filter(\.isAttached)
        guard attached.count > 1 else { attached.first?.detach(); return }
        let finished = Finished()
        for link in attached.dropFirst() {
            do throws(DetachedThread.StartFailure) {
                try DetachedThread.start { link.detach(); finished.signal() }
                finished.expected += 1
            } catch {
                link.detach()
            }
        }
        attached[0].detach()
        finished.wait()
    }

    /// A count of detaches done, waited for with a POSIX semaphore (any thread may signal it).
    private final class Finished: @unchecked Sendable {
        private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        /// How many `signal()`s `wait()` waits for; set by the starting thread only.
        var expected = 0

        init() { sem_init(semaphore, 0, 0) }
        deinit { sem_destroy(semaphore); semaphore.deallocate() }

        func signal() { sem_post(semaphore) }
        func wait() {
            for _ in 0..<expected { while sem_wait(semaphore) != 0 && errno == EINTR {} }
        }
    }

    private func withLink<T>(_ context: String, _ body: (OpaquePointer) throws(BPFError) -> T) throws(BPFError) -> T {
        let result: Result<T, BPFError> = state.withLock { address in
            guard let link = OpaquePointer(bitPattern: address) else {
                return .failure(BPFError(.invalidArgument, context, details: "the link is detached"))
            }
            do throws(BPFError) { return .success(try body(link)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Pins the link at `path` (on a BPF file system, e.g. under /sys/fs/bpf): it then stays
    /// attached after this process exits, until `unpin()` or the file is removed.
    public func pin(at path: String) throws(BPFError) {
        _ = try withLink("pin link of \(programName) at \(path)") { link throws(BPFError) in
            try libbpfCall("pin link of \(programName) at \(path)") { bpf_link__pin(link, path) }
        }
    }

    /// Removes the pin made by `pin(at:)`.
    public func unpin() throws(BPFError) {
        _ = try withLink("unpin link of \(programName)") { link throws(BPFError) in
            try libbpfCall("unpin link of \(programName)") { bpf_link__unpin(link) }
        }
    }
}

/// A BPF iterator (`iter/task`, `iter/bpf_map`...): each `read()` runs the program over the
/// kernel objects once and returns what it printed (`BPF_SEQ_PRINTF`, `bpf_seq_write`).
/// The object that attached it keeps its link. Thread-safe.
public struct BPFIterator: Sendable {
    /// The iterator's link.
    public let link: BPFLink

    /// Runs the iterator once and returns its whole output.
    public func read() throws(BPFError) -> [UInt8] {
        let context = "run iterator \(link.programName)"
        let fd = try link.withFileDescriptor { linkFD throws(BPFError) in try libbpfCall(context) { bpf_iter_create(linkFD) } }
        defer { close(fd) }
        return try readAll(fd, context: context)
    }
}
