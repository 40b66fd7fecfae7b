import BPFKit
import OpenSnoop
import OpenSnoopFormats
import OpenSnoopEvent
import TraceOutput

/// Builds ring-buffer records as the kernel would write them.
enum EventFixture {
    static func record(pid: UInt32 = 42, tid: UInt32 = 43, uid: UInt32 = 1000, ret: Int32 = 3,
                       flags: UInt64 = 0o2000000, mode: UInt32 = 0, comm: [UInt8] = Array("cat".utf8),
                       path: [UInt8] = Array("/etc/hosts".utf8), fullPath: [UInt8]? = nil, rootLength: UInt16 = 0,
                       eventFlags: UInt16 = 0, source: OpenEvent.Source = .openat, ts: UInt64 = 1_000_000_000,
                       fixedSlot: UInt32 = 0, cgroupID: UInt64 = 0, latency: UInt64? = nil) -> [UInt8] {
        var header = OpenEvent.Header(
            tsNs: ts, flags: flags, cgroupId: cgroupID, pid: pid, tid: tid, uid: uid, ret: ret, mode: mode, dirfd: -100,
            fixedSlot: fixedSlot, pathLen: UInt16(path.count), fullLen: UInt16(fullPath?.count ?? 0), rootLen: rootLength,
            eventFlags: eventFlags | (fullPath != nil ? UInt16(OPENSNOOP_EV_FULL_PATH.rawValue) : 0), source: source)
        if let latency {
            header.latencyNs = latency
            header.eventFlags |= UInt16(OPENSNOOP_EV_LATENCY.rawValue)
        }
        for (i, byte) in comm.prefix(15).enumerated() { header.comm.bytes[i] = byte }
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
