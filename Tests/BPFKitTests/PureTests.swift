@testable import BPFKit
@testable import BPFSkeletonGenerator
import Glibc
import Testing

@Suite("Pure parts: sections, names, the generator, embedded bytes")
struct PureTests {
    @Test("Sections parse to typed attach points")
    func attachPoints() {
        #expect(BPFAttachPoint(section: "tracepoint/syscalls/sys_enter_openat") == .tracepoint(category: "syscalls", name: "sys_enter_openat"))
        #expect(BPFAttachPoint(section: "tp/sched/sched_switch") == .tracepoint(category: "sched", name: "sched_switch"))
        #expect(BPFAttachPoint(section: "tracepoint") == .other("tracepoint"))
        #expect(BPFAttachPoint(section: "?tp_btf/io_uring_complete") == .btfTracepoint("io_uring_complete"))
        #expect(BPFAttachPoint(section: "raw_tp/sys_enter") == .rawTracepoint("sys_enter"))
        #expect(BPFAttachPoint(section: "kretprobe/do_unlinkat") == .kprobe(function: "do_unlinkat", isReturn: true))
        #expect(BPFAttachPoint(section: "ksyscall/openat") == .ksyscall("openat", isReturn: false))
        #expect(BPFAttachPoint(section: "uretprobe") == .uprobe(isReturn: true))
        #expect(BPFAttachPoint(section: "fexit/vfs_read") == .fentry(function: "vfs_read", isReturn: true))
        #expect(BPFAttachPoint(section: "iter/task") == .iterator("task"))
        #expect(BPFAttachPoint(section: "xdp") == .other("xdp"))
    }

    @Test("libbpfVersion names the libbpf in use as MAJOR.MINOR, 1.1 or later")
    func libbpfVersion() throws {
        let parts = BPFLog.libbpfVersion.split(separator: ".").compactMap { Int($0) }
        try #require(parts.count == 2, "\(BPFLog.libbpfVersion)")
        #expect(parts[0] > 1 || (parts[0] == 1 && parts[1] >= 1), "\(BPFLog.libbpfVersion)")
    }

    @Test("C names become Swift names; keywords are escaped")
    func names() {
        #expect(identifier("exit_openat_regs") == "exitOpenatRegs")
        #expect(identifier("default") == "`default`")
        #expect(identifier("events") == "events")
        #expect(upperCamel("open_snoop") == "OpenSnoop")
        #expect(literal("a\"b\\c") == "\"a\\\"b\\\\c\"")
    }

    @Test("The generator writes typed members for programs, maps and globals")
    func generator() {
        let object = ObjectDescription(
            name: "demo",
            programs: [.init(name: "handle_exec", section: "tp/sched/sched_process_exec")],
            maps: [.init(name: "events", type: .ringBuffer)],
            globals: [(.rodata, 24, [
                .init(name: "min_us", offset: 0, shape: .integer(size: 8, signed: false)),
                .init(name: "targ_comm", offset: 8, shape: .array(.integer(size: 1, signed: false), count: 16)),
            ])])
        let source = SkeletonGenerator(object: object, base64: "AAEC", sourceName: "demo.bpf.c").source()
        #expect(source.contains("public struct DemoSkeleton {"))
        #expect(source.contains("public let handleExec: BPFProgram"))
        #expect(source.contains(".handleExec: .tracepoint(category: \"sched\", name: \"sched_process_exec\")"))
        #expect(source.contains("public let events: BPFMap"))
        #expect(source.contains("public var minUs: UInt64 {"))
        #expect(source.contains("public var targComm: InlineArray<16, UInt8> {"))
        #expect(source.contains("public func setTargComm(_ values: some Collection<UInt8>) throws(BPFError)"))
        #expect(!source.contains("BssGlobals"))
        #expect(source.contains("public static func open(kernelBTFPath: String? = nil) throws(BPFError) -> Open {"))
        #expect(source.contains("public consuming func load(collectingStatistics: Bool = false) throws(BPFError) -> DemoSkeleton {"))
    }

