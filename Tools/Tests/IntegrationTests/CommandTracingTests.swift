import Foundation
import Testing

/// Runs `opensnoop -j -o FILE [extra] -- command...` to completion; returns its status, its
/// standard output and error (the command's own output lands there), and the JSON records.
private func traceCommand(_ command: [String], extra: [String] = [], environment: [String: String] = [:],
                          prefix: [String] = []) throws -> (status: Int32, out: String, err: String, records: [[String: Any]]) {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = dir + "/events.jsonl"
    let arguments = prefix + [Binaries.opensnoop, "-j", "-o", file] + extra + ["--"] + command
    let (status, out, err) = try runToCompletion(arguments[0], Array(arguments.dropFirst()), environment: environment)
    let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
    let records = try text.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
    return (status, out, err, records)
}

private func paths(_ records: [[String: Any]], under dir: String) -> [String] {
    records.compactMap { $0["path"] as? String }.filter { $0.hasPrefix(dir) }
}

@Suite("Tracing one command: every process of it, to the end", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct CommandTracingTests {
    @Test("An exec from a thread that is not the leader keeps the process traced")
    func execFromThread() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/after-exec", contents: nil)
        let run = try traceCommand([Binaries.helper, "exec-thread", dir + "/after-exec"])
        #expect(run.status == 0, "\(run.err)")
        #expect(paths(run.records, under: dir) == [dir + "/after-exec"])
    }

    @Test("The main thread exiting first does not end the tracing of the others")
    func leaderExits() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/x", contents: nil)
        let run = try traceCommand([Binaries.helper, "leader-exit", "5", dir + "/x"])
        #expect(paths(run.records, under: dir).count == 5, "\(run.out)")
        #expect(Set(run.records.filter { ($0["path"] as? String) == dir + "/x" }.compactMap { $0["tid"] as? Int }).count == 5)
    }

    @Test("A background descendant that opens after the command exited is traced; then opensnoop ends")
    func backgroundDescendant() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/late", contents: nil)
        let start = Date()
        let run = try traceCommand(["/bin/sh", "-c", "\(Binaries.helper) background 800 \(dir)/late >/dev/null; exit 4"])
        #expect(run.status == 4)
        #expect(paths(run.records, under: dir) == [dir + "/late"])
        #expect(Date().timeIntervalSince(start) >= 0.8)
    }

    @Test("Inside a PID namespace the command is traced, and -p takes the namespace's ids")
    func pidNamespace() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/ns", contents: nil)
        let run = try traceCommand(["/bin/sh", "-c", "cat \(dir)/ns"], prefix: ["/usr/bin/unshare", "-p", "-f", "--mount-proc"])
        #expect(run.status == 0, "\(run.err)")
        #expect(paths(run.records, under: dir) == [dir + "/ns"])
        // -p with a pid as the namespace numbers it: a helper that opens after opensnoop started.
        let script = """
            \(Binaries.helper) sleep 1500 openat \(dir)/ns >/dev/null & pid=$!
            \(Binaries.opensnoop) -j -d 3 -p $pid; wait
            """
        let (status, out, err) = try runToCompletion("/usr/bin/unshare", ["-p", "-f", "--mount-proc", "/bin/sh", "-c", script])
        #expect(status == 0, "\(err)")
        #expect(out.contains("\"path\":\"\(dir)/ns\""), "\(out)")
    }

    @Test("SIGINT and SIGTERM are passed on to the command; opensnoop exits with its status", arguments: [SIGINT, SIGTERM])
    func signalsPassedOn(signal: Int32) throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/events.jsonl"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.opensnoop)
        process.arguments = ["-j", "-o", file, "--", "/bin/sleep", "30"]
        try process.run()
        var child: Int32 = 0
        #expect(waitUntil(seconds: 10) { child = childPID(of: process.processIdentifier) ?? 0; return child != 0 })
        usleep(300_000)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + signal)
        #expect(kill(child, 0) != 0, "the command was left running")
    }

    @Test("The command gets its arguments byte for byte, invalid UTF-8 included")
    func exactArguments() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, _, err) = try runToCompletion("/usr/bin/python3", ["-c", """
            import os, sys
            name = b"\(dir)/a\\xfeb"
            open(name, "wb").close()
            sys.exit(os.spawnv(os.P_WAIT, "\(Binaries.opensnoop)",
                               [b"opensnoop", b"-o", b"/dev/null", b"--", b"/bin/cat", name]))
            """])
        #expect(status == 0, "\(err)")
    }

    @Test("SIGINT while the output's reader has stalled reaches the command as SIGINT")
    func interruptWithStalledReader() throws {
        let process = Process()
        let output = Pipe()  // never read: the events fill it
        let ready = try ReadinessSocket()
        process.executableURL = URL(fileURLWithPath: Binaries.opensnoop)
        process.arguments = ["--", "/bin/sh", "-c",
                             "trap 'exit 5' INT; trap 'exit 6' TERM; \(Binaries.helper) loop 5000 /etc/hostname >/dev/null; while :; do sleep 0.1; done"]
        process.standardOutput = output
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": ready.name]) { $1 }
        try process.run()
        #expect(ready.wait(seconds: 10) { !process.isRunning })
        usleep(1_000_000)
        kill(process.processIdentifier, SIGINT)
        #expect(waitUntil(seconds: 10) { !process.isRunning })
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 5)
    }

    @Test("A command that ignores SIGINT keeps being traced until it exits")
    func commandIgnoresInterrupt() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/after-signal", contents: nil)
        let file = dir + "/events.jsonl"
        let process = Process()
        let ready = try ReadinessSocket()
        process.executableURL = URL(fileURLWithPath: Binaries.opensnoop)
        process.arguments = ["-j", "-o", file, "--", "/bin/sh", "-c",
                             "trap '' INT; sleep 1; \(Binaries.helper) openat \(dir)/after-signal >/dev/null; exit 7"]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": ready.name]) { $1 }
        try process.run()
        #expect(ready.wait(seconds: 10) { !process.isRunning })
        usleep(300_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 7)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("\"path\":\"\(dir)/after-signal\""))
    }

    @Test("When the output's reader goes away, the command is ended, not left behind")
    func readerGone() throws {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: Binaries.opensnoop)
        process.arguments = ["--", "/bin/sleep", "30"]
        process.standardOutput = output
        try process.run()
        var child: Int32 = 0
        #expect(waitUntil(seconds: 10) { child = childPID(of: process.processIdentifier) ?? 0; return child != 0 })
        _ = output.fileHandleForReading.availableData  // the header
        try output.fileHandleForReading.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGTERM)
        #expect(kill(child, 0) != 0, "the command was left running")
    }

    @Test("With -j and -o the command's own output stays apart from the events")
    func outputApart() throws {
        let run = try traceCommand(["/bin/echo", "hello from the command"])
        #expect(run.out == "hello from the command\n")
        #expect(run.records.contains { ($0["comm"] as? String) == "echo" })
    }

    @Test("Started with SIGCHLD ignored, opensnoop -- COMMAND still ends when the command does")
    func ignoredChildSignal() throws {
        let start = Date()
        let (status, _, err) = try runToCompletion("/usr/bin/python3", ["-c", """
            import os, signal
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            os.execv("\(Binaries.opensnoop)", ["opensnoop", "-n", "nothing-matches", "--", "/bin/sh", "-c", "exit 5"])
            """])
        #expect(status == 5, "\(err)")
        #expect(Date().timeIntervalSince(start) < 10)
    }
}

/// The first child process of `pid`, from /proc.
func childPID(of pid: Int32) -> Int32? {
    let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return children.split(separator: " ").first.flatMap { Int32($0) }
}
