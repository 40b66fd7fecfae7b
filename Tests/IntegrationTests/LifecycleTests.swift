import Foundation
import Testing

/// Names of our BPF programs as the kernel lists them (truncated to 15 bytes).
private let ourProgramNames = ["exit_openat_reg", "exit_openat_pai", "enter_openat_pa", "uring_submit",
                               "uring_complete", "exit_open_regs", "exit_creat_regs"]

/// Whether any of our programs is still loaded in the kernel.
private func programsLeft() -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
    process.arguments = ["prog", "list"]
    let out = Pipe()
    process.standardOutput = out
    guard (try? process.run()) != nil else { return true }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    return ourProgramNames.contains { text.contains("name \($0)") }
}

/// Runs opensnoop to completion with `arguments`; returns (status, stdout, stderr).
private func runOpensnoop(_ arguments: [String], as user: String? = nil) throws -> (Int32, String, String) {
    let process = Process()
    if let user {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--inh-caps=-all",
                             Binaries.opensnoop] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: Binaries.opensnoop)
        process.arguments = arguments
    }
    let out = PipeCollector(), err = PipeCollector()
    process.standardOutput = out.pipe
    process.standardError = err.pipe
    out.start()
    err.start()
    try process.run()
    process.waitUntilExit()
    waitUntil(seconds: 5) { out.isDone && err.isDone }
    return (process.terminationStatus, out.text, err.text)
}

@Suite("Starting, stopping and bad input", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct LifecycleTests {
    @Test("SIGINT and SIGTERM end tracing with status 0 and leave no BPF program behind",
          arguments: [SIGINT, SIGTERM])
    func stopsCleanly(signal: Int32) throws {
        let tracer = try TracerRun(["-n", uniqueName("nobody")])
        #expect(programsLeft())
        #expect(tracer.stop(signal: signal, settle: 0.1) == 0)
        #expect(tracer.errors.isEmpty)
        #expect(waitUntil(seconds: 5) { !programsLeft() })
    }

    @Test("-d stops after the duration with status 0")
    func duration() throws {
        let start = Date()
        let (status, out, err) = try runOpensnoop(["-d", "1", "-n", uniqueName("nobody")])
        let elapsed = Date().timeIntervalSince(start)
        #expect(status == 0)
        #expect(err.isEmpty)
        #expect(out == "PID    COMM              FD ERR PATH\n")
        #expect(elapsed >= 1 && elapsed < 5)
        #expect(waitUntil(seconds: 5) { !programsLeft() })
    }

    @Test("A closed output pipe ends opensnoop quietly, even when no event comes")
    func closedPipe() throws {
        let start = Date()
        let (status, out, err) = try runShell("\(Binaries.opensnoop) -n \(uniqueName("nobody")) | head -1; echo \"status ${PIPESTATUS[0]}\"")
        #expect(out == "PID    COMM              FD ERR PATH\nstatus 0\n")
        #expect(err.isEmpty)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(waitUntil(seconds: 5) { !programsLeft() })
    }

    @Test("Bad input: one line on stderr saying what is expected, exit 2, nothing traced",
          arguments: [["-p", "abc"], ["-p", "-5"], ["-p", "0"], ["-p", "1,x"], ["-t", "x"], ["-u", "x"], ["-u", "-1"],
                      ["-d", "0"], ["-d", "abc"], ["-b", "3"], ["-b", "0"], ["-f", "O_BOGUS"],
                      ["-n", "a-name-of-16-byt"], ["--cgroup", "/nonexistent-cgroup"], ["--cgroup", "/tmp"],
                      ["--bogus"], ["-q"], ["--path", ""]])
    func badInput(arguments: [String]) throws {
        let (status, out, err) = try runOpensnoop(arguments)
        #expect(status == 2, "\(arguments)")
        #expect(out.isEmpty)
        #expect(err.hasPrefix("opensnoop: "))
        #expect(err.filter { $0 == "\n" }.count == 1, "\(err)")
    }

    @Test("Without privileges: one line saying root or CAP_BPF+CAP_PERFMON is needed")
    func notRoot() throws {
        let (status, out, err) = try runOpensnoop([], as: "65534")
        #expect(status == 1)
        #expect(out.isEmpty)
        #expect(err == "opensnoop: opensnoop needs root, or the capabilities CAP_BPF and CAP_PERFMON\n")
    }

    @Test("--help exits 0 and lists the flags")
    func help() throws {
        let (status, out, _) = try runOpensnoop(["--help"])
        #expect(status == 0)
        for flag in ["-T", "-U", "-x", "-p", "-t", "-u", "-d", "-n", "-e", "-f", "-j", "-F", "-b", "--cgroup", "--path"] {
            #expect(out.contains(flag), "\(flag)")
        }
    }
}

/// Runs `script` with bash; returns (status, stdout, stderr).
func runShell(_ script: String) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", script]
    let out = PipeCollector(), err = PipeCollector()
    process.standardOutput = out.pipe
    process.standardError = err.pipe
    out.start()
    err.start()
    try process.run()
    process.waitUntilExit()
    waitUntil(seconds: 5) { out.isDone && err.isDone }
    return (process.terminationStatus, out.text, err.text)
}
