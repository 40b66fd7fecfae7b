import OpenSnoop
import OpenSnoopEvent
import Testing

@Suite("Decoding ring-buffer records")
struct DecodingTests {
    @Test("The event header generated from the BPF object's BTF has the C contract's layout")
    func layout() {
        // The C header as the host compiler lays it out, against the Swift type the build
        // generated from the BPF object's BTF (OpenEvent reads the record through it).
        let c = MemoryLayout<opensnoop_event>.self, swift = MemoryLayout<OpenEvent.Header>.self
        #expect(c.size == Int(OPENSNOOP_EVENT_SIZE))
        #expect(swift.size == c.size)
        #expect(OpenEvent.Header.bpfLayout?.size == c.size)
        let offsets: [(String, Int?, Int?)] = [
            ("ts_ns", c.offset(of: \.ts_ns), swift.offset(of: \.tsNs)), ("flags", c.offset(of: \.flags), swift.offset(of: \.flags)),
            ("cgroup_id", c.offset(of: \.cgroup_id), swift.offset(of: \.cgroupId)),
            ("latency_ns", c.offset(of: \.latency_ns), swift.offset(of: \.latencyNs)),
            ("pid", c.offset(of: \.pid), swift.offset(of: \.pid)), ("tid", c.offset(of: \.tid), swift.offset(of: \.tid)),
            ("uid", c.offset(of: \.uid), swift.offset(of: \.uid)), ("ret", c.offset(of: \.ret), swift.offset(of: \.ret)),
            ("mode", c.offset(of: \.mode), swift.offset(of: \.mode)), ("dirfd", c.offset(of: \.dirfd), swift.offset(of: \.dirfd)),
            ("fixed_slot", c.offset(of: \.fixed_slot), swift.offset(of: \.fixedSlot)),
            ("path_len", c.offset(of: \.path_len), swift.offset(of: \.pathLen)),
            ("full_len", c.offset(of: \.full_len), swift.offset(of: \.fullLen)),
            ("root_len", c.offset(of: \.root_len), swift.offset(of: \.rootLen)),
            ("event_flags", c.offset(of: \.event_flags), swift.offset(of: \.eventFlags)),
            ("source", c.offset(of: \.source), swift.offset(of: \.source)), ("comm", c.offset(of: \.comm), swift.offset(of: \.comm)),
        ]
        for (name, cOffset, swiftOffset) in offsets {
            #expect(cOffset != nil && cOffset == swiftOffset, "\(name)")
            #expect(OpenEvent.Header.bpfLayout?.fields.first { $0.name == name }?.offset == cOffset, "\(name) in BTF")
        }
    }

    @Test("Header fields without an accessor of their own are read by their generated names")
    func dynamicFields() throws {
        try EventFixture.record(ret: -13, cgroupID: 77).withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.cgroupId == 77)
            #expect(event.ret == -13)
            #expect(event.dirfd == -100)
            #expect(event.header.pathLen == UInt16("/etc/hosts".utf8.count))
            #expect(event.header.comm.string == "cat")
        }
    }

    @Test("A record decodes to its fields")
    func decodes() throws {
        let record = EventFixture.record(pid: 7, tid: 8, uid: 9, ret: -2, flags: 0o101, comm: Array("bash".utf8),
                                         path: Array("/x/y".utf8), source: .openat2)
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
        for unknown: UInt8 in [0, 7, 99] {  // not in enum opensnoop_source
            var badSource = record
            badSource[68] = unknown
            badSource.withUnsafeBytes { #expect(OpenEvent(record: $0) == nil, "source \(unknown)") }
        }
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
        try EventFixture.record(ret: 0, eventFlags: flags, source: .ioUring, fixedSlot: 7).withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.fixedSlot == 7)
            #expect(event.fileDescriptor == -1)
            #expect(event.errorNumber == 0)
            #expect(event.isCompat)
        }
        // An open asked to allocate a slot (IORING_FILE_INDEX_ALLOC) that failed: no slot, no fd.
        let slot = UInt16(OPENSNOOP_EV_FIXED_SLOT.rawValue)
        try EventFixture.record(ret: -2, eventFlags: slot, source: .ioUring, fixedSlot: .max).withUnsafeBytes { raw in
            let event = try #require(OpenEvent(record: raw))
            #expect(event.fixedSlot == nil && event.fileDescriptor == -1 && event.errorNumber == 2)
        }
    }
}
