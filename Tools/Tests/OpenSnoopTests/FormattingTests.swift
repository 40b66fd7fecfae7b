import Foundation
import OpenSnoop
@testable import OpenSnoopFormats
import OpenSnoopEvent
import TraceOutput
import Testing

@Suite("Text output")
struct TextFormattingTests {
    @Test("Header and row match libbpf-tools opensnoop's columns")
    func defaultColumns() {
        var formatter = TextFormatter(columns: OutputColumns())
        var header = OutputBuffer()
        formatter.appendHeader(into: &header)
        #expect(String(decoding: header.bytes, as: UTF8.self) == "PID    COMM              FD ERR PATH\n")
        let line = EventFixture.format(EventFixture.record(pid: 1234, ret: 3), with: &formatter)
        #expect(line == "1234   cat                3   0 /etc/hosts\n")
        let failed = EventFixture.format(EventFixture.record(pid: 1234, ret: -13), with: &formatter)
        #expect(failed == "1234   cat               -1  13 /etc/hosts\n")
    }

    @Test("-U and -e add UID and octal FLAGS columns")
    func extendedColumns() {
        var formatter = TextFormatter(columns: OutputColumns(uid: true, flags: true))
        var header = OutputBuffer()
        formatter.appendHeader(into: &header)
        #expect(String(decoding: header.bytes, as: UTF8.self) == "UID     PID    COMM              FD ERR FLAGS    PATH\n")
        let line = EventFixture.format(EventFixture.record(pid: 9, uid: 1000, ret: 4, flags: 0o2101), with: &formatter)
        #expect(line == "1000    9      cat                4   0 00002101 /etc/hosts\n")
    }

    @Test("-L's LAT(us) column stays 9 wide: three decimals below 100 ms, whole microseconds from there")
    func latencyColumn() {
        var formatter = TextFormatter(columns: OutputColumns(latency: true))
        var header = OutputBuffer()
        formatter.appendHeader(into: &header)
        #expect(String(decoding: header.bytes, as: UTF8.self) == "PID    COMM              FD ERR   LAT(us) PATH\n")
        let rows: [(UInt64?, String)] = [(1_234, "    1.234"), (99_999_999, "99999.999"), (100_000_000, "   100000"),
                                         (500_225_068, "   500225"), (nil, "        -")]
        for (latency, column) in rows {
            let line = EventFixture.format(EventFixture.record(pid: 1, latency: latency), with: &formatter)
            #expect(line == "1      cat                3   0 \(column) /etc/hosts\n")
        }
    }

    @Test("-T prints the kernel timestamp as local HH:MM:SS")
    func timestamp() {
        let clock = WallClock()
        var formatter = TextFormatter(columns: OutputColumns(timestamp: true), clock: clock)
        // The monotonic time of a wall-clock second 100 s ago.
        let second = Int64(time(nil)) - 100
        let ts = UInt64(second * 1_000_000_000 + 500_000_000 - clock.offsetNanoseconds)
        let line = EventFixture.format(EventFixture.record(ts: ts), with: &formatter)
        var t = time_t(second)
        var parts = tm()
        localtime_r(&t, &parts)
        let expected = String(format: "%02d:%02d:%02d ", parts.tm_hour, parts.tm_min, parts.tm_sec)
        #expect(line.hasPrefix(expected))
    }

