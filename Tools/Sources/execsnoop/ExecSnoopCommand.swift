import ArgumentParser
import BPFKit
import ExecSnoopBPF
import Glibc
import Getopt
import TraceLifecycle
import TraceOutput

/// `execsnoop`: every execve(2)/execveat(2) on the machine, from `ExecsnoopSkeleton`.
@main
struct ExecSnoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "execsnoop", abstract: "Trace every exec on the machine with eBPF.",
        discussion: """
            Shows each execve(2) and execveat(2), 64-bit or 32-bit, successful or not. Filters run in the kernel.

            EXAMPLES:
              execsnoop -T -x          # failed execs, with the time
              execsnoop -u 1000 -n sh  # user 1000's commands whose name contains "sh"
              execsnoop -j | jq .args  # JSON Lines
            """)

    @Flag(name: [.customShort("T"), .long], help: "Print a time (HH:MM:SS) column.") var time = false
    @Flag(name: [.customShort("x"), .long], help: "Only show failed execs.") var failed = false
    @Option(name: [.customShort("u"), .long], help: ArgumentHelp("Only trace this user id.", valueName: "UID"))
    var uid: UInt32?
    @Option(name: [.customShort("n"), .long],
            help: ArgumentHelp("Only trace command names containing NAME (1 to 15 bytes).", valueName: "NAME"))
    var name: String?
    @Flag(name: [.customShort("j"), .long], help: "Print JSON Lines, one object per exec.") var json = false
    @Option(name: [.customShort("d"), .long], help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"))
    var duration: Double?

    /// The options as getopt sees them (`-ncat`, `-xT`).
    static let getoptOptions: [GetoptArguments.Option] = [
        .init(long: "time", short: "T", takesValue: false), .init(long: "failed", short: "x", takesValue: false),
        .init(long: "uid", short: "u", takesValue: true), .init(long: "name", short: "n", takesValue: true),
        .init(long: "json", short: "j", takesValue: false), .init(long: "duration", short: "d", takesValue: true),
        .init(long: "help", short: "h", takesValue: false),
    ]

    func validate() throws {
        if uid == UInt32.max { throw ValidationError("-u: 4294967295 is no user id") }
        if let duration, !(duration > 0 && duration <= 1e9) { throw ValidationError("-d: expected more than 0 and at most 1e9 seconds") }
    }

    /// Parses and traces: exits 0 when stopped, 2 on bad input, 1 when it cannot trace.
    static func main() {
        Diagnostics.guardStandardDescriptors()
        Readiness.claim()
        let (command, raw) = parseGetoptOrExit(getoptOptions, rawOptions: ["name"], tool: "execsnoop")
        let (code, message) = command.trace(name: raw["name"]?.first)
        if let message { Diagnostics.report(message, tool: "execsnoop") }
        Glibc.exit(code)
    }

    /// Loads, attaches and prints execs until a signal, the deadline or the reader's end;
    /// returns the exit code and the error to report.
    private func trace(name: [UInt8]?) -> (Int32, String?) {
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
