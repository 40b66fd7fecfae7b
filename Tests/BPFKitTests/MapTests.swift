import BPFKit
import BPFKitTestPrograms
import Glibc
import Testing

/// A C `struct pair { __u64 a; __u32 b; }`: 16 bytes in C, 12 in Swift's `size`. Hand-written,
/// with its layout declared: views check it against the map's BTF field by field.
struct Pair: BPFPlainData, Equatable {
    var a: UInt64
    var b: UInt32
    static let bpfLayout: BPFTypeLayout? = BPFTypeLayout(Pair.self, fields: ["a": \.a, "b": \.b])
}

/// A C `struct triple { __u32 x, y, z; }`: 12 bytes, per-CPU stride 16 (sizes checked only).
struct Triple: BPFPlainData, Equatable {
    var x: UInt32, y: UInt32, z: UInt32
}

@Suite("Typed maps on the real kernel", .tags(.kernel), .enabled(if: isRoot, "creating BPF maps needs root"))
struct MapTests {
    @Test("Hash maps round-trip typed values; update flags, delete, keys and entries work")
    func hash() throws {
        let skeleton = try loadTestObject()
        let map = try BPFHashMap<UInt32, UInt64>(skeleton.maps.hashU32)
        try map.update(1, 100)
        try map.update(2, 200, flags: .noExist)
        #expect(try map.lookup(1) == 100)
        #expect(try map.lookup(3) == nil)
        expectBPFError(.alreadyExists) { try map.update(1, 5, flags: .noExist) }
        expectBPFError(.notFound) { try map.update(9, 5, flags: .exist) }
        try map.update(1, 101, flags: .exist)
        #expect(try map.keys().sorted() == [1, 2])
        #expect(try map.entries().sorted { $0.key < $1.key }.map(\.value) == [101, 200])
        #expect(try map.delete(2))
        #expect(try !map.delete(2))
        #expect(try map.keys() == [1])

        let pairs = try BPFHashMap<UInt32, Pair>(skeleton.maps.hashPair)
        try pairs.update(7, Pair(a: .max, b: 0xdead_beef))
        #expect(try pairs.lookup(7) == Pair(a: .max, b: 0xdead_beef))
    }

