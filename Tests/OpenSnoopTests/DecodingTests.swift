import OpenSnoop
import OpenSnoopEvent
import Testing

@Suite("Decoding ring-buffer records")
struct DecodingTests {
    @Test("The Swift view of the event layout matches the C contract")
    func layout() {
        #expect(MemoryLayout<opensnoop_event>.size == Int(OPENSNOOP_EVENT_SIZE))
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.flags) == 24)
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.comm) == 48)
    }

    @Test("A record decodes to its fields")
    func decodes() throws {
        let record = EventFixture.record(pid: 7, tid: 8, uid: 9, ret: -2, flags: 0o101, comm: Array("bash".utf8),
                                         path: Array("/x/y".utf8), source: 3)
        try record.withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.pid == 7)
            #expect(event.tid == 8)
            #expect(event.uid == 9)
            #expect(event.fileDescriptor == -1)
            #expect(event.errorNumber == 2)
            #expect(event.flags.accessMode == 1)
            #expect(event.flags.contains(.create))
            #expect(event.comm == "bash")
            #expect(event.path == "/x/y")
            #expect(event.source == .openat2)
            #expect(event.fullPathBytes == nil)
        }
    }

    @Test("A successful open has its fd and no error")
    func success() throws {
        try EventFixture.record(ret: 5).withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.fileDescriptor == 5)
            #expect(event.errorNumber == 0)
        }
    }

    @Test("Records shorter than they claim are rejected, not read past")
    func truncatedRecords() {
        let record = EventFixture.record(path: Array("/a/long/path".utf8))
        for cut in [0, 10, 63, 64, record.count - 1] {
            Array(record.prefix(cut)).withUnsafeBytes { raw in
                #expect(OpenEvent(record: raw) == nil, "cut at \(cut)")
            }
        }
        var badSource = record
        badSource[44] = 99
        badSource.withUnsafeBytes { #expect(OpenEvent(record: $0) == nil) }
    }

    @Test("The resolved path follows the path when present")
    func fullPath() throws {
        let record = EventFixture.record(path: Array("rel".utf8), fullPath: Array("/home/u/rel".utf8))
        try record.withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.path == "rel")
            #expect(String(decoding: try #require(event.fullPathBytes), as: UTF8.self) == "/home/u/rel")
        }
    }
}
