import BPFKit
import CgroupIdentity
import Getopt
import Glibc
import OpenSnoop
import OpenSnoopFormats
import OpenSnoopSession
import TraceLifecycle
import TraceOutput

/// `opensnoop`: reads the command line and wires the library together; nothing else.
public struct OpenSnoopCommand {
    /// opensnoop's options: its command line is read with them and its `--help` made from them.
    enum Options {
        typealias Option = GetoptArguments.Option
        static let timestamp = Option("timestamp", short: "T", help: "Print a timestamp (HH:MM:SS) column.")
        static let printUID = Option("print-uid", short: "U", help: "Print a UID column.")
        static let failed = Option("failed", short: "x", help: "Only show failed opens.")
        static let pid = Option("pid", short: "p", value: "PID", help: "Only trace these processes (comma-separated, repeatable).")
        static let tid = Option("tid", short: "t", value: "TID", help: "Only trace these threads (comma-separated, repeatable).")
        static let uid = Option("uid", short: "u", value: "UID", help: "Only trace these users (comma-separated, repeatable).")
        static let duration = Option("duration", short: "d", value: "SECONDS",
                                     help: "Stop after this many seconds (with -- COMMAND: send it SIGTERM then).")
        static let name = Option("name", short: "n", value: "NAME",
                                 help: "Only trace commands whose name contains NAME (repeatable: any of them).")
        static let extendedFields = Option("extended-fields", short: "e", help: "Print a FLAGS column (octal).")
        static let flag = Option("flag", short: "f", value: "FLAG",
                                 help: "Only trace opens with this flag, e.g. O_WRONLY (repeatable: any of them).")
        static let path = Option("path", value: "PREFIX",
                                 help: "Only trace paths starting with PREFIX, as passed or as resolved (repeatable).")
        static let cgroup = Option("cgroup", value: "DIR",
                                   help: "Only trace tasks in this cgroup v2 directory and below (repeatable).")
        static let cgroupMap = Option("cgroupmap", value: "PATH",
                                      help: "Only trace cgroups in this pinned BPF map (BCC's --cgroupmap).")
        static let mountNamespaceMap = Option("mntnsmap", value: "PATH",
                                              help: "Only trace mount namespaces in this pinned BPF map (BCC's --mntnsmap).")
        static let fullPath = Option("full-path", short: "F",
                                     help: "Print the path resolved in the kernel (of the file opened, when it was), as the process sees it.")
        static let json = Option("json", short: "j", help: "Print JSON Lines, one object per open.")
        static let output = Option("output", short: "o", value: "FILE",
                                   help: "Write the events to FILE (mode 0600, appended; reopened on SIGHUP; -: standard output).")
        static let bufferPages = Option("buffer-pages", short: "b", value: "PAGES",
                                        help: "Ring-buffer size in pages, a power of two (default: 128 per CPU, at least 256; \(TraceOptions.defaultRingBufferPages) here).")
        static let summary = Option("summary", value: "SECONDS", defaultValue: "1",
                                    help: "Count opens in the kernel and print a table every SECONDS (default 1; also at the end) instead of each open.")
        static let summaryBy = Option("summary-by", value: "KEYS",
                                      help: "What summary rows count by, comma-separated: comm, path, pid, errno, cgroup (default comm,path).")
        static let top = Option("top", value: "N",
                                help: "Print at most N summary rows (default: what fits a terminal, all rows elsewhere).")
        static let summaryCapacity = Option("summary-capacity", value: "ROWS",
                                            help: "Rows of the in-kernel summary table (default 4096; two tables of up to 256 bytes a row). Opens past it count under (other).")
        static let latency = Option("latency", short: "L",
                                    help: "Measure how long each open takes (a LAT(us) column; latency percentiles in --summary).")
        static let slower = Option("slower", value: "MS",
                                   help: "Only opens that took at least MS milliseconds (fractions allowed), decided in the kernel.")
        static let metrics = Option("metrics", value: "[ADDR]:PORT",
                                    help: "Serve Prometheus metrics (/metrics, /healthz) on [ADDR]:PORT while tracing (ADDR default: every interface, IPv6 and IPv4; port 0: a free one, printed).")
        static let noEvents = Option("no-events", help: "Print no events (with --metrics: metrics only).")
        static let rotateSize = Option("rotate-size", value: "MB",
                                       help: "With -o: rotate the file when it would pass MB megabytes (FILE.1 is the newest old one).")
        static let rotateKeep = Option("rotate-keep", value: "N", help: "With --rotate-size: old files kept (default 5).")
        static let rotateCompress = Option("rotate-compress", help: "With --rotate-size: gzip the old files (FILE.1.gz ...).")
        static let container = Option("container", value: "ID",
                                      help: "Only trace the container whose id starts with ID (its cgroup, found now; repeatable).")
        static let cgroupColumn = Option("cgroup-column",
                                         help: "Print a CGROUP column: the container's short id, else the cgroup's path (JSON always has the cgroup fields).")
        static let perCPURings = Option("per-cpu-rings",
                                        help: "One events ring per CPU (-b shared among them): for many CPUs opening at once; events of different CPUs may come up to 10 ms out of order.")
        static let noCompat = Option("no-compat",
                                     help: "Do not trace 32-bit opens (in fexit and raw modes; tracepoints mode never sees them).")
        static let noIoUring = Option("no-io-uring",
                                      help: "Do not trace io_uring opens (then no BPF program runs on io_uring requests).")
        static let verbose = Option("verbose", short: "v", help: "Say which libbpf and hooks are in use; show libbpf's log.")
        static let verifierStats = Option("verifier-stats",
                                          help: "Load the programs these options select, print what the kernel's verifier reported for each (instructions processed, stack per frame), and exit.")
        static let attachMode = Option("attach-mode", value: "MODE",
                                       help: "How opens are hooked: auto (fexit where the kernel allows tracing programs, else tracepoints, else raw before Linux 5.17), fexit (native and 32-bit opens; nothing runs for other syscalls), tracepoints (the sys_exit_open* tracepoints: native opens only), raw (the raw sys_exit tracepoint: 32-bit opens too, but it runs for every syscall).")
        static let version = Option("version", short: "V", help: "Show the version.")
        static let help = Option("help", short: "h", help: "Show help information.")