    @Test("LRU hash maps evict the oldest entry when full")
    func lru() throws {
        let skeleton = try loadTestObject()
        let map = try BPFHashMap<UInt32, UInt32>(skeleton.maps.lru)
        for key in UInt32(0)..<64 { try map.update(key, key * 2) }
        let keys = try map.keys()
        #expect(keys.count <= 8 && !keys.isEmpty)
        for key in keys { #expect(try map.lookup(key) == key * 2) }
    }

    @Test("Array maps round-trip by index and refuse indices out of range")
    func array() throws {
        let skeleton = try loadTestObject()
        let map = try BPFArrayMap<UInt64>(skeleton.maps.arrayU64)
        #expect(map.count == 8)
        try map.update(5, 55)
        #expect(try map.lookup(5) == 55)
        #expect(try map.values() == [0, 0, 0, 0, 0, 55, 0, 0])
        expectBPFError(.invalidArgument) { _ = try map.lookup(8) }
        expectBPFError(.invalidArgument) { try map.update(-1, 1) }
    }

    @Test("Per-CPU values come back one per possible CPU, at the kernel's 8-byte stride")
    func perCPU() throws {
        let skeleton = try loadTestObject()
        let cpus = BPFMapHandle.possibleCPUs
        let counters = try BPFPerCPUArray<UInt64>(skeleton.maps.percpuU64)
        let values = (0..<cpus).map { UInt64($0 + 1) * 1000 }
        try counters.update(2, values)
        #expect(try counters.lookup(2) == values)
        #expect(try counters.sum(2) == values.reduce(0, +))

        // 12-byte values: a buffer of CPUs × 12 bytes would overflow; the stride is 16.
        let triples = try BPFPerCPUArray<Triple>(skeleton.maps.percpuTriple)
        let written = (0..<cpus).map { Triple(x: UInt32($0), y: 2, z: UInt32(100 + $0)) }
        try triples.update(1, written)
        #expect(try triples.lookup(1) == written)
        expectBPFError(.invalidArgument) { try triples.update(1, Array(written.prefix(cpus - 1))) }

        let hash = try BPFPerCPUHashMap<UInt64, UInt32>(skeleton.maps.percpuHash)
        let perKey = (0..<cpus).map { UInt32($0) + 7 }
        try hash.update(42, perKey)
        #expect(try hash.lookup(42) == perKey)
        #expect(try hash.entries().map(\.values) == [perKey])
        #expect(try hash.delete(42))
    }

    @Test("The program's per-CPU counter adds up to the number of calls")
    func perCPUFromProgram() throws {
        let skeleton = try loadTestObject()
        try skeleton.programs.onGetppid.attach()
        triggerGetppid(5)
        let counters = try BPFPerCPUArray<UInt64>(skeleton.maps.percpuU64)
        #expect(try counters.sum(0) == 5)
        #expect(try counters.lookup(0).count == BPFMapHandle.possibleCPUs)
    }

    @Test("A view whose types do not match the map is a thrown error naming the map")
    func mismatches() throws {
        let skeleton = try loadTestObject()
        let hash = try skeleton.maps.hashU32.handle()
        let error = expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt8, UInt64>(hash) }
        #expect(error?.description == "view BPF map hash_u32: its key is 4 bytes, UInt8 is 1")
        expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt64, UInt64>(hash) }
        expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt32, UInt32>(hash) }
        let type = expectBPFError(.invalidArgument) { _ = try BPFArrayMap<UInt64>(hash) }
        #expect(type?.details == "is a hash map, must be an array map")
        expectBPFError(.invalidArgument) { _ = try BPFPerCPUArray<UInt64>(skeleton.maps.arrayU64) }
        expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt64, UInt32>(skeleton.maps.percpuHash) }
        expectBPFError(.invalidArgument) { _ = try BPFPerCPUArray<UInt32>(skeleton.maps.percpuTriple) }
        expectBPFError(.invalidArgument) { _ = try RingBuffer(skeleton.maps.hashU32) { _ in } }
        // The untyped calls check sizes on every call.
        expectBPFError(.invalidArgument) { try hash.update(UInt8(1), UInt64(1)) }
        expectBPFError(.invalidArgument) { try hash.update(UInt32(1), UInt8(1)) }
        expectBPFError(.invalidArgument) { _ = try skeleton.maps.percpuU64.handle().lookup(UInt32(0), as: UInt64.self) }
        try hash.update(UInt32(3), UInt64(33))
        #expect(try hash.lookup(UInt32(3), as: UInt64.self) == 33)
    }

    @Test("Globals: .data and .bss live after load, .rodata frozen, arrays set with checks")
    func globals() throws {
        let open = try KittestSkeleton.open()
        open.rodata.targetTid = threadID()
        open.rodata.enabled = true
        try open.rodata.setTag(Array("hello".utf8))
        try open.rodata.setMasks([1, 2])
        try open.rodata.setRows([Array("ab".utf8), Array("cdefghij".utf8)])
        expectBPFError(.invalidArgument) { try open.rodata.setTag(Array(repeating: 65, count: 17)) }
        expectBPFError(.invalidArgument) { try open.rodata.setRows([[1], [2], [3], [4]]) }
        expectBPFError(.invalidArgument) { try open.rodata.setRows([Array(repeating: 1, count: 9)]) }
        let skeleton = try open.load()
        #expect(skeleton.rodata.masks[1] == 2 && skeleton.rodata.masks[2] == 0)
        #expect(skeleton.rodata.tag[0] == UInt8(ascii: "h") && skeleton.rodata.tag[5] == 0)
        #expect(skeleton.rodata.rows[1][7] == UInt8(ascii: "j"))
        #expect(skeleton.rodata.enabled && skeleton.rodata.tag[0] == UInt8(ascii: "h"))
        #expect(skeleton.data.seed == 7)
        try skeleton.programs.onGetppid.attach()
        triggerGetppid(3)
        #expect(skeleton.bss.hits == 3)
        skeleton.bss.hits = 100
        triggerGetppid()
        #expect(skeleton.bss.hits == 101)
        // By name, with size checks.
        let rodata = try skeleton.object.globals(.rodata)
        expectBPFError(.invalidArgument) { try rodata.write("target_tid", UInt32(1)) }
        let bss = try skeleton.object.globals(.bss)
        expectBPFError(.invalidArgument) { _ = try bss.read("hits", as: UInt32.self) }
        expectBPFError(.notFound) { _ = try bss.read("nothing", as: UInt64.self) }
        #expect(try bss.read("hits", as: UInt64.self) == 101)
    }
}
