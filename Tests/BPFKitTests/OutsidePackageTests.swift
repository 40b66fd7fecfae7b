import Foundation
import Glibc
import Testing

/// This repository's root, from this file's path.
private let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Tests/OutsidePackage: three tools written as an outside user would, on BPFKit alone.
private let fixture = root.appendingPathComponent("Tests/OutsidePackage")

private let tools = ["execs", "opencount", "tcpstates"]

@Suite("Three tools of an outside package: their sources")
struct OutsidePackageSourceTests {
    @Test("Each tool is at most 40 lines of Swift, with no hand-written mirror of a C struct")
    func sources() throws {
        for tool in tools {
            let source = try String(contentsOf: fixture.appendingPathComponent("Sources/\(tool)/main.swift"), encoding: .utf8)
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count <= 40, "\(tool): \(lines.count) lines")
            // The record and map types come from the generated skeleton, not from Swift written
            // here: no type declared, nothing read from raw memory (comments aside).
            let code = lines.map { $0.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }
                .joined(separator: "\n")
            for mirror in ["struct ", "class ", "enum ", "BPFPlainData", "bpfLayout", "MemoryLayout", "loadUnaligned", "load(as:",
                           "assumingMemoryBound", "bindMemory"] {
                #expect(!code.contains(mirror), "\(tool) contains \(mirror)")
            }
            #expect(source.contains("Skeleton.Types.") || source.contains(".typed."), "\(tool) uses no generated type")
        }
        let manifest = try String(contentsOf: fixture.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(manifest.contains(#".package(name: "swift-opensnoop", path: "../..")"#))
        #expect(manifest.components(separatedBy: ".product(name:").count == 2)  // BPFKit only
        #expect(manifest.contains(#".product(name: "BPFKit", package: "swift-opensnoop")"#))
    }
}

@Suite("Three tools of an outside package on the real kernel", .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct OutsidePackageTests {
    /// Copies Tests/OutsidePackage into `scratch`, points its dependency at this repository and
    /// builds it (one build for the three tools); returns the folder of the built products.
    func build(in scratch: ScratchDirectory) async throws -> URL {
        let package = scratch.url.appendingPathComponent("tools")
        try FileManager.default.copyItem(at: fixture, to: package)
        for leftover in [".build", "Package.resolved"] {
            try? FileManager.default.removeItem(at: package.appendingPathComponent(leftover))
        }
        let manifestURL = package.appendingPathComponent("Package.swift")
        let manifest = try String(contentsOf: manifestURL, encoding: .utf8)
        let pointed = manifest.replacingOccurrences(of: #"path: "../..""#, with: "path: \"\(root.path)\"")
        try #require(pointed != manifest, "Package.swift names no path \"../..\"")
        try pointed.write(to: manifestURL, atomically: true, encoding: .utf8)

        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "--package-path", package.path]
        let temporary = scratch.url.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        build.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": temporary.path]) { $1 }
        let log = scratch.url.appendingPathComponent("build.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: Data())
        build.standardOutput = try FileHandle(forWritingTo: log)
        build.standardError = build.standardOutput
        try await runToEnd(build)
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try #require(build.terminationStatus == 0, "swift build failed:\n\(text.suffix(3000))")
        return package.appendingPathComponent(".build/debug")
    }

    @Test("execs, opencount and tcpstates build from an outside package and see what this test does",
          .timeLimit(.minutes(15)))
    func threeTools() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let products = try await build(in: scratch)
        try execs(products.appendingPathComponent("execs").path, scratch)
        try opencount(products.appendingPathComponent("opencount").path, scratch)
        try tcpstates(products.appendingPathComponent("tcpstates").path, scratch)
    }

    /// The exec tracer shows an exec this process makes, with its pid and parent, and not an
    /// exec that failed.
    func execs(_ binary: String, _ scratch: ScratchDirectory) throws {
        // A link to /bin/true under a name of its own: the kernel names the process after it.
        let name = "x" + UUID().uuidString.prefix(8).lowercased()
        let program = scratch.url.appendingPathComponent(name)
        try FileManager.default.createSymbolicLink(atPath: program.path, withDestinationPath: "/bin/true")
        // Not executable: the shell's execve fails (EACCES), and no exec happens.
        let refused = scratch.url.appendingPathComponent("refused-" + name)
        _ = FileManager.default.createFile(atPath: refused.path, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644])

        let tracer = try TracerProcess(binary, [], scratch: scratch)
        defer { tracer.stop() }
        #expect(tracer.wait { $0.contains("PID PPID COMM FILENAME\n") }, "did not start: \(tracer.text)")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "'\(refused.path)' 2>/dev/null; exit 0"]
        try shell.run()
        shell.waitUntilExit()
        let child = Process()
        child.executableURL = program
        try child.run()
        child.waitUntilExit()
        let line = "\(child.processIdentifier) \(getpid()) \(name) \(program.path)\n"
        #expect(tracer.wait { $0.contains(line) }, "no \(line) in:\n\(tracer.text.suffix(2000))")
        #expect(!tracer.text.contains(refused.path), "a failed exec was shown")
    }

    /// The counter's per-second lines add up to exactly the opens a shell makes while traced.
    func opencount(_ binary: String, _ scratch: ScratchDirectory) throws {
        let opens = 200
        // Started before the tracer, so that its own start-up opens are not counted; it opens
        // /dev/null `opens` times when told to, then waits.
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "read go; i=0; while [ $i -lt \(opens) ]; do : < /dev/null; i=$((i+1)); done; read done"]
        let input = Pipe()
        shell.standardInput = input
        try shell.run()
        defer { try? input.fileHandleForWriting.close(); shell.waitUntilExit() }
        usleep(200_000)

        let tracer = try TracerProcess(binary, [], scratch: scratch)
        defer { tracer.stop() }
        #expect(tracer.wait { $0.contains("SECOND PID COMM OPENS\n") }, "did not start: \(tracer.text)")
        input.fileHandleForWriting.write(Data("go\n".utf8))
        let pid = "\(shell.processIdentifier)"
        func counted(_ text: String) -> (total: Int, lines: Int) {
            var total = 0, lines = 0
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 4, fields[1] == pid, Int(fields[0]) != nil, let count = Int(fields[3]) else { continue }
                #expect(fields[2] == "sh", "\(line)")
                total += count
                lines += 1
            }
            return (total, lines)
        }
        #expect(tracer.wait { counted($0).total >= opens }, "\(tracer.text.suffix(2000))")
        // One more interval: nothing is counted twice, nothing comes late.
        usleep(1_300_000)
        let result = counted(tracer.text)
        #expect(result.total == opens && result.lines >= 1, "\(result) for pid \(pid):\n\(tracer.text.suffix(2000))")
    }

