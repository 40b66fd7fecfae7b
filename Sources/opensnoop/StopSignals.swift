import Glibc
import Synchronization

/// The signal that asked us to stop (0: none). Set from a signal handler: an atomic store is
/// async-signal-safe.
private let receivedSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM end tracing cleanly; a closed output pipe (SIGPIPE) shows up as EPIPE.
enum StopSignals {
    static func install() {
        signal(SIGPIPE, SIG_IGN)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in receivedSignal.store(signal, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a signal ends the poll at once
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        // A parent may have started us with these blocked; they must reach us.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &stopSignals, nil)
    }

    static var received: Bool { receivedSignal.load(ordering: .relaxed) != 0 }
}

/// Standard error as an unbuffered C stream (Swift 6 rejects the `stderr` global).
nonisolated(unsafe) let stderrFile: UnsafeMutablePointer<FILE>? = {
    let file = fdopen(STDERR_FILENO, "w")
    setvbuf(file, nil, _IONBF, 0)
    return file
}()
