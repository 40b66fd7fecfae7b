internal import BPFKit
internal import OpenSnoopBPF
internal import OpenSnoopEvent

/// A summary table's key and value (`struct opensnoop_summary_key`, `..._value`), generated from
/// the BPF object's BTF.
typealias SummaryKey = OpensnoopSkeleton.Types.OpensnoopSummaryKey
typealias SummaryValue = OpensnoopSkeleton.Types.OpensnoopSummaryValue

/// A log2 histogram of open latencies, as the kernel counted them: bucket `i` holds opens that
/// took [2^i, 2^(i+1)) ns (bucket 0 also those of 0 ns; the last one everything longer).
public struct LatencyHistogram: Sendable, Equatable {
    public private(set) var buckets: [UInt64]
    /// The longest open seen (exact, not bucketed).
    public private(set) var maxNanoseconds: UInt64

    public static let bucketCount = Int(OPENSNOOP_LATENCY_BUCKETS)

    public init(buckets: [UInt64] = Array(repeating: 0, count: LatencyHistogram.bucketCount), maxNanoseconds: UInt64 = 0) {
        self.buckets = buckets
        self.maxNanoseconds = maxNanoseconds
    }

    /// Opens counted.
    public var count: UInt64 { buckets.reduce(0, +) }

    /// The longest open seen; nil when none was timed (each began before tracing did, or
    /// failed before the kernel started it).
    public var maximum: UInt64? { count > 0 ? maxNanoseconds : nil }

    /// An upper bound (in ns) of the `fraction` quantile, e.g. 0.99: the end of the log2 bucket
    /// holding it (within a factor of two of the true value), or the exact maximum when that is
    /// smaller. Nil when empty.
    public func quantileUpperBound(_ fraction: Double) -> UInt64? {
        let total = count
        guard total > 0 else { return nil }
        let rank = max(1, UInt64((Double(total) * fraction).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucket) in buckets.enumerated() {
            seen += bucket
            if seen >= rank {
                let bucketEnd = index + 1 >= 64 ? UInt64.max : 1 << UInt64(index + 1)
                return maxNanoseconds > 0 ? min(bucketEnd, maxNanoseconds) : bucketEnd
            }
        }
        return maxNanoseconds
    }

    /// Adds another histogram's counts.
    public mutating func add(_ other: LatencyHistogram) {
        for index in buckets.indices where index < other.buckets.count { buckets[index] += other.buckets[index] }
        maxNanoseconds = max(maxNanoseconds, other.maxNanoseconds)
    }
}

/// One row of a summary: the key it was counted by (fields not counted by are nil) and its counts.
public struct SummaryRow: Sendable {
    /// An errno and how many of the row's opens failed with it.
    public struct ErrnoCount: Sendable, Equatable {
        public let errorNumber: Int32
        public let count: UInt64

        public init(errorNumber: Int32, count: UInt64) {
            self.errorNumber = errorNumber
            self.count = count
        }
    }

    public var comm: [UInt8]?
    /// The path (as passed, or resolved with -F); nil when counted by path but its name was lost.
    public var path: [UInt8]?
    public var pathTruncated = false
    /// The opens of this row passed a name that could not be read (their path is empty).
    public var pathUnreadable = false
    public var pid: Int32?
    /// The errno counted by (0 for success), when counting by errno.
    public var errorNumber: Int32?
    public var cgroupID: UInt64?
    public var count: UInt64 = 0
    public var failed: UInt64 = 0
    /// Failures by errno, most frequent first (the first few errnos seen; the rest only in `failed`).
    public var errnos: [ErrnoCount] = []
    /// With latency: how long the row's opens took.
    public var latency: LatencyHistogram?

    public init() {}

    /// Display order: most opens first; ties by command, path, pid, errno, cgroup.
    static func before(_ a: SummaryRow, _ b: SummaryRow) -> Bool {
        if a.count != b.count { return a.count > b.count }
        if let x = a.comm, let y = b.comm, x != y { return x.lexicographicallyPrecedes(y) }
        if let x = a.path, let y = b.path, x != y { return x.lexicographicallyPrecedes(y) }
        if let x = a.pid, let y = b.pid, x != y { return x < y }
        if let x = a.errorNumber, let y = b.errorNumber, x != y { return x < y }
        return (a.cgroupID ?? 0) < (b.cgroupID ?? 0)
    }
}

/// What a summary interval counted.
public struct SummarySnapshot: Sendable {
    /// Rows, most opens first.
    public var rows: [SummaryRow]
    /// Opens counted in no row because the table was full, and those of them that failed.
    public var otherCount: UInt64
    public var otherFailed: UInt64
    /// Rows whose path name the kernel could not send this interval.
    public var namesLost: UInt64
    /// The interval's length in nanoseconds.
    public var intervalNanoseconds: UInt64
    /// Rows the table can hold.
    public var capacity: Int

