public import OpenSnoop

/// What `--metrics` needs from the metrics server: made by `opensnoop-agent`, the only binary
/// that links the HTTP stack (so the plain `opensnoop` does not pay for it at start or in memory).
public protocol MetricsEndpoint: AnyObject {
    /// Adds one interval's kernel counts and the totals since load.
    func record(_ snapshot: SummarySnapshot, lostTotal: UInt64, filteredTotal: UInt64,
                ringUsedBytes: UInt64, ringSizeBytes: Int)
    /// Whether `/healthz` answers 200.
    var isHealthy: Bool { get set }
    /// Where it listens (`[::]:9473`), the port filled in when 0 was asked for.
    var address: String { get }
    /// Stops serving.
    func close()
}

/// Starts serving metrics on `host:port` (`host` nil: every interface).
public typealias MetricsEndpointFactory = (_ host: String?, _ port: Int) throws -> any MetricsEndpoint