    /// The TCP tracer shows both ends of a connection this process makes on the loopback
    /// device, by their ports, through each state.
    func tcpstates(_ binary: String, _ scratch: ScratchDirectory) throws {
        let tracer = try TracerProcess(binary, [], scratch: scratch)
        defer { tracer.stop() }
        #expect(tracer.wait { $0.contains("SOURCE DESTINATION OLD NEW\n") }, "did not start: \(tracer.text)")

        let server = try socketOnLoopback(listening: true)
        let client = try socketOnLoopback(listening: false)
        var address = loopback(port: server.port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0, "connect: \(String(cString: strerror(errno)))")
        let accepted = accept(server.fd, nil, nil)
        try #require(accepted >= 0)
        let clientPort = try port(of: client.fd)
        close(client.fd)
        close(accepted)
        close(server.fd)

        let (a, b) = ("127.0.0.1:\(clientPort)", "127.0.0.1:\(server.port)")
        let expected = ["\(a) \(b) SYN_SENT ESTABLISHED", "\(b) \(a) SYN_RECV ESTABLISHED", "\(a) \(b) ESTABLISHED FIN_WAIT1"]
        #expect(tracer.wait { text in expected.allSatisfy { text.contains($0 + "\n") } },
                "expected \(expected) in:\n\(tracer.text.suffix(2000))")
    }

    /// Runs `process` to its end without holding a thread of the test pool meanwhile: a build
    /// takes a minute or more, and tests blocked in `waitUntilExit()` on a 2-CPU machine keep
    /// every other test from running (their time limits then run out).
    func runToEnd(_ process: Process) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }

    func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    /// A TCP socket bound to 127.0.0.1 on a port the kernel picks (listening, if asked).
    func socketOnLoopback(listening: Bool) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
        if listening { try #require(listen(fd, 1) == 0) }
        return (fd, try port(of: fd))
    }

    func port(of fd: Int32) throws -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try #require(result == 0)
        return UInt16(bigEndian: address.sin_port)
    }
}
