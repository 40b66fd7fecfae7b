import BPFKit
import BPFKitTestPrograms
import Foundation
import Testing

/// Compiles `body` (after `import BPFKit` and `import BPFKitTestPrograms`) against the built
/// modules as far as SIL, where use-after-consume is diagnosed; returns the compiler's status
/// and what it said.
private func typecheck(_ body: String) throws -> (status: Int32, output: String) {
    let scratch = try ScratchDirectory()
    defer { scratch.remove() }
    let file = scratch.url.appendingPathComponent("misuse.swift")
    try ("import BPFKit\nimport BPFKitTestPrograms\n" + body + "\n").write(to: file, atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["swiftc", "-emit-sil", "-o", "/dev/null", "-swift-version", "6",
                         "-I", productsDirectory.appendingPathComponent("Modules").path,
                         "-I", productsDirectory.appendingPathComponent("CLibBPF.build").path, file.path]
    process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": scratch.url.path]) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

@Suite("Misuse refused at compile time")
struct CompileTimeMisuseTests {
    @Test("Read-only globals set on the open stage after load() do not compile: load() consumed it")
    func rodataAfterLoad() throws {
        let before = try typecheck("""
            func f() throws {
                let open = try KittestSkeleton.open()
                open.rodata.targetTid = 1
                _ = try open.load()
            }
            """)
        #expect(before.status == 0, "\(before.output)")
        let after = try typecheck("""
            func f() throws {
                let open = try KittestSkeleton.open()
                let skeleton = try open.load()
                open.rodata.targetTid = 1
                _ = skeleton
            }
            """)
        #expect(after.status != 0 && after.output.contains("'open' used after consume"), "\(after.output)")
    }

    @Test("A ring-buffer record cannot leave a record stream as a pointer into the ring, only as a copy")
    func recordStreamCopies() throws {
        let copy = try typecheck("""
            func f(_ map: BPFMapHandle) throws {
                _ = try BPFRecordStream(ringBuffers: [map]) { KittestSkeleton.Types.Pair(loading: $0) ?? .zeroed }
            }
            """)
        #expect(copy.status == 0, "\(copy.output)")
        let pointer = try typecheck("""
            func f(_ map: BPFMapHandle) throws {
                _ = try BPFRecordStream<UnsafeRawBufferPointer>(ringBuffers: [map]) { $0 }
            }
            """)
        #expect(pointer.status != 0 && pointer.output.contains("Sendable"), "\(pointer.output)")
    }
}

/// A hand-written mirror of `struct pair { __u64 a; __u32 b; }` with `b` too small: 9 bytes,
/// which C's trailing padding would let pass a check of sizes alone (the value is 16 bytes).
struct ShortPair: BPFPlainData {
    var a: UInt64
    var b: UInt8
    static let bpfLayout: BPFTypeLayout? = BPFTypeLayout(ShortPair.self, fields: ["a": \.a, "b": \.b])
}

@Suite("Misuse refused with a thrown error", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct ThrownMisuseTests {
    @Test("A hand-written type smaller than the C value is refused, naming the field")
    func smallerMirror() throws {
        #expect(MemoryLayout<ShortPair>.size == 9 && MemoryLayout<ShortPair>.stride == 16)
        let skeleton = try loadTestObject()
        let error = expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt32, ShortPair>(skeleton.maps.hashPair) }
        #expect(error?.description == "view BPF map hash_pair: its value is struct pair: field b of struct pair is 4 bytes, ShortPair's is 1",
                "\(String(describing: error))")
    }
}
