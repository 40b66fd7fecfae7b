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
    /// `allNarrowCells`, held here: reading a static costs a call to its lazy initializer's check each time.
    private let narrowCells = Self.allNarrowCells
    /// The cgroup's column or fields, kept while the cgroup repeats.
    private var cgroupRun = RepeatedRun()

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
        if columns.timestamp { appendTime(event, into: &out) }
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
            Self.appendSlot(slot, into: &out)
            out.append(UInt8(ascii: " "))
            out.appendDecimal(Int64(event.errorNumber), width: 3)
            out.append(UInt8(ascii: " "))
        } else {
            appendNarrowColumns(event.fileDescriptor, event.errorNumber, into: &out)
        }
        if columns.flags || columns.latency || cgroups != nil { appendOptionalColumns(event, into: &out) }
        if (columns.fullPath || event.source == .openByHandleAt), let full = event.fullPathBytes {
            Self.appendFullPath(full, of: event, into: &out)
        } else if event.pathUnreadable {
            out.append("[unreadable]")
        } else {
            SafeText.appendTerminalSafe(event.pathBytes, into: &out)
            if event.pathTruncated { out.append("...[truncated]") }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// `%3d %3d ` (the FD and ERR columns, each with the space after it) as one 8-byte store of
    /// two cells from `narrowCells` when both are in -99...999 (every errno; an fd below 1000).
    @inline(__always)
    private func appendNarrowColumns(_ fd: Int32, _ error: Int32, into out: inout OutputBuffer) {
        let first = Int(fd) &+ 99, second = Int(error) &+ 99
        guard narrowCells.indices.contains(first), narrowCells.indices.contains(second) else {
            return Self.appendWideColumns(fd, error, into: &out)
        }
        let cells = UInt64(narrowCells[first]) | UInt64(narrowCells[second]) << 32
        withUnsafeBytes(of: cells.littleEndian) { out.append(contentsOf: $0) }
    }

    /// `%3d ` (4 bytes, the first lowest) of each value in -99...999, at the value + 99.
    private static let allNarrowCells: [UInt32] = (-99...999).map { value in
        var cell = OutputBuffer(capacity: 8)
        cell.appendDecimal(Int64(value), width: 3)
        cell.append(UInt8(ascii: " "))
        return cell.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    /// The FD and ERR columns when one of them is wider than the kept cells.
    @inline(never)
    private static func appendWideColumns(_ fd: Int32, _ error: Int32, into out: inout OutputBuffer) {
        out.appendDecimal(Int64(fd), width: 3)
        out.append(UInt8(ascii: " "))
        out.appendDecimal(Int64(error), width: 3)
        out.append(UInt8(ascii: " "))
    }

    // The columns most lines do not have, out of line: `append` stays small enough for the
    // common columns' code to be inlined there.

    @inline(never)
    private mutating func appendTime(_ event: OpenEvent, into out: inout OutputBuffer) {
        clock.appendLocalTime(event.timestampNanoseconds, into: &out)
        out.append(UInt8(ascii: " "))
    }

    /// An io_uring open into a fixed-file slot makes no fd: "#SLOT" in the FD column instead.
    @inline(never)
    private static func appendSlot(_ slot: UInt32, into out: inout OutputBuffer) {
        out.append(repeating: UInt8(ascii: " "), count: 2 - OutputBuffer.decimalDigits(UInt64(slot)))
        out.append(UInt8(ascii: "#"))
        out.appendDecimal(Int64(slot))
    }

    /// `FLAGS`, `LAT(us)` and `CGROUP`, those that are shown.
    @inline(never)
    private mutating func appendOptionalColumns(_ event: OpenEvent, into out: inout OutputBuffer) {
        if columns.flags {
            out.appendOctal(event.flags.rawValue, width: 8)
            out.append(UInt8(ascii: " "))
        }
        if columns.latency {
            if let latency = event.latencyNanoseconds {
                // microseconds with three decimals (nanosecond precision), right-aligned in 9;
                // from 100 ms on without them, so that the column stays 9 wide up to 1,000 s
                let whole = latency / 1000, decimals = whole < 100_000
                out.append(repeating: UInt8(ascii: " "), count: 9 - (decimals ? 4 : 0) - OutputBuffer.decimalDigits(whole))
                out.appendUnsigned(whole)
                if decimals {
                    out.append(UInt8(ascii: "."))
                    out.appendZeroPadded(latency % 1000, width: 3)
                }
            } else {
                out.append("        -")
            }
            out.append(UInt8(ascii: " "))
        }
        if columns.cgroup {
            // The reference to `cgroups` is taken (retained) only to render a new cgroup.
            let id = event.cgroupID, key = RepeatedRun.Key(a: id, b: 0, c: 0, d: 0)
            if !cgroupRun.appendKept(key, into: &out), let cgroups {
                cgroupRun.render(key, into: &out) { cgroups.appendText(id, into: &$0) }
            }
        }
    }

    /// The resolved path (`-F`, and always for `open_by_handle_at`, which passes no path).
    @inline(never)
    private static func appendFullPath(_ full: UnsafeRawBufferPointer, of event: OpenEvent, into out: inout OutputBuffer) {
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
    }

    public mutating func appendLost(_ count: UInt64, total: UInt64, into out: inout OutputBuffer) -> Bool {
        false
    }
}
