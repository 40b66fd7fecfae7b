internal import Glibc

/// A detached POSIX thread running one closure, for work that blocks (a reader waiting in
/// epoll, an old output file being compressed) and so must not occupy a Swift concurrency
/// thread. The one way this package starts a thread.
public enum DetachedThread {
    /// A thread that could not be started: `pthread_create`'s error (EAGAIN: a thread or
    /// process limit was reached).
    public struct StartFailure: Error, Equatable, CustomStringConvertible {
        public let errno: Int32
        public var description: String { "cannot start a thread: \(String(cString: strerror(errno)))" }
    }

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new detached thread; throws, and `body` does not run, when there is
    /// none. Nothing waits for the thread: `body` must end on its own, or be told to.
    public static func start(_ body: @escaping @Sendable () -> Void) throws(StartFailure) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw StartFailure(errno: result)
        }
        pthread_detach(thread)
    }
}
