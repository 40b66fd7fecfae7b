import BPFKit
import BPFKitTestPrograms
import Foundation
import Glibc
import Synchronization
import Testing

/// An IPv4 address as an LPM trie key holds it: its four bytes in network order.
private func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> UInt32 {
    UInt32(bigEndian: UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
}

/// A thread that calls getppid(2) `count` times once told to; its id is what the test object's
/// programs filter on.
private final class GetppidThread: Sendable {
    private let id = Atomic<UInt32>(0)
    private let go = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let resumed = Atomic<Bool>(false)

    /// With `pauseAfter`, the thread stops after that many calls until `resume()`.
    init(calls count: Int, pauseAfter pause: Int? = nil) {
        Thread { [self] in
            id.store(threadID(), ordering: .releasing)
            while !go.load(ordering: .acquiring) { usleep(100) }
            triggerGetppid(pause ?? count)
            if let pause {
                while !resumed.load(ordering: .acquiring) { usleep(100) }
                triggerGetppid(count - pause)
            }
            finished.store(true, ordering: .releasing)
        }.start()
    }

    func resume() { resumed.store(true, ordering: .releasing) }

    /// The thread's id, once it runs.
    var tid: UInt32 {
        while id.load(ordering: .acquiring) == 0 { usleep(100) }
        return id.load(ordering: .acquiring)
    }

    func start() { go.store(true, ordering: .releasing) }
    var isFinished: Bool { finished.load(ordering: .acquiring) }
}

@Suite("Taking entries out, draining, lazy iteration, batches, queues, LPM tries, program arrays",
       .tags(.kernel), .enabled(if: isRoot, "creating BPF maps needs root"))
struct MapOperationTests {
    @Test("lookupAndDelete takes one entry out in one call")
    func lookupAndDelete() throws {
        let skeleton = try loadTestObject()
        let map = try BPFHashMap<UInt32, UInt64>(skeleton.maps.hashU32)
        try map.update(1, 100)
        #expect(try map.lookupAndDelete(1) == 100)
        #expect(try map.lookup(1) == nil)
        #expect(try map.lookupAndDelete(1) == nil)

        let perCPU = try BPFPerCPUHashMap<UInt64, UInt32>(skeleton.maps.percpuHash)
        let values = (0..<BPFMapHandle.possibleCPUs).map { UInt32($0) }
        try perCPU.update(5, values)
        #expect(try perCPU.lookupAndDelete(5) == values)
        #expect(try perCPU.drain().isEmpty)
    }

    @Test("A drain while a program adds entries returns each exactly once and leaves the map empty",
          .timeLimit(.minutes(1)))
    func drainWhileWritten() throws {
        let total = 50_000
        // Half the calls, then the rest once a drain took entries: some drains overlap the
        // writer however fast either side runs.
        let writer = GetppidThread(calls: total, pauseAfter: total / 2)
        let open = try KittestSkeleton.open()
        open.rodata.targetTid = writer.tid
        open.rodata.enabled = true
        open.programs.insertEvent.autoload = true
        let skeleton = try open.load()
        try skeleton.programs.insertEvent.attach()
        let taken = try BPFHashMap<UInt64, UInt64>(skeleton.maps.taken)
        writer.start()
        var keys: [UInt64] = [], drainsWithEntries = 0
        while !writer.isFinished {
            let batch = try taken.drain()
            if !batch.isEmpty {
                drainsWithEntries += 1
                writer.resume()
            }
            keys += batch.map(\.key)
            #expect(batch.allSatisfy { $0.value == 1 })
        }
        keys += try taken.drain().map(\.key)
        #expect(try taken.keys().isEmpty)
        #expect(skeleton.bss.nextEvent == UInt64(total))
        #expect(keys.count + Int(skeleton.bss.eventsDropped) == total)
        #expect(Set(keys).count == keys.count)
        #expect(drainsWithEntries > 1, "the drains did not overlap the writer")
    }

    @Test("Lazy iteration fetches each key when asked: entries deleted before they are reached are not seen")
    func lazyIteration() throws {
        let skeleton = try loadTestObject()
        let map = try BPFHashMap<UInt32, UInt64>(skeleton.maps.hashU32)
        for key in UInt32(1)...40 { try map.update(key, UInt64(key) * 10) }
        let all = map.lazyEntries()
        #expect(Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0.value) }) == Dictionary(uniqueKeysWithValues: (UInt32(1)...40).map { ($0, UInt64($0) * 10) }))
        #expect(all.error == nil)
        #expect(all.next() == nil)  // single pass

        let entries = map.lazyEntries()
        let first = try #require(entries.next())
        for key in UInt32(1)...40 where key != first.key { try map.delete(key) }
        #expect(entries.next() == nil)
        #expect(entries.error == nil)
    }

    @Test("Batches: reads page through with a cursor, deleting reads empty the map, updates and deletes in one call")
    func batches() throws {
        let skeleton = try loadTestObject()
        let map = try BPFHashMap<UInt32, UInt64>(skeleton.maps.hashU32)
        try map.updateBatch((UInt32(0)..<20).map { (key: $0, value: UInt64($0) + 1000) })
        var cursor = BPFMapBatchCursor()
        var seen: [UInt32: UInt64] = [:], calls = 0
        while !cursor.isAtEnd {
            for (key, value) in try map.lookupBatch(&cursor, maxCount: 5) { seen[key] = value }
            calls += 1
        }
        #expect(seen == Dictionary(uniqueKeysWithValues: (UInt32(0)..<20).map { ($0, UInt64($0) + 1000) }))
        #expect(calls >= 4)
        #expect(try map.deleteBatch([1, 2, 999]) == 2)
        var deleting = BPFMapBatchCursor()
        var taken = 0
        while !deleting.isAtEnd { taken += try map.lookupAndDeleteBatch(&deleting, maxCount: 7).count }
        #expect(taken == 18)
        #expect(try map.keys().isEmpty)
        expectBPFError(.alreadyExists) { try map.updateBatch([(key: 1, value: 1), (key: 1, value: 2)], flags: .noExist) }
        let zero = expectBPFError(.invalidArgument) { _ = try map.lookupBatch(&cursor, maxCount: 0) }
        #expect(zero?.description == "read a batch of BPF map hash_u32: maxCount must be at least 1, not 0")
    }

    @Test("Queues pop the oldest value, stacks the newest; a full queue refuses a push unless told to overwrite")
    func queues() throws {
        let skeleton = try loadTestObject()
        let queue = try BPFQueueMap<UInt64>(skeleton.maps.queue)
        #expect(!queue.isStack)
        #expect(try queue.pop() == nil && queue.peek() == nil)
        for value in UInt64(1)...4 { try queue.push(value) }
        #expect(try queue.peek() == 1)
        let full = expectBPFError(.system) { try queue.push(5) }
        #expect(full?.description == "push onto BPF map queue: it is full (4 values): pop first, or push overwritingOldest")
        try queue.push(5, overwritingOldest: true)
        #expect(try queue.pop() == 2)
        #expect(try queue.drain() == [3, 4, 5])
        #expect(try queue.pop() == nil)

        let stack = try BPFQueueMap<UInt64>(skeleton.maps.stack)
        #expect(stack.isStack)
        try stack.push(1)
        try stack.push(2)
        #expect(try stack.pop() == 2)

        let size = expectBPFError(.invalidArgument) { _ = try BPFQueueMap<UInt32>(skeleton.maps.queue) }
        #expect(size?.description == "view BPF map queue: its value is 8 bytes, UInt32 is 4")
        let type = expectBPFError(.invalidArgument) { _ = try BPFQueueMap<UInt64>(skeleton.maps.hashU32) }
        #expect(type?.description == "view BPF map hash_u32 as a queue: is a hash map, must be a queue or a stack map")
    }

    @Test("An LPM trie answers with the longest matching prefix")
    func lpmTrie() throws {
        let skeleton = try loadTestObject()
        let routes = try BPFLPMTrie<UInt32, UInt32>(skeleton.maps.routes)
        #expect(routes.maxPrefixLength == 32)
        try routes.update(ipv4(10, 0, 0, 0), prefixLength: 8, 1)
        try routes.update(ipv4(10, 1, 0, 0), prefixLength: 16, 2)
        #expect(try routes.lookup(ipv4(10, 1, 2, 3)) == 2)
        #expect(try routes.lookup(ipv4(10, 2, 0, 1)) == 1)
        #expect(try routes.lookup(ipv4(10, 1, 2, 3), prefixLength: 12) == 1)
        #expect(try routes.lookup(ipv4(11, 0, 0, 1)) == nil)
        #expect(try routes.entries().map { "\($0.address == ipv4(10, 0, 0, 0) ? "10/8" : "10.1/16")=\($0.value)/\($0.prefixLength)" }.sorted()
                == ["10.1/16=2/16", "10/8=1/8"])
        #expect(try !routes.delete(ipv4(10, 1, 0, 0), prefixLength: 15))
        #expect(try routes.delete(ipv4(10, 1, 0, 0), prefixLength: 16))
        #expect(try routes.lookup(ipv4(10, 1, 2, 3)) == 1)

        let long = expectBPFError(.invalidArgument) { try routes.update(ipv4(10, 0, 0, 0), prefixLength: 33, 1) }
        #expect(long?.description == "update BPF map routes: prefix length 33 is not in 0...32")
        let key = expectBPFError(.invalidArgument) { _ = try BPFLPMTrie<UInt64, UInt32>(skeleton.maps.routes) }
        #expect(key?.description == "view BPF map routes: its key is 8 bytes, a prefix length and UInt64 are 12")
    }

    @Test("A program set in a program array is where a tail call lands")
    func programArray() throws {
        let skeleton = try loadTestObject {
            $0.programs.jump.autoload = true
            $0.programs.jumpTarget.autoload = true
        }
        let table = try BPFProgramArray(skeleton.maps.jumpTable)
        #expect(table.count == 4)
        #expect(try skeleton.programs.jump.run(context: (UInt64(0), UInt64(0))).returnValue == 1)
        try table.set(skeleton.programs.jumpTarget, at: 0)
        #expect(try skeleton.programs.jump.run(context: (UInt64(0), UInt64(0))).returnValue == 42)
        #expect(try skeleton.programs.jump.run(context: (UInt64(1), UInt64(0))).returnValue == 1)
        #expect(try table.remove(at: 0))
        #expect(try !table.remove(at: 0))
        #expect(try skeleton.programs.jump.run(context: (UInt64(0), UInt64(0))).returnValue == 1)

        let range = expectBPFError(.invalidArgument) { try table.set(skeleton.programs.jumpTarget, at: 4) }
        #expect(range?.details == "index 4 is not in 0..<4")
        let unloaded = expectBPFError(.invalidArgument) { try table.set(skeleton.programs.onUprobe, at: 1) }
        #expect(unloaded?.description == "set BPF map jump_table[1] to BPF program on_uprobe of kittest: the program is not loaded")
        expectBPFError(.invalidArgument) { _ = try BPFProgramArray(skeleton.maps.arrayU64) }
    }
}

