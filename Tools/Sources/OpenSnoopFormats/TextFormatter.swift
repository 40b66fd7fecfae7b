public import OpenSnoop
public import TraceOutput

/// libbpf-tools opensnoop's columns (`[TIME] [UID] PID COMM FD ERR [FLAGS] PATH`, and ours:
/// `[LAT(us)] [CGROUP]` before the path), with the
/// same widths, and untrusted bytes escaped so that no name can forge a line or reach the
/// terminal as a control sequence.
public struct TextFormatter: EventFormatter {
    public let columns: OutputColumns
    private var clock: WallClock
    /// `[UID ]PID COMM `, kept while the process repeats.
    private var identity = RepeatedRun()
    /// Names the `CGROUP` column (with `columns.cgroup`).
    private let cgroups: CgroupFields?

    /// `cgroups` names cgroups when `columns.cgroup` is set (by default, from the cgroup2 mount).
    public init(columns: OutputColumns, clock: WallClock = WallClock(), cgroups: CgroupFields? = nil) {
        self.columns = columns
        self.clock = clock
        self.cgroups = columns.cgroup ? cgroups ?? CgroupFields() : nil
    }

    public mutating func appendHeader(into out: inout OutputBuffer) {
        if columns.timestamp { out.append("TIME     ") }
        if columns.uid { out.append("UID     ") }
        out.append("PID    COMM              FD ERR ")
        if columns.flags { out.append("FLAGS    ") }
        if columns.latency { out.append("  LAT(us) ") }
        if columns.cgroup { CgroupFields.appendTextHeader(into: &out) }
        out.append("PATH\n")
    }

    public mutating func append(_ event: OpenEvent, into out: inout OutputBuffer) {
        if columns.timestamp {
            clock.appendLocalTime(event.timestampNanoseconds, into: &out)
            out.append(UInt8(ascii: " "))
        }
        let comm = event.commWords
        let key = RepeatedRun.Key(a: UInt64(event.uid), b: UInt64(UInt32(bitPattern: event.pid)), c: comm.0, d: comm.1)
        let showUID = columns.uid
        identity.append(key, into: &out) { out in
            if showUID {
                out.appendDecimal(Int64(event.uid), width: 7, leftAligned: true)
                out.append(UInt8(ascii: " "))
            }
            out.appendDecimal(Int64(event.pid), width: 6, leftAligned: true)
            out.append(UInt8(ascii: " "))
            SafeText.appendTerminalSafeField(event.commField, paddedTo: 16, into: &out)
            out.append(UInt8(ascii: " "))
        }
        if let slot = event.fixedSlot {
            // An io_uring open into a fixed-file slot makes no fd: "#SLOT" instead.
            out.append(repeating: UInt8(ascii: " "), count: 2 - OutputBuffer.decimalDigits(UInt64(slot)))
            out.append(UInt8(ascii: "#"))
            out.appendDecimal(Int64(slot))
        } else {
            out.appendDecimal(Int64(event.fileDescriptor), width: 3)
        }
        out.append(UInt8(ascii: " "))
        out.appendDecimal(Int64(event.errorNumber), width: 3)
        out.append(UInt8(ascii: " "))
        if columns.flags {
            out.appendOctal(event.flags.rawValue, width: 8)
            out.append(UInt8(ascii: " "))
        }
        if columns.latency {
            if let latency = event.latencyNanoseconds {
                // microseconds with three decimals (nanosecond precision), right-aligned in 9
                let whole = latency / 1000
                out.append(repeating: UInt8(ascii: " "), count: 9 - 4 - OutputBuffer.decimalDigits(whole))
                out.appendUnsigned(whole)
                out.append(UInt8(ascii: "."))
                out.appendZeroPadded(latency % 1000, width: 3)
            } else {
                out.append("        -")
            }
            out.append(UInt8(ascii: " "))
        }
        cgroups?.appendText(event.cgroupID, into: &out)
        if (columns.fullPath || event.source == .openByHandleAt), let full = event.fullPathBytes {
            if event.fullPathCutAtRoot { out.append("[truncated]...") }
            if event.fullPathDeleted, event.fullPathJoined, let split = event.joinedDirectoryLength {
                // The directory was deleted: mark it, not the name after it.
                SafeText.appendTerminalSafe(UnsafeRawBufferPointer(rebasing: full[..<split]), into: &out)
                out.append(" (deleted)")
                SafeText.appendTerminalSafe(UnsafeRawBufferPointer(rebasing: full[split...]), into: &out)
            } else {
                SafeText.appendTerminalSafe(full, into: &out)
                if event.fullPathDeleted { out.append(" (deleted)") }
            }
            if event.fullPathJoined && event.pathTruncated { out.append("...[truncated]") }
        } else if event.pathUnreadable {
            out.append("[unreadable]")
        } else {
            SafeText.appendTerminalSafe(event.pathBytes, into: &out)
            if event.pathTruncated { out.append("...[truncated]") }
        }
        out.append(UInt8(ascii: "\n"))
    }

    public mutating func appendLost(_ count: UInt64, total: UInt64, into out: inout OutputBuffer) -> Bool {
        false
    }
}
