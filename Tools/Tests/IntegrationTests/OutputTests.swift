import Foundation
import OpenSnoop
import Testing

@Suite("Full paths, JSON and safe text on the real kernel", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct OutputTests {
    @Test("-F resolves dirfd-relative, cwd-relative, '..', symlinked and failed opens", arguments: ["raw", "tracepoints"])
    func fullPaths(attachMode: String) throws {
        let dir = try makeScratchDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/sub/file", contents: nil)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/sub/file")
        let name = uniqueName("full")
        let tracer = try TracerRun(["-j", "-F", "-n", name, "--attach-mode", attachMode])
        _ = try runShell("cd \(dir) && \(Binaries.helper) --name \(name) dirfd \(dir)/sub file openat sub/../sub/file "
                         + "openat link chdir sub openat ../missing uring file")
        tracer.stop()
        let records = try tracer.records().filter { ($0["comm"] as? String) == name }
        let pairs = records.compactMap { r -> String? in
            guard let path = r["path"] as? String, let full = r["full_path"] as? String else { return nil }
            return "\(path) -> \(full)"
        }
        #expect(pairs.contains("file -> \(dir)/sub/file"))
        #expect(pairs.contains("sub/../sub/file -> \(dir)/sub/file"))
        #expect(pairs.contains("link -> \(dir)/sub/file"))
        #expect(pairs.contains("../missing -> \(dir)/sub/../missing"))
        #expect(records.filter { $0["source"] as? String == "io_uring" }.compactMap { $0["full_path"] as? String }
                == ["\(dir)/sub/file"])
    }

    @Test("-F prints the resolved path in text and crosses mount points")
    func fullPathText() throws {
        let name = uniqueName("fulltext")
        let tracer = try TracerRun(["-F", "-n", name])
        _ = try runShell("cd /proc/self && \(Binaries.helper) --name \(name) openat status")
        tracer.stop()
        let line = try #require(tracer.output.split(separator: "\n").first { $0.contains(" \(name) ") })
        #expect(line.hasSuffix("/status") && line.contains(" /proc/"), "\(line)")
    }

    @Test("A path longer than 1024 bytes is printed whole, passed and resolved")
    func longPath() throws {
        let dir = try makeScratchDirectory()
        let component = String(repeating: "d", count: 200)
        var deep = dir
        for _ in 0..<6 { deep += "/" + component }
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: deep + "/f", contents: nil)
        #expect(deep.utf8.count > 1024)
        let name = uniqueName("long")
        let tracer = try TracerRun(["-j", "-F", "-n", name])
        try runHelper(["--name", name, "openat", deep + "/f"])
        tracer.stop()
        let record = try #require(try tracer.records().first { ($0["comm"] as? String) == name && ($0["path"] as? String)?.hasPrefix(dir) == true })
        #expect(record["path"] as? String == deep + "/f")
        #expect(record["full_path"] as? String == deep + "/f")
        #expect(record["path_truncated"] as? Bool == false)
    }

    @Test("Hostile file names give JSON a real parser reads back exactly")
    func hostileJSON() throws {
        let dir = try makeScratchDirectory()
        let name = uniqueName("json")
        let tracer = try TracerRun(["-j", "-n", name])
        // newline, quote, backslash, tab, ESC, DEL and invalid UTF-8 (0xff)
        _ = try runShell("cd \(dir) && \(Binaries.helper) --name \(name) creat $'a\\nb\"c\\\\d\\te\\x1b[31mf\\x7fg' creat $'bad\\xffname'")
        tracer.stop()
        let records = try tracer.records().filter { ($0["comm"] as? String) == name }
        let paths = records.compactMap { $0["path"] as? String }
        #expect(paths.contains("a\nb\"c\\d\te\u{1b}[31mf\u{7f}g"))
        let bad = try #require(records.first { ($0["path"] as? String)?.hasPrefix("bad") == true })
        #expect(bad["path"] as? String == "bad\u{FFFD}name")
        #expect(Data(base64Encoded: try #require(bad["path_base64"] as? String)) == Data([0x62, 0x61, 0x64, 0xFF] + Array("name".utf8)))
    }

    @Test("In text, a file name cannot forge a line or reach the terminal")
    func safeText() throws {
        let dir = try makeScratchDirectory()
        let name = uniqueName("text")
        let tracer = try TracerRun(["-n", name])
        _ = try runShell("cd \(dir) && \(Binaries.helper) --name \(name) creat $'x\\n999 forged 3 0 /etc/shadow' creat $'y\\x1b]0;pwned\\x07'")
        tracer.stop()
        let lines = tracer.output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(!lines.contains { $0.hasPrefix("999 ") })
        #expect(tracer.output.contains("x\\n999 forged 3 0 /etc/shadow\n"))
        #expect(tracer.output.contains("y\\x1b]0;pwned\\x07\n"))
        #expect(!tracer.output.utf8.contains(0x1B))
    }
}

