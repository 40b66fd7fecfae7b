import Foundation
import Testing

/// The ids of the BPF programs and maps that process `pid` holds open.
func bpfObjects(of pid: Int32) -> [(kind: String, id: String)] {
    let dir = "/proc/\(pid)/fdinfo"
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return fds.flatMap { fd -> [(kind: String, id: String)] in
        let info = (try? String(contentsOfFile: "\(dir)/\(fd)", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").compactMap { line in
            for (key, kind) in [("prog_id:", "prog"), ("map_id:", "map")] where line.hasPrefix(key) {
                return (kind, line.dropFirst(key.count).trimmingCharacters(in: .whitespaces))
            }
            return nil
        }
    }
}

/// Whether the kernel still has the program or map `id`.
func exists(_ object: (kind: String, id: String)) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
    process.arguments = [object.kind, "show", "id", object.id]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return true }
    process.waitUntilExit()
    return process.terminationStatus == 0
}

/// Runs opensnoop to completion with `arguments`, as `user` if given; returns (status, stdout, stderr).
private func runOpensnoop(_ arguments: [String], as user: String? = nil) throws -> (Int32, String, String) {
    if let user {
        return try runToCompletion("/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--clear-groups",
                                                       "--inh-caps=-all", Binaries.opensnoop] + arguments)
    }
    return try runToCompletion(Binaries.opensnoop, arguments)
}

@Suite("Starting, stopping and bad input", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct LifecycleTests {
    @Test("SIGINT and SIGTERM end tracing with status 0 and leave no BPF program behind",
          arguments: [SIGINT, SIGTERM])
    func stopsCleanly(signal: Int32) throws {
        let tracer = try TracerRun(["-n", uniqueName("nobody")])
        let objects = bpfObjects(of: tracer.process.processIdentifier)
        #expect(objects.filter { $0.kind == "prog" }.count >= 4)
        #expect(objects.filter { $0.kind == "map" }.count >= 4)
        #expect(objects.allSatisfy(exists))
        #expect(tracer.stop(signal: signal, settle: 0.1) == 0)
        #expect(tracer.errors.isEmpty)
        #expect(waitUntil(seconds: 5) { !objects.contains(where: exists) })
    }

    @Test("-d stops after the duration with status 0")
    func duration() throws {
        let start = Date()
        let tracer = try TracerRun(["-d", "1", "-n", uniqueName("nobody")])
        let objects = bpfObjects(of: tracer.process.processIdentifier)
        #expect(!objects.isEmpty)
        tracer.process.waitUntilExit()
        let elapsed = Date().timeIntervalSince(start)
        #expect(tracer.stop() == 0)
        #expect(tracer.errors.isEmpty)
        #expect(tracer.output == "PID    COMM              FD ERR PATH\n")
        #expect(elapsed >= 1 && elapsed < 5)
        #expect(waitUntil(seconds: 5) { !objects.contains(where: exists) })
    }

    @Test("A closed output pipe ends opensnoop quietly, even when no event comes")
    func closedPipe() throws {
        let start = Date()
        let (status, out, err) = try runShell("\(Binaries.opensnoop) -n \(uniqueName("nobody")) | head -1; echo \"status ${PIPESTATUS[0]}\"")
        #expect(out == "PID    COMM              FD ERR PATH\nstatus 0\n")
        #expect(err.isEmpty)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(start) < 5)
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

    @Test("A pinned map that cannot serve --cgroupmap/--mntnsmap: one line naming the option and path, exit 2")
    func badPinnedMaps() throws {
        let pinned = pinPath("array")
        let create = Process()
        create.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
        create.arguments = ["map", "create", pinned, "type", "array", "key", "4", "value", "8", "entries", "1", "name", "ostest_arr"]
        try create.run()
        create.waitUntilExit()
        defer { unlink(pinned) }
        for (arguments, message) in [
            (["--cgroupmap", "/nonexistent"], "--cgroupmap /nonexistent: "),
            (["--mntnsmap", "/etc/passwd"], "--mntnsmap /etc/passwd: not a pinned BPF map"),
            (["--cgroupmap", pinned], "--cgroupmap \(pinned): is an array map, must be a hash map"),
        ] {
            let (status, out, err) = try runOpensnoop(arguments)
            #expect(status == 2, "\(arguments): \(err)")
            #expect(out.isEmpty)
            #expect(err.hasPrefix("opensnoop: " + message), "\(err)")
            #expect(err.filter { $0 == "\n" }.count == 1)
            #expect(!err.contains("cgroup_ids") && !err.contains("mntns_ids"), "internal map names leak: \(err)")
        }
    }

    @Test("A PID that does not exist is a warning, not a silent empty trace")
    func missingPID() throws {
        let pid = 999_999
        try #require(kill(Int32(pid), 0) != 0)
        let (status, out, err) = try runOpensnoop(["-p", String(pid), "-d", "0.2"])
        #expect(status == 0)
        #expect(out == "PID    COMM              FD ERR PATH\n")
        #expect(err == "opensnoop: warning: no process or thread \(pid) exists now; tracing it if it appears\n")
    }

    @Test("Without privileges: one line saying root or CAP_BPF+CAP_PERFMON is needed")
    func notRoot() throws {
        let (status, out, err) = try runOpensnoop([], as: "65534")
        #expect(status == 1)
        #expect(out.isEmpty)
        #expect(err == "opensnoop: root, or the capabilities CAP_BPF and CAP_PERFMON, are needed to trace\n")
    }

    @Test("A user with CAP_BPF and CAP_PERFMON but no root traces; where tracefs is needed it says so")
    func capabilitiesOnly() throws {
        let caps = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+bpf,+perfmon",
                    "--ambient-caps=+bpf,+perfmon", Binaries.opensnoop]
        let (status, out, err) = try runToCompletion("/usr/bin/setpriv", caps + ["-d", "0.5", "-n", "nobody-here"])
        #expect(status == 0, "\(err)")
        #expect(out == "PID    COMM              FD ERR PATH\n")
        let (denied, _, message) = try runToCompletion("/usr/bin/setpriv", caps + ["-d", "0.5", "--attach-mode", "tracepoints"])
        #expect(denied == 1)
        #expect(message == "opensnoop: read tracepoint ids from /sys/kernel/tracing: Permission denied: "
                + "tracefs is readable by root only: run as root or add CAP_DAC_OVERRIDE\n")
    }

    @Test("--help (and argp's -? and --usage) exits 0 and lists the flags", arguments: ["--help", "-?", "--usage"])
    func help(argument: String) throws {
        let (status, out, _) = try runOpensnoop([argument])
        #expect(status == 0)
        for flag in ["-T", "-U", "-x", "-p", "-t", "-u", "-d", "-n", "-e", "-f", "-j", "-F", "-b", "--cgroup", "--path"] {
            #expect(out.contains(flag), "\(flag)")
        }
        #expect(out.split(separator: "\n").allSatisfy { $0.count <= 80 }, "\(out)")
    }
}

/// Runs `script` with bash; returns (status, stdout, stderr).
func runShell(_ script: String) throws -> (Int32, String, String) {
    try runToCompletion("/bin/bash", ["-c", script])
}

/// Runs `executable` to completion; returns (status, stdout, stderr).
func runToCompletion(_ executable: String, _ arguments: [String],
                     environment: [String: String] = [:]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
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