    @Test("Control characters, escapes and invalid UTF-8 are shown escaped, valid UTF-8 as is")
    func escaping() {
        var formatter = TextFormatter(columns: OutputColumns())
        let path: [UInt8] = Array("/tmp/a\nb\u{1b}[2Jc\\d\té".utf8) + [0xFF, 0xC2, 0x9B]
        let line = EventFixture.format(EventFixture.record(pid: 1, comm: Array("x\ny".utf8), path: path),
                                       with: &formatter)
        #expect(line == "1      x\\ny               3   0 /tmp/a\\nb\\x1b[2Jc\\\\d\\té\\xff\\xc2\\x9b\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test("Truncated and unreadable paths say so")
    func markers() {
        var formatter = TextFormatter(columns: OutputColumns())
        let cut = EventFixture.format(EventFixture.record(ret: -36, eventFlags: 1), with: &formatter)
        #expect(cut.hasSuffix("/etc/hosts...[truncated]\n"))
        let unreadable = EventFixture.format(EventFixture.record(ret: -14, path: [], eventFlags: 2), with: &formatter)
        #expect(unreadable.hasSuffix("[unreadable]\n"))
    }

    @Test("-F marks a path cut at PATH_MAX, a path cut at its root end, and what was deleted")
    func fullPathMarkers() {
        var formatter = TextFormatter(columns: OutputColumns(fullPath: true))
        let joined = UInt16(OPENSNOOP_EV_FULL_JOINED.rawValue)
        let cutName = EventFixture.format(EventFixture.record(ret: -36, path: Array("name".utf8), fullPath: Array("/d/name".utf8),
                                                              eventFlags: joined | 1), with: &formatter)
        #expect(cutName.hasSuffix(" /d/name...[truncated]\n"))
        let cutRoot = EventFixture.format(EventFixture.record(fullPath: Array("/deep".utf8),
                                                              eventFlags: UInt16(OPENSNOOP_EV_FULL_TRUNCATED.rawValue)),
                                          with: &formatter)
        #expect(cutRoot.hasSuffix(" [truncated].../deep\n"))
        let deleted = UInt16(OPENSNOOP_EV_FULL_DELETED.rawValue)
        let file = EventFixture.format(EventFixture.record(fullPath: Array("/tmp/#12".utf8), eventFlags: deleted), with: &formatter)
        #expect(file.hasSuffix(" /tmp/#12 (deleted)\n"))
        let directory = EventFixture.format(EventFixture.record(ret: -2, path: Array("x".utf8), fullPath: Array("/tmp/d/x".utf8),
                                                                eventFlags: deleted | joined), with: &formatter)
        #expect(directory.hasSuffix(" /tmp/d (deleted)/x\n"))
    }

    @Test("An io_uring open into a fixed-file slot shows #SLOT in the FD column")
    func fixedSlot() {
        var formatter = TextFormatter(columns: OutputColumns())
        let line = EventFixture.format(EventFixture.record(pid: 1, ret: 0, eventFlags: UInt16(OPENSNOOP_EV_FIXED_SLOT.rawValue),
                                                           source: .ioUring, fixedSlot: 4), with: &formatter)
        #expect(line == "1      cat               #4   0 /etc/hosts\n")
    }
}

@Suite("JSON output")
struct JSONFormattingTests {
    func parse(_ line: String) throws -> [String: Any] {
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }

    @Test("Every field is named and typed")
    func fields() throws {
        var formatter = JSONFormatter(columns: OutputColumns())
        let json = try parse(EventFixture.format(
            EventFixture.record(pid: 5, tid: 6, uid: 7, ret: -2, flags: 0o2000101, mode: 0o644), with: &formatter))
        #expect(json["pid"] as? Int == 5)
        #expect(json["tid"] as? Int == 6)
        #expect(json["uid"] as? Int == 7)
        #expect(json["fd"] as? Int == -1)
        #expect(json["errno"] as? Int == 2)
        #expect(json["errno_name"] as? String == "ENOENT")
        #expect(json["flags"] as? Int == 0o2000101)
        #expect(json["compat"] as? Bool == false)
        #expect(json["flags_names"] as? [String] == ["O_WRONLY", "O_CREAT", "O_CLOEXEC"])
        #expect(json["mode"] as? Int == 0o644)
        #expect(json["comm"] as? String == "cat")
        #expect(json["path"] as? String == "/etc/hosts")
        #expect(json["source"] as? String == "openat")
        #expect(json["path_truncated"] as? Bool == false)
        #expect((json["time"] as? String)?.hasSuffix("Z") == true)
        #expect(json["path_base64"] == nil)
    }

    @Test("Hostile names give valid JSON and survive exactly")
    func hostileNames() throws {
        var formatter = JSONFormatter(columns: OutputColumns())
        let hostile = "/tmp/\"quote\"\\back\nline\ttab\u{1}\u{1b}[31m\u{7f}é😀"
        let json = try parse(EventFixture.format(EventFixture.record(path: Array(hostile.utf8)), with: &formatter))
        #expect(json["path"] as? String == hostile)
        #expect(json["path_base64"] == nil)
    }

    @Test("Invalid UTF-8 is replaced in the string and given exactly in base64")
    func invalidUTF8() throws {
        var formatter = JSONFormatter(columns: OutputColumns())
        let bytes: [UInt8] = Array("/tmp/".utf8) + [0xFF, 0xFE, 0x80] + Array("x".utf8)
        let json = try parse(EventFixture.format(EventFixture.record(comm: [0xC3, 0x28], path: bytes), with: &formatter))
        #expect(json["path"] as? String == "/tmp/\u{FFFD}\u{FFFD}\u{FFFD}x")
        let base64 = try #require(json["path_base64"] as? String)
        #expect(Data(base64Encoded: base64) == Data(bytes))
        #expect(Data(base64Encoded: try #require(json["comm_base64"] as? String)) == Data([0xC3, 0x28]))
    }