        static let all = [timestamp, printUID, failed, pid, tid, uid, duration, name, extendedFields, flag, path, cgroup,
                          cgroupMap, mountNamespaceMap, fullPath, json, output, bufferPages, summary, summaryBy, top,
                          summaryCapacity, latency, slower, metrics, noEvents, rotateSize, rotateKeep, rotateCompress,
                          container, cgroupColumn, perCPURings, noCompat, noIoUring, verbose, verifierStats, attachMode,
                          version, help]
    }

    static let help = CommandHelp(
        abstract: "Trace file opens across the system with eBPF.",
        usage: "opensnoop [OPTIONS] [-- COMMAND [ARGUMENT ...]]",
        discussion: """
            Shows every open(2), openat(2), openat2(2), creat(2), open_by_handle_at(2) and
            io_uring open, 64-bit and 32-bit, with the opening process, the fd or error,
            and the path. Filters run in the kernel, before any event is sent; different
            kinds combine with AND, repeated values of one kind with OR. Options take their
            values getopt-style too (-p123, -ncat).

            --path matches the path as passed or the path the kernel resolved (relative
            names, '..', symlinks and chroots included); for a failed open the resolved
            path is the directory joined with the name as passed.

            With -- COMMAND, opensnoop runs COMMAND and traces it and every process it
            starts, until all of them have exited; SIGINT, SIGTERM and SIGHUP are passed on
            to COMMAND while it runs (once it has exited, a signal stops tracing at once),
            and opensnoop exits with COMMAND's status. Use -o FILE to keep the events apart
            from COMMAND's own output.

            EXAMPLES:
              opensnoop                   # trace all opens
              opensnoop -T -U -e          # with time, UID and flags
              opensnoop -x                # only failed opens
              opensnoop -p 181,182        # only processes 181 and 182
              opensnoop -n nginx -n php   # only commands whose name contains nginx or php
              opensnoop -f O_WRONLY -f O_RDWR   # only opens for writing
              opensnoop --path /etc/      # only paths under /etc/
              opensnoop --cgroup /sys/fs/cgroup/system.slice/ssh.service
              opensnoop -j | jq .path     # JSON Lines
              opensnoop -j -o opens.jsonl -- make -j2   # one command, events to a file
            """,
        options: Options.all)

