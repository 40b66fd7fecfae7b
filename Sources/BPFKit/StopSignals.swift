internal import Glibc

/// Ctrl-C (`SIGINT`) and `SIGTERM` kept pending instead of ending the process, so that a
/// tracer's polling loop can see them and end, and the program exit normally: `print` buffers
/// its lines when the output is a file or a pipe, and a signal's default action loses them.
///
/// ```swift
/// let stop = StopSignals()
/// while !stop.received { try events.poll(timeoutMilliseconds: 100) }
/// ```
///
/// Create it before starting threads (a thread takes its blocked signals from the one that
/// started it). A signal ignored when the process started (`nohup`, some job runners) stays
/// ignored and is never received. A child process inherits the blocked signals through `fork`,
/// `exec`, `posix_spawn` and `popen`: unblock them in it (Foundation's `Process` does), or Ctrl-C
/// cannot stop it. `received` stays true once a signal came (it is never taken), and sees those
/// sent to the process or to the thread that asks.
public struct StopSignals: Sendable {
    private let signals: [Int32]

    /// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts from now on.
    public init() { self.init([SIGINT, SIGTERM]) }

    /// Blocks `signals` in the calling thread and the threads it starts from now on.
    public init(_ signals: [Int32]) {
        self.signals = signals
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Whether one of the signals is waiting for this thread or the process.
    public var received: Bool {
        var pending = sigset_t()
        sigpending(&pending)
        return signals.contains { sigismember(&pending, $0) == 1 }
    }
}