    @Test("Sections libbpf does not know, and tracepoints without a category, are build errors at their SEC() line")
    func unknownSections() {
        #expect(BPFProgramType(section: "?tp_btf/sched_switch") == .tracing)
        #expect(BPFProgramType(section: "tracepont/syscalls/sys_enter_openat") == nil)
        let source = "#include \"bpfkit.h\"\n\nSEC(\"?kprobee/do_unlinkat\")\nint a(void *ctx) { return 0; }\n"
        let programs: [ObjectDescription.Program] = [
            .init(name: "a", section: "kprobee/do_unlinkat"), .init(name: "b", section: "tracepoint/syscalls/x"),
            .init(name: "c", section: "nonsense"), .init(name: "d", section: "?tp/sched_process_exec"),
            .init(name: "e", section: "tracepoint"),  // attached by explicit calls
        ]
        #expect(unknownSectionDiagnostics(programs: programs, sourcePath: "demo.bpf.c", sourceText: source) == [
            "demo.bpf.c:3:1: error: program 'a' is in section 'kprobee/do_unlinkat', which libbpf does not know: did you mean 'kprobe/do_unlinkat'?",
            "demo.bpf.c: error: program 'c' is in section 'nonsense', which libbpf does not know (libbpf's sections: "
                + "tracepoint/CATEGORY/NAME, raw_tp/NAME, tp_btf/NAME, kprobe/FUNCTION, fentry/FUNCTION, uprobe, iter/KIND, ...)",
            "demo.bpf.c: error: program 'd' is in section '?tp/sched_process_exec', which names no tracepoint category: "
                + "tracepoint/CATEGORY/NAME, e.g. tracepoint/sched/sched_process_exec",
        ])
        #expect(editDistance(Array("tracepont".utf8), Array("tracepoint".utf8)) == 1)
    }

    @Test("Embedded bytes decode from base64")
    func base64() {
        #expect(BPFEmbeddedObject.bytes(base64: "AAEC/w==") == [0, 1, 2, 255])
        #expect(BPFEmbeddedObject.bytes(base64: "") == [])
    }

    @Test("Verifier statistics read from the kernel's BPF_LOG_STATS lines")
    func verifierStatistics() throws {
        let log = """
            verification time 1234 usec
            stack depth 64+72+88
            processed 5120 insns (limit 1000000) max_states_per_insn 4 total_states 300 peak_states 120 mark_read 40

            """
        let statistics = try #require(VerifierStatistics(log: log))
        #expect(statistics.instructionsProcessed == 5120 && statistics.totalStates == 300 && statistics.peakStates == 120)
        #expect(statistics.verificationTime == .microseconds(1234) && statistics.stackDepths == [64, 72, 88])
        #expect(VerifierStatistics.isStatisticsOnly(log))
        #expect(!VerifierStatistics.isStatisticsOnly("R0 invalid mem access 'map_value_or_null'\n" + log))
        #expect(VerifierStatistics(log: "") == nil)
    }

    @Test("Errors read as context: reason")
    func errors() {
        let error = BPFError.system("attach x", errno: 1)
        #expect(error.kind == .permissionDenied)
        #expect(error.description == "attach x: Operation not permitted")
        #expect(BPFError.system("a", errno: 524).kind == .notSupported)
        #expect(BPFError.system("load x", errno: 4005).description == "load x: Relocation failed")
        #expect(BPFObject.verifierError(program: "p of o", code: 13, log: "R0 !read_ok\n").description
                == "load BPF program p of o: the verifier rejected it:\nR0 !read_ok")
        #expect(BPFMapType.lruPerCPUHash.isPerCPU && !BPFMapType.hash.isPerCPU)
    }

    @Test("A verifier error keeps the log's last lines as its reason and says when the log filled its buffer")
    func verifierErrors() {
        let short = BPFObject.verifierError(program: "p", code: 13, log: "0: R1=ctx\nR2 invalid mem access 'scalar'\n")
        #expect(short.kind == .verifierRejected && !short.verifierLogTruncated)
        #expect(short.details == "the verifier rejected it:\n0: R1=ctx\nR2 invalid mem access 'scalar'")
        let long = String(repeating: "x\n", count: BPFObject.verifierLogSize / 2) + "last line"
        let cut = BPFObject.verifierError(program: "p", code: 13, log: long)
        #expect(cut.verifierLogTruncated)
        #expect(cut.details?.hasSuffix("x\nlast line") == true)
        // The source line the verifier names, when the last lines have left it behind.
        let located = BPFObject.verifierError(program: "p", code: 13, log: "; return c[i]; @ a.bpf.c:9\n"
                                                  + (1...8).map { "\($0): r\($0) = r0" }.joined(separator: "\n"))
        #expect(located.details?.hasPrefix("the verifier rejected it:\nat return c[i]; @ a.bpf.c:9\n...\n1: r1 = r0") == true,
                "\(located.details ?? "")")
        #expect(short.details?.contains("...") == false)
    }
    @Test("StopSignals keeps its signals pending, and received sees them")
    func stopSignals() {
        var saved = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        let stop = StopSignals([SIGUSR2])
        #expect(!stop.received)
        pthread_kill(pthread_self(), SIGUSR2)  // pending for this thread only: blocked, not delivered
        #expect(stop.received)
        var usr2 = sigset_t()
        sigemptyset(&usr2)
        sigaddset(&usr2, SIGUSR2)
        var zero = timespec()
        #expect(sigtimedwait(&usr2, nil, &zero) == SIGUSR2)  // taken, so that nothing is left
        #expect(!stop.received)
    }
}
