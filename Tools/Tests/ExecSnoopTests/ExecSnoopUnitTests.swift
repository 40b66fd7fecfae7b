import ExecSnoopEvent
import Foundation
import Testing
import TraceLifecycle
import TraceOutput
@testable import execsnoop

/// A record as the kernel writes it: the header, the file name, the argument bytes.
private func record(comm: String = "sh", path: [UInt8], args: [UInt8], ret: Int32 = 0,
                    flags: execsnoop_event_flag...) -> [UInt8] {
    var header = execsnoop_event()
    header.ts_ns = 1_000_000_000
    header.pid = 42
    header.tid = 43
    header.ppid = 1
    header.uid = 1000
    header.ret = ret
    header.path_len = UInt16(path.count)
    header.args_len = UInt16(args.count)
    header.flags = flags.reduce(0) { $0 | UInt8($1.rawValue) }
    withUnsafeMutableBytes(of: &header.comm) { $0.copyBytes(from: Array(comm.utf8).prefix(15)) }
    return withUnsafeBytes(of: header) { Array($0) } + path + args
}

/// What `format` writes for one record.
private func render(_ bytes: [UInt8], json: Bool = false, time: Bool = false) throws -> String {
    var formatter = ExecFormatter(json: json, time: time)
    var out = OutputBuffer()
    try bytes.withUnsafeBytes { raw in
        formatter.append(try #require(ExecEvent(raw)), into: &out)
    }
    return String(decoding: out.bytes, as: UTF8.self)
}

@Suite("execsnoop's records and formats")
struct ExecSnoopUnitTests {
    @Test("The record layout is the contract's")
    func layout() {
        #expect(MemoryLayout<execsnoop_event>.size == Int(EXECSNOOP_EVENT_SIZE))
        #expect(MemoryLayout<execsnoop_event>.offset(of: \.comm) == 40)
    }

    @Test("Records shorter than their header says are rejected; arguments split at their NULs")
    func decoding() throws {
        let full = record(path: Array("/bin/x".utf8), args: Array("a\0\0b\0".utf8))
        #expect(full.withUnsafeBytes { ExecEvent(UnsafeRawBufferPointer(rebasing: $0.dropLast())) } == nil)
        #expect(full.withUnsafeBytes { ExecEvent(UnsafeRawBufferPointer(rebasing: $0.prefix(39))) } == nil)
        for (args, expected, cut) in [("a\0\0b\0", ["a", "", "b"], false), ("a\0bc", ["a", "bc"], true), ("", [], false)] {
            try record(path: [], args: Array(args.utf8)).withUnsafeBytes { raw in
                let event = try #require(ExecEvent(raw))
                #expect(event.arguments.map { String(decoding: $0, as: UTF8.self) } == expected)
                #expect(event.lastArgumentCut == cut)
                #expect(String(decoding: event.comm, as: UTF8.self) == "sh")
            }
        }
    }

    @Test("Text: libbpf-tools-like columns; hostile bytes escaped; PATH one word; the cut marked")
    func text() throws {
        let line = try render(record(comm: "a\u{1b}[1m", path: Array("/tmp/my prog".utf8),
                                     args: Array("my prog\0-x\n\0".utf8) + [0xFF, 0], ret: -2))
        #expect(line == "1000    a\\x1b[1m         42     1       -2 /tmp/my\\x20prog my prog -x\\n \\xff\n")
        let cutInside = try render(record(path: Array("/x".utf8), args: Array("/x\0abc".utf8), flags: EXECSNOOP_EV_ARGS_TRUNCATED))
        #expect(cutInside.hasSuffix(" /x /x abc...[truncated]\n"))
        let leftOut = try render(record(path: Array("/x".utf8), args: Array("/x\0abc\0".utf8), flags: EXECSNOOP_EV_ARGS_TRUNCATED))
        #expect(leftOut.hasSuffix(" /x /x abc ...[truncated]\n"))
        let longName = try render(record(path: Array("/y".utf8), args: [], flags: EXECSNOOP_EV_PATH_TRUNCATED))
        #expect(longName.hasSuffix("   0 /y...[truncated]\n"))
        let timed = try render(record(path: Array("/x".utf8), args: []), time: true)
        #expect(timed.range(of: #"^\d\d:\d\d:\d\d 1000    sh "#, options: .regularExpression) != nil)
        var header = OutputBuffer()
        ExecFormatter(json: false, time: true).appendHeader(into: &header)
        #expect(String(decoding: header.bytes, as: UTF8.self) == "TIME     UID     PCOMM            PID    PPID   RET PATH ARGS\n")
        let columns = String(decoding: header.bytes, as: UTF8.self).dropFirst(9)
        #expect(columns.firstRange(of: "RET")?.lowerBound.utf16Offset(in: columns) == line.firstRange(of: " -2")!.lowerBound.utf16Offset(in: line))
    }

    @Test("JSON: every field named and typed; exact bytes in base64 when not UTF-8")
    func json() throws {
        let line = try render(record(path: [0x2F, 0xFF], args: Array("a\0".utf8) + [0xC3, 0x28, 0] + Array("\"q\"\0".utf8),
                                     ret: -13, flags: EXECSNOOP_EV_ARGS_TRUNCATED), json: true)
        #expect(line.hasSuffix("}\n") && !line.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["pid"] as? Int == 42 && object["tid"] as? Int == 43 && object["ppid"] as? Int == 1)
        #expect(object["uid"] as? Int == 1000 && object["comm"] as? String == "sh" && object["comm_base64"] == nil)
        #expect(object["ret"] as? Int == -13 && object["errno"] as? Int == 13 && object["errno_name"] as? String == "EACCES")
        #expect(object["ts_ns"] as? Int == 1_000_000_000 && (object["time"] as? String)?.hasSuffix("Z") == true)
        #expect(object["path"] as? String == "/\u{FFFD}" && object["path_base64"] as? String == "L/8=")
        #expect(object["args"] as? [String] == ["a", "\u{FFFD}(", "\"q\""])
        #expect(object["args_base64"] as? [String] == ["YQ==", "wyg=", "InEi"])
        #expect(object["args_truncated"] as? Bool == true && object["path_truncated"] as? Bool == false)
        let success = try render(record(path: Array("/x".utf8), args: Array("/x\0".utf8)), json: true)
        #expect(success.contains(#","errno":0,"errno_name":null,"path":"/x","path_truncated":false,"args":["/x"],"args_truncated":false}"#))
    }
}

@Suite("TraceOutput's pieces for tracers")
struct TraceOutputPiecesTests {
    private func text(_ body: (inout OutputBuffer) -> Void) -> String {
        var out = OutputBuffer()
        body(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test("A word: terminal-safe with spaces escaped")
    func word() {
        #expect(text { out in Array("a b\u{1b} \\".utf8).withUnsafeBytes { SafeText.appendTerminalSafeWord($0, into: &out) } }
                == "a\\x20b\\x1b\\x20\\\\")
        #expect(text { out in Array(" ".utf8).withUnsafeBytes { SafeText.appendTerminalSafeWord($0, into: &out) } } == "\\x20")
    }

    @Test("JSON fields, errno names and the lost record")
    func fields() {
        #expect(text { $0.appendJSONField("n", -5); $0.appendJSONField("b", true) } == #","n":-5,"b":true"#)
        #expect(text { $0.appendJSONErrno(2); $0.appendJSONErrno(0) } == #","errno":2,"errno_name":"ENOENT","errno":0,"errno_name":null"#)
        #expect(text { $0.appendJSONLostRecord(3, total: 7) } == "{\"lost\":3,\"lost_total\":7}\n")
        let good: [UInt8] = Array("é".utf8), bad: [UInt8] = [0xFF]
        good.withUnsafeBytes { g in
            bad.withUnsafeBytes { b in
                #expect(text { $0.appendJSONField("s", bytes: g) } == #","s":"é""#)
                #expect(text { $0.appendJSONField("s", bytes: b) } == #","s":"\ufffd","s_base64":"/w==""#)
                #expect(text { $0.appendJSONField("l", byteStrings: [g]) } == #","l":["é"]"#)
                #expect(text { $0.appendJSONField("l", byteStrings: [g, b]) } == #","l":["é","\ufffd"],"l_base64":["w6k=","/w=="]"#)
                #expect(text { $0.appendJSONField("l", byteStrings: []) } == #","l":[]"#)
            }
        }
    }

    @Test("The loop writes what was polled, reports losses as records, and ends at its deadline")
    func loop() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let output = OutputSink(fileDescriptor: fds[1])
        output.buffer.append("header\n")
        var loop = TraceLoop(output: output, tool: "test", lostRecords: true)
        var polls = 0, lost: UInt64 = 0
        let start = Monotonic.nanoseconds()
        try loop.run(until: start + 300_000_000, poll: { timeout in
            polls += 1
            if timeout == 0 { output.buffer.append("last\n") } else { usleep(UInt32(timeout) * 1000) }
            if polls == 2 { output.buffer.append("event\n"); lost = 5 }
        }, lostEvents: { lost })
        close(fds[1])
        #expect(Monotonic.nanoseconds() - start >= 300_000_000)
        let written = FileHandle(fileDescriptor: fds[0], closeOnDealloc: false).readDataToEndOfFile()
        #expect(String(decoding: written, as: UTF8.self) == "header\nevent\n{\"lost\":5,\"lost_total\":5}\nlast\n")
    }
}
