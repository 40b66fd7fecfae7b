import BPFKit
import BPFKitTestPrograms
import Glibc
import Synchronization
import Testing

@Suite("Programs and links on the real kernel", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct ProgramTests {
    @Test("A discarded attach result stays attached; detach() detaches")
    func detach() throws {
        let skeleton = try loadTestObject()
        try skeleton.programs.onGetppid.attach()  // result dropped: the object keeps the link
        triggerGetppid(2)
        #expect(skeleton.bss.hits == 2)
        let link = try #require(skeleton.object.links.first)
        #expect(link.fileDescriptor >= 0)
        link.detach()
        #expect(!link.isAttached && link.fileDescriptor == -1)
        triggerGetppid(2)
        #expect(skeleton.bss.hits == 2)
    }

    @Test("Releasing the object (or a taken link) detaches")
    func release() throws {
        var hits: BPFGlobalData? = nil
        do {
            let skeleton = try loadTestObject()
            hits = try skeleton.object.globals(.bss)
            let link = skeleton.object.takeLink(try skeleton.programs.onGetppid.attach())
            #expect(skeleton.object.links.isEmpty)
            triggerGetppid()
            #expect(try hits?.read("hits", as: UInt64.self) == 1)
            _ = link
        }
        // `hits` keeps the object (and its memory) alive, not the taken link, now released.
        triggerGetppid()
        #expect(try hits?.read("hits", as: UInt64.self) == 1)

        // The object itself: a map handle has its own descriptor (the map outlives the object),
        // nothing else of the object is kept; once it is released, its links are gone.
        let perCPU: BPFPerCPUArray<UInt64>
        do {
            let skeleton = try loadTestObject()
            perCPU = try BPFPerCPUArray<UInt64>(skeleton.maps.percpuU64)
            try skeleton.attach()
            #expect(skeleton.object.links.count > 1)  // detached together, each on a thread
            triggerGetppid()
            #expect(try perCPU.sum(0) == 1)
        }
        triggerGetppid(3)
        #expect(try perCPU.sum(0) == 1)
    }

    @Test("Explicit attach calls: tracepoint, raw tracepoint, tp_btf, uprobe")
    func explicitAttach() throws {
        let skeleton = try loadTestObject { $0.programs.onUprobe.autoload = true }
        try skeleton.programs.onGetppid.attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
        try skeleton.programs.onRawEnter.attachRawTracepoint("sys_enter")
        try skeleton.programs.onBtfEnter.attachTracing()
        try skeleton.programs.onUprobe.attachUprobe(binary: "libc.so.6", symbol: "getpid", pid: getpid())
        triggerGetppid()
        _ = getpid()
        let counts = try BPFArrayMap<UInt64>(skeleton.maps.arrayU64)
        #expect(skeleton.bss.hits == 1)
        #expect(try counts.lookup(1) >= 2)  // raw sys_enter: getppid and getpid, at least
        #expect(try counts.lookup(2) >= 2)
        #expect(try counts.lookup(3) >= 1)
        let missing = expectBPFError(.notFound) {
            try skeleton.programs.onGetppid.attachTracepoint(category: "syscalls", name: "no_such_tracepoint")
        }
        #expect(missing?.details == "the kernel has no tracepoint syscalls/no_such_tracepoint (no events/syscalls/no_such_tracepoint in tracefs)")
    }

    @Test("Program kinds this kernel lacks: a clear 'not available on this kernel' error")
    func notAvailable() throws {
        if !KernelSupport.hasFentry {
            let error = expectBPFError(.notSupported) {
                _ = try loadTestObject { $0.programs.onFentry.autoload = true }
            }
            #expect(error?.description.contains("not available on this kernel") == true)
        }
        let skeleton = try loadTestObject { $0.programs.onKprobe.autoload = true }
        if !KernelSupport.hasKprobes {
            let error = expectBPFError(.notSupported) { try skeleton.programs.onKprobe.attach() }
            #expect(error?.description.contains("kprobes are not available on this kernel") == true)
            expectBPFError(.notSupported) { try skeleton.programs.onKprobe.attachKsyscall("openat") }
        }
    }

    @Test("A program the verifier rejects gives .verifierRejected with the kernel's reason")
    func verifierRejection() throws {
        let error = expectBPFError(.verifierRejected) {
            _ = try loadTestObject { $0.programs.rejected.autoload = true }
        }
        #expect(error?.context == "load BPF program rejected of kittest (\(KittestSkeleton.sections[.rejected]!))")
        #expect(error?.details?.contains("invalid mem access") == true, "\(String(describing: error))")
        #expect(error?.verifierLog?.isEmpty == false)
        #expect(error?.verifierLogTruncated == false)
    }

    @Test("An iterator's output can be read, once per read()")
    func iterator() throws {
        let skeleton = try loadTestObject()
        let iterator = try skeleton.programs.dumpTasks.attachIterator()
        let lines = String(decoding: try iterator.read(), as: UTF8.self).split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("\(getpid()) ") })
        #expect(lines.count > 2)
        #expect(try !iterator.read().isEmpty)
        iterator.link.detach()
        let error = #expect(throws: BPFError.self) { try iterator.read() }
        #expect(error?.description.contains("the link is detached") == true, "\(String(describing: error))")
    }

    @Test("Pinning a link and a map works, is checked on reuse, and is cleaned up")
    func pinning() throws {
        let skeleton = try loadTestObject()
        let link = try skeleton.programs.onGetppid.attach()
        let linkPath = pinPath("link")
        try link.pin(at: linkPath)
        #expect(exists(linkPath))
        defer { unlink(linkPath) }
        let notAMap = expectBPFError(.invalidArgument) { _ = try BPFMapHandle(pinnedAt: linkPath) }
        #expect(notAMap?.details == "not a pinned BPF map (a pinned program or link)")
        try link.unpin()
        #expect(!exists(linkPath))

        let mapPath = pinPath("hash")
        let pinned = try skeleton.maps.hashU32.handle()
        try pinned.pin(at: mapPath)
        defer { unlink(mapPath) }
        try BPFHashMap<UInt32, UInt64>(pinned).update(9, 99)
        // A second object reuses the pinned map: it sees the first one's values.
        let open = try KittestSkeleton.open()
        try open.maps.hashU32.reusePinned(at: mapPath)
        let wrongType = expectBPFError(.invalidArgument) { try open.maps.arrayU64.reusePinned(at: mapPath) }
        #expect(wrongType?.description == "use pinned map \(mapPath): is a hash map, must be an array map")
        let wrongValue = expectBPFError(.invalidArgument) { try open.maps.lru.reusePinned(at: mapPath) }
        #expect(wrongValue?.details == "has 8-byte values, must have 4-byte values")
        expectBPFError(.notFound) { try open.maps.lru.reusePinned(at: pinPath("missing")) }
        let notBPF = expectBPFError(.invalidArgument) { try open.maps.lru.reusePinned(at: "/proc/self/status") }
        #expect(notBPF?.details == "not a pinned BPF map (not on a BPF file system)")
        let second = try open.load()
        #expect(try BPFHashMap<UInt32, UInt64>(second.maps.hashU32).lookup(9) == 99)
        unlink(mapPath)
        #expect(!exists(mapPath))
    }

    @Test("libbpf's messages reach a Swift handler when asked, and stop when silenced")
    func logRouting() throws {
        let messages = LockedLines()
        BPFLog.route(upTo: .debug) { _, line in messages.append(line) }
        defer { BPFLog.silence() }
        _ = try KittestSkeleton.open()
        #expect(messages.count > 0)
        BPFLog.silence()
        let before = messages.count
        _ = try KittestSkeleton.open()
        #expect(messages.count == before)
    }
}

/// Lines collected from any thread.
final class LockedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var count: Int { lines.withLock { $0.count } }
    var all: [String] { lines.withLock { $0 } }
}
