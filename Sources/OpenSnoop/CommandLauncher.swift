internal import Glibc

/// Starts the command that `opensnoop -- COMMAND` traces and watches for its exit.
public enum CommandLauncher {
    /// Starts `arguments[0]` (searched in PATH) with the signal dispositions and mask a fresh
    /// process expects. Returns its pid.
    public static func spawn(_ arguments: [String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, arguments[0], nil, &attributes, argv, environ)
        guard result == 0 else {
            throw OpenSnoopError.invalidArgument("cannot run \(arguments[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// The wait status of `pid` if it has exited (reaping it), nil while it runs.
    public static func exitStatus(of pid: Int32) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid ? status : nil
    }

    /// The exit code a shell would report for a wait status (128 + signal when killed).
    public static func exitCode(forWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
