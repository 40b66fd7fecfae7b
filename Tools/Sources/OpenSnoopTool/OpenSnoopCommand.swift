import ArgumentParser
import BPFKit
import CgroupIdentity
import Getopt
import Glibc
import OpenSnoop
import OpenSnoopFormats
import OpenSnoopSession
import TraceLifecycle
import TraceOutput

/// `opensnoop`: parses the command line and wires the library together; nothing else.
public struct OpenSnoopCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "opensnoop",
        abstract: "Trace file opens across the system with eBPF.",
        discussion: """
            Shows every open(2), openat(2), openat2(2), creat(2), open_by_handle_at(2) and \
            io_uring open, 64-bit and 32-bit, with the opening process, the fd or error, and the \
            path. Filters run in the kernel, before any event is sent; different kinds combine \
            with AND, repeated values of one kind with OR. Options take their values getopt-style \
            too (-p123, -ncat).

            --path matches the path as passed or the path the kernel resolved (relative names, \
            '..', symlinks and chroots included); for a failed open the resolved path is the \
            directory joined with the name as passed.

            With -- COMMAND, opensnoop runs COMMAND and traces it and every process it starts, \
            until all of them have exited; SIGINT, SIGTERM and SIGHUP are passed on to COMMAND \
            while it runs (once it has exited, a signal stops tracing at once), and opensnoop \
            exits with COMMAND's status. Use -o FILE to keep the events apart from COMMAND's \
            own output.

            EXAMPLES:
              opensnoop                   # trace all opens
              opensnoop -T -U -e          # with time, UID and flags
              opensnoop -x                # only failed opens
              opensnoop -p 181,182        # only processes 181 and 182
              opensnoop -n nginx -n php   # only commands whose name contains "nginx" or "php"
              opensnoop -f O_WRONLY -f O_RDWR   # only opens for writing
              opensnoop --path /etc/      # only paths under /etc/
              opensnoop --cgroup /sys/fs/cgroup/system.slice/ssh.service
              opensnoop -j | jq .path     # JSON Lines
              opensnoop -j -o opens.jsonl -- make -j2   # trace one command, events to a file
            """,
        version: "0.2.0"
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
            help: ArgumentHelp("Stop after this many seconds (with -- COMMAND: send it SIGTERM then).",
                               valueName: "SECONDS"),
            transform: ArgumentValue.seconds)
    var duration: Double?

    @Option(name: [.customShort("n"), .long], parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace commands whose name contains NAME (repeatable: any of them).",
                               valueName: "NAME"))
    var name: [String] = []

    @Flag(name: [.customShort("e"), .customLong("extended-fields")], help: "Print a FLAGS column (octal).")
    var extendedFields = false

    @Option(name: [.customShort("f"), .customLong("flag")], parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace opens with this flag, e.g. O_WRONLY (repeatable: any of them).",
                               valueName: "FLAG"),
            transform: ArgumentValue.flag)
    var flag: [OpenFlags.Named] = []

    @Option(name: .customLong("path"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace paths starting with PREFIX, as passed or as resolved (repeatable).",
                               valueName: "PREFIX"))
    var pathPrefix: [String] = []

    @Option(name: .customLong("cgroup"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace tasks in this cgroup v2 directory and below (repeatable).",
                               valueName: "DIR"))
    var cgroup: [String] = []

    @Option(name: .customLong("cgroupmap"), parsing: .unconditional,
            help: ArgumentHelp("Only trace cgroups in this pinned BPF map (BCC's --cgroupmap).", valueName: "PATH"))
    var cgroupMap: String?

    @Option(name: .customLong("mntnsmap"), parsing: .unconditional,
            help: ArgumentHelp("Only trace mount namespaces in this pinned BPF map (BCC's --mntnsmap).",
                               valueName: "PATH"))
    var mountNamespaceMap: String?

    @Flag(name: [.customShort("F"), .customLong("full-path")],
          help: "Print the path resolved in the kernel (of the file opened, when it was), as the process sees it.")
    var fullPath = false

    @Flag(name: [.customShort("j"), .long], help: "Print JSON Lines, one object per open.")
    var json = false

    @Option(name: [.customShort("o"), .long], parsing: .unconditional,
            help: ArgumentHelp("Write the events to FILE (mode 0600, appended; reopened on SIGHUP).",
                               valueName: "FILE"))
    var output: String?

    @Option(name: [.customShort("b"), .customLong("buffer-pages")], parsing: .unconditional,
            help: ArgumentHelp("Ring-buffer size in pages, a power of two (default: 128 per CPU, at least 256; \(TraceOptions.defaultRingBufferPages) here).",
                               valueName: "PAGES"),
            transform: ArgumentValue.pages)
    var bufferPages: Int = TraceOptions().ringBufferPages

    @Option(name: .customLong("summary"), parsing: .unconditional,
            help: ArgumentHelp("Count opens in the kernel and print a table every SECONDS (default 1; also at the end) instead of each open.",
                               valueName: "SECONDS"),
            transform: ArgumentValue.seconds)
    var summary: Double?

    @Option(name: .customLong("summary-by"), parsing: .unconditional,
            help: ArgumentHelp("What summary rows count by, comma-separated: comm, path, pid, errno, cgroup (default comm,path).",
                               valueName: "KEYS"),
            transform: ArgumentValue.summaryKeys)
    var summaryBy: SummaryKeys?

    @Option(name: .customLong("top"), parsing: .unconditional,
            help: ArgumentHelp("Print at most N summary rows (default: what fits a terminal, all rows elsewhere).",
                               valueName: "N"),
            transform: ArgumentValue.count)
    var top: Int?

    @Option(name: .customLong("summary-capacity"), parsing: .unconditional,
            help: ArgumentHelp("Rows of the in-kernel summary table (default 4096; two tables of up to 256 bytes a row). Opens past it count under (other).",
                               valueName: "ROWS"),
            transform: ArgumentValue.count)
    var summaryCapacity: Int?

    @Flag(name: [.customShort("L"), .customLong("latency")],
          help: "Measure how long each open takes (a LAT(us) column; latency percentiles in --summary).")
    var latency = false

    @Option(name: .customLong("slower"), parsing: .unconditional,
            help: ArgumentHelp("Only opens that took at least MS milliseconds (fractions allowed), decided in the kernel.",
                               valueName: "MS"),
            transform: ArgumentValue.milliseconds)
    var slower: Double?

    @Option(name: .customLong("metrics"), parsing: .unconditional,
            help: ArgumentHelp("Serve Prometheus metrics (/metrics, /healthz) on [ADDR]:PORT while tracing (ADDR default: every interface, IPv6 and IPv4; port 0: a free one, printed).",
                               valueName: "[ADDR]:PORT"),
            transform: ArgumentValue.listenAddress)
    var metrics: ListenAddress?

    @Flag(name: .customLong("no-events"), help: "Print no events (with --metrics: metrics only).")
    var noEvents = false

    @Option(name: .customLong("rotate-size"), parsing: .unconditional,
            help: ArgumentHelp("With -o: rotate the file when it would pass MB megabytes (FILE.1 is the newest old one).",
                               valueName: "MB"),
            transform: ArgumentValue.count)
    var rotateSize: Int?

    @Option(name: .customLong("rotate-keep"), parsing: .unconditional,
            help: ArgumentHelp("With --rotate-size: old files kept (default 5).", valueName: "N"),
            transform: ArgumentValue.countOrZero)
    var rotateKeep: Int?

    @Flag(name: .customLong("rotate-compress"), help: "With --rotate-size: gzip the old files (FILE.1.gz ...).")
    var rotateCompress = false

    @Option(name: .customLong("container"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Only trace the container whose id starts with ID (its cgroup, found now; repeatable).",
                               valueName: "ID"))
    var container: [String] = []

    @Flag(name: .customLong("cgroup-column"),
          help: "Print a CGROUP column: the container's short id, else the cgroup's path (JSON always has the cgroup fields).")
    var cgroupColumn = false

    @Flag(name: .customLong("per-cpu-rings"),
          help: "One events ring per CPU (-b shared among them): for many CPUs opening at once; events of different CPUs may come up to 10 ms out of order.")
    var perCPURings = false

    @Flag(name: .customLong("no-compat"),
          help: "Do not trace 32-bit opens (in fexit and raw modes; tracepoints mode never sees them).")
    var noCompat = false

    @Flag(name: .customLong("no-io-uring"),
          help: "Do not trace io_uring opens (then no BPF program runs on io_uring requests).")
    var noIoUring = false

    @Flag(name: [.customShort("v"), .long], help: "Say which libbpf and hooks are in use; show libbpf's log.")
    var verbose = false

    @Flag(name: .customLong("verifier-stats"),
          help: "Load the programs these options select, print what the kernel's verifier reported for each (instructions processed, stack per frame), and exit.")
    var verifierStats = false

    @Option(name: .customLong("attach-mode"), parsing: .unconditional,
            help: ArgumentHelp("How opens are hooked: auto (fexit where the kernel allows tracing programs, else tracepoints, else raw before Linux 5.17), fexit (native and 32-bit opens; nothing runs for other syscalls), tracepoints (the sys_exit_open* tracepoints: native opens only), raw (the raw sys_exit tracepoint: 32-bit opens too, but it runs for every syscall).",
                               valueName: "MODE"))
    var attachMode: TraceOptions.AttachMode = .auto

    @Argument(parsing: .postTerminator,
              help: ArgumentHelp("Trace only this command and its descendants; exit with its status.",
                                 valueName: "COMMAND"))
    var command: [String] = []

    /// The options as getopt sees them (kept in step with the declarations above by a test).
    static let getoptOptions: [GetoptArguments.Option] = [
        .init(long: "timestamp", short: "T", takesValue: false, repeatable: true),
        .init(long: "print-uid", short: "U", takesValue: false, repeatable: true),
        .init(long: "failed", short: "x", takesValue: false, repeatable: true),
        .init(long: "pid", short: "p", takesValue: true, repeatable: true),
        .init(long: "tid", short: "t", takesValue: true, repeatable: true),
        .init(long: "uid", short: "u", takesValue: true, repeatable: true),
        .init(long: "duration", short: "d", takesValue: true),
        .init(long: "name", short: "n", takesValue: true, repeatable: true),
        .init(long: "extended-fields", short: "e", takesValue: false, repeatable: true),
        .init(long: "flag", short: "f", takesValue: true, repeatable: true),
        .init(long: "path", takesValue: true, repeatable: true),
        .init(long: "cgroup", takesValue: true, repeatable: true),
        .init(long: "cgroupmap", takesValue: true),
        .init(long: "mntnsmap", takesValue: true),
        .init(long: "full-path", short: "F", takesValue: false, repeatable: true),
        .init(long: "json", short: "j", takesValue: false, repeatable: true),
        .init(long: "output", short: "o", takesValue: true),
        .init(long: "buffer-pages", short: "b", takesValue: true),
        .init(long: "summary", takesValue: true, defaultValue: "1"),
        .init(long: "summary-by", takesValue: true),
        .init(long: "top", takesValue: true),
        .init(long: "summary-capacity", takesValue: true),
        .init(long: "latency", short: "L", takesValue: false, repeatable: true),
        .init(long: "slower", takesValue: true),
        .init(long: "metrics", takesValue: true),
        .init(long: "no-events", takesValue: false, repeatable: true),
        .init(long: "rotate-size", takesValue: true),
        .init(long: "rotate-keep", takesValue: true),
        .init(long: "rotate-compress", takesValue: false, repeatable: true),
        .init(long: "container", takesValue: true, repeatable: true),
        .init(long: "cgroup-column", takesValue: false, repeatable: true),
        .init(long: "per-cpu-rings", takesValue: false, repeatable: true),
        .init(long: "no-compat", takesValue: false, repeatable: true),
        .init(long: "no-io-uring", takesValue: false, repeatable: true),
        .init(long: "verbose", short: "v", takesValue: false, repeatable: true),
        .init(long: "verifier-stats", takesValue: false, repeatable: true),
        .init(long: "attach-mode", takesValue: true),
        .init(long: "version", short: "V", takesValue: false, repeatable: true),
        .init(long: "help", short: "h", takesValue: false, repeatable: true),
    ]

    public init() {}

    /// Made by the executable that links the metrics server (`opensnoop-agent`); nil in
    /// `opensnoop`, which hands `--metrics` over to `opensnoop-agent` beside it.
    nonisolated(unsafe) private static var metricsFactory: MetricsEndpointFactory? = nil

    /// Parses, checks and traces; every message is one line, exit codes as documented in the
    /// README (2 bad input, 1 cannot trace, 126/127 command cannot run, else the command's).
    public static func main(metrics: MetricsEndpointFactory?) -> Never {
        metricsFactory = metrics
        Diagnostics.guardStandardDescriptors()
        Readiness.claim()
        Glibc.exit(run(arguments: GetoptArguments.commandLineBytes))
    }

    /// `--metrics` in the plain `opensnoop`: the same command line, run by `opensnoop-agent`
    /// from the same directory. Returns only if that fails (with the exit code).
    private static func handOverToAgent(_ argv: [[UInt8]]) -> Int32 {
        var directory = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &directory, Int(PATH_MAX))
        guard length > 0 else { return fail("--metrics: cannot find this program's directory", code: 1) }
        let executable = directory[0..<length].map { UInt8(bitPattern: $0) }
        let agent = Array(executable[..<(executable.lastIndex(of: UInt8(ascii: "/")) ?? 0)]) + Array("/opensnoop-agent".utf8)
        Readiness.restoreForExec()
        for fd in Diagnostics.closedStandardDescriptors { close(fd) }  // as they were given to us
        _ = withCArguments([agent] + argv) { execv($0[0]!, $0) }
        return fail("--metrics needs opensnoop-agent installed beside opensnoop (\(String(decoding: agent, as: UTF8.self)): \(String(cString: strerror(errno))))",
                    code: 1)
    }

    private static func fail(_ message: String, code: Int32) -> Int32 {
        Diagnostics.report(message, tool: "opensnoop")
        return code
    }

    private static func run(arguments argv: [[UInt8]]) -> Int32 {
        let normalized: GetoptArguments
        let command: OpenSnoopCommand
        do {
            normalized = try GetoptArguments(argv, options: getoptOptions, rawOptions: ["name", "path"])
            var parsed = try parseAsRoot(normalized.arguments)
            guard let ours = parsed as? OpenSnoopCommand else {
                try parsed.run()  // --help and --version: print and exit
                return 0
            }
            command = ours
        } catch let failure as GetoptArguments.Failure {
            return fail(failure.description, code: 2)
        } catch {
            if exitCode(for: error) == .success {
                let text = fullMessage(for: error) + "\n"
                _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
                return 0
            }
            var message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            if message.hasPrefix("Unexpected argument") {
                message += " (to trace a command, put it after --: opensnoop [OPTIONS] -- COMMAND)"
            }
            return fail(message, code: 2)
        }
        if command.metrics != nil && metricsFactory == nil { return handOverToAgent(argv) }
        if normalized.hasTerminator && command.command.isEmpty {
            return fail("-- must be followed by the command to trace", code: 2)
        }
        let options: TraceOptions
        do {
            options = try command.traceOptions(raw: normalized.rawValues)
            try command.checkCombinations()
            try options.validate()
            if let name = normalized.trailing.first { try TracedCommand.check(name) }
        } catch let error as TracedCommand.LaunchError {
            return fail(error.description, code: error.exitCode)
        } catch {
            return fail("\(error)", code: 2)
        }
        if Diagnostics.standardOutputWasClosed && command.output == nil && (options.emitEvents || command.summary != nil) {
            return fail("standard output is closed: nothing to write to (use -o FILE)", code: 1)
        }
        if command.verifierStats { return command.printVerifierStatistics(options) }
        return command.trace(options, commandBytes: normalized.trailing)
    }

    private static func rightAligned(_ text: String, _ width: Int) -> String {
         String(repeating: " ", count: max(0, width - text.count)) + text
    }

    private static func leftAligned(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    /// `--verifier-stats`: one line per program loaded: instructions processed, each frame's
    /// stack, and the most a call chain can use when every frame is rounded up to 32 bytes (as
    /// 6.1 counts; the limit is 512 on kernels without a BPF private stack).
    private func printVerifierStatistics(_ options: TraceOptions) -> Int32 {
        let program: OpenSnoopProgram
        do {
            program = try OpenSnoopProgram(options: options, collectingStatistics: true)
        } catch {
            return Self.fail("\(error)", code: 1)
        }
        func line(_ name: String, _ instructions: String, _ frames: String, _ chain: String) -> String {
            [Self.leftAligned(name, 30), Self.rightAligned(instructions, 7), Self.leftAligned(frames, 18),
             Self.rightAligned(chain, 8)].joined(separator: " ") + "\n"
        }
        var text = line("PROGRAM", "INSNS", "  STACK", "CHAIN/32")
        for (name, statistics) in program.verifierStatistics {
            // A kernel whose verifier prints no stack depth (7.x) gets "-": not reported, not 0.
            let depths = statistics.stackDepths
            let frames = depths.isEmpty ? "-" : depths.map(String.init).joined(separator: "+")
            let chain = depths.isEmpty ? "-" : String(depths.reduce(0) { $0 + max(32, ($1 + 31) / 32 * 32) })
            text += line(name, String(statistics.instructionsProcessed), "  " + frames, chain)
        }
        _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        return 0
    }

    /// Options that only make sense together, or not together.
    func checkCombinations() throws {
        if (rotateKeep != nil || rotateCompress) && rotateSize == nil {
            throw OpenSnoopError.invalidArgument("--rotate-keep and --rotate-compress need --rotate-size")
        }
        if rotateSize != nil && output == nil {
            throw OpenSnoopError.invalidArgument("--rotate-size needs -o FILE")
        }
        if metrics != nil && summary != nil {
            throw OpenSnoopError.invalidArgument("--metrics and --summary both use the kernel's count table: choose one")
        }
        if summary == nil {
            if summaryBy != nil || top != nil {
                throw OpenSnoopError.invalidArgument("--summary-by and --top shape the tables of --summary: add --summary")
            }
            if summaryCapacity != nil && metrics == nil {
                throw OpenSnoopError.invalidArgument("--summary-capacity sizes the count table of --summary or --metrics: add one")
            }
        }
        if noEvents && metrics == nil && summary == nil {
            throw OpenSnoopError.invalidArgument("--no-events leaves nothing to show: add --metrics")
        }
    }

    /// The filters and settings, with the exact bytes of names and prefixes.
    func traceOptions(raw: [String: [[UInt8]]]) throws -> TraceOptions {
        var options = TraceOptions()
        options.pids = pid.flatMap { $0 }
        options.tids = tid.flatMap { $0 }
        options.uids = uid.flatMap { $0 }
        options.failedOnly = failed
        options.commandNames = raw["name"] ?? []
        options.flags = flag
        options.pathPrefixes = raw["path"] ?? []
        options.cgroupDirectories = cgroup + (try container.flatMap(Self.containerDirectories))
        options.cgroupMapPath = cgroupMap
        options.mountNamespaceMapPath = mountNamespaceMap
        options.ringBufferPages = bufferPages
        options.perCPURings = perCPURings
        options.attachMode = attachMode
        options.fullPath = fullPath
        options.recordCgroup = json || cgroupColumn
        options.compat = !noCompat
        options.ioUring = !noIoUring
        options.followCommand = !command.isEmpty
        if summary != nil {
            options.summary = summaryBy ?? [.comm, .path]
            options.emitEvents = false
        }
        if metrics != nil {
            options.summary = [.comm, .errno]
            options.countFiltered = true
        }
        if noEvents { options.emitEvents = false }
        if let summaryCapacity { options.summaryCapacity = summaryCapacity }
        options.latency = latency
        options.slowerThanNanoseconds = slower.map { UInt64(($0 * 1_000_000).rounded(.up)) }
        return options
    }

    /// The cgroup directories of the container whose id starts with `prefix`.
    private static func containerDirectories(_ prefix: String) throws -> [String] {
        guard prefix.count >= 4, prefix.allSatisfy(\.isHexDigit) else {
            throw OpenSnoopError.invalidArgument("--container \(prefix): expected at least 4 hex digits of a container id")
        }
        guard let resolver = CgroupResolver() else {
            throw OpenSnoopError.unsupported("--container needs cgroup v2 (no cgroup2 mount found)")
        }
        let found = resolver.directories(ofContainer: prefix.lowercased())
        guard !found.isEmpty else {
            throw OpenSnoopError.invalidArgument("--container \(prefix): no container cgroup has such an id")
        }
        return found
    }

    /// Loads, runs the command if any, traces until the end; returns the exit code.
    private func trace(_ options: TraceOptions, commandBytes: [[UInt8]]) -> Int32 {
        if verbose {
            BPFLog.printToStandardError(upTo: .debug, prefix: "")
            Diagnostics.report("libbpf \(BPFLog.libbpfVersion)", tool: "opensnoop")
        }
        TerminationSignals.install()
        let columns = OutputColumns(timestamp: timestamp, uid: printUID, flags: extendedFields, fullPath: fullPath,
                                    cgroup: options.recordCgroup, latency: options.measuresLatency)
        return json
            ? trace(options, formatter: JSONFormatter(columns: columns), commandBytes: commandBytes)
            : trace(options, formatter: TextFormatter(columns: columns), commandBytes: commandBytes)
    }

    private func trace<F: EventFormatter>(_ options: TraceOptions, formatter: F, commandBytes: [[UInt8]]) -> Int32 {
        let report = { (message: String) in Diagnostics.report(message, tool: "opensnoop") }
        do {
            let rotation = rotateSize.map {
                RotationPolicy(maxBytes: $0 * 1_000_000, keep: rotateKeep ?? 5, compress: rotateCompress)
            }
            let sink = try output.map { path throws(OutputSink.OutputError) in
                try OutputSink(path: path, rotation: rotation, interrupted: { TerminationSignals.stopPending })
            } ?? OutputSink(fileDescriptor: STDOUT_FILENO, interrupted: { TerminationSignals.endPending })
            defer { sink.finishRotations() }
            let endpoint = try metrics.map { address in
                do {
                    return try Self.metricsFactory!(address.host, address.port)
                } catch {
                    throw OpenSnoopError.unsupported("--metrics: cannot listen on \(address): \(error)")
                }
            }
            if let endpoint, verbose || metrics?.port == 0 {
                report("serving metrics on http://\(endpoint.address)/metrics")
            }
            defer {
                endpoint?.isHealthy = false
                endpoint?.close()
            }
            let session = try TraceSession(options: options, formatter: formatter, output: sink,
                                           summary: snapshots(options, sink: sink, endpoint: endpoint), report: report)
            endpoint?.isHealthy = true
            if verbose { report(describe(session.program)) }
            if let reason = session.program.ioUringUnavailable { report("note: io_uring opens are not traced: \(reason)") }
            warnAboutMissingProcesses(options)
            let child = command.isEmpty ? nil : try TracedCommand.spawn(commandBytes)
            do { try session.start() } catch OutputSink.OutputError.closed { if child == nil { return 0 } }
            Readiness.notifyReady()
            let deadline = duration.map { Monotonic.nanoseconds() &+ UInt64($0 * 1e9) }
            switch try session.run(deadline: deadline, command: child) {
            case .commandExited(let status): return TracedCommand.exitCode(forWaitStatus: status)
            case .signalled, .durationElapsed, .outputClosed: return 0
            }
        } catch let error as TracedCommand.LaunchError {
            return Self.fail(error.description, code: error.exitCode)
        } catch let error as OpenSnoopError {
            if case .invalidArgument = error { return Self.fail(error.description, code: 2) }
            return Self.fail(error.description, code: 1)
        } catch let error as OutputSink.OutputError {
            if case .failed(let code) = error {
                return Self.fail("cannot write \(output ?? "output"): \(String(cString: strerror(code)))", code: 1)
            }
            return 0
        } catch {
            return Self.fail("\(error)", code: 1)
        }
    }

    /// `--summary`: each snapshot printed as a table (redrawn on a terminal) or a JSON object;
    /// `--metrics`: each second's counts added to the exported metrics.
    private func snapshots<F>(_ options: TraceOptions, sink: OutputSink,
                              endpoint: (any MetricsEndpoint)?) -> TraceSession<F>.Snapshots? {
        if let endpoint {
            return TraceSession<F>.Snapshots(intervalNanoseconds: 1_000_000_000) { snapshot, program, _ in
                endpoint.record(snapshot, lostTotal: try program.lostEvents(), filteredTotal: try program.filteredOpens(),
                                ringUsedBytes: try program.ringBufferUsedBytes(), ringSizeBytes: program.ringBufferCapacity)
                endpoint.isHealthy = program.isAttached
            }
        }
        guard let seconds = summary else { return nil }
        let formatter = Box(SummaryFormatter(keys: options.summary ?? [], latency: options.measuresLatency, json: json,
                                             top: top, redraw: sink.isTerminal))
        return TraceSession<F>.Snapshots(intervalNanoseconds: UInt64(seconds * 1e9)) { snapshot, _, out in
            formatter.value.append(snapshot, at: Monotonic.nanoseconds(), screenRows: sink.terminalRows, into: &out)
        }
    }

    private func describe(_ program: OpenSnoopProgram) -> String {
        let compat: String
        if program.tracesCompat {
            compat = "traced"
        } else if noCompat {
            compat = "not traced (--no-compat)"
        } else if !KernelSupport.hasIA32Emulation {
            compat = "not traced (this kernel runs no 32-bit programs)"
        } else {
            compat = "not traced (--attach-mode raw traces them)"
        }
        return "attach mode \(program.attachMode.rawValue), 32-bit opens \(compat), io_uring opens "
            + (program.tracesIoUring ? "traced" : "not traced (\(program.ioUringUnavailable ?? "--no-io-uring"))")
    }

    /// One line naming the PIDs/TIDs that do not exist now (they are traced if they appear).
    private func warnAboutMissingProcesses(_ options: TraceOptions) {
        var seen = Set<Int32>()
        let missing = (options.pids + options.tids).filter { seen.insert($0).inserted && kill($0, 0) != 0 && errno == ESRCH }
        guard !missing.isEmpty else { return }
        let listed = missing.prefix(8).map(String.init).joined(separator: ", ")
        let more = missing.count > 8 ? " and \(missing.count - 8) more" : ""
        let noun = missing.count == 1 ? "process or thread" : "processes or threads"
        Diagnostics.report("warning: no \(noun) \(listed)\(more) \(missing.count == 1 ? "exists" : "exist") now; tracing \(missing.count == 1 ? "it" : "them") if \(missing.count == 1 ? "it appears" : "they appear")", tool: "opensnoop")
    }
}

/// A value a closure may change.
final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}
