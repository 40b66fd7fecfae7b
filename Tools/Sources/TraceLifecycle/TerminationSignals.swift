internal import Glibc
internal import Synchronization

/// Signals received and not yet taken, one count per signal (set from a signal handler: atomic
/// operations are async-signal-safe).
private let pendingInterrupt = Atomic<Int>(0)
private let pendingTerminate = Atomic<Int>(0)
private let pendingHangup = Atomic<Int>(0)

/// SIGINT, SIGTERM and SIGHUP as requests a tracer's loop takes one at a time; SIGPIPE ignored
/// (a closed output shows up as EPIPE); SIGCHLD back to its default (a parent may have left it
/// ignored, which would make the kernel reap a traced command before we can wait for it).
public enum TerminationSignals {
    /// Installs the handlers (without SA_RESTART: a signal ends a blocking wait or write at
    /// once) and unblocks the signals a parent may have blocked.
    public static func install() {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGCHLD, SIG_DFL)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            switch signal {
            case SIGINT: pendingInterrupt.add(1, ordering: .relaxed)
            case SIGTERM: pendingTerminate.add(1, ordering: .relaxed)
            default: pendingHangup.add(1, ordering: .relaxed)
            }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            sigaction(signal, &action, nil)
            sigaddset(&signals, signal)
        }
        sigaddset(&signals, SIGCHLD)
        sigprocmask(SIG_UNBLOCK, &signals, nil)
    }

    /// Whether SIGINT or SIGTERM came and was not taken yet.
    public static var stopPending: Bool {
        pendingInterrupt.load(ordering: .relaxed) > 0 || pendingTerminate.load(ordering: .relaxed) > 0
    }

    /// Whether SIGINT, SIGTERM or SIGHUP came and was not taken yet: what ends a tracer that
    /// writes to standard output (for which SIGHUP means stop, not reopen).
    public static var endPending: Bool {
        stopPending || pendingHangup.load(ordering: .relaxed) > 0
    }

    /// Takes one pending signal (SIGINT or SIGTERM before SIGHUP), or nil.
    public static func take() -> Int32? {
        if takeOne(pendingInterrupt) { return SIGINT }
        if takeOne(pendingTerminate) { return SIGTERM }
        if takeOne(pendingHangup) { return SIGHUP }
        return nil
    }

    private static func takeOne(_ counter: borrowing Atomic<Int>) -> Bool {
        var current = counter.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, original) = counter.compareExchange(expected: current, desired: current - 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
