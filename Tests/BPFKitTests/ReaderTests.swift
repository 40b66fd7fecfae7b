import BPFKit
import BPFKitTestPrograms
import Glibc
import CLibBPF
import Testing

struct HandlerFailure: Error, Equatable {}

@Suite("Ring buffers, perf event arrays and record streams", .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct ReaderTests {
    @Test("A handler can stop consumption; the rest stay for the next poll")
    func stop() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        triggerGetppid(3)
        var seen: [UInt64] = []
        let ring = try RingBuffer(skeleton.maps.ringA) { record in
            seen.append(record.loadUnaligned(as: UInt64.self))
            if seen.count == 1 { throw BPFStopReading() }
        }
        #expect(try ring.consume() == 1)
        #expect(seen == [1])
        #expect(try ring.poll(timeoutMilliseconds: 10) == 2)
        #expect(seen == [1, 2, 3])
    }

    @Test("A ring buffer's pending bytes are read from its mapped positions: what is written and not yet consumed")
    func pendingBytes() throws {
        let skeleton = try loadTestObject()
        let handle = try skeleton.maps.ringA.handle()
        #expect(try handle.ringBufferPendingBytes() == 0)
        try skeleton.attach()
        triggerGetppid(3)
        // Each record: an 8-byte header and its 8 bytes of data.
        #expect(try handle.ringBufferPendingBytes() == 3 * 16)
        var ring = try RingBuffer(skeleton.maps.ringA) { _ in }
        // One reader per map in this process: not added twice, and no second reader until the
        // first is released (two would race for its records).
        let twice = expectBPFError(.alreadyExists) { try ring.add(skeleton.maps.ringA.handle()) { _ in } }
        #expect(twice?.details == "a reader in this process reads it already (two would race for its records)")
        let second = expectBPFError(.alreadyExists) { _ = try RingBuffer(skeleton.maps.ringA) { _ in } }
        #expect(second?.context == "set up ring buffer ring_a")
        ring = try RingBuffer(skeleton.maps.ringB) { _ in }  // releases the reader of ringA
        ring = try RingBuffer(skeleton.maps.ringA) { _ in }
        #expect(try ring.consume() == 3)
        #expect(try handle.ringBufferPendingBytes() == 0)
        let error = expectBPFError(.invalidArgument) { _ = try skeleton.maps.hashU32.handle().ringBufferPendingBytes() }
        #expect(error?.details == "not a ring buffer")
    }

    @Test("A handler's error is rethrown by poll; reading goes on afterwards")
    func handlerThrows() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        triggerGetppid(2)
        var calls = 0
        let ring = try RingBuffer(skeleton.maps.ringA) { _ in
            calls += 1
            if calls == 1 { throw HandlerFailure() }
        }
        #expect(throws: HandlerFailure.self) { try ring.poll(timeoutMilliseconds: 10) }
        #expect(try ring.consume() == 1)
        #expect(calls == 2)
    }

    @Test("One consumer reads several maps, and its epoll descriptor wakes up")
    func severalMaps() throws {
        let skeleton = try loadTestObject()
        skeleton.data.seed = 42
        try skeleton.attach()
        var fromA: [UInt64] = [], fromB: [UInt64] = []
        let ring = try RingBuffer(skeleton.maps.ringA) { fromA.append($0.loadUnaligned(as: UInt64.self)) }
        try ring.add(skeleton.maps.ringB.handle()) { fromB.append($0.loadUnaligned(as: UInt64.self)) }
        triggerGetppid(2)
        var event = pollfd(fd: ring.epollDescriptor, events: Int16(POLLIN), revents: 0)
        #expect(Glibc.poll(&event, 1, 1000) == 1)
        #expect(try ring.consume() == 4)
        #expect(fromA == [1, 2])
        #expect(fromB == [42, 42])
    }

    @Test("A wait ends at a wakeup, not because records are pending: wakeups held back batch records")
    func edgeTriggered() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        var count = 0
        let ring = try RingBuffer(skeleton.maps.ringA) { _ in count += 1 }
        try ring.add(skeleton.maps.ringB.handle()) { _ in count += 1 }
        var events = [epoll_event](repeating: epoll_event(), count: 2)
        triggerGetppid(2)  // the first record of each ring wakes the reader, the second does not
        #expect(epoll_wait(ring.epollDescriptor, &events, 2, 1000) == 2)
        // Four records pending and no new wakeup: the wait times out (level-triggered, it would not).
        #expect(epoll_wait(ring.epollDescriptor, &events, 2, 50) == 0)
        #expect(try ring.poll(timeoutMilliseconds: 0) == 4)
        #expect(count == 4)
        triggerGetppid(1)  // caught up: a wakeup again
        #expect(epoll_wait(ring.epollDescriptor, &events, 2, 1000) == 2)
        #expect(try ring.consume() == 2)
    }

    @Test("After a handler stops a read, the next poll reads what is left without waiting for a wakeup")
    func stopThenPoll() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        var seen = 0
        let ring = try RingBuffer(skeleton.maps.ringA) { _ in
            seen += 1
            if seen == 1 { throw BPFStopReading() }
        }
        triggerGetppid(3)  // one wakeup, for the first record
        #expect(try ring.poll(timeoutMilliseconds: 1000) == 1)
        let start = ContinuousClock.now
        #expect(try ring.poll(timeoutMilliseconds: 5000) == 2)
        #expect(ContinuousClock.now - start < .seconds(1))
        // Without a timeout: it returns once it has handled records.
        triggerGetppid(2)
        #expect(try ring.poll(timeoutMilliseconds: -1) == 2)
        #expect(seen == 5)
    }

    @Test("The perf event array reader gets every record with its CPU")
    func perfEventArray() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        var records: [(cpu: Int, value: UInt64)] = []
        let reader = try PerfEventReader(skeleton.maps.perf, pagesPerCPU: 8) { cpu, record in
            records.append((cpu, record.loadUnaligned(as: UInt64.self)))
        }
        triggerGetppid(3)
        var total = 0
        for _ in 0..<20 where total < 3 { total += try reader.poll(timeoutMilliseconds: 50) }
        #expect(records.map(\.value) == [1, 2, 3])
        #expect(records.allSatisfy { $0.cpu >= 0 && $0.cpu < BPFMapHandle.possibleCPUs })
        #expect(reader.lostRecords == 0)
        expectBPFError(.invalidArgument) { _ = try PerfEventReader(skeleton.maps.ringA) { _, _ in } }
    }

    @Test("A perf event array handler can stop the reader or fail; no record is lost or repeated")
    func perfEventArrayStopAndThrow() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        var seen: [UInt64] = []
        var failOnce = true
        let reader = try PerfEventReader(skeleton.maps.perf, pagesPerCPU: 8) { _, record in
            let value = record.loadUnaligned(as: UInt64.self)
            seen.append(value)
            if value == 1 { throw BPFStopReading() }
            if value == 2 && failOnce {
                failOnce = false
                throw HandlerFailure()
            }
        }
        triggerGetppid(3)
        #expect(try reader.consume() >= 0)
        #expect(seen == [1])
        #expect(throws: HandlerFailure.self) { try reader.consume() }
        #expect(seen == [1, 2])
        for _ in 0..<20 where seen.count < 3 { try reader.poll(timeoutMilliseconds: 20) }
        #expect(seen == [1, 2, 3])
    }

    @Test("A record stream yields copies in order and ends on finish()")
    func stream() async throws {
        let skeleton = try Self.loadAttachAndTrigger(3)
        let stream = try BPFRecordStream(ringBuffers: [skeleton.maps.ringA.handle()], capacity: 16) {
            $0.loadUnaligned(as: UInt64.self)
        }
        var values: [UInt64] = []
        for try await value in stream {
            values.append(value)
            if values.count == 3 { stream.finish() }
        }
        #expect(values == [1, 2, 3])
        #expect(stream.lostRecords == 0)
    }

    @Test("A full record stream drops and counts what it cannot hold")
    func streamDrops() async throws {
        let skeleton = try Self.loadAttachAndTrigger(10)
        let stream = try BPFRecordStream(ringBuffers: [skeleton.maps.ringA.handle()], capacity: 2) {
            $0.loadUnaligned(as: UInt64.self)
        }
        for _ in 0..<100 where stream.droppedRecords < 8 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stream.droppedRecords == 8)
        stream.finish()
        var values: [UInt64] = []
        for try await value in stream { values.append(value) }
        #expect(values == [1, 2])
    }

    /// Loads, attaches and triggers on a new thread of its own: an async test changes threads,
    /// and a thread it leaves may run other tests' getppid calls while this object lives.
    static func loadAttachAndTrigger(_ times: Int) throws -> KittestSkeleton {
        final class Outcome: @unchecked Sendable { var result: Result<KittestSkeleton, any Error>? }
        let outcome = Outcome()
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box {
            outcome.result = Result {
                let skeleton = try loadTestObject()
                try skeleton.attach()
                triggerGetppid(times)
                return skeleton
            }
        }).toOpaque()
        pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        pthread_join(thread, nil)
        return try outcome.result!.get()
    }

    final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