@Suite("Tracing one command", .serialized, .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct CommandTests {
    @Test("opensnoop -- COMMAND traces it and its descendants only, and exits with its status")
    func command() throws {
        let dir = try makeScratchDirectory()
        for file in ["parent", "child", "background", "outsider"] {
            FileManager.default.createFile(atPath: "\(dir)/\(file)", contents: nil)
        }
        let outsider = Process()
        outsider.executableURL = URL(fileURLWithPath: "/bin/bash")
        outsider.arguments = ["-c", "for i in $(seq 40); do \(Binaries.helper) openat \(dir)/outsider >/dev/null; sleep 0.02; done"]
        try outsider.run()
        // The helpers write elsewhere: a write of the tracer's larger than a pipe's atomic 4 KiB
        // may be split by another writer of the same pipe, as with any two writers.
        let script = "exec >/dev/null; \(Binaries.helper) openat \(dir)/parent; (\(Binaries.helper) openat \(dir)/child); "
            + "\(Binaries.helper) background 100 \(dir)/background; sleep 0.5; exit 3"
        let (status, out, err) = try runToCompletion(Binaries.opensnoop, ["-j", "--", "/bin/bash", "-c", script])
        outsider.waitUntilExit()
        #expect(status == 3, "\(err)")
        let records = try out.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        let paths = Set(records.compactMap { $0["path"] as? String }.filter { $0.hasPrefix(dir) })
        #expect(paths == [dir + "/parent", dir + "/child", dir + "/background"])
    }

    @Test("A command that cannot be found exits 127, one that cannot be run 126, before any header",
          arguments: [("/nonexistent/command", 127, "/nonexistent/command: No such file or directory"),
                      ("no-such-command-anywhere", 127, "no-such-command-anywhere: command not found"),
                      ("/proc/version", 126, "/proc/version: Permission denied"),
                      ("/tmp", 126, "/tmp: Is a directory"),
                      ("no-such\u{1B}[31m\nline", 127, "no-such\\x1b[31m\\nline: command not found")])
    func missingCommand(command: String, code: Int32, message: String) throws {
        let (status, out, err) = try runToCompletion(Binaries.opensnoop, ["--", command])
        #expect(status == code)
        #expect(out == "")
        #expect(err == "opensnoop: \(message)\n")
    }

    @Test("-o FILE that ends inside a line (a run killed while writing) gets a newline first: our lines stay whole")
    func appendAfterPartialLine() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/events.jsonl"
        FileManager.default.createFile(atPath: file, contents: Data("{\"partial\":".utf8))
        let (status, _, err) = try runToCompletion(Binaries.opensnoop, ["-j", "-o", file, "--", "/bin/cat", "/etc/hostname"])
        #expect(status == 0, "\(err)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "{\"partial\":")
        #expect(lines.count > 1)
        for line in lines.dropFirst() {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)")
        }
    }

    @Test("-- with no command is an error, not a trace of the whole system")
    func emptyCommand() throws {
        let (status, out, err) = try runToCompletion(Binaries.opensnoop, ["-x", "--"])
        #expect(status == 2)
        #expect(out == "")
        #expect(err == "opensnoop: -- must be followed by the command to trace\n")
    }
}


