public import OpenSnoop
public import TraceOutput

/// JSON Lines: one object per open, every field named and typed.
///
/// Strings: `comm`, `path` and `full_path` are the bytes as UTF-8 JSON strings. A name that is
/// not valid UTF-8 has each bad byte replaced by U+FFFD there, and its exact bytes are given in
/// base64 in `comm_base64` / `path_base64` / `full_path_base64` (present only then), so the
/// encoding is lossless. Lost events are records too: `{"lost":N,"lost_total":M,...}`.
public struct JSONFormatter: EventFormatter {
    public let columns: OutputColumns
    private var clock: WallClock

    public init(columns: OutputColumns, clock: WallClock = WallClock()) {
        self.columns = columns
        self.clock = clock
    }

    public mutating func appendHeader(into out: inout OutputBuffer) {}

    /// Appends `"key":"bytes"` and, if they are not valid UTF-8, `"key_base64":"..."`.
    private func appendBytesField(_ key: StaticString, _ bytes: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        out.append(",\"")
        out.append(key)
        out.append("\":")
        if !SafeText.appendJSONString(bytes, into: &out) {
            out.append(",\"")
            out.append(key)
            out.append("_base64\":")
            SafeText.appendBase64(bytes, into: &out)
        }
    }

    private func appendBool(_ key: StaticString, _ value: Bool, into out: inout OutputBuffer) {
        out.append(",\"")
        out.append(key)
        out.append(value ? "\":true" : "\":false")
    }

    private func appendInt(_ key: StaticString, _ value: Int64, into out: inout OutputBuffer) {
        out.append(",\"")
        out.append(key)
        out.append("\":")
        out.appendDecimal(value)
    }

    private func appendUnsigned(_ key: StaticString, _ value: UInt64, into out: inout OutputBuffer) {
        out.append(",\"")
        out.append(key)
        out.append("\":")
        out.appendUnsigned(value)
    }

    public mutating func append(_ event: OpenEvent, into out: inout OutputBuffer) {
        out.append("{\"time\":\"")
        clock.appendRFC3339(event.timestampNanoseconds, into: &out)
        out.append("\"")
        appendUnsigned("ts_ns", event.timestampNanoseconds, into: &out)
        appendInt("pid", Int64(event.pid), into: &out)
        appendInt("tid", Int64(event.tid), into: &out)
        appendInt("uid", Int64(event.uid), into: &out)
        event.withCommBytes { appendBytesField("comm", $0, into: &out) }
        if let slot = event.fixedSlot {
            out.append(",\"fd\":null")
            appendUnsigned("fixed_slot", UInt64(slot), into: &out)
        } else {
            appendInt("fd", Int64(event.fileDescriptor), into: &out)
        }
        appendInt("ret", Int64(event.result), into: &out)
        appendInt("errno", Int64(event.errorNumber), into: &out)
        out.append(",\"errno_name\":")
        if event.errorNumber != 0, let name = ErrnoName.of(event.errorNumber) {
            out.append(UInt8(ascii: "\""))
            out.append(name)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append("null")
        }
        appendUnsigned("flags", event.flags.rawValue, into: &out)
        out.append(",\"flags_names\":[")
        for (index, name) in event.flags.names.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(name)
            out.append(UInt8(ascii: "\""))
        }
        out.append("]")
        appendInt("mode", Int64(event.mode), into: &out)
        appendInt("dirfd", Int64(event.directoryFD), into: &out)
        out.append(",\"source\":\"")
        out.append(event.source.name)
        out.append("\"")
        appendBool("compat", event.isCompat, into: &out)
        if columns.latency {
            if let latency = event.latencyNanoseconds {
                appendUnsigned("latency_ns", latency, into: &out)
            } else {
                out.append(",\"latency_ns\":null")
            }
        }
        if columns.cgroupID { appendUnsigned("cgroup_id", event.cgroupID, into: &out) }
        if event.source == .openByHandleAt, let resolved = event.fullPathBytes {
            appendBytesField("path", resolved, into: &out)
        } else {
            appendBytesField("path", event.pathBytes, into: &out)
        }
        appendBool("path_truncated", event.pathTruncated, into: &out)
        appendBool("path_unreadable", event.pathUnreadable, into: &out)
        if columns.fullPath {
            if let full = event.fullPathBytes {
                appendBytesField("full_path", full, into: &out)
                if event.isChrooted, let host = event.hostPathBytes {
                    appendBytesField("full_path_host", host, into: &out)
                }
            } else {
                out.append(",\"full_path\":null")
            }
            appendBool("full_path_truncated", event.fullPathBytes != nil && event.fullPathTruncated, into: &out)
            appendBool("full_path_deleted", event.fullPathBytes != nil && event.fullPathDeleted, into: &out)
        }
        out.append("}\n")
    }

    public mutating func appendLost(_ count: UInt64, total: UInt64, into out: inout OutputBuffer) -> Bool {
        out.append("{\"lost\":")
        out.appendDecimal(Int64(count))
        out.append(",\"lost_total\":")
        out.appendDecimal(Int64(total))
        out.append("}\n")
        return true
    }
}