@Suite("Programs run without attaching them (BPF_PROG_TEST_RUN)", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct RunTests {
    /// What `flip_first_byte` reads of its `struct __sk_buff` context: `len`, `pkt_type`, `mark`.
    struct SocketBufferContext {
        var length: UInt32 = 0
        var packetType: UInt32 = 0
        var mark: UInt32
    }

    @Test("A raw tracepoint program runs with its arguments as context and returns its result")
    func rawTracepoint() throws {
        let skeleton = try loadTestObject { $0.programs.addArgs.autoload = true }
        let result = try skeleton.programs.addArgs.run(context: (UInt64(40), UInt64(2)))
        #expect(result.returnValue == 42 && result.duration == .zero && result.data.isEmpty)
    }

    @Test("A packet program runs repeatedly on a packet and a context: its result, its average duration, the packet it left")
    func packet() throws {
        let skeleton = try loadTestObject { $0.programs.flipFirstByte.autoload = true }
        let packet = [UInt8(0x10)] + [UInt8](repeating: 0, count: 63)
        let once = try skeleton.programs.flipFirstByte.run(context: SocketBufferContext(mark: 1000), data: packet)
        #expect(once.returnValue == 1000 + 0x10)
        #expect(once.data == [0xEF] + packet.dropFirst())
        // Each repetition runs on the packet the one before left: the 1000th sees it flipped.
        let repeated = try skeleton.programs.flipFirstByte.run(context: SocketBufferContext(mark: 1000), data: packet, repeat: 1000)
        #expect(repeated.returnValue == 1000 + 0xEF)
        #expect(repeated.data == packet)
        #expect(repeated.duration > .zero && repeated.duration < .seconds(1))
    }

    @Test("What a program kind cannot take, or a program not loaded, is refused with the reason")
    func misuse() throws {
        let skeleton = try loadTestObject { $0.programs.addArgs.autoload = true }
        let tracepoint = expectBPFError(.notSupported) { _ = try skeleton.programs.onGetppid.run(context: []) }
        #expect(tracepoint?.details == "the kernel cannot run tracepoint programs on request")
        let repeated = expectBPFError(.invalidArgument) { _ = try skeleton.programs.addArgs.run(context: (UInt64(1), UInt64(2)), repeat: 5) }
        #expect(repeated?.description == "run BPF program add_args of kittest: Invalid argument: "
                + "the kernel refused this context, data or repeat count for a raw_tracepoint program")
        let zero = expectBPFError(.invalidArgument) { _ = try skeleton.programs.addArgs.run(context: [], repeat: 0) }
        #expect(zero?.details == "repeat must be at least 1, not 0")
        let unloaded = expectBPFError(.invalidArgument) { _ = try skeleton.programs.jump.run(context: []) }
        #expect(unloaded?.description == "run BPF program jump of kittest: the program is not loaded")
    }
}
