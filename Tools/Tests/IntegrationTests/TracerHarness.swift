import Foundation
import Synchronization
import Testing

extension Tag {
    /// Loads BPF programs into the running kernel: needs root (CI runs as root).
    @Tag static var kernel: Self
}

/// Whether the tests may load BPF programs.
let isRoot = getuid() == 0

/// Where `swift build` put the binaries under test (beside the test bundle).
enum Binaries {
    static let directory: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("opensnoop").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()
    static var opensnoop: String { directory.appendingPathComponent("opensnoop").path }
    static var helper: String { directory.appendingPathComponent("opensnoop-testhelper").path }
    static var execsnoop: String { directory.appendingPathComponent("execsnoop").path }
}

/// A BPF file system of this test process's own for pinned maps, mounted on first use and
/// unmounted (its directory removed) when the process exits: the tests never depend on whether
/// `/sys/fs/bpf` happens to be a BPF file system on this machine.
let privateBPFFS: String = {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    let directory = base + "/opensnoop-test-bpffs-\(getpid())"
    mkdir(directory, 0o700)
    if mount("bpf", directory, "bpf", 0, nil) != 0 {
        Issue.record("mount a BPF file system at \(directory): \(String(cString: strerror(errno)))")
    }
    atexit {
        umount2(privateBPFFS, Int32(MNT_DETACH))
        rmdir(privateBPFFS)
    }
    return directory
}()

/// A path on the test process's own BPF file system, unique to `name`.
func pinPath(_ name: String) -> String { privateBPFFS + "/" + name }

/// Collects everything a pipe delivers, on a background thread.
final class PipeCollector: Sendable {
    let pipe = Pipe()
    private let data = Mutex(Data())
    private let done = Mutex(false)

    func start() {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.withLock { $0.append(chunk) }
            }
            done.withLock { $0 = true }
        }
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    var isDone: Bool { done.withLock { $0 } }
}

/// Waits until `condition` holds, up to `seconds`; returns whether it did.
@discardableResult
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A running `opensnoop` (or another tracer of ours: `executable`).
final class TracerRun {
    let process = Process()
    let stdout = PipeCollector()
    let stderr = PipeCollector()

    /// Starts opensnoop with `arguments` and waits until it is tracing: it says so on the
    /// systemd notification socket the test gives it (READY=1, sent once every program is
    /// attached).
    init(_ arguments: [String], environment: [String: String] = [:], executable: String = Binaries.opensnoop) throws {
        let ready = try ReadinessSocket()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            .merging(["NOTIFY_SOCKET": ready.name]) { $1 }
        process.standardOutput = stdout.pipe
        process.standardError = stderr.pipe
        stdout.start()
        stderr.start()
        try process.run()
        let started = ready.wait(seconds: 10) { !self.process.isRunning }
        #expect(started, "opensnoop did not start: \(stderr.text)")
    }

    /// Stops it with `signal` (after letting pending events arrive) and returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGINT, settle: Double = 0.3) -> Int32 {
        usleep(UInt32(settle * 1_000_000))
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        waitUntil(seconds: 5) { stdout.isDone && stderr.isDone }
        return process.terminationStatus
    }

    var output: String { stdout.text }
    var errors: String { stderr.text }

    /// The JSON records printed (with `-j`).
    func records() throws -> [[String: Any]] {
        try output.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }
    }
}

/// Runs the test helper to completion; returns its output lines ("action result").
@discardableResult
func runHelper(_ arguments: [String], as user: String? = nil) throws -> [String] {
    let process = Process()
    if let user {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", Binaries.helper] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: Binaries.helper)
        process.arguments = arguments
    }
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}

/// A helper started with `--wait`: its pid is known before it opens anything.
final class WaitingHelper {
    let process = Process()
    let input = Pipe()
    let output = PipeCollector()
    let pid: Int32

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.helper)
        process.arguments = ["--wait"] + arguments
        process.standardInput = input
        process.standardOutput = output.pipe
        output.start()
        try process.run()
        pid = process.processIdentifier
        waitUntil(seconds: 5) { self.output.text.contains("READY") }
    }

    /// Lets it act and waits for it to finish.
    func go() {
        input.fileHandleForWriting.write(Data("go\n".utf8))
        process.waitUntilExit()
    }
}

/// Where this test process keeps its scratch directories; removed when the process exits (and,
/// should a run be killed, by the next run: those of processes that are gone).
private let scratchRoot: String = {
    let temporary = NSTemporaryDirectory()
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
    where entry.hasPrefix("opensnoop-tests-") {
        if let pid = Int32(entry.dropFirst("opensnoop-tests-".count)), kill(pid, 0) != 0 && errno == ESRCH {
            removeTree(temporary + entry)
        }
    }
    let root = scratchRootPath
    try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { removeTree(scratchRootPath) }
    return root
}()

/// Removes `path` and everything under it, also trees deeper than PATH_MAX (which
/// `FileManager.removeItem` cannot remove): `rm -rf` walks them relative to each directory.
func removeTree(_ path: String) {
    let words: [String] = ["/bin/rm", "-rf", "--", path]
    let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, "/bin/rm", nil, nil, argv, environ) == 0 else { return }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
}

/// `scratchRoot`'s path, fixed when first made (the exit handler cannot capture it).
private let scratchRootPath = NSTemporaryDirectory() + "opensnoop-tests-\(getpid())"

/// A fresh directory for one test's files (removed with all others when the tests end).
func makeScratchDirectory() throws -> String {
    let path = scratchRoot + "/" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A command name unique to one test (at most 15 bytes).
func uniqueName(_ stem: String) -> String {
    String((stem + "-" + UUID().uuidString.prefix(6)).prefix(15))
}

/// An abstract-namespace datagram socket a tracer under test reports readiness to (systemd's
/// NOTIFY_SOCKET protocol); nothing is left in the file system.
final class ReadinessSocket {
    let name = "@opensnoop-test-" + UUID().uuidString
    private let fd: Int32

    init() throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = [UInt8(0)] + Array(name.utf8.dropFirst())
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
    }

    deinit { close(fd) }

    /// Waits up to `seconds` for READY=1; gives up early when `abandon` says so.
    func wait(seconds: Double, abandon: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 20) == 1 {
                var buffer = [UInt8](repeating: 0, count: 64)
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 && String(decoding: buffer[0..<n], as: UTF8.self).contains("READY=1") { return true }
            }
            if abandon() { return false }
        }
        return false
    }
}

/// Small static programs the tests build with the system's C compiler (`Tests/Programs`).
enum TestPrograms {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs")

    /// Builds `opener.c` as a static 64-bit or 32-bit program at `path`.
    static func buildOpener(at path: String, bits: Int) throws {
        let flags = bits == 32 ? ["-m32"] : []
        let (status, _, err) = try runToCompletion("/usr/bin/cc", flags + ["-static", "-O2", "-o", path,
                                                                         sources.appendingPathComponent("opener.c").path])
        try #require(status == 0, "cc failed: \(err)")
    }
}
