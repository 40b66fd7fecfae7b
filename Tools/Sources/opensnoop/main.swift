// opensnoop: the tracer's command (OpenSnoopTool); --metrics is handed to opensnoop-agent.
import OpenSnoopTool

OpenSnoopCommand.main(metrics: nil)
