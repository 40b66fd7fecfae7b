internal import OpenSnoop
internal import Glibc
internal import TraceOutput

/// The command that `opensnoop -- COMMAND` runs and traces.
///
/// `check` finds it the way a shell would before anything is loaded (exit 127 when it is not
/// found, 126 when it cannot be run); `spawn` starts it with the signal dispositions and mask a
/// fresh process expects; `pollExit` reaps it; `forward` passes on a signal.
public final class TracedCommand {
    public let pid: Int32
    /// Its wait status, once it has exited and been reaped.
    public private(set) var waitStatus: Int32? = nil

    private init(pid: Int32) { self.pid = pid }

    /// A command that cannot be started: its message and the exit code a shell would use.
    public struct LaunchError: Error, CustomStringConvertible {
        public let description: String
        public let exitCode: Int32
    }

    /// Finds `name` as `execvp` would (in PATH unless it has a slash); throws the shell's error
    /// (127 not found, 126 not executable) if it cannot be run. `name` is the argument's exact
    /// bytes (a file name need not be UTF-8).
    public static func check(_ name: [UInt8]) throws(LaunchError) {
        let display = SafeText.terminalSafe(name)
        if name.contains(UInt8(ascii: "/")) {
            try checkFile(name, display: display)
            return
        }
        let path = getenv("PATH").map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
            ?? Array("/usr/local/bin:/usr/bin:/bin".utf8)
        var denied = false
        for directory in path.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? Array(".".utf8) : Array(directory)) + [UInt8(ascii: "/")] + name
            let (found, executable) = withCArguments([candidate]) { argv in
                let path = argv[0]!
                var info = stat()
                guard stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { return (false, false) }
                return (true, access(path, X_OK) == 0)
            }
            if executable { return }
            denied = denied || found
        }
        if denied { throw LaunchError(description: "\(display): Permission denied", exitCode: 126) }
        throw LaunchError(description: "\(display): command not found", exitCode: 127)
    }

    private static func checkFile(_ path: [UInt8], display: String) throws(LaunchError) {
        let failure: LaunchError? = withCArguments([path]) { argv in
            let path = argv[0]!
            var info = stat()
            guard stat(path, &info) == 0 else {
                return LaunchError(description: "\(display): \(String(cString: strerror(errno)))", exitCode: 127)
            }
            if info.st_mode & S_IFMT == S_IFDIR {
                return LaunchError(description: "\(display): Is a directory", exitCode: 126)
            }
            if access(path, X_OK) != 0 {
                return LaunchError(description: "\(display): Permission denied", exitCode: 126)
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Starts `arguments[0]` (searched in PATH) with default dispositions for the signals we
    /// handle and an empty signal mask. The arguments are passed as their exact bytes.
    public static func spawn(_ arguments: [[UInt8]]) throws(LaunchError) -> TracedCommand {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        // Standard descriptors that were closed when we started are closed for the command too.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Diagnostics.closedStandardDescriptors { posix_spawn_file_actions_addclose(&actions, fd) }
        var pid: pid_t = 0
        let result = withCArguments(arguments) { argv in posix_spawnp(&pid, argv[0]!, &actions, &attributes, argv, environ) }
        guard result == 0 else {
            let code: Int32 = result == ENOENT ? 127 : 126
            throw LaunchError(description: "\(SafeText.terminalSafe(arguments[0])): \(String(cString: strerror(result)))",
                              exitCode: code)
        }
        return TracedCommand(pid: pid)
    }

    /// Whether it is still running (not yet reaped).
    public var isRunning: Bool { waitStatus == nil }

    /// Reaps it if it has exited; returns its wait status then, nil while it runs.
    /// `block` waits for it (interrupted by a signal: returns nil).
    @discardableResult
    public func pollExit(block: Bool = false) throws -> Int32? {
        if let waitStatus { return waitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, block ? 0 : WNOHANG)
        if result == pid {
            waitStatus = status
            return status
        }
        if result == 0 || (result < 0 && errno == EINTR) { return nil }
        throw OpenSnoopError.unsupported("wait for command \(pid): \(String(cString: strerror(errno)))")
    }

    /// Sends `signal` to it while it runs.
    public func forward(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// The exit code a shell would report for its wait status (128 + signal when killed).
    public static func exitCode(forWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

/// Runs `body` with `arguments` as a NUL-terminated C `argv` (exact bytes), for `execv` and
/// `posix_spawn`; the copies live until `body` returns.
public func withCArguments<R>(_ arguments: [[UInt8]], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { bytes in
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in bytes.enumerated() { copy[index] = CChar(bitPattern: byte) }
        copy[bytes.count] = 0
        return copy
    } + [nil]
    defer { argv.forEach { $0?.deallocate() } }
    return body(argv)
}
