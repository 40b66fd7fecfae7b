public import OpenSnoop
public import TraceOutput
internal import CgroupIdentity

/// Renders summary snapshots (`--summary`): a table per interval, most opens first, headed by
/// its time; or, with latency counted by command alone, a log2 histogram per command as BCC's
/// `*dist` tools print them; or one JSON object per snapshot.
public struct SummaryFormatter {
    public let keys: SummaryKeys
    public let latency: Bool
    public let json: Bool
    /// At most this many rows (nil: as many as fit the terminal, all of them elsewhere).
    public let top: Int?
    /// Redraw in place (a terminal): clear the screen before each snapshot.
    public let redraw: Bool
    private var clock: WallClock
    /// Names the cgroups of rows counted by cgroup (path, container id, pod UID).
    private let cgroups: CgroupFields

    public init(keys: SummaryKeys, latency: Bool, json: Bool, top: Int?, redraw: Bool, clock: WallClock = WallClock(),
                cgroups: CgroupFields? = nil) {
        self.keys = keys
        self.latency = latency
        self.json = json
        self.top = top
        self.redraw = redraw
        self.clock = clock
        self.cgroups = cgroups ?? CgroupFields(resolver: keys.contains(.cgroup) ? CgroupResolver() : nil)
    }

    /// Whether snapshots print as latency histograms per command.
    public var histograms: Bool { latency && keys == .comm && !json }

    /// Appends one snapshot taken at kernel time `monotonic`. `screenRows` bounds the rows when
    /// redrawing a terminal.
    public mutating func append(_ snapshot: SummarySnapshot, at monotonic: UInt64, screenRows: Int?,
                                into out: inout OutputBuffer) {
        if json {
            appendJSON(snapshot, at: monotonic, into: &out)
        } else if histograms {
            appendHistograms(snapshot, at: monotonic, into: &out)
        } else {
            appendTable(snapshot, at: monotonic, screenRows: screenRows, into: &out)
        }
    }

    private func limit(_ rows: [SummaryRow], screenRows: Int?) -> ArraySlice<SummaryRow> {
        if let top { return rows.prefix(top) }
        if redraw, let screenRows { return rows.prefix(max(screenRows - 4, 1)) }
        return rows[...]
    }

    // MARK: Table

    private mutating func appendTable(_ snapshot: SummarySnapshot, at monotonic: UInt64, screenRows: Int?,
                                      into out: inout OutputBuffer) {
        if redraw { out.append("\u{1B}[H\u{1B}[2J") }
        clock.appendLocalTime(monotonic, into: &out)
        out.append("  ")
        out.appendUnsigned(snapshot.opens)
        out.append(" opens, ")
        out.appendUnsigned(snapshot.failed)
        out.append(" failed, in ")
        appendSeconds(snapshot.intervalNanoseconds, into: &out)
        out.append(" s; ")
        out.appendDecimal(Int64(snapshot.rows.count))
        out.append(" of ")
        out.appendDecimal(Int64(snapshot.capacity))
        out.append(" rows")
        if snapshot.otherCount > 0 {
            out.append("; ")
            out.appendUnsigned(snapshot.otherCount)
            out.append(" opens in (other): the table was full (--summary-capacity)")
        }
        if snapshot.namesLost > 0 {
            out.append("; ")
            out.appendUnsigned(snapshot.namesLost)
            out.append(" path names lost")
        }
        out.append("\n")
        out.append("   COUNT  FAILED ")
        out.append(keys.contains(.errno) ? "ERRNO        " : "TOP ERRNO    ")
        if latency { out.append("P50(us)  P99(us)  MAX(us) ") }
        if keys.contains(.pid) { out.append("PID     ") }
        if keys.contains(.cgroup) { CgroupFields.appendTextHeader(into: &out) }
        if keys.contains(.comm) { out.append("COMM             ") }
        if keys.contains(.path) { out.append("PATH") }
        out.append("\n")
        for row in limit(snapshot.rows, screenRows: screenRows) { appendRow(row, into: &out) }
        if snapshot.otherCount > 0 {
            var other = SummaryRow()
            other.count = snapshot.otherCount
            other.failed = snapshot.otherFailed
            appendRow(other, other: true, into: &out)
        }
    }

