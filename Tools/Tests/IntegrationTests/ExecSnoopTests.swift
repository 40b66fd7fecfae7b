import Foundation
import Testing

/// One test's programs, in its own scratch directory: `runner`, the execer (`Tests/Programs`),
/// and `target`, a link to /bin/true. Their names start with `base`, unique to the test, which
/// execsnoop's `-n` keeps apart from every other exec on the machine (the kernel names a
/// process after the link it was started through).
private struct ExecScene {
    let dir: String
    let base = uniqueName("ex")
    var runner: String { dir + "/" + base + "r" }
    var target: String { dir + "/" + base + "t" }

    init(bits: Int = 64) throws {
        dir = try makeScratchDirectory()
        let source = TestPrograms.sources.appendingPathComponent("execer.c").path
        let (status, _, err) = try runToCompletion("/usr/bin/cc", (bits == 32 ? ["-m32"] : [])
                                                   + ["-O2", "-pthread", "-o", dir + "/execer", source])
        try #require(status == 0, "cc failed: \(err)")
        try FileManager.default.createSymbolicLink(atPath: runner, withDestinationPath: dir + "/execer")
        try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: "/bin/true")
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    /// Starts a tracer with `arguments` that sees this test's execs only.
    func tracer(_ arguments: [String]) throws -> TracerRun {
        try TracerRun(arguments + ["-n", base], executable: Binaries.execsnoop)
    }

    /// Runs the runner (from a second thread with `thread`), which execs `argv[0]` with `argv`;
    /// returns the runner's pid and the id of the thread that called exec.
    @discardableResult
    func exec(_ argv: [[UInt8]], thread: Bool = false, prefix: [String] = []) throws -> (pid: Int32, tid: Int32) {
        let output = try spawn((prefix + [runner] + (thread ? ["-t"] : [])).map { Array($0.utf8) } + argv)
        let ids = output.split(separator: "\n").first?.split(separator: " ").compactMap { Int32($0) } ?? []
        try #require(ids.count == 2, "execer printed \(output)")
        return (ids[0], ids[1])
    }
}

/// Runs `argv[0]` with exactly these argument bytes (invalid UTF-8 too) and waits for it;
/// returns what it printed.
private func spawn(_ argv: [[UInt8]]) throws -> String {
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // only the child's copy on 1 stays open
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { bytes in
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in (bytes + [0]).enumerated() { copy[index] = CChar(bitPattern: byte) }
        return copy
    } + [nil]
    defer { cArguments.forEach { $0?.deallocate() } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, cArguments[0]!, &actions, nil, cArguments, environ)
    close(fds[1])
    defer { close(fds[0]) }
    #expect(result == 0, "posix_spawn: \(String(cString: strerror(result)))")
    let output = FileHandle(fileDescriptor: fds[0], closeOnDealloc: false).readDataToEndOfFile()
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return String(decoding: output, as: UTF8.self)
}

