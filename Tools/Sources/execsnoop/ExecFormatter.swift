import ExecSnoopEvent
import TraceOutput

/// Renders execs as text, `[TIME] UID PCOMM PID PPID RET PATH ARGS`, untrusted bytes escaped
/// as opensnoop escapes them (spaces in PATH too, so that it stays one word), or as JSON Lines.
struct ExecFormatter {
    let json: Bool
    let time: Bool
    var clock = WallClock()

    func appendHeader(into out: inout OutputBuffer) {
        if json { return }
        out.append(time ? "TIME     UID     PCOMM            PID    PPID   RET PATH ARGS\n"
                        : "UID     PCOMM            PID    PPID   RET PATH ARGS\n")
    }

    mutating func append(_ event: ExecEvent, into out: inout OutputBuffer) {
        let header = event.header
        if json { return appendJSON(event, into: &out) }
        if time {
            clock.appendLocalTime(header.ts_ns, into: &out)
            out.append(" ")
        }
        out.appendDecimal(Int64(header.uid), width: 7, leftAligned: true)
        out.append(" ")
        let commStart = out.count
        SafeText.appendTerminalSafe(event.comm, into: &out)
        out.pad(from: commStart, toWidth: 16)
        for (value, width) in [(Int64(header.pid), -6), (Int64(header.ppid), -6), (Int64(header.ret), 3)] {
            out.append(" ")
            out.appendDecimal(value, width: abs(width), leftAligned: width < 0)
        }
        out.append(" ")
        SafeText.appendTerminalSafeWord(event.path, into: &out)
        if event.has(EXECSNOOP_EV_PATH_TRUNCATED) { out.append("...[truncated]") }
        for argument in event.arguments {
            out.append(" ")
            SafeText.appendTerminalSafe(argument, into: &out)
        }
        // The marker follows a cut argument at once, or stands apart when arguments were left out.
        if event.has(EXECSNOOP_EV_ARGS_TRUNCATED) { out.append(event.lastArgumentCut ? "...[truncated]" : " ...[truncated]") }
        out.append("\n")
    }

    private mutating func appendJSON(_ event: ExecEvent, into out: inout OutputBuffer) {
        let header = event.header
        out.appendJSONRecordStart(at: header.ts_ns, clock: &clock)
        for (key, id) in [("pid", header.pid), ("tid", header.tid), ("ppid", header.ppid), ("uid", header.uid)]
            as [(StaticString, UInt32)] { out.appendJSONField(key, Int64(id)) }
        out.appendJSONField("comm", bytes: event.comm)
        out.appendJSONField("ret", Int64(header.ret))
        out.appendJSONErrno(header.ret < 0 ? 0 &- header.ret : 0)
        out.appendJSONField("path", bytes: event.path)
        out.appendJSONField("path_truncated", event.has(EXECSNOOP_EV_PATH_TRUNCATED))
        out.appendJSONField("args", byteStrings: event.arguments)
        out.appendJSONField("args_truncated", event.has(EXECSNOOP_EV_ARGS_TRUNCATED))
        out.append("}\n")
    }
}