    let timestamp: Bool
    let printUID: Bool
    let failed: Bool
    let pid: [[Int32]]
    let tid: [[Int32]]
    let uid: [[UInt32]]
    let duration: Double?
    /// -n and --path: their exact bytes.
    let names: [[UInt8]]
    let pathPrefixes: [[UInt8]]
    let extendedFields: Bool
    let flag: [OpenFlags.Named]
    let cgroup: [String]
    let cgroupMap: String?
    let mountNamespaceMap: String?
    let fullPath: Bool
    let json: Bool
    let output: String?
    let bufferPages: Int
    let summary: Double?
    let summaryBy: SummaryKeys?
    let top: Int?
    let summaryCapacity: Int?
    let latency: Bool
    let slower: Double?
    let metrics: ListenAddress?
    let noEvents: Bool
    let rotateSize: Int?
    let rotateKeep: Int?
    let rotateCompress: Bool
    let container: [String]
    let cgroupColumn: Bool
    let perCPURings: Bool
    let noCompat: Bool
    let noIoUring: Bool
    let verbose: Bool
    let verifierStats: Bool
    let attachMode: TraceOptions.AttachMode
    /// The command to trace (after `--`), as its exact bytes.
    let command: [[UInt8]]

    /// The command that `arguments` ask for; a value that cannot be read is a failure naming
    /// its option.
    init(_ arguments: GetoptArguments) throws(GetoptArguments.Failure) {
        typealias O = Options
        let a = arguments
        timestamp = a.flag(O.timestamp.long)
        printUID = a.flag(O.printUID.long)
        failed = a.flag(O.failed.long)
        pid = try a.values(O.pid, ArgumentValue.ids("process"))
        tid = try a.values(O.tid, ArgumentValue.ids("thread"))
        uid = try a.values(O.uid, ArgumentValue.uids)
        duration = try a.value(O.duration, OptionValues.seconds)
        names = a.values[O.name.long] ?? []
        pathPrefixes = a.values[O.path.long] ?? []
        extendedFields = a.flag(O.extendedFields.long)
        flag = try a.values(O.flag, ArgumentValue.flag)
        cgroup = a.strings(O.cgroup.long)
        cgroupMap = a.string(O.cgroupMap.long)
        mountNamespaceMap = a.string(O.mountNamespaceMap.long)
        fullPath = a.flag(O.fullPath.long)
        json = a.flag(O.json.long)
        output = a.string(O.output.long).flatMap { $0 == "-" ? nil : $0 }  // -o -: standard output
        bufferPages = try a.value(O.bufferPages, ArgumentValue.pages) ?? TraceOptions().ringBufferPages
        summary = try a.value(O.summary, OptionValues.seconds)
        summaryBy = try a.value(O.summaryBy, ArgumentValue.summaryKeys)
        top = try a.value(O.top, ArgumentValue.count)
        summaryCapacity = try a.value(O.summaryCapacity, ArgumentValue.count)
        latency = a.flag(O.latency.long)
        slower = try a.value(O.slower, OptionValues.milliseconds)
        metrics = try a.value(O.metrics, ArgumentValue.listenAddress)
        noEvents = a.flag(O.noEvents.long)
        rotateSize = try a.value(O.rotateSize, ArgumentValue.megabytes)
        rotateKeep = try a.value(O.rotateKeep, ArgumentValue.countOrZero)
        rotateCompress = a.flag(O.rotateCompress.long)
        container = a.strings(O.container.long)
        cgroupColumn = a.flag(O.cgroupColumn.long)
        perCPURings = a.flag(O.perCPURings.long)
        noCompat = a.flag(O.noCompat.long)
        noIoUring = a.flag(O.noIoUring.long)
        verbose = a.flag(O.verbose.long)
        verifierStats = a.flag(O.verifierStats.long)
        attachMode = try a.value(O.attachMode, ArgumentValue.attachMode) ?? .auto
        command = a.trailing
    }

