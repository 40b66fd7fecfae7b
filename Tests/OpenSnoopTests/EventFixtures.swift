import OpenSnoop
import OpenSnoopCLI
import OpenSnoopEvent
import TraceOutput

/// Builds ring-buffer records as the kernel would write them.
enum EventFixture {
    static func record(pid: UInt32 = 42, tid: UInt32 = 43, uid: UInt32 = 1000, ret: Int32 = 3,
                       flags: UInt64 = 0o2000000, mode: UInt32 = 0, comm: [UInt8] = Array("cat".utf8),
                       path: [UInt8] = Array("/etc/hosts".utf8), fullPath: [UInt8]? = nil, rootLength: UInt16 = 0,
                       eventFlags: UInt16 = 0, source: UInt8 = 2, ts: UInt64 = 1_000_000_000,
                       fixedSlot: UInt32 = 0, cgroupID: UInt64 = 0) -> [UInt8] {
        var header = opensnoop_event()
        header.cgroup_id = cgroupID
        header.ts_ns = ts
        header.pid = pid
        header.tid = tid
        header.uid = uid
        header.ret = ret
        header.flags = flags
        header.mode = mode
        header.dirfd = -100
        header.path_len = UInt16(path.count)
        header.full_len = UInt16(fullPath?.count ?? 0)
        header.root_len = rootLength
        header.fixed_slot = fixedSlot
        header.source = source
        header.event_flags = eventFlags | (fullPath != nil ? UInt16(OPENSNOOP_EV_FULL_PATH.rawValue) : 0)
        withUnsafeMutableBytes(of: &header.comm) { raw in
            for (i, byte) in comm.prefix(15).enumerated() { raw[i] = byte }
        }
        return withUnsafeBytes(of: header, Array.init) + path + (fullPath ?? [])
    }

    /// Decodes `record` and formats it with `formatter` (one line).
    static func format<F: EventFormatter>(_ record: [UInt8], with formatter: inout F) -> String {
        var out = OutputBuffer()
        record.withUnsafeBytes { raw in
            if let event = OpenEvent(record: raw) { formatter.append(event, into: &out) }
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }
}
