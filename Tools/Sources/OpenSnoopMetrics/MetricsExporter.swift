public import OpenSnoop
internal import Glibc
internal import Prometheus
internal import TraceOutput
internal import Synchronization

/// opensnoop's numbers in the Prometheus text format, from what the kernel counted:
///
/// - `opensnoop_opens_total{comm,result}`: opens by command name and result (`ok` or the errno's
///   name). At most `commandLimit` command names get their own series (the first ones seen keep
///   theirs for the whole run, so every series only grows); the others count under
///   `comm="other"`. Cardinality is bounded by `commandLimit` × results.
/// - `opensnoop_events_lost_total`: events that never reached opensnoop (ring full, hooks the
///   kernel skipped, io_uring opens never completed).
/// - `opensnoop_opens_filtered_total`: opens the filters dropped in the kernel.
/// - `opensnoop_opens_overflow_total`: opens counted while the kernel's table was full (they are
///   in `opensnoop_opens_total{comm="other"}`).
/// - `opensnoop_ring_buffer_used_bytes` / `opensnoop_ring_buffer_size_bytes`: the events ring.
/// - `process_cpu_seconds_total`, `process_resident_memory_bytes`: opensnoop's own cost.
///
/// `record` is called from the tracing thread, `render` from the HTTP server's; both are safe.
public final class MetricsExporter: Sendable {
    /// Command names with a series of their own, at most.
    public static let commandLimit = 64

    private let registry = PrometheusCollectorRegistry()
    private let commands = Mutex<Set<[UInt8]>>([])
    private let totals = Mutex<(lost: UInt64, filtered: UInt64)>((0, 0))
    private let healthy = Atomic<Bool>(false)
    private let lost, filtered, other, cpu: Counter
    private let ringUsed, ringSize, memory: Gauge
    /// The CPU seconds already added to `cpu`.
    private let cpuCounted = Mutex<Double>(0)

    public init() {
        lost = registry.makeCounter(descriptor: Self.name("opensnoop", "events_lost", "total",
            "Events that never reached opensnoop: ring buffer full, hooks the kernel skipped, io_uring opens never completed."))
        filtered = registry.makeCounter(descriptor: Self.name("opensnoop", "opens_filtered", "total", "Opens the filters dropped in the kernel."))
        other = registry.makeCounter(descriptor: Self.name("opensnoop", "opens_overflow", "total",
            "Opens counted while the kernel's count table was full (in comm=\"other\")."))
        ringUsed = registry.makeGauge(descriptor: Self.name("opensnoop", "ring_buffer_used", "bytes", "Bytes waiting in the events ring buffer."))
        ringSize = registry.makeGauge(descriptor: Self.name("opensnoop", "ring_buffer_size", "bytes", "Size of the events ring buffer."))
        cpu = registry.makeCounter(descriptor: Self.name("process", "cpu_seconds", "total", "User and system CPU time opensnoop used."))
        memory = registry.makeGauge(descriptor: Self.name("process", "resident_memory", "bytes", "opensnoop's resident memory."))
    }

    /// Whether `/healthz` answers 200: set while the BPF programs are attached.
    public var isHealthy: Bool {
        get { healthy.load(ordering: .relaxed) }
        set { healthy.store(newValue, ordering: .relaxed) }
    }

    /// Adds one interval of kernel counts (a summary counted by command and errno) and the
    /// totals since load of lost and filtered opens and the ring's state.
    public func record(_ snapshot: SummarySnapshot, lostTotal: UInt64, filteredTotal: UInt64,
                       ringUsedBytes: UInt64, ringSizeBytes: Int) {
        for row in snapshot.rows where row.count > 0 {
            let comm = label(for: row.comm ?? [])
            let failedCounted = row.errnos.reduce(0) { $0 + $1.count }
            let result = row.errorNumber.map { $0 == 0 ? "ok" : (ErrnoName.of($0) ?? "E\($0)") }
            if let result {
                opens(comm, result).increment(by: Int64(row.count))
            } else {
                opens(comm, "ok").increment(by: Int64(row.count - row.failed))
                for entry in row.errnos {
                    opens(comm, ErrnoName.of(entry.errorNumber) ?? "E\(entry.errorNumber)").increment(by: Int64(entry.count))
                }
                if row.failed > failedCounted { opens(comm, "other_error").increment(by: Int64(row.failed - failedCounted)) }
            }
        }
        if snapshot.otherCount > 0 {
            opens("other", "ok").increment(by: Int64(snapshot.otherCount - snapshot.otherFailed))
            if snapshot.otherFailed > 0 { opens("other", "other_error").increment(by: Int64(snapshot.otherFailed)) }
            other.increment(by: Int64(snapshot.otherCount))
        }
        totals.withLock { previous in
            if lostTotal > previous.lost { lost.increment(by: Int64(lostTotal - previous.lost)) }
            if filteredTotal > previous.filtered { filtered.increment(by: Int64(filteredTotal - previous.filtered)) }
            previous = (max(previous.lost, lostTotal), max(previous.filtered, filteredTotal))
        }
        ringUsed.set(Int64(ringUsedBytes))
        ringSize.set(Int64(ringSizeBytes))
    }

    private func opens(_ comm: String, _ result: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("opensnoop", "opens", "total",
                                                   "Opens seen, by command name and result (ok or the errno's name)."),
                             labels: [("comm", comm), ("result", result)])
    }

    /// `namespace_metric_unit`, with its help text.
    private static func name(_ namespace: String, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: namespace, metricName: metric, unitName: unit, helpText: help)
    }

    /// The label for a command: its own while fewer than `commandLimit` have one, else `other`.
    /// Invalid UTF-8 and quotes are escaped by the exposition writer; bytes are kept readable.
    private func label(for comm: [UInt8]) -> String {
        let known = commands.withLock { names -> Bool in
            if names.contains(comm) { return true }
            guard names.count < Self.commandLimit else { return false }
            names.insert(comm)
            return true
        }
        return known ? String(decoding: comm, as: UTF8.self) : "other"
    }

    /// The exposition (text format 0.0.4), with opensnoop's own CPU and memory read now.
    public func render() -> [UInt8] {
        let usage = ProcessUsage.current()
        let added = cpuCounted.withLock { counted -> Double in
            let delta = usage.cpuSeconds - counted
            counted = max(counted, usage.cpuSeconds)
            return delta
        }
        if added > 0 { cpu.increment(by: added) }
        memory.set(Int64(usage.residentBytes))
        return registry.emitToBuffer()
    }
}

/// This process's CPU time and resident memory, from /proc/self.
struct ProcessUsage {
    var cpuSeconds: Double
    var residentBytes: UInt64

    static func current() -> ProcessUsage {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return ProcessUsage(cpuSeconds: cpu, residentBytes: residentBytes())
    }

    /// VmRSS from /proc/self/status, in bytes.
    private static func residentBytes() -> UInt64 {
        for line in (SmallFile.text("/proc/self/status") ?? "").split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.filter(\.isNumber)
            return (UInt64(digits) ?? 0) * 1024
        }
        return 0
    }
}
