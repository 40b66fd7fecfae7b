internal import CLibBPF
internal import Glibc

extension BPFProgram {
    /// The loaded program's file descriptor (-1 before load).
    public var fileDescriptor: Int32 { bpf_program__fd(pointer) }

    /// Runs the loaded program once in the calling thread's context (`BPF_PROG_TEST_RUN`, for
    /// program types that allow it, e.g. raw tracepoints with no arguments); returns its result.
    @discardableResult
    public func run() throws -> UInt32 {
        var options = bpf_test_run_opts()
        options.sz = MemoryLayout<bpf_test_run_opts>.size
        try check("run BPF program \(name)") { bpf_prog_test_run_opts(fileDescriptor, &options) }
        return options.retval
    }

    /// Times the kernel skipped the program because it was already running on the CPU
    /// (a tracepoint hit inside itself): events it never saw. Linux 5.12; 0 before.
    public func recursionMisses() throws -> UInt64 {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        try check("read BPF program info \(name)") { bpf_obj_get_info_by_fd(fileDescriptor, &info, &length) }
        return info.recursion_misses
    }
}
