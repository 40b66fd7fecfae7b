public import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import Glibc
internal import Synchronization

/// The HTTP endpoint Prometheus scrapes: `GET /metrics` (text format 0.0.4) and `GET /healthz`
/// (200 while tracing, 503 otherwise); 404 for anything else, 405 for other methods. Runs on
/// one event-loop thread of its own; `close()` stops it.
///
/// Whoever reaches the port must not be able to use up the process's descriptors (the tracer
/// needs some to read its maps): at most `maxConnections` at a time (one more is closed at
/// once), and a connection that sends nothing for `idleSeconds` is closed.
public final class MetricsServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// Connections open at once, at most.
    public static let maxConnections = 64
    /// How long a connection may stay silent.
    public static let idleSeconds: Int64 = 10

    /// The address it listens on (the port filled in when 0 was asked for).
    public var localAddress: SocketAddress? { channel.localAddress }

    /// A socket that could not listen: the system's reason.
    public struct BindError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Listens on `host:port` (`host` nil: every interface, IPv6 and IPv4 on one socket; IPv4
    /// only where the kernel has no IPv6).
    public init(host: String?, port: Int, exporter: MetricsExporter) throws(BindError) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let open = ConnectionCount()
        func bind(_ host: String, dualStack: Bool = false) throws -> any Channel {
            var bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            if dualStack { bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 0) }
            return try bootstrap
                .childChannelInitializer { channel in
                    guard open.value.add(1, ordering: .relaxed).newValue <= Self.maxConnections else {
                        open.value.subtract(1, ordering: .relaxed)
                        return channel.close()
                    }
                    channel.closeFuture.whenComplete { _ in open.value.subtract(1, ordering: .relaxed) }
                    return channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(Self.idleSeconds)))
                        try pipeline.configureHTTPServerPipeline()
                        try pipeline.addHandler(MetricsHandler(exporter: exporter))
                    }
                }
                .bind(host: host, port: port)
                .wait()
        }
        do {
            if let host {
                channel = try bind(host)
            } else {
                do {
                    channel = try bind("::", dualStack: true)  // whatever net.ipv6.bindv6only says
                } catch let error as IOError where [EAFNOSUPPORT, EADDRNOTAVAIL].contains(error.errnoCode) {
                    channel = try bind("0.0.0.0")
                }
            }
        } catch {
            try? group.syncShutdownGracefully()
            if let error = error as? IOError {
                throw BindError(description: String(cString: strerror(error.errnoCode)))
            }
            throw BindError(description: "\(error)")
        }
    }

    /// Stops listening and ends the server's thread.
    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// The connections open now.
private final class ConnectionCount: Sendable {
    let value = Atomic<Int>(0)
}

/// Answers one request at a time on a connection.
private final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exporter: MetricsExporter

    init(exporter: MetricsExporter) { self.exporter = exporter }

    /// A connection silent for `MetricsServer.idleSeconds` is closed.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
        let readOnly = request.method == .GET || request.method == .HEAD
        switch (readOnly, request.uri.split(separator: "?").first ?? "") {
        case (true, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", exporter.render())
        case (true, "/healthz"):
            (status, contentType, body) = exporter.isHealthy
                ? (.ok, "text/plain", Array("ok\n".utf8)) : (.serviceUnavailable, "text/plain", Array("not tracing\n".utf8))
        case (true, _):
            (status, contentType, body) = (.notFound, "text/plain", Array("not found: try /metrics or /healthz\n".utf8))
        case (false, _):
            (status, contentType, body) = (.methodNotAllowed, "text/plain", Array("method not allowed\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let keepAlive = request.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