    @Test("Flags are unsigned; -F fields are always there; fixed slots have no fd")
    func unsignedFlagsAndFullPathFields() throws {
        var formatter = JSONFormatter(columns: OutputColumns(fullPath: true))
        let json = try parse(EventFixture.format(EventFixture.record(flags: 1 << 63, eventFlags: 2), with: &formatter))
        #expect((json["flags"] as? NSNumber)?.uint64Value == 1 << 63)
        #expect(json["full_path"] is NSNull)
        #expect(json["full_path_truncated"] as? Bool == false)
        #expect(json["full_path_deleted"] as? Bool == false)
        let slot = try parse(EventFixture.format(EventFixture.record(ret: 0, eventFlags: UInt16(OPENSNOOP_EV_FIXED_SLOT.rawValue),
                                                                     source: .ioUring, fixedSlot: 2), with: &formatter))
        #expect(slot["fd"] is NSNull)
        #expect(slot["fixed_slot"] as? Int == 2)
        let chroot = try parse(EventFixture.format(EventFixture.record(fullPath: Array("/jail/etc/hosts".utf8), rootLength: 5),
                                                   with: &formatter))
        #expect(chroot["full_path"] as? String == "/etc/hosts")
        #expect(chroot["full_path_host"] as? String == "/jail/etc/hosts")
    }