    public init(rows: [SummaryRow], otherCount: UInt64, otherFailed: UInt64, namesLost: UInt64,
                intervalNanoseconds: UInt64, capacity: Int) {
        self.rows = rows
        self.otherCount = otherCount
        self.otherFailed = otherFailed
        self.namesLost = namesLost
        self.intervalNanoseconds = intervalNanoseconds
        self.capacity = capacity
    }

    /// Opens in the interval.
    public var opens: UInt64 { rows.reduce(otherCount) { $0 + $1.count } }
    /// Failed opens in the interval.
    public var failed: UInt64 { rows.reduce(otherFailed) { $0 + $1.failed } }
}

/// Reads the summary the kernel counts (`TraceOptions.summary`): two tables take turns, one
/// counting while the other is read and cleared. Swapping them waits until no BPF program still
/// uses the old one (the kernel's map-in-map update waits for an RCU grace period), so no count
/// is lost or read twice. Path names arrive on their own ring, once per row and table.
/// Not thread-safe: use from the thread that polls the reader.
public final class SummaryReader {
    private let slot: BPFMapHandle
    private var counting: BPFMapHandle
    private var idle: BPFMapHandle
    private let keys: SummaryKeys
    private var names: [UInt64: (bytes: [UInt8], truncated: Bool, unreadable: Bool, seen: Int)] = [:]
    private var snapshots = 0
    private var lastOverflow: (other: UInt64, otherFailed: UInt64, namesLost: UInt64) = (0, 0, 0)
    private var lastTime: UInt64
    private let program: OpenSnoopProgram
    /// Snapshots a path name is kept for without its row showing again.
    static let nameLifetime = 10

    init(program: OpenSnoopProgram, keys: SummaryKeys, now: UInt64) throws {
        self.program = program
        self.keys = keys
        (slot, counting) = try program.summaryMaps()
        idle = try BPFMapHandle(creatingLike: counting, name: "summary_second")
        try slot.update(UInt32(0), UInt32(bitPattern: counting.fileDescriptor))
        lastTime = now
    }

    /// Takes one record of the names ring.
    func receiveName(_ record: UnsafeRawBufferPointer) {
        let header = MemoryLayout<opensnoop_path_name>.size
        guard record.count >= header else { return }
        let name = record.loadUnaligned(as: opensnoop_path_name.self)
        let length = min(Int(name.len), record.count - header)
        names[name.path_hash] = (Array(record[header..<(header + length)]), name.truncated != 0, name.unreadable != 0, snapshots)
    }

    /// Swaps the tables, reads the one that was counting (after `drainNames` has taken every
    /// name sent for it), clears it, and returns its rows.
    func snapshot(now: UInt64, drainNames: () throws -> Void) throws -> SummarySnapshot {
        try slot.update(UInt32(0), UInt32(bitPattern: idle.fileDescriptor))
        swap(&counting, &idle)
        try drainNames()
        let entries = try BPFHashMap<SummaryKey, SummaryValue>(idle).entries()
        try idle.removeAll()
        snapshots += 1
        let rows = entries.map { row(key: $0.key, value: $0.value) }.sorted(by: SummaryRow.before)
        names = names.filter { snapshots - $0.value.seen <= Self.nameLifetime }
        let overflow = try program.summaryOverflow()
        defer {
            lastOverflow = overflow
            lastTime = now
        }
        return SummarySnapshot(rows: rows, otherCount: overflow.other &- lastOverflow.other,
                               otherFailed: overflow.otherFailed &- lastOverflow.otherFailed,
                               namesLost: overflow.namesLost &- lastOverflow.namesLost,
                               intervalNanoseconds: now &- lastTime, capacity: counting.maxEntries)
    }

    private func row(key: SummaryKey, value: SummaryValue) -> SummaryRow {
        var row = SummaryRow()
        if keys.contains(.comm) {
            row.comm = key.comm.withStringBytes { Array($0) }
        }
        if keys.contains(.path) {
            if var name = names[key.pathHash] {
                row.path = name.bytes
                row.pathTruncated = name.truncated
                row.pathUnreadable = name.unreadable
                name.seen = snapshots
                names[key.pathHash] = name
            }
        }
        if keys.contains(.pid) { row.pid = Int32(bitPattern: key.pid) }
        if keys.contains(.errno) { row.errorNumber = Int32(bitPattern: key.error) }
        if keys.contains(.cgroup) { row.cgroupID = key.cgroupId }
        row.count = value.count
        row.failed = value.failed
        row.errnos = value.errnos.indices.map { (code: value.errnos[$0], count: value.errnoCounts[$0]) }
            .filter { $0.code != 0 && $0.count != 0 }
            .map { SummaryRow.ErrnoCount(errorNumber: Int32(bitPattern: $0.code), count: UInt64($0.count)) }
            .sorted { $0.count > $1.count }
        if program.options.measuresLatency {
            let buckets = value.latency.indices.map { UInt64(value.latency[$0]) }
            row.latency = LatencyHistogram(buckets: buckets, maxNanoseconds: value.latencyMaxNs)
        }
        return row
    }
}
