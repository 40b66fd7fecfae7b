import BPFKit
import BPFKitTestPrograms
import Foundation
import Testing

/// Compiles `body` after `import BPFKit` and `import BPFKitTestPrograms` (see `compileSnippet`).
private func typecheck(_ body: String) throws -> (status: Int32, output: String) {
    try compileSnippet("import BPFKit\nimport BPFKitTestPrograms\n" + body + "\n")
}

@Suite("Misuse refused at compile time")
struct CompileTimeMisuseTests {
    @Test("Read-only globals set on the open stage after load() do not compile: load() consumed it")
    func rodataAfterLoad() throws {
        let before = try typecheck("""
            func f() throws {
                let open = try KittestSkeleton.open()
                open.rodata.targetTid = 1
                _ = try open.load()
            }
            """)
        #expect(before.status == 0, "\(before.output)")
        let after = try typecheck("""
            func f() throws {
                let open = try KittestSkeleton.open()
                let skeleton = try open.load()
                open.rodata.targetTid = 1
                _ = skeleton
            }
            """)
        #expect(after.status != 0 && after.output.contains("'open' used after consume"), "\(after.output)")
        // Nor can the settings be kept for later: they are noncopyable, a part of `open`.
        let kept = try typecheck("""
            func f() throws {
                let open = try KittestSkeleton.open()
                let settings = open.rodata
                _ = try open.load()
                settings.targetTid = 1
            }
            """)
        // ("cannot partially consume 'open'" here; in the skeleton's own module, "'open' used
        // after partial consume" at load()).
        #expect(kept.status != 0 && kept.output.contains("consume 'open'"), "\(kept.output)")
    }

    @Test("A ring-buffer record read as a span cannot outlive its handler: keeping it does not compile")
    func recordSpanStaysInHandler() throws {
        let copy = try typecheck("""
            func f(_ skeleton: KittestSkeleton) throws -> RingBuffer {
                var kept: [UInt64] = []
                return try RingBuffer(spans: skeleton.maps.ringA) { record in
                    if let value = UInt64(loading: record) { kept.append(value) }
                }
            }
            """)
        #expect(copy.status == 0, "\(copy.output)")
        let kept = try typecheck("""
            func f(_ skeleton: KittestSkeleton) throws -> RingBuffer {
                var kept: RawSpan? = nil
                return try RingBuffer(spans: skeleton.maps.ringA) { record in kept = record }
            }
            """)
        #expect(kept.status != 0 && kept.output.contains("escapes its scope"), "\(kept.output)")
    }

    @Test("A ring-buffer record cannot leave a record stream as a pointer into the ring, only as a copy")
    func recordStreamCopies() throws {
        let copy = try typecheck("""
            func f(_ map: BPFMapHandle) throws {
                _ = try BPFRecordStream(ringBuffers: [map]) { KittestSkeleton.Types.Pair(loading: $0) ?? .zeroed }
            }
            """)
        #expect(copy.status == 0, "\(copy.output)")
        let pointer = try typecheck("""
            func f(_ map: BPFMapHandle) throws {
                _ = try BPFRecordStream<UnsafeRawBufferPointer>(ringBuffers: [map]) { $0 }
            }
            """)
        #expect(pointer.status != 0 && pointer.output.contains("Sendable"), "\(pointer.output)")
    }
}

/// Hand-written mirrors of `struct pair { __u64 a; __u32 b; }` (16 bytes) with `b` too small:
/// 9 bytes, which C's trailing padding lets pass a check of sizes alone (9 <= 16 <= stride 16).
struct ShortPair: BPFPlainData {
    var a: UInt64
    var b: UInt8
    static let bpfLayout: BPFTypeLayout? = BPFTypeLayout(ShortPair.self, fields: ["a": \.a, "b": \.b])
}

/// The same, declaring no layout.
struct ShortPairUndeclared: BPFPlainData {
    var a: UInt64
    var b: UInt8
}

/// What covers `struct pair` up to its last field and declares no layout: accepted.
struct PairUndeclared: BPFPlainData {
    var a: UInt64
    var b: UInt32
}

@Suite("Misuse refused with a thrown error", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct ThrownMisuseTests {
    @Test("A span handler gets each record, copied into a typed value")
    func spanHandler() throws {
        let skeleton = try loadTestObject()
        try skeleton.attach()
        triggerGetppid(3)
        var seen: [UInt64?] = [], sizes: [Int] = []
        let ring = try RingBuffer(spans: skeleton.maps.ringA) { record in
            // (Swift Testing's macros take no non-escapable value: plain code here.)
            seen.append(UInt64(loading: record))
            sizes.append(record.byteCount)
        }
        #expect(try ring.consume() == 3)
        #expect(seen == [1, 2, 3] && sizes == [8, 8, 8])
    }

    @Test("A hand-written type that stops short of the C value's last field is refused, declared layout or not")
    func smallerMirror() throws {
        #expect(MemoryLayout<ShortPair>.size == 9 && MemoryLayout<ShortPair>.stride == 16)
        let skeleton = try loadTestObject()
        // The untyped handle knows sizes only: the 9-byte type passes there.
        _ = try BPFHashMap<UInt32, ShortPairUndeclared>(skeleton.maps.hashPair.handle())
        for error in [expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt32, ShortPair>(skeleton.maps.hashPair) },
                      expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt32, ShortPairUndeclared>(skeleton.maps.hashPair) }] {
            #expect(error?.description.hasPrefix("view BPF map hash_pair: its value is struct pair, whose fields end at byte 12; ShortPair") == true,
                    "\(String(describing: error))")
        }
        let pairs = try BPFHashMap<UInt32, PairUndeclared>(skeleton.maps.hashPair)
        try pairs.update(7, PairUndeclared(a: 1, b: 2))
        #expect(try skeleton.typed.hashPair.lookup(7) == KittestSkeleton.Types.Pair(a: 1, b: 2))
    }
}
