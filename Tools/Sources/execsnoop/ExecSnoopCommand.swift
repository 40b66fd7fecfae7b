import BPFKit
import ExecSnoopBPF
import Glibc
import Getopt
import TraceLifecycle
import TraceOutput

/// `execsnoop`: every execve(2)/execveat(2) on the machine, from `ExecsnoopSkeleton`.
@main
struct ExecSnoopCommand {
    /// execsnoop's options: its command line is read with them and its `--help` made from them.
    enum Options {
        typealias Option = GetoptArguments.Option
        static let time = Option("time", short: "T", help: "Print a time (HH:MM:SS) column.")
        static let failed = Option("failed", short: "x", help: "Only show failed execs.")
        static let uid = Option("uid", short: "u", value: "UID", help: "Only trace this user id.")
        static let name = Option("name", short: "n", value: "NAME",
                                 help: "Only trace command names containing NAME (1 to 15 bytes).")
        static let json = Option("json", short: "j", help: "Print JSON Lines, one object per exec.")
        static let duration = Option("duration", short: "d", value: "SECONDS", help: "Stop after this many seconds.")
        static let version = Option("version", short: "V", help: "Show the version.")
        static let help = Option("help", short: "h", help: "Show help information.")
        static let all = [time, failed, uid, name, json, duration, version, help]
    }

    static let help = CommandHelp(
        abstract: "Trace every exec on the machine with eBPF.",
        usage: "execsnoop [OPTIONS]",
        discussion: """
            Shows each execve(2) and execveat(2), 64-bit or 32-bit, successful or not.
            Filters run in the kernel.

            EXAMPLES:
              execsnoop -T -x          # failed execs, with the time
              execsnoop -u 1000 -n sh  # user 1000's commands whose name contains "sh"
              execsnoop -j | jq .args  # JSON Lines
            """,
        options: Options.all)

    let time: Bool
    let failed: Bool
    let uid: UInt32?
    /// -n: its exact bytes.
    let name: [UInt8]?
    let json: Bool
    let duration: Double?

    init(_ arguments: GetoptArguments) throws(GetoptArguments.Failure) {
        time = arguments.flag(Options.time.long)
        failed = arguments.flag(Options.failed.long)
        uid = try arguments.value(Options.uid) { (text: String) throws(InvalidValue) in
            // (uid_t)-1 means "no user" to the kernel: not a user one can trace.
            guard let uid = UInt32(text), uid != UInt32.max else {
                throw InvalidValue("expected a user id from 0 to 4294967294, got '\(text)'")
            }
            return uid
        }
        name = arguments.last(Options.name.long)
        json = arguments.flag(Options.json.long)
        duration = try arguments.value(Options.duration, OptionValues.seconds)
        if arguments.hasTerminator { throw GetoptArguments.Failure("execsnoop traces the whole machine: it runs no command") }
    }

    /// Reads the command line and traces: exits 0 when stopped, 2 on bad input, 1 when it cannot trace.
    static func main() {
        Diagnostics.guardStandardDescriptors()
        Readiness.claim()
        let command: ExecSnoopCommand
        do throws(GetoptArguments.Failure) {
            command = try ExecSnoopCommand(GetoptArguments.parseOrExit(Options.all, help: help, tool: "execsnoop"))
        } catch {
            Diagnostics.report(error.description, tool: "execsnoop")
            Glibc.exit(2)
        }
        let (code, message) = command.trace()
        if let message { Diagnostics.report(message, tool: "execsnoop") }
        Glibc.exit(code)
    }

    /// Loads, attaches and prints execs until a signal, the deadline or the reader's end;
    /// returns the exit code and the error to report.
    private func trace() -> (Int32, String?) {
        if let name, name.isEmpty || name.count > 15 { return (2, "-n NAME must have 1 to 15 bytes") }
        if Diagnostics.standardOutputWasClosed { return (1, "standard output is closed: nothing to write to") }
        guard KernelSupport.hasTracingPrivileges, KernelSupport.hasKernelBTF else {
            return (1, "tracing needs root (or CAP_BPF and CAP_PERFMON) and kernel BTF (/sys/kernel/btf/vmlinux)")
        }
        TerminationSignals.install()
        let output = OutputSink(fileDescriptor: STDOUT_FILENO, interrupted: { TerminationSignals.endPending })
        var formatter = ExecFormatter(json: json, time: time), malformed: UInt64 = 0
        do {
            let open = try ExecsnoopSkeleton.open()
            open.rodata.failedOnly = failed
            open.rodata.filterUid = uid != nil
            open.rodata.targUid = uid ?? 0
            open.rodata.commLen = UInt8(name?.count ?? 0)
            try open.rodata.setTargComm(name ?? [])
            let program = try open.load()
            try program.attach()
            let lost = try BPFPerCPUArray<UInt64>(program.maps.lost)
            let ring = try RingBuffer(program.maps.events) { record in
                guard let event = ExecEvent(record) else { return malformed += 1 }
                formatter.append(event, into: &output.buffer)
            }
            formatter.appendHeader(into: &output.buffer)
            var loop = TraceLoop(output: output, tool: "execsnoop", lostRecords: json)
            try loop.run(until: duration.map { Monotonic.nanoseconds() &+ UInt64($0 * 1e9) },
                         poll: { try ring.poll(timeoutMilliseconds: $0) }) {
                // A full ring, records not understood, and runs the kernel skipped (a hook inside itself).
                try program.object.programs.reduce(lost.sum(0) &+ malformed) { try $0 &+ $1.recursionMisses() }
            }
            return (0, nil)
        } catch {
            return (1, "\(error)")
        }
    }
}