@Suite("The library", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct LibraryTests {
    @Test("An io_uring open whose completion never comes is dropped from tracking after its limit and counted as lost")
    func staleIoUringOpens() throws {
        let dir = try makeScratchDirectory()
        var options = TraceOptions()
        options.pathPrefixes = [Array((dir + "/").utf8)]
        options.ioUringPendingLimitNanoseconds = 300_000_000
        var seen: [String] = []
        let reader = try OpenEventReader(options: options) { seen.append($0.path) }
        // An open linked after a read of an empty pipe: submitted, never run.
        let opener = Process()
        let output = PipeCollector()
        opener.executableURL = URL(fileURLWithPath: Binaries.helper)
        opener.arguments = ["uring-stalled", dir + "/never"]
        opener.standardOutput = output.pipe
        output.start()
        try opener.run()
        // Foundation starts children with most signals blocked: only SIGKILL surely ends it.
        defer {
            kill(opener.processIdentifier, SIGKILL)
            opener.waitUntilExit()
        }
        #expect(waitUntil(seconds: 5) { output.text.contains("submitted") })
        try reader.poll(timeoutMilliseconds: 10)
        #expect(try reader.lostEvents() == 0, "still in flight, within its limit")
        usleep(500_000)
        try reader.program.expireStaleIoUringOpens()
        #expect(try reader.lostEvents() == 1)
        // Its cancellation, when the helper dies, finds nothing pending: nothing reported twice.
        kill(opener.processIdentifier, SIGKILL)
        opener.waitUntilExit()
        usleep(100_000)
        try reader.poll(timeoutMilliseconds: 10)
        try reader.drain()
        #expect(seen.isEmpty, "\(seen)")
        #expect(try reader.lostEvents() == 1)
    }

    @Test("A consumer of OpenEventReader.events that falls behind holds at most `capacity` opens; the rest are counted")
    func asyncEventsBounded() async throws {
        let dir = try makeScratchDirectory()
        FileManager.default.createFile(atPath: dir + "/bounded", contents: nil)
        var options = TraceOptions()
        options.pathPrefixes = [Array((dir + "/").utf8)]
        let stream = try OpenEventReader.events(options: options, capacity: 10)
        var iterator = stream.makeAsyncIterator()
        let opener = keepOpening(dir + "/bounded")
        _ = try #require(try await iterator.next())
        opener.cancel()
        _ = await opener.result
        try runHelper(["loop", "300", dir + "/bounded"])
        try await Task.sleep(for: .milliseconds(500))
        for _ in 0..<10 { _ = try #require(try await iterator.next()) }
        #expect(stream.droppedRecords >= 290, "\(stream.droppedRecords)")
        #expect(stream.lostRecords == 0)
    }

    @Test("OpenEventReader.events yields opens as an AsyncSequence and stops when the consumer does")
    func asyncEvents() async throws {
        let dir = try makeScratchDirectory()
        FileManager.default.createFile(atPath: dir + "/async", contents: nil)
        var options = TraceOptions()
        options.pathPrefixes = [Array((dir + "/").utf8)]
        let stream = try OpenEventReader.events(options: options)
        let opener = keepOpening(dir + "/async")
        var seen: OpenRecord? = nil
        for try await open in stream {
            seen = open
            break
        }
        opener.cancel()
        let record = try #require(seen)
        #expect(record.pathString == dir + "/async")
        #expect(record.source == .openat)
        #expect(record.result >= 0)
    }
}

/// Opens `path` every 20 ms (up to 200 times) until cancelled: until a stream that has just
/// been made has attached and seen one.
private func keepOpening(_ path: String) -> Task<Void, any Error> {
    Task.detached {
        for _ in 0..<200 {
            try runHelper(["openat", path])
            try await Task.sleep(for: .milliseconds(20))
            if Task.isCancelled { break }
        }
    }
}
