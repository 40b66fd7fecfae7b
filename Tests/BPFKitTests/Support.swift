import BPFKit
import BPFKitTestPrograms
import Foundation
import Glibc
import Testing

extension Tag {
    /// Loads BPF programs into the running kernel: needs root (CI runs as root).
    @Tag static var kernel: Self
}

/// Whether this process may load BPF programs.
let isRoot = geteuid() == 0

/// The calling thread's id, which the test object's programs filter on.
func threadID() -> UInt32 {
    var buffer = [CChar](repeating: 0, count: 64)
    let count = readlink("/proc/thread-self", &buffer, buffer.count - 1)  // "PID/task/TID"
    let text = String(decoding: buffer.prefix(max(count, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: "/").last.flatMap { UInt32($0) } ?? 0
}

/// The test object, loaded for the calling thread, after `configure` (programs are opened
/// with `enabled` set and `target_tid` this thread).
func loadTestObject(_ configure: (borrowing KittestSkeleton.Open) throws -> Void = { _ in }) throws -> KittestSkeleton {
    let open = try KittestSkeleton.open()
    open.rodata.targetTid = threadID()
    open.rodata.enabled = true
    try configure(open)
    return try open.load()
}

/// Makes the test programs' tracepoint fire `times` times on this thread.
func triggerGetppid(_ times: Int = 1) {
    for _ in 0..<times { _ = getppid() }
}

/// A BPF file system of this test process's own, mounted on first use and unmounted (and its
/// directory removed) when the process exits: the tests never depend on whether `/sys/fs/bpf`
/// happens to be a BPF file system on this machine.
let privateBPFFS: String = {
    let base = String(cString: getenv("TMPDIR") ?? strdup("/tmp"))
    let directory = base + "/bpfkit-test-bpffs-\(getpid())"
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

/// A path for a pin on the test process's own BPF file system, unique to `name`.
func pinPath(_ name: String) -> String { privateBPFFS + "/bpfkit_test_\(name)" }

/// Whether a file exists.
func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// Expects `body` to throw a `BPFError` of `kind`; returns it.
@discardableResult
func expectBPFError(_ kind: BPFError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () throws -> Void) -> BPFError? {
    do {
        try body()
        Issue.record("expected a BPFError of kind \(kind), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as BPFError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a BPFError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Runs `executable` to its end with TMPDIR in `temporary`, in `directory` if given; returns its
/// status and what it wrote to standard output and error (kept in a file of `scratch`, so that
/// no pipe can fill up).
func runLogged(_ executable: String, _ arguments: [String], in directory: URL? = nil, temporary: URL,
               scratch: ScratchDirectory) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": temporary.path]) { $1 }
    let log = scratch.url.appendingPathComponent("log-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: log.path, contents: Data())
    process.standardOutput = try FileHandle(forWritingTo: log)
    process.standardError = process.standardOutput
    try process.run()
    process.waitUntilExit()
    return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}

/// Compiles `source` against the built BPFKit and test-program modules as far as SIL (where
/// use-after-consume and escaping spans are diagnosed); returns the compiler's status and what
/// it said. For misuse that must not compile.
func compileSnippet(_ source: String) throws -> (status: Int32, output: String) {
    let scratch = try ScratchDirectory()
    defer { scratch.remove() }
    let file = scratch.url.appendingPathComponent("snippet.swift")
    try source.write(to: file, atomically: true, encoding: .utf8)
    return try runLogged("/usr/bin/env", ["swiftc", "-emit-sil", "-o", "/dev/null", "-swift-version", "6",
                                          "-I", productsDirectory.appendingPathComponent("Modules").path,
                                          "-I", productsDirectory.appendingPathComponent("CLibBPF.build").path, file.path],
                         temporary: scratch.url, scratch: scratch)
}
