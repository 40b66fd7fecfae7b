import ArgumentParser
import BPFKit
import Glibc
import OpenSnoop

/// `opensnoop`: parses the command line and wires the library together; nothing else.
@main
struct OpenSnoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "opensnoop",
        abstract: "Trace file opens across the system with eBPF.",
        discussion: """
            Shows every open(2), openat(2), openat2(2), creat(2) and io_uring open, with the \
            opening process, the fd or error, and the path. Filters run in the kernel.

            EXAMPLES:
              opensnoop                   # trace all opens
              opensnoop -T -U -e          # with time, UID and flags
              opensnoop -x                # only failed opens
              opensnoop -p 181,182        # only processes 181 and 182
              opensnoop -n nginx          # only commands whose name contains "nginx"
              opensnoop -f O_WRONLY -f O_RDWR   # only opens for writing
              opensnoop --path /etc/      # only paths starting with /etc/
              opensnoop --cgroup /sys/fs/cgroup/system.slice/ssh.service
              opensnoop -j | jq .path     # JSON Lines
              opensnoop -- make -j2       # trace one command and its children
            """,
        version: "0.1.0"
    )

    @Flag(name: [.customShort("T"), .long], help: "Print a timestamp (HH:MM:SS) column.")
    var timestamp = false

    @Flag(name: [.customShort("U"), .customLong("print-uid")], help: "Print a UID column.")
    var printUID = false

    @Flag(name: [.customShort("x"), .long], help: "Only show failed opens.")
    var failed = false

    @Option(name: [.customShort("p"), .long], parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace these processes (comma-separated, repeatable).", valueName: "PID"),
            transform: ArgumentValue.ids("process"))
    var pid: [[Int32]] = []

    @Option(name: [.customShort("t"), .long], parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace these threads (comma-separated, repeatable).", valueName: "TID"),
            transform: ArgumentValue.ids("thread"))
    var tid: [[Int32]] = []

    @Option(name: [.customShort("u"), .long], parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace these users (comma-separated, repeatable).", valueName: "UID"),
            transform: ArgumentValue.uids)
    var uid: [[UInt32]] = []

    @Option(name: [.customShort("d"), .long], parsing: .unconditional,
            help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"),
            transform: ArgumentValue.seconds)
    var duration: Double?

    @Option(name: [.customShort("n"), .long],
            help: ArgumentHelp("Only trace commands whose name contains NAME.", valueName: "NAME"))
    var name: String?

    @Flag(name: [.customShort("e"), .customLong("extended-fields")], help: "Print a FLAGS column (octal).")
    var extendedFields = false

    @Option(name: [.customShort("f"), .customLong("flag")], parsing: .singleValue,
            help: ArgumentHelp("Only trace opens with this flag, e.g. O_WRONLY (repeatable: any of them).",
                               valueName: "FLAG"),
            transform: ArgumentValue.flag)
    var flag: [OpenFlags.Named] = []

    @Option(name: .customLong("path"), parsing: .singleValue,
            help: ArgumentHelp("Only trace paths starting with PREFIX (repeatable).", valueName: "PREFIX"))
    var pathPrefix: [String] = []

    @Option(name: .customLong("cgroup"),
            help: ArgumentHelp("Only trace tasks in this cgroup v2 directory and below.", valueName: "DIR"))
    var cgroup: String?

    @Option(name: .customLong("cgroupmap"),
            help: ArgumentHelp("Only trace cgroups in this pinned BPF map (BCC's --cgroupmap).", valueName: "PATH"))
    var cgroupMap: String?

    @Option(name: .customLong("mntnsmap"),
            help: ArgumentHelp("Only trace mount namespaces in this pinned BPF map (BCC's --mntnsmap).",
                               valueName: "PATH"))
    var mountNamespaceMap: String?

    @Flag(name: [.customShort("F"), .customLong("full-path")],
          help: "Print the absolute path, resolved in the kernel (of the file opened, when it was).")
    var fullPath = false

    @Flag(name: [.customShort("j"), .long], help: "Print JSON Lines, one object per open.")
    var json = false

    @Option(name: [.customShort("b"), .customLong("buffer-pages")],
            help: ArgumentHelp("Ring-buffer size in pages, a power of two (default: \(TraceOptions().ringBufferPages)).",
                               valueName: "PAGES"),
            transform: ArgumentValue.pages)
    var bufferPages: Int = TraceOptions().ringBufferPages

    @Flag(name: [.customShort("v"), .long], help: "Show libbpf's log.")
    var verbose = false

    @Option(name: .customLong("attach-mode"), help: .hidden)
    var attachMode: TraceOptions.AttachMode = .auto

    @Argument(parsing: .postTerminator,
              help: ArgumentHelp("Trace only this command and its descendants; exit with its status.",
                                 valueName: "COMMAND"))
    var command: [String] = []

    /// Like ParsableCommand's main, but every usage error is one line and exit code 2, and
    /// tracing errors are one line with exit code 1 (2 for bad arguments).
    static func main() {
        let code: Int32
        do {
            var command = try parseAsRoot()
            try command.run()
            code = 0
        } catch let exit as ExitCode {
            code = exit.rawValue
        } catch let error as OpenSnoopError {
            fputs("opensnoop: \(error)\n", stderrFile)
            if case .invalidArgument = error { code = 2 } else { code = 1 }
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                code = 0
            } else {
                let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                fputs("opensnoop: \(message)\n", stderrFile)
                code = 2
            }
        }
        Glibc.exit(code)
    }

    func validate() throws {
        do {
            try traceOptions().validate()
        } catch let error as OpenSnoopError {
            throw ValidationError(error.description)
        }
    }

    func traceOptions() -> TraceOptions {
        var options = TraceOptions()
        options.pids = pid.flatMap { $0 }
        options.tids = tid.flatMap { $0 }
        options.uids = uid.flatMap { $0 }
        options.failedOnly = failed
        options.commandContains = name
        options.flags = flag
        options.pathPrefixes = pathPrefix
        options.cgroupDirectory = cgroup
        options.cgroupMapPath = cgroupMap
        options.mountNamespaceMapPath = mountNamespaceMap
        options.ringBufferPages = bufferPages
        options.attachMode = attachMode
        options.fullPath = fullPath
        if !command.isEmpty { options.followChildrenOf = getpid() }
        return options
    }

    func run() throws {
        if verbose { BPFLog.printToStandardError(upTo: .debug, prefix: "") }
        StopSignals.install()
        let columns = OutputColumns(timestamp: timestamp, uid: printUID, flags: extendedFields, fullPath: fullPath)
        let options = traceOptions()
        warnAboutMissingProcesses(options)
        let code = json
            ? try trace(options, formatter: JSONFormatter(columns: columns))
            : try trace(options, formatter: TextFormatter(columns: columns))
        throw ExitCode(code)
    }

    /// Traces until stopped; returns the exit code.
    private func trace<F: EventFormatter>(_ options: TraceOptions, formatter: F) throws -> Int32 {
        let output = OutputSink(fileDescriptor: STDOUT_FILENO)
        let diagnostics = OutputSink(fileDescriptor: STDERR_FILENO)
        let session = try TraceSession(options: options, formatter: formatter, output: output,
                                       diagnostics: diagnostics)
        if verbose {
            let program = session.program
            fputs("opensnoop: attach mode \(program.attachMode.rawValue), io_uring opens \(program.tracesIoUring ? "traced" : "not traced (no io_uring tracepoints)")\n", stderrFile)
        }
        do { try session.start() } catch is OutputSink.Closed { return 0 }
        let child = command.isEmpty ? nil : try CommandLauncher.spawn(command)
        let deadline = duration.map { Monotonic.nanoseconds() + UInt64($0 * 1e9) }
        let ending = try session.run(deadline: deadline, command: child) { StopSignals.received }
        if case .commandExited(let status) = ending {
            return CommandLauncher.exitCode(forWaitStatus: status)
        }
        return 0
    }

    private func warnAboutMissingProcesses(_ options: TraceOptions) {
        for pid in options.pids + options.tids where kill(pid, 0) != 0 && errno == ESRCH {
            fputs("opensnoop: warning: no process or thread \(pid) exists now; tracing it if it appears\n", stderrFile)
        }
    }
}