    private func appendRow(_ row: SummaryRow, other: Bool = false, into out: inout OutputBuffer) {
        out.appendDecimal(Int64(row.count), width: 8)
        out.append(UInt8(ascii: " "))
        out.appendDecimal(Int64(row.failed), width: 7)
        out.append(UInt8(ascii: " "))
        let start = out.count
        if let code = row.errorNumber {
            out.append(code == 0 ? "-" : ErrnoName.of(code) ?? String(code))
        } else if let top = row.errnos.first {
            out.append(ErrnoName.of(top.errorNumber) ?? String(top.errorNumber))
        }
        out.pad(from: start, toWidth: 12)
        out.append(UInt8(ascii: " "))
        if latency {
            for fraction in [0.5, 0.99] {
                appendMicroseconds(row.latency?.quantileUpperBound(fraction), width: 8, into: &out)
                out.append(UInt8(ascii: " "))
            }
            appendMicroseconds(row.latency?.maximum, width: 8, into: &out)
            out.append(UInt8(ascii: " "))
        }
        if other {
            out.append("(other)\n")
            return
        }
        if let pid = row.pid {
            out.appendDecimal(Int64(pid), width: 7, leftAligned: true)
            out.append(UInt8(ascii: " "))
        }
        if let cgroup = row.cgroupID { cgroups.appendText(cgroup, into: &out) }
        if let comm = row.comm {
            let commStart = out.count
            comm.withUnsafeBytes { SafeText.appendTerminalSafe($0, into: &out) }
            out.pad(from: commStart, toWidth: 16)
            out.append(UInt8(ascii: " "))
        }
        if keys.contains(.path) {
            if row.pathUnreadable {
                out.append("[unreadable]")
            } else if let path = row.path {
                path.withUnsafeBytes { SafeText.appendTerminalSafe($0, into: &out) }
                if row.pathTruncated { out.append("...[truncated]") }
            } else {
                out.append("[name lost]")
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// `value` ns as microseconds with one decimal, right-aligned; `-` when unknown.
    private func appendMicroseconds(_ value: UInt64?, width: Int, into out: inout OutputBuffer) {
        guard let value else {
            out.append(repeating: UInt8(ascii: " "), count: width - 1)
            out.append("-")
            return
        }
        out.append(repeating: UInt8(ascii: " "), count: width - OutputBuffer.decimalDigits(value / 1000) - 2)
        out.appendUnsigned(value / 1000)
        out.append(UInt8(ascii: "."))
        out.appendUnsigned(value / 100 % 10)
    }

    private func appendSeconds(_ nanoseconds: UInt64, into out: inout OutputBuffer) {
        out.appendUnsigned(nanoseconds / 1_000_000_000)
        out.append(UInt8(ascii: "."))
        out.appendZeroPadded(nanoseconds / 10_000_000 % 100, width: 2)
    }

    // MARK: Histograms (BCC's *dist style)

    private mutating func appendHistograms(_ snapshot: SummarySnapshot, at monotonic: UInt64, into out: inout OutputBuffer) {
        if redraw { out.append("\u{1B}[H\u{1B}[2J") }
        clock.appendLocalTime(monotonic, into: &out)
        out.append("\n")
        for row in limit(snapshot.rows, screenRows: nil) {
            guard let histogram = row.latency, histogram.count > 0 else { continue }
            out.append("\ncomm = ")
            (row.comm ?? []).withUnsafeBytes { SafeText.appendTerminalSafe($0, into: &out) }
            out.append("\n")
            Self.appendHistogram(histogram, into: &out)
        }
    }

    /// Appends `histogram` as BCC prints a log2 histogram: one line per bucket from the first to
    /// the last one used, `low -> high : count |stars|`.
    public static func appendHistogram(_ histogram: LatencyHistogram, into out: inout OutputBuffer) {
        let used = histogram.buckets.indices.filter { histogram.buckets[$0] > 0 }
        guard let first = used.first, let last = used.last else { return }
        let peak = histogram.buckets.max() ?? 1
        out.append("               nsecs                   : count     distribution\n")
        for index in first...last {
            let low: UInt64 = index == 0 ? 0 : 1 << UInt64(index)
            let high: UInt64 = (1 << UInt64(index + 1)) - 1
            out.appendDecimal(Int64(low), width: 20)
            out.append(" -> ")
            out.appendDecimal(Int64(high), width: 14, leftAligned: true)
            out.append(" : ")
            let count = histogram.buckets[index]
            out.appendDecimal(Int64(count), width: 9, leftAligned: true)
            out.append(" |")
            let stars = Int(count * 40 / peak)
            out.append(repeating: UInt8(ascii: "*"), count: stars)
            out.append(repeating: UInt8(ascii: " "), count: 40 - stars)
            out.append("|\n")
        }
    }

    // MARK: JSON

    private mutating func appendJSON(_ snapshot: SummarySnapshot, at monotonic: UInt64, into out: inout OutputBuffer) {
        out.append("{\"time\":\"")
        clock.appendRFC3339(monotonic, into: &out)
        out.append("\",\"interval_ns\":")
        out.appendUnsigned(snapshot.intervalNanoseconds)
        out.append(",\"opens\":")
        out.appendUnsigned(snapshot.opens)
        out.append(",\"failed\":")
        out.appendUnsigned(snapshot.failed)
        out.append(",\"capacity\":")
        out.appendDecimal(Int64(snapshot.capacity))
        out.append(",\"other\":{\"count\":")
        out.appendUnsigned(snapshot.otherCount)
        out.append(",\"failed\":")
        out.appendUnsigned(snapshot.otherFailed)
        out.append("},\"names_lost\":")
        out.appendUnsigned(snapshot.namesLost)
        out.append(",\"rows\":[")
        for (index, row) in limit(snapshot.rows, screenRows: nil).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendJSONRow(row, into: &out)
        }
        out.append("]}\n")
    }

    private func appendJSONRow(_ row: SummaryRow, into out: inout OutputBuffer) {
        out.append("{\"count\":")
        out.appendUnsigned(row.count)
        out.append(",\"failed\":")
        out.appendUnsigned(row.failed)
        out.append(",\"errnos\":{")
        for (index, entry) in row.errnos.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(ErrnoName.of(entry.errorNumber) ?? String(entry.errorNumber))
            out.append("\":")
            out.appendUnsigned(entry.count)
        }
        out.append("}")
        if let comm = row.comm { comm.withUnsafeBytes { out.appendJSONField("comm", bytes: $0) } }
        if keys.contains(.path) {
            if let path = row.path {
                path.withUnsafeBytes { out.appendJSONField("path", bytes: $0) }
                out.append(row.pathTruncated ? ",\"path_truncated\":true" : ",\"path_truncated\":false")
                out.append(row.pathUnreadable ? ",\"path_unreadable\":true" : ",\"path_unreadable\":false")
            } else {
                out.append(",\"path\":null")
            }
        }
        if let pid = row.pid {
            out.append(",\"pid\":")
            out.appendDecimal(Int64(pid))
        }
        if let code = row.errorNumber {
            out.append(",\"errno\":")
            out.appendDecimal(Int64(code))
        }
        if let cgroup = row.cgroupID { cgroups.appendJSON(cgroup, into: &out) }
        if let latency = row.latency {
            out.append(",\"latency\":{\"p50_ns_at_most\":")
            appendOptional(latency.quantileUpperBound(0.5), into: &out)
            out.append(",\"p99_ns_at_most\":")
            appendOptional(latency.quantileUpperBound(0.99), into: &out)
            out.append(",\"max_ns\":")
            appendOptional(latency.maximum, into: &out)
            out.append(",\"log2_ns_buckets\":[")
            for (index, count) in latency.buckets.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.appendUnsigned(count)
            }
            out.append("]}")
        }
        out.append("}")
    }

    private func appendOptional(_ value: UInt64?, into out: inout OutputBuffer) {
        if let value { out.appendUnsigned(value) } else { out.append("null") }
    }
}
