import BPFKit
import BPFKitTestPrograms
import Foundation
import Glibc
import Testing

/// The built products' folder (`.build/debug`), found from this test binary.
private let products = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                               ?? CommandLine.arguments[0]).deletingLastPathComponent()

/// This repository's root, from this file's path.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The first executable named `name` on PATH.
private func onPath(_ name: String) -> String? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
}

/// Runs `executable` to completion; returns its status and what it wrote (stdout and stderr).
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

@Suite("Errors name the object, the program and the cause", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct ErrorTests {
    @Test("Without privileges, a load is a permission problem, not missing kernel support")
    func notRoot() throws {
        let (status, output) = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                            products.appendingPathComponent("opens").path])
        #expect(status == 1)
        #expect(output == "opens: load BPF program trace_openat of opens (tracepoint/syscalls/sys_enter_openat): "
                + "Operation not permitted: loading BPF programs needs root, or CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)\n")
    }

    @Test("A verifier rejection reads as one, with the verifier's last lines, not as 'Permission denied'")
    func verifierRejection() {
        let error = expectBPFError(.verifierRejected) { _ = try loadTestObject { $0.programs.rejected.autoload = true } }
        #expect(error?.description.hasPrefix("load BPF program rejected of kittest (\(KittestSkeleton.sections[.rejected]!)): the verifier rejected it:\n") == true,
                "\(String(describing: error))")
        #expect(error?.errno == EACCES)
    }

    @Test("A tp_btf program whose tracepoint the kernel lacks is named with its target")
    func missingTracepoint() {
        let error = expectBPFError(.notFound) { _ = try loadTestObject { $0.programs.missingTracepoint.autoload = true } }
        #expect(error?.description == "load BPF program missing_tracepoint of kittest (tp_btf/bpfkit_no_such_tracepoint): "
                + "the kernel has no tracepoint bpfkit_no_such_tracepoint (no btf_trace_bpfkit_no_such_tracepoint in its BTF)")
    }

    @Test("libbpf's own error codes read as libbpf says them")
    func libbpfCodes() {
        let error = expectBPFError(.invalidArgument) { _ = try BPFObject(bytes: [UInt8](repeating: 7, count: 64), name: "junk") }
        #expect(error?.description == "open BPF object junk: BPF object format invalid")
        #expect(BPFError.system("load x", errno: 4005).description == "load x: Relocation failed")
        #expect(BPFError.system("load x", errno: 4010).kind == .notSupported)
    }

    @Test("A misspelled section is a build error at its SEC() line; loaded anyway, it is refused by name",
          .enabled(if: onPath("clang") != nil && onPath("llvm-objcopy") != nil, "needs the toolchain's clang and llvm-objcopy on PATH"))
    func misspelledSection() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let source = scratch.url.appendingPathComponent("bad.bpf.c").path
        try """
            #include "bpfkit.h"
            char LICENSE[] SEC("license") = "GPL";

              SEC("tracepont/syscalls/sys_enter_getppid")
            int misspelled(void *ctx) { return 0; }

            """.write(toFile: source, atomically: true, encoding: .utf8)
        let object = scratch.url.appendingPathComponent("bad.bpf.o").path
        #if arch(arm64)
        let architecture = "arm64"
        #else
        let architecture = "x86_64"
        #endif
        let headers = root.appendingPathComponent("Sources/BPFHeaders/bpf").path
        let (status, output) = try run(products.appendingPathComponent("bpfkit-build").path, [
            "--clang", try #require(onPath("clang")), "--objcopy", try #require(onPath("llvm-objcopy")),
            "--source", source, "--object", object, "--output", scratch.url.appendingPathComponent("bad.bpf.swift").path,
            "--name", "bad", "--include", headers + "/" + architecture, "--include", headers,
        ])
        #expect(status == 1)
        #expect(output == "\(source):4:3: error: program 'misspelled' is in section 'tracepont/syscalls/sys_enter_getppid', "
                + "which libbpf does not know: did you mean 'tracepoint/syscalls/sys_enter_getppid'?\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("bad.bpf.swift").path))

        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: object)))
        let error = expectBPFError(.invalidArgument) { try BPFObject(bytes: bytes, name: "bad").load() }
        #expect(error?.description == "load BPF program misspelled of bad (tracepont/syscalls/sys_enter_getppid): "
                + "libbpf knows no section 'tracepont/syscalls/sys_enter_getppid' (a misspelled SEC()?)")
    }

    @Test("libbpf's messages reach a handler once prefixed: 'libbpf: ' is not doubled")
    func logPrefix() throws {
        let messages = LockedLines()
        BPFLog.route(upTo: .debug) { _, line in messages.append(line) }
        defer { BPFLog.silence() }
        _ = try KittestSkeleton.open()
        BPFLog.silence()
        #expect(messages.count > 0)
        #expect(messages.all.allSatisfy { !$0.hasPrefix("libbpf: ") }, "\(messages.all.prefix(3))")
    }

    @Test("A second attach() of the skeleton is a no-op; a second attach() of one program is an error")
    func attachTwice() throws {
        let skeleton = try loadTestObject()
        let first = try skeleton.attach()
        let second = try skeleton.attach()
        #expect(first.map(ObjectIdentifier.init) == second.map(ObjectIdentifier.init))
        triggerGetppid(2)
        #expect(skeleton.bss.hits == 2)  // once per call, not twice
        let error = expectBPFError(.alreadyExists) { try skeleton.programs.onGetppid.attach() }
        #expect(error?.description == "attach BPF program on_getppid of kittest (tracepoint/syscalls/sys_enter_getppid): "
                + "already attached there: detach its link first")
        for link in first where link.programName == "on_getppid" { link.detach() }
        try skeleton.programs.onGetppid.attach()
        triggerGetppid()
        #expect(skeleton.bss.hits == 3)
    }

    @Test("Holding a map, program or globals after the skeleton is gone keeps them usable, not attached")
    func viewsOutliveObject() throws {
        let map: BPFMap, program: BPFProgram, bss: BPFGlobalData
        do {
            let skeleton = try loadTestObject()
            map = skeleton.maps.percpuU64
            program = skeleton.programs.onGetppid
            bss = try skeleton.object.globals(.bss)
            try skeleton.attach()
            triggerGetppid()
        }
        triggerGetppid(3)
        #expect(try BPFPerCPUArray<UInt64>(map).sum(0) == 1)
        #expect(try bss.read("hits", as: UInt64.self) == 1)
        #expect(program.fileDescriptor >= 0)
        let error = expectBPFError(.invalidArgument) { try program.attach() }
        #expect(error?.details == "its BPFObject is released (keep the skeleton or object to attach)")
    }
}