/// `text` padded with spaces to `width` columns.
private func padded(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

/// The bytes of each JSON `args_base64` entry (or of `args` when all were valid UTF-8).
private func argumentBytes(_ record: [String: Any]) -> [[UInt8]] {
    if let encoded = record["args_base64"] as? [String] {
        return encoded.map { Array(Data(base64Encoded: $0) ?? Data()) }
    }
    return (record["args"] as? [String] ?? []).map { Array($0.utf8) }
}

private let hasIA32 = FileManager.default.fileExists(atPath: "/proc/sys/abi/vsyscall32")

@Suite("execsnoop on the real kernel", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct ExecSnoopTests {
    @Test("An exec shows once, with its process, parent, user and arguments; hostile bytes escaped")
    func shows() throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let hostile: [[UInt8]] = [Array("a b".utf8), Array("\u{1b}[31mred\n".utf8), [0x09, 0xFF, 0xFE],
                                  Array("\u{85}\\".utf8), []]
        let text = try scene.tracer([])
        let json = try scene.tracer(["-j"])
        let (pid, tid) = try scene.exec([Array(scene.target.utf8)] + hostile)
        #expect(text.stop() == 0 && json.stop() == 0)
        #expect(tid == pid)
        let me = String(getpid())
        let ids = "\(padded(String(pid), 6)) \(padded(me, 6))   0"
        #expect(text.output == """
            UID     PCOMM            PID    PPID   RET PATH ARGS
            0       \(padded(scene.base + "r", 16)) \(ids) \(scene.runner) \(scene.runner) \(scene.target) a b \\x1b[31mred\\n \\t\\xff\\xfe \\xc2\\x85\\\\ \("")
            0       \(padded(scene.base + "t", 16)) \(ids) \(scene.target) \(scene.target) a b \\x1b[31mred\\n \\t\\xff\\xfe \\xc2\\x85\\\\ \("")

            """)
        #expect(text.errors.isEmpty && json.errors.isEmpty)
        let records = try json.records()
        try #require(records.count == 2, "\(json.output)")
        let record = records[1]
        #expect(record["pid"] as? Int == Int(pid) && record["tid"] as? Int == Int(pid))
        #expect(record["ppid"] as? Int == Int(getpid()) && record["uid"] as? Int == 0)
        #expect(record["comm"] as? String == scene.base + "t" && record["path"] as? String == scene.target)
        #expect(record["ret"] as? Int == 0 && record["errno"] as? Int == 0 && record["errno_name"] is NSNull)
        #expect(record["args"] as? [String] == [scene.target, "a b", "\u{1b}[31mred\n", "\t\u{FFFD}\u{FFFD}", "\u{85}\\", ""])
        #expect(argumentBytes(record) == [Array(scene.target.utf8)] + hostile)
        #expect(record["args_truncated"] as? Bool == false && record["path_truncated"] as? Bool == false)
        let time = try #require(record["time"] as? String)
        #expect(try #require(ISO8601DateFormatter().date(from: time.replacingOccurrences(of: #"\.\d+"#, with: "", options: .regularExpression)))
                .timeIntervalSinceNow > -30)
    }

    @Test("Arguments are cut at 4096 bytes, and a failed exec's at 128 arguments, with a marker",
          arguments: [true, false])
    func longArguments(succeeding: Bool) throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let path = succeeding ? scene.target : scene.dir + "/missing"
        // 200 arguments of 50 bytes, the first one sized so that byte 4096 falls inside an
        // argument whatever the scratch directory's path length.
        func arguments(first: Int) -> [[UInt8]] {
            [Array(path.utf8)] + (0..<200).map { Array(repeating: UInt8(ascii: "0") + UInt8($0 % 10), count: $0 == 0 ? first : 50) }
        }
        let first = (50...60).first { Array(arguments(first: $0).map { $0 + [0] }.joined()).prefix(4096).last != 0 } ?? 50
        let long = arguments(first: first)
        let many: [[UInt8]] = [Array(path.utf8)] + Array(repeating: Array("y".utf8), count: 300)
        let text = try scene.tracer([])
        let json = try scene.tracer(["-j"])
        try scene.exec(long)
        try scene.exec(many)
        #expect(text.stop() == 0 && json.stop() == 0)
        let kept = Array(long.map { $0 + [0] }.joined()).prefix(4096)
        try #require(kept.last != 0, "the cut must fall inside an argument")
        var cut: [[UInt8]] = kept.split(separator: 0, omittingEmptySubsequences: false).map { Array($0) }
        let lines = text.output.split(separator: "\n").filter { $0.contains("  \(succeeding ? 0 : -2) \(path) ") }
        try #require(lines.count == 2, "\(text.output)")
        #expect(lines[0].hasSuffix(" " + cut.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") + "...[truncated]"))
        let expectedMany = succeeding ? 301 : 128
        #expect(lines[1].hasSuffix(String(repeating: " y", count: expectedMany - 1) + (succeeding ? "" : " ...[truncated]")))
        let records = try json.records().filter { $0["path"] as? String == path }
        try #require(records.count == 2)
        #expect(argumentBytes(records[0]) == cut && records[0]["args_truncated"] as? Bool == true)
        cut = Array(many.prefix(expectedMany))
        #expect(argumentBytes(records[1]) == cut && records[1]["args_truncated"] as? Bool == !succeeding)
    }

    @Test("Filters run in the kernel: -n (name contains), -u (user), -x (failed only)")
    func filters() throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let nobody = try scene.tracer(["-j", "-u", "65534"])
        let failed = try scene.tracer(["-j", "-x"])
        let other = try TracerRun(["-n", scene.base + "zz"], executable: Binaries.execsnoop)
        let missing = scene.dir + "/missing"
        let root = try scene.exec([Array(scene.target.utf8)])
        try scene.exec([Array(missing.utf8), Array("z".utf8)])
        let user = try scene.exec([Array(scene.target.utf8)],
                                  prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        #expect(nobody.stop() == 0 && failed.stop() == 0 && other.stop() == 0)
        #expect(other.output == "UID     PCOMM            PID    PPID   RET PATH ARGS\n")
        let byNobody = try nobody.records()
        #expect(byNobody.map { $0["comm"] as? String } == [scene.base + "r", scene.base + "t"], "\(nobody.output)")
        #expect(byNobody.allSatisfy { $0["uid"] as? Int == 65534 && $0["pid"] as? Int == Int(user.pid) })
        #expect(byNobody.allSatisfy { $0["pid"] as? Int != Int(root.pid) })
        let failures = try failed.records()
        #expect(failures.count == 1, "\(failed.output)")
        #expect(failures.first?["path"] as? String == missing && failures.first?["ret"] as? Int == -2)
        #expect(failures.first?["errno_name"] as? String == "ENOENT" && failures.first?["args"] as? [String] == [missing, "z"])
        #expect(failures.first?["comm"] as? String == scene.base + "r")
    }

    @Test("A failed exec shows with its errno and the caller's name: ENOENT, EACCES, ENOEXEC, ENAMETOOLONG")
    func failures() throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let plain = scene.dir + "/plain", garbage = scene.dir + "/garbage"
        FileManager.default.createFile(atPath: plain, contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        FileManager.default.createFile(atPath: garbage, contents: Data([0, 1, 2, 3]), attributes: [.posixPermissions: 0o755])
        let tracer = try scene.tracer(["-j", "-x"])
        let tooLong = "/" + String(repeating: "n", count: 4999)  // longer than PATH_MAX; as argv[0], cut at 4096 bytes
        let cases = [(scene.dir + "/missing", 2, "ENOENT"), (plain, 13, "EACCES"), (garbage, 8, "ENOEXEC"),
                     (tooLong, 36, "ENAMETOOLONG")]
        for (path, _, _) in cases { try scene.exec([Array(path.utf8), Array("arg".utf8)]) }
        #expect(tracer.stop() == 0)
        let records = try tracer.records()
        #expect(records.count == cases.count, "\(tracer.output)")
        for (record, (path, code, name)) in zip(records, cases) {
            #expect(record["path"] as? String == String(path.prefix(4096)))
            #expect(record["path_truncated"] as? Bool == (path == tooLong) && record["args_truncated"] as? Bool == (path == tooLong))
            #expect(record["args"] as? [String] == (path == tooLong ? [String(path.prefix(4096))] : [path, "arg"]))
            #expect(record["ret"] as? Int == -code && record["errno"] as? Int == code && record["errno_name"] as? String == name)
            #expect(record["comm"] as? String == scene.base + "r")
        }
    }

    @Test("An exec from a thread other than the leader shows once, under the process id, with the thread that called it",
          arguments: hasIA32 ? [64, 32] : [64])
    func fromThread(bits: Int) throws {
        let scene = try ExecScene(bits: bits)
        defer { scene.remove() }
        let missing = scene.dir + "/missing"
        let tracer = try scene.tracer(["-j"])
        let worked = try scene.exec([Array(scene.target.utf8), Array("one".utf8)], thread: true)
        let failed = try scene.exec([Array(missing.utf8), Array("two".utf8)], thread: true)
        let unthreaded = try scene.exec([Array(missing.utf8), Array("three".utf8)])
        #expect(tracer.stop() == 0)
        #expect(worked.tid != worked.pid && failed.tid != failed.pid)
        let execs = try tracer.records().filter { $0["comm"] as? String != scene.base + "r" || $0["ret"] as? Int != 0 }
        try #require(execs.count == 3, "\(tracer.output)")
        for (record, (run, path, args, ret)) in zip(execs, [(worked, scene.target, "one", 0), (failed, missing, "two", -2),
                                                             (unthreaded, missing, "three", -2)]) {
            #expect(record["pid"] as? Int == Int(run.pid) && record["tid"] as? Int == Int(run.tid))
            #expect(record["ppid"] as? Int == Int(getpid()) && record["ret"] as? Int == ret)
            #expect(record["path"] as? String == path && record["args"] as? [String] == [path, args])
        }
    }

    @Test("-T adds the local time of each exec")
    func time() throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let tracer = try scene.tracer(["-T"])
        try scene.exec([Array(scene.target.utf8)])
        let now = Date()
        #expect(tracer.stop() == 0)
        let lines = tracer.output.split(separator: "\n")
        try #require(lines.count == 3, "\(tracer.output)")
        #expect(lines[0] == "TIME     UID     PCOMM            PID    PPID   RET PATH ARGS")
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        let around = (-3...1).map { formatter.string(from: now.addingTimeInterval(Double($0))) }
        #expect(around.contains(String(lines[2].prefix(8))), "\(lines[2])")
        #expect(lines[2].dropFirst(9).hasPrefix("0       \(scene.base)t"))
    }

    @Test("SIGINT while a write waits for a full pipe: the reader still gets every event, then execsnoop ends")
    func stopWhileOutputBlocked() throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let process = Process()
        let output = Pipe()  // not read until execsnoop has filled it and been told to stop
        let errors = Pipe()
        let ready = try ReadinessSocket()
        process.executableURL = URL(fileURLWithPath: Binaries.execsnoop)
        process.arguments = ["-n", scene.base]
        process.standardOutput = output
        process.standardError = errors
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": ready.name]) { $1 }
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try #require(ready.wait(seconds: 10) { !process.isRunning })
        let argument = String(repeating: "w", count: 4000)  // lines of about 4 KiB: 100 are far more than a pipe holds
        let (status, _, err) = try runShell("for i in $(seq 100); do \(scene.target) \(argument); done")
        #expect(status == 0, "\(err)")
        // Wait until execsnoop has filled the pipe: then its next write waits for room.
        let fd = output.fileHandleForReading.fileDescriptor
        var unread: Int32 = 0
        #expect(waitUntil(seconds: 10) { ioctl(fd, UInt(FIONREAD), &unread) == 0 && unread >= 32768 }, "\(unread) bytes")
        usleep(200_000)
        // The signal lands while that write waits (stopped, execsnoop takes it on SIGCONT).
        kill(process.processIdentifier, SIGSTOP)
        kill(process.processIdentifier, SIGINT)
        kill(process.processIdentifier, SIGCONT)
        let got = output.fileHandleForReading.readDataToEndOfFile()  // the reader, back: to the end
        process.waitUntilExit()
        let lines = String(decoding: got, as: UTF8.self).split(separator: "\n")
        #expect(process.terminationStatus == 0)
        #expect(lines.count == 101 && lines.dropFirst().allSatisfy { $0.hasSuffix(argument) }, "\(lines.count) lines")
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.isEmpty, "\(message)")
    }

    @Test("Events the ring buffer had no room for are counted: a notice on stderr, a record in JSON")
    func lostEvents() throws {
        let scene = try ExecScene()
        defer { scene.remove() }
        let text = try scene.tracer([])
        let json = try scene.tracer(["-j"])
        for tracer in [text, json] { kill(tracer.process.processIdentifier, SIGSTOP) }
        let argument = String(repeating: "w", count: 4000)  // records of about 4 KiB: 256 fill the ring
        let (status, _, err) = try runShell("for i in $(seq 400); do \(scene.target) \(argument); done")
        #expect(status == 0, "\(err)")
        for tracer in [text, json] { kill(tracer.process.processIdentifier, SIGCONT) }
        #expect(text.stop(settle: 0.5) == 0 && json.stop(settle: 0.5) == 0)
        let shown = text.output.split(separator: "\n").count - 1
        let notices = text.errors.split(separator: "\n")
        #expect(!notices.isEmpty && notices.allSatisfy { $0.hasPrefix("execsnoop: ") && $0.contains(" events lost (") })
        let lostInText = notices.compactMap { Int($0.split(separator: " ")[1]) }.reduce(0, +)
        #expect(shown > 0 && lostInText > 0 && shown + lostInText == 400, "\(shown) shown, \(text.errors)")
        let records = try json.records()
        let lost = records.compactMap { $0["lost"] as? Int }
        #expect(records.last?["lost_total"] as? Int == lost.reduce(0, +))
        #expect(records.count - lost.count + lost.reduce(0, +) == 400 && !lost.isEmpty)
    }

    @Test("Bad input exits 2 and no privileges exit 1, each with one line on stderr")
    func badInput() throws {
        for arguments in [["-u", "abc"], ["-u", "4294967295"], ["-n", "0123456789abcdef"], ["-n", ""], ["-d", "0"],
                          ["-d", "nan"], ["-d", "0x10"], ["-d", "0", "-d", "0.3"], ["-u", "abc", "-u", "0"], ["--bogus"], ["extra"], ["--dur", "0"],
                          ["-u"], ["-u", "1\n2"]] {
            let (status, out, err) = try runToCompletion("/usr/bin/timeout", ["10", Binaries.execsnoop] + arguments)
            #expect(status == 2, "\(arguments)")
            #expect(out.isEmpty && err.hasPrefix("execsnoop: ") && err.split(separator: "\n").count == 1, "\(arguments): \(err)")
        }
        // Of an option given twice the last one wins, as with getopt (each is checked, as
        // libbpf-tools' argp parsers do: `-d 0 -d 0.3` is refused).
        let twice = try runToCompletion("/usr/bin/timeout", ["10", Binaries.execsnoop, "-x", "-x", "-d", "100", "-d", "0.3"])
        #expect(twice.0 == 0, "\(twice.2)")
        let (status, out, err) = try runToCompletion("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                                         "--inh-caps=-all", Binaries.execsnoop])
        #expect(status == 1 && out.isEmpty && err.hasPrefix("execsnoop: ") && err.split(separator: "\n").count == 1, "\(err)")
        for flag in ["-h", "-?", "--usage"] {  // the last two as argp's tools take them
            let help = try runToCompletion(Binaries.execsnoop, [flag])
            #expect(help.0 == 0 && help.1.contains("EXAMPLES:"), "\(flag): \(help.2)")
            #expect(help.1.split(separator: "\n").allSatisfy { $0.count <= 80 }, "\(help.1)")
        }
        let version = try runToCompletion(Binaries.execsnoop, ["-V"])
        #expect(version.0 == 0 && version.1 == "0.2.0\n", "\(version)")
    }

    @Test("SIGINT, SIGTERM and -d end with status 0 and leave no BPF object behind; a closed pipe ends it quietly")
    func endings() throws {
        for (arguments, signal) in [([], SIGINT), ([], SIGTERM), (["-d", "0.5"], 0)] as [([String], Int32)] {
            let start = Date()
            let tracer = try TracerRun(["-n", uniqueName("nobody")] + arguments, executable: Binaries.execsnoop)
            let objects = bpfObjects(of: tracer.process.processIdentifier)
            #expect(Set(objects.filter { $0.kind == "prog" }.map(\.id)).count == 2)  // exec_done, exec_failed
            #expect(Set(objects.filter { $0.kind == "map" }.map(\.id)).count >= 3)
            if signal == 0 {
                tracer.process.waitUntilExit()
                #expect(Date().timeIntervalSince(start) >= 0.5)
            }
            #expect(tracer.stop(signal: signal, settle: 0) == 0)
            #expect(tracer.errors.isEmpty)
            #expect(waitUntil(seconds: 5) { !objects.contains(where: exists) })
        }
        let start = Date()
        let (status, out, err) = try runShell("\(Binaries.execsnoop) -n \(uniqueName("nobody")) | head -1; echo \"status ${PIPESTATUS[0]}\"")
        #expect(status == 0 && err.isEmpty)
        #expect(out == "UID     PCOMM            PID    PPID   RET PATH ARGS\nstatus 0\n")
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