    @Test("Results and path flags stay right from one event to the next (kept renderings are per value)")
    func resultRuns() throws {
        var formatter = JSONFormatter(columns: OutputColumns())
        let slotFlag = UInt16(OPENSNOOP_EV_FIXED_SLOT.rawValue)
        let cases: [(ret: Int32, slot: UInt32?, eventFlags: UInt16, fd: Int?, errno: Int, name: String?)] = [
            (3, nil, 0, 3, 0, nil), (3, nil, 1, 3, 0, nil), (-2, nil, 2, -1, 2, "ENOENT"), (-2, nil, 0, -1, 2, "ENOENT"),
            (0, 4, slotFlag, nil, 0, nil), (0, 5, slotFlag, nil, 0, nil), (0, nil, 3, 0, 0, nil), (-13, nil, 0, -1, 13, "EACCES"),
        ]
        for item in cases {
            let json = try parse(EventFixture.format(EventFixture.record(ret: item.ret, eventFlags: item.eventFlags,
                                                                         fixedSlot: item.slot ?? 0), with: &formatter))
            if let fd = item.fd { #expect(json["fd"] as? Int == fd) } else { #expect(json["fd"] is NSNull) }
            #expect(json["fixed_slot"] as? Int == item.slot.map(Int.init))
            #expect(json["ret"] as? Int == Int(item.ret) && json["errno"] as? Int == item.errno)
            if let name = item.name { #expect(json["errno_name"] as? String == name) } else { #expect(json["errno_name"] is NSNull) }
            #expect(json["path_truncated"] as? Bool == (item.eventFlags & 1 != 0))
            #expect(json["path_unreadable"] as? Bool == (item.eventFlags & 2 != 0))
        }
    }

    @Test("Lost events are a JSON record")
    func lost() throws {
        var formatter = JSONFormatter(columns: OutputColumns())
        var out = OutputBuffer()
        #expect(formatter.appendLost(3, total: 10, into: &out))
        let json = try parse(String(decoding: out.bytes, as: UTF8.self))
        #expect(json["lost"] as? Int == 3)
        #expect(json["lost_total"] as? Int == 10)
    }
}

@Suite("Cgroup fields")
struct CgroupFieldsTests {
    static let id = String(repeating: "0123456789abcdef", count: 4)
    static let uid = "1a2b3c4d-0000-4000-8000-00000000abcd"
    /// Cgroups 7 (a containerd container in a pod), 8 (a long service path), 9 (hostile bytes);
    /// every other id is gone.
    static func fields() -> CgroupFields {
        CgroupFields { cgroup in
            switch cgroup {
            case 7: return .init(pathBytes: Array("/kubepods/besteffort/pod\(uid)/\(id)".utf8))
            case 8: return .init(pathBytes: Array("/system.slice/very-long-service-name-here.service".utf8))
            case 9: return .init(pathBytes: Array("/user.slice/a\nb".utf8) + [0xFF])
            default: return nil
            }
        }
    }

    @Test("JSON: cgroup_id, cgroup, container_id and pod_uid where the path shows them; null for a cgroup gone")
    func json() throws {
        var formatter = JSONFormatter(columns: OutputColumns(cgroup: true), cgroups: Self.fields())
        func object(_ cgroup: UInt64) throws -> [String: Any] {
            let line = EventFixture.format(EventFixture.record(cgroupID: cgroup), with: &formatter)
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let pod = try object(7)
        #expect(pod["cgroup_id"] as? Int == 7)
        #expect(pod["cgroup"] as? String == "/kubepods/besteffort/pod\(Self.uid)/\(Self.id)")
        #expect(pod["container_id"] as? String == Self.id && pod["pod_uid"] as? String == Self.uid)
        let again = try object(7)  // the kept rendering
        #expect(again["container_id"] as? String == Self.id)
        let service = try object(8)
        #expect(service["cgroup"] as? String == "/system.slice/very-long-service-name-here.service")
        #expect(service["container_id"] == nil && service["pod_uid"] == nil)
        let hostile = try object(9)
        #expect(hostile["cgroup"] as? String == "/user.slice/a\nb\u{FFFD}")
        #expect(hostile["cgroup_base64"] as? String == Data(Array("/user.slice/a\nb".utf8) + [0xFF]).base64EncodedString())
        let gone = try object(12345)
        #expect(gone["cgroup_id"] as? Int == 12345 && gone["cgroup"] is NSNull)
        #expect(!EventFixture.format(EventFixture.record(), with: &formatter).isEmpty)
        var plain = JSONFormatter(columns: OutputColumns())
        let line = EventFixture.format(EventFixture.record(cgroupID: 7), with: &plain)
        #expect(!line.contains("cgroup"))
    }

    @Test("Text: a CGROUP column of 25 before PATH: short container id, path end, escaped bytes, - when gone")
    func text() {
        var formatter = TextFormatter(columns: OutputColumns(cgroup: true), cgroups: Self.fields())
        var header = OutputBuffer()
        formatter.appendHeader(into: &header)
        #expect(String(decoding: header.bytes, as: UTF8.self) == "PID    COMM              FD ERR CGROUP                   PATH\n")
        func line(_ cgroup: UInt64) -> String {
            EventFixture.format(EventFixture.record(pid: 5, cgroupID: cgroup), with: &formatter)
        }
        #expect(line(7) == "5      cat                3   0 0123456789ab             /etc/hosts\n")
        #expect(line(8) == "5      cat                3   0 ...ice-name-here.service /etc/hosts\n")
        #expect(line(9) == "5      cat                3   0 /user.slice/a\\nb\\xff     /etc/hosts\n")
        #expect(line(1) == "5      cat                3   0 -                        /etc/hosts\n")
    }

    @Test("A long cgroup path is cut before a character, never inside an escape")
    func tailCut() {
        func tail(_ path: String) -> String {
            var out = OutputBuffer()
            CgroupFields.appendTail(Array(path.utf8), width: 24, into: &out)
            return String(decoding: out.bytes, as: UTF8.self)
        }
        // "\x1b" would not fit whole: the cut comes after it, not inside it ("...1bcdef…").
        #expect(tail("/system.slice/ab\u{1B}cdefghijklmnopqrstu") == "...cdefghijklmnopqrstu")
        #expect(tail("/system.slice/a\u{1B}cdefghijklmnopqr") == "...a\\x1bcdefghijklmnopqr")
        #expect(tail("/system.slice/x/ééééééééééééé") == "...éééééééééé")
        #expect(tail("/short") == "/short")
    }

    @Test("Summaries by cgroup name it as events do: the CGROUP column in text, the cgroup fields in JSON")
    func summary() throws {
        var row = SummaryRow()
        row.cgroupID = 7
        row.count = 3
        let snapshot = SummarySnapshot(rows: [row], otherCount: 0, otherFailed: 0, namesLost: 0,
                                       intervalNanoseconds: 1_000_000_000, capacity: 4)
        var text = SummaryFormatter(keys: [.cgroup], latency: false, json: false, top: nil, redraw: false, cgroups: Self.fields())
        var out = OutputBuffer()
        text.append(snapshot, at: 1, screenRows: nil, into: &out)
        let lines = String(decoding: out.bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines[1] == "   COUNT  FAILED TOP ERRNO    CGROUP                   ")
        #expect(lines[2] == "       3       0              0123456789ab             ")
        var json = SummaryFormatter(keys: [.cgroup], latency: false, json: true, top: nil, redraw: false, cgroups: Self.fields())
        out = OutputBuffer()
        json.append(snapshot, at: 1, screenRows: nil, into: &out)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.bytes)) as? [String: Any])
        let first = try #require((object["rows"] as? [[String: Any]])?.first)
        #expect(first["cgroup_id"] as? Int == 7 && first["container_id"] as? String == Self.id && first["pod_uid"] as? String == Self.uid)
    }
}
