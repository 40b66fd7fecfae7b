internal import Glibc

extension BPFMapHandle {
    /// Bytes a BPF ring buffer holds that its reader has not consumed yet, read from the two
    /// position pages the kernel maps for it (as `bpf_ringbuf_query(BPF_RB_AVAIL_DATA)` reads
    /// them in the kernel): no program needs to run. Safe to call from any thread.
    public func ringBufferPendingBytes() throws(BPFError) -> UInt64 {
        let context = "read the fill of BPF ring buffer \(name)"
        guard type == .ringBuffer else {
            throw BPFError(.invalidArgument, context, details: "not a ring buffer")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        // Page 0 holds the consumer's position, page 1 the producer's.
        func position(_ index: Int) throws(BPFError) -> UInt64 {
            guard let mapped = mmap(nil, page, PROT_READ, MAP_SHARED, fileDescriptor, off_t(index * page)),
                  mapped != MAP_FAILED else {
                throw BPFError.system(context, errno: errno)
            }
            defer { munmap(mapped, page) }
            return mapped.load(as: UInt64.self)  // aligned: one load, never torn
        }
        let consumer = try position(0)
        let producer = try position(1)
        return producer &- consumer
    }
}
