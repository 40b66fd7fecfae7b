import BPFKit
import BPFKitTestPrograms
import Glibc
import Testing

@Suite("Loading: libbpf's CO-RE, a kernel BTF file, verifier statistics", .tags(.kernel),
       .enabled(if: isRoot && KernelSupport.hasKernelBTF, "loading BPF programs needs root and kernel BTF"))
struct LoadTests {
    /// The test object with only `core_shapes` switched on, opened with `kernelBTFPath`, loaded
    /// and run once on this thread: what its CO-RE reads gave.
    private func coreResults(kernelBTFPath: String?) throws -> [UInt64] {
        let open = try KittestSkeleton.open(kernelBTFPath: kernelBTFPath)
        for program in open.object.programs { program.autoload = program.name == "core_shapes" }
        let skeleton = try open.load()
        try skeleton.programs.coreShapes.run()
        let bytes = try skeleton.object.globals(.bss).bytes("core_results")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
    }

    @Test("CO-RE relocations read the running kernel's layout, from its BTF or the same BTF given as a file",
          arguments: [nil, "/sys/kernel/btf/vmlinux"])
    func relocated(kernelBTFPath: String?) throws {
        let results = try coreResults(kernelBTFPath: kernelBTFPath)
        let comm = try #require(readThreadComm())
        #expect(results[0] > 0)                      // offsetof(struct task_struct, comm)
        #expect(results[1] == 16)                    // sizeof(task->comm)
        #expect(results[2] == 0 && results[3] == 1)  // a missing field, an existing type
        #expect(results[4] > 1000)                   // sizeof(struct task_struct)
        #expect(results[5] == 1 && results[6] == 1)  // BPF_FUNC_map_lookup_elem, BPF_FUNC_snprintf exists
        #expect(results[7] == UInt64(getpid()))      // task->tgid
        #expect(results[8] > 0)                      // the length of the cwd's last component
        #expect(results[9] <= 1)                     // a one-bit bitfield
        #expect(results[10] == UInt64(comm.count > 1 ? comm[1] : 0))  // task->comm[1]
        #expect(results[11] == 0)                    // a zero-length array that is not last: no such field
    }

    @Test("A kernel BTF file that does not exist: the open fails naming it")
    func missingKernelBTF() {
        let error = expectBPFError(.notFound) { _ = try KittestSkeleton.open(kernelBTFPath: "/nonexistent/vmlinux.btf") }
        #expect(error?.description == "open BPF object kittest with kernel BTF /nonexistent/vmlinux.btf: No such file or directory")
    }

    @Test("With statistics, each loaded program reports what verifying it took; without, none")
    func statistics() throws {
        let open = try KittestSkeleton.open()
        open.programs.coreShapes.autoload = true
        let skeleton = try open.load(collectingStatistics: true)
        let loaded = skeleton.object.programs.filter(\.autoload)
        #expect(loaded.count > 3)
        for program in loaded {
            let statistics = try #require(program.verifierStatistics, "\(program.name)")
            #expect(statistics.instructionsProcessed > 0, "\(program.name)")
            #expect(statistics.stackDepths.count == 1, "\(program.name): no subprograms")
            #expect(statistics.verificationTime >= .zero && statistics.peakStates <= statistics.totalStates)
        }
        // core_shapes keeps `second` and `cwd_len` on its stack.
        #expect(try #require(skeleton.programs.coreShapes.verifierStatistics).stackDepths[0] >= 8)
        #expect(skeleton.programs.onUprobe.verifierStatistics == nil)  // not loaded
        #expect(try loadTestObject().programs.onGetppid.verifierStatistics == nil)
    }

    @Test("With statistics, a rejected program is still named, with the verifier's reason")
    func rejectedWithStatistics() {
        let error = expectBPFError(.verifierRejected) {
            let open = try KittestSkeleton.open()
            open.programs.rejected.autoload = true
            _ = try open.load(collectingStatistics: true)
        }
        #expect(error?.context == "load BPF program rejected of kittest (\(KittestSkeleton.sections[.rejected]!))")
        #expect(error?.details?.contains("invalid mem access") == true, "\(String(describing: error))")
    }

    @Test("A tp_btf program whose tracepoint the kernel lacks: the load fails naming it, with statistics or not",
          arguments: [false, true])
    func missingTracepoint(collectingStatistics: Bool) {
        let error = expectBPFError(.notFound) {
            let open = try KittestSkeleton.open()
            open.programs.missingTracepoint.autoload = true
            _ = try open.load(collectingStatistics: collectingStatistics)
        }
        #expect(error?.description.contains("missing_tracepoint") == true, "\(String(describing: error))")
        #expect(error?.description.contains("no tracepoint bpfkit_no_such_tracepoint") == true, "\(String(describing: error))")
    }

    /// This thread's name as the kernel has it.
    private func readThreadComm() -> [UInt8]? {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = read(fd, &buffer, buffer.count)
        return count > 0 ? Array(buffer[0..<count].prefix { $0 != 0x0A }) : nil
    }
}

@Suite("The kernel's tracepoints and functions from its BTF", .enabled(if: KernelSupport.hasKernelBTF, "needs kernel BTF"))
struct KernelBTFTests {
    @Test("Tracepoints and their parameter counts")
    func tracepoints() {
        #expect(KernelBTF.tracepointParameterCounts(["sys_enter", "sys_exit", "bpfkit_no_such_tracepoint"])
                == ["sys_enter": 2, "sys_exit": 2])
        #expect(KernelSupport.hasBTFTracepoint("sched_process_exec"))
        #expect(!KernelSupport.hasBTFTracepoint("bpfkit_no_such_tracepoint"))
    }

    @Test("Functions from the same kept read; after release() the next question reads the BTF again")
    func functionsAndRelease() {
        #expect(KernelBTF.functionsPresent(["bpf_fentry_test1", "bpfkit_no_such_function"]) == ["bpf_fentry_test1"])
        KernelBTF.release()
        KernelBTF.release()
        #expect(KernelBTF.tracepointParameterCounts(["sys_exit"]) == ["sys_exit": 2])
        #expect(KernelBTF.functionsPresent(["bpf_fentry_test1"]) == ["bpf_fentry_test1"])
    }
}
