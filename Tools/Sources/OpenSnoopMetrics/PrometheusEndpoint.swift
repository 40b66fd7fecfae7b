public import OpenSnoop
public import OpenSnoopSession
internal import NIOCore

/// `--metrics`: the Prometheus exporter served over HTTP, as the command's metrics endpoint.
public final class PrometheusEndpoint: MetricsEndpoint {
    private let exporter = MetricsExporter()
    private let server: MetricsServer

    /// Starts serving on `host:port` (`host` nil: every interface).
    public init(host: String?, port: Int) throws {
        server = try MetricsServer(host: host, port: port, exporter: exporter)
    }

    public func record(_ snapshot: SummarySnapshot, lostTotal: UInt64, filteredTotal: UInt64,
                       ringUsedBytes: UInt64, ringSizeBytes: Int) {
        exporter.record(snapshot, lostTotal: lostTotal, filteredTotal: filteredTotal,
                        ringUsedBytes: ringUsedBytes, ringSizeBytes: ringSizeBytes)
    }

    public var isHealthy: Bool {
        get { exporter.isHealthy }
        set { exporter.isHealthy = newValue }
    }

    public var address: String {
        guard let local = server.localAddress, let port = local.port else { return "?" }
        let host = local.ipAddress ?? "?"
        return (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    public func close() { server.close() }
}
