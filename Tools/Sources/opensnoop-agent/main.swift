// opensnoop-agent: opensnoop with the metrics server linked in (--metrics), for node agents.
import OpenSnoopMetrics
import OpenSnoopTool

OpenSnoopCommand.main { host, port in try PrometheusEndpoint(host: host, port: port) }
