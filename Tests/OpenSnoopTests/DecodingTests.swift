import OpenSnoop
import OpenSnoopEvent
import Testing

@Suite("Decoding ring-buffer records")
struct DecodingTests {
    @Test("The Swift view of the event layout matches the C contract")
    func layout() {
        #expect(MemoryLayout<opensnoop_event>.size == Int(OPENSNOOP_EVENT_SIZE))
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.flags) == 8)
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.pid) == 32)
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.path_len) == 60)
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.source) == 68)
        #expect(MemoryLayout<opensnoop_event>.offset(of: \.comm) == 72)
        // The offsets OpenEvent reads the record at.
        let layout = MemoryLayout<opensnoop_event>.self
        let offsets: [(Int, Int?)] = [
            (OpenEvent.Offset.timestamp, layout.offset(of: \.ts_ns)), (OpenEvent.Offset.flags, layout.offset(of: \.flags)),
            (OpenEvent.Offset.cgroupID, layout.offset(of: \.cgroup_id)), (OpenEvent.Offset.latency, layout.offset(of: \.latency_ns)),
            (OpenEvent.Offset.pid, layout.offset(of: \.pid)), (OpenEvent.Offset.tid, layout.offset(of: \.tid)),
            (OpenEvent.Offset.uid, layout.offset(of: \.uid)), (OpenEvent.Offset.result, layout.offset(of: \.ret)),
            (OpenEvent.Offset.mode, layout.offset(of: \.mode)), (OpenEvent.Offset.directoryFD, layout.offset(of: \.dirfd)),
            (OpenEvent.Offset.fixedSlot, layout.offset(of: \.fixed_slot)), (OpenEvent.Offset.pathLength, layout.offset(of: \.path_len)),
            (OpenEvent.Offset.fullLength, layout.offset(of: \.full_len)), (OpenEvent.Offset.rootLength, layout.offset(of: \.root_len)),
            (OpenEvent.Offset.eventFlags, layout.offset(of: \.event_flags)), (OpenEvent.Offset.source, layout.offset(of: \.source)),
            (OpenEvent.Offset.comm, layout.offset(of: \.comm)), (OpenEvent.Offset.headerSize, layout.size),
        ]
        for (ours, c) in offsets { #expect(ours == c) }
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
        for cut in [0, 10, 87, 88, record.count - 1] {
            Array(record.prefix(cut)).withUnsafeBytes { raw in
                #expect(OpenEvent(record: raw) == nil, "cut at \(cut)")
            }
        }
        var badSource = record
        badSource[68] = 99
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

    @Test("In a chroot the path as the process sees it follows the root's path; the root itself is /")
    func chrootViews() throws {
        let record = EventFixture.record(path: Array("/etc/x".utf8), fullPath: Array("/srv/jail/etc/x".utf8), rootLength: 9)
        try record.withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(String(decoding: try #require(event.fullPathBytes), as: UTF8.self) == "/etc/x")
            #expect(String(decoding: try #require(event.hostPathBytes), as: UTF8.self) == "/srv/jail/etc/x")
            #expect(event.isChrooted)
        }
        let root = EventFixture.record(path: Array("/".utf8), fullPath: Array("/srv/jail".utf8), rootLength: 9)
        try root.withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(String(decoding: try #require(event.fullPathBytes), as: UTF8.self) == "/")
        }
        var bad = EventFixture.record(path: Array("/x".utf8), fullPath: Array("/a/x".utf8), rootLength: 5)
        bad.withUnsafeBytes { #expect(OpenEvent(record: $0) == nil, "root longer than the path") }
        bad = EventFixture.record(path: [], fullPath: [], rootLength: 0)
        try bad.withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(String(decoding: try #require(event.fullPathBytes), as: UTF8.self) == "/", "the mount root")
        }
    }

    @Test("io_uring fixed-file opens have a slot and no fd; 32-bit opens are marked")
    func slotsAndCompat() throws {
        let flags = UInt16(OPENSNOOP_EV_FIXED_SLOT.rawValue) | UInt16(OPENSNOOP_EV_COMPAT.rawValue)
        try EventFixture.record(ret: 0, eventFlags: flags, source: 5, fixedSlot: 7).withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.fixedSlot == 7)
            #expect(event.fileDescriptor == -1)
            #expect(event.errorNumber == 0)
            #expect(event.isCompat)
        }
    }
}
