import ExecSnoopEvent

/// One exec record: its header, then the file name and the arguments, as bytes valid only
/// while the ring buffer's handler runs.
struct ExecEvent {
    let header: execsnoop_event
    let comm: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer
    /// The arguments kept, without their NULs; the last one was itself cut if `lastArgumentCut`.
    let arguments: [UnsafeRawBufferPointer], lastArgumentCut: Bool

    /// Decodes a record; nil if it is shorter than its header says.
    init?(_ record: UnsafeRawBufferPointer) {
        let size = MemoryLayout<execsnoop_event>.size, commAt = MemoryLayout<execsnoop_event>.offset(of: \.comm)!
        guard record.count >= size else { return nil }
        header = record.loadUnaligned(as: execsnoop_event.self)
        let pathEnd = size + Int(header.path_len), end = pathEnd + Int(header.args_len)
        guard record.count >= end else { return nil }
        comm = UnsafeRawBufferPointer(rebasing: record[commAt..<size].prefix { $0 != 0 })
        path = UnsafeRawBufferPointer(rebasing: record[size..<pathEnd])
        let args = UnsafeRawBufferPointer(rebasing: record[pathEnd..<end])
        lastArgumentCut = args.last.map { $0 != 0 } ?? false
        arguments = args.split(separator: 0, omittingEmptySubsequences: false)
            .dropLast(lastArgumentCut ? 0 : 1).map { UnsafeRawBufferPointer(rebasing: $0) }
    }

    func has(_ flag: execsnoop_event_flag) -> Bool { header.flags & UInt8(flag.rawValue) != 0 }
}