    /// Made by the executable that links the metrics server (`opensnoop-agent`); nil in
    /// `opensnoop`, which hands `--metrics` over to `opensnoop-agent` beside it.
    nonisolated(unsafe) private static var metricsFactory: MetricsEndpointFactory? = nil

    /// Reads the command line, checks and traces; every message is one line, exit codes as
    /// documented in the README (2 bad input, 1 cannot trace, 126/127 command cannot run, else
    /// the command's).
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

    private static func print(_ text: String) -> Int32 {
        _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        return 0
    }

    private static func run(arguments argv: [[UInt8]]) -> Int32 {
        let command: OpenSnoopCommand
        do throws(GetoptArguments.Failure) {
            let arguments = try GetoptArguments(argv, options: Options.all)
            if let reply = help.reply(to: arguments) { return print(reply) }
            if arguments.hasTerminator && arguments.trailing.isEmpty {
                throw GetoptArguments.Failure("-- must be followed by the command to trace")
            }
            command = try OpenSnoopCommand(arguments)
        } catch {
            var message = error.description
            if message.hasPrefix("unexpected argument") {
                message += " (to trace a command, put it after --: opensnoop [OPTIONS] -- COMMAND)"
            }
            return fail(message, code: 2)
        }
        do {
            try command.checkCombinations()
        } catch {
            return fail("\(error)", code: 2)
        }
        if command.metrics != nil && metricsFactory == nil { return handOverToAgent(argv) }
        let options: TraceOptions
        do {
            options = try command.traceOptions()
            try options.validate()
            if let name = command.command.first { try TracedCommand.check(name) }
        } catch let error as TracedCommand.LaunchError {
            return fail(error.description, code: error.exitCode)
        } catch {
            return fail("\(error)", code: 2)
        }
        if Diagnostics.standardOutputWasClosed && command.output == nil && (options.emitEvents || command.summary != nil) {
            return fail("standard output is closed: nothing to write to (use -o FILE)", code: 1)
        }
        if command.verifierStats { return command.printVerifierStatistics(options) }
        return command.trace(options)
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
            throw OpenSnoopError.invalidArgument("--no-events leaves nothing to show: add --metrics (or --summary)")
        }
    }

    /// The filters and settings, with the exact bytes of names and prefixes.
    func traceOptions() throws -> TraceOptions {
        var options = TraceOptions()
        options.pids = pid.flatMap { $0 }
        options.tids = tid.flatMap { $0 }
        options.uids = uid.flatMap { $0 }
        options.failedOnly = failed
        options.commandNames = names
        options.flags = flag
        options.pathPrefixes = pathPrefixes
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
    private func trace(_ options: TraceOptions) -> Int32 {
        if verbose {
            BPFLog.printToStandardError(upTo: .debug, prefix: "")
            Diagnostics.report("libbpf \(BPFLog.libbpfVersion)", tool: "opensnoop")
        }
        TerminationSignals.install()
        let columns = OutputColumns(timestamp: timestamp, uid: printUID, flags: extendedFields, fullPath: fullPath,
                                    cgroup: options.recordCgroup, latency: options.measuresLatency)
        return json
            ? trace(options, formatter: JSONFormatter(columns: columns))
            : trace(options, formatter: TextFormatter(columns: columns))
    }

    private func trace<F: EventFormatter>(_ options: TraceOptions, formatter: F) -> Int32 {
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
            let child = command.isEmpty ? nil : try TracedCommand.spawn(command)
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
