import Foundation
import Glibc
import Testing

/// The built products' folder (`.build/debug`), found from this test binary.
let productsDirectory: URL = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent()
}()

/// This repository's root, from this file's path.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A temporary directory, removed by `remove()`.
struct ScratchDirectory {
    let url: URL
    init() throws {
        var template = Array((NSTemporaryDirectory() + "bpfkit-test-XXXXXX").utf8CString)
        guard let path = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        url = URL(fileURLWithPath: String(cString: path))
    }
    func remove() { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        return path
    }
}

/// A tracer started with line-buffered output into a file of `scratch`; stopped with SIGKILL
/// (the kernel detaches and frees its programs when it dies; SIGINT may be ignored by the test
/// runner's children).
final class TracerProcess {
    let process = Process()
    let output: URL

    /// `lineBuffered: false` leaves the tracer's output buffered as a file gets it by default.
    init(_ executable: String, _ arguments: [String], scratch: ScratchDirectory, lineBuffered: Bool = true) throws {
        output = scratch.url.appendingPathComponent("tracer-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: Data())
        process.executableURL = URL(fileURLWithPath: lineBuffered ? "/usr/bin/stdbuf" : executable)
        process.arguments = lineBuffered ? ["-oL", executable] + arguments : arguments
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        try process.run()
    }

    var text: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// Waits until `condition` holds for the output (true) or `seconds` pass (false).
    func wait(seconds: Double = 20, until condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(text) { return true }
            if !process.isRunning { return condition(text) }
            usleep(20_000)
        }
        return false
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Opens `path` for reading from this process (an `openat` the tracers must see).
func openOnce(_ path: String) {
    let fd = open(path, O_RDONLY)
    if fd >= 0 { close(fd) }
}

@Suite("Examples and the README's tutorial, on the real kernel", .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct TutorialTests {
    @Test("opens prints the PID and path of a real open")
    func opens() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let marker = try scratch.file("opens-marker")
        let tracer = try TracerProcess(productsDirectory.appendingPathComponent("opens").path, [], scratch: scratch)
        defer { tracer.stop() }
        #expect(tracer.wait { $0.contains("PID PATH\n") }, "did not start: \(tracer.text)")
        let seen = tracer.wait { text in
            openOnce(marker)
            return text.contains("\(getpid()) \(marker)\n")
        }
        #expect(seen, "\(tracer.text.suffix(500))")
    }

    @Test("opens stopped with SIGTERM ends normally and writes the lines it buffered for a file")
    func opensBufferedUntilStopped() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let marker = try scratch.file("opens-buffered")
        let tracer = try TracerProcess(productsDirectory.appendingPathComponent("opens").path, [], scratch: scratch,
                                       lineBuffered: false)
        defer { tracer.stop() }
        // Nothing shows before the end (a file gets full buffers): wait for the attach instead,
        // the tracepoint's perf event among the tracer's descriptors.
        let descriptors = "/proc/\(tracer.process.processIdentifier)/fd"
        let attached = tracer.wait { _ in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: descriptors)) ?? []
            return names.contains {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(descriptors)/\($0)")) == "anon_inode:[perf_event]"
            }
        }
        try #require(attached && tracer.process.isRunning, "\(tracer.text)")
        for _ in 0..<3 { openOnce(marker); usleep(100_000) }  // (the program's link follows the event)
        kill(tracer.process.processIdentifier, SIGTERM)
        tracer.process.waitUntilExit()
        #expect(tracer.process.terminationReason == .exit && tracer.process.terminationStatus == 0)
        #expect(tracer.text.hasPrefix("PID PATH\n"), "\(tracer.text.prefix(300))")
        #expect(tracer.text.contains("\(getpid()) \(marker)\n"), "\(tracer.text.suffix(500))")
    }

    @Test("opens-pid -p PID shows that process's opens only; a bad -p is exit 2")
    func opensPid() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let inside = try scratch.file("inside"), outside = try scratch.file("outside")
        // A shell that opens `inside` itself (a redirection) once told to.
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "read go; : < '\(inside)'; read done"]
        let input = Pipe()
        shell.standardInput = input
        try shell.run()
        defer { try? input.fileHandleForWriting.close(); shell.waitUntilExit() }
        let binary = productsDirectory.appendingPathComponent("opens-pid").path
        let tracer = try TracerProcess(binary, ["-p", "\(shell.processIdentifier)"], scratch: scratch)
        defer { tracer.stop() }
        // Wait until attached: opens of this process must not show, so watch the shell's.
        usleep(500_000)
        openOnce(outside)
        input.fileHandleForWriting.write(Data("go\n".utf8))
        #expect(tracer.wait { $0.contains(inside) }, "\(tracer.text)")
        openOnce(outside)
        usleep(200_000)
        #expect(!tracer.text.contains(outside))

        let bad = Process()
        bad.executableURL = URL(fileURLWithPath: binary)
        bad.arguments = ["-p", "nope"]
        bad.standardOutput = FileHandle.nullDevice
        try bad.run()
        bad.waitUntilExit()
        #expect(bad.terminationStatus == 2)
    }

    @Test("An outside package made from the README's files resolves nothing but BPFKit's package, builds from a checkout of any name, and its tracer sees a real open",
          .timeLimit(.minutes(10)))
    func outsidePackage() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        // The README's layout: the tracer's package next to a checkout of this repository, here
        // one whose directory is not called swift-opensnoop (the package's identity must not
        // come from it): a copy of what the root package is made of, with no .build and no Tools/.
        let checkout = scratch.url.appendingPathComponent("bpfkit-checkout")
        for item in ["Package.swift", "Sources", "Plugins", "Examples", "Tests/BPFKitTestPrograms", "Tests/BPFKitTests"] {
            let destination = checkout.appendingPathComponent(item)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent(item), to: destination)
        }
        let package = scratch.url.appendingPathComponent("my-tracer")
        var files = try readmeFiles()
        #expect(Set(files.keys) == ["Package.swift", "Sources/opens/bpf/opens.bpf.c", "Sources/opens/main.swift"])
        let readmeDependency = #".package(name: "swift-opensnoop", path: "../swift-opensnoop")"#
        let manifest = try #require(files["Package.swift"])
        try #require(manifest.contains(readmeDependency), "the README's Package.swift no longer has \(readmeDependency)")
        files["Package.swift"] = manifest.replacingOccurrences(
            of: readmeDependency, with: #".package(name: "swift-opensnoop", path: "../bpfkit-checkout")"#)
        for (path, text) in files {
            let url = package.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        // SwiftPM's lock and temporary files go with the scratch directory, not into /tmp.
        let temporary = scratch.url.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        func swift(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runLogged("/usr/bin/env", ["swift"] + arguments, in: package, temporary: temporary, scratch: scratch)
        }
        let build = try swift(["build"])
        try #require(build.status == 0, "swift build failed:\n\(build.output.suffix(3000))")

        // Resolving fetched nothing: BPFKit's package is the one dependency, and it has none.
        let checkouts = package.appendingPathComponent(".build/checkouts").path
        let fetched = (try? FileManager.default.contentsOfDirectory(atPath: checkouts)) ?? []
        #expect(fetched.isEmpty, "cloned: \(fetched)")
        let graph = try swift(["package", "show-dependencies", "--format", "json"])
        try #require(graph.status == 0, "\(graph.output)")
        let json = try #require(graph.output.firstIndex(of: "{").map { graph.output[$0...] })
        let root = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let dependencies = try #require(root["dependencies"] as? [[String: Any]])
        // (Its identity is the directory's name; `name:` is what `package: "swift-opensnoop"` finds.)
        #expect(dependencies.map { $0["name"] as? String } == ["swift-opensnoop"], "\(graph.output)")
        #expect((dependencies.first?["dependencies"] as? [Any])?.isEmpty == true, "\(graph.output)")

        let marker = try scratch.file("outside-marker")
        let tracer = try TracerProcess(package.appendingPathComponent(".build/debug/opens").path, [], scratch: scratch)
        defer { tracer.stop() }
        #expect(tracer.wait { $0.contains("PID PATH\n") }, "did not start: \(tracer.text)")
        #expect(tracer.wait { text in openOnce(marker); return text.contains("\(getpid()) \(marker)\n") })
    }

    /// The files of README.md's "Write your own tracer": each fenced block whose info string
    /// names a path (```swift Package.swift).
    func readmeFiles() throws -> [String: String] {
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Write your own tracer"))
        var files: [String: String] = [:]
        var current: (path: String, lines: [Substring])? = nil
        for line in readme[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { break }
            if let block = current {
                if line == "```" {
                    files[block.path] = block.lines.joined(separator: "\n") + "\n"
                    current = nil
                } else {
                    current?.lines.append(line)
                }
            } else if line.hasPrefix("```") {
                let words = line.dropFirst(3).split(separator: " ")
                if words.count == 2 { current = (String(words[1]), []) }
            }
        }
        return files
    }
}
