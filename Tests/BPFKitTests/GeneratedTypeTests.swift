@testable import BPFKit
import BPFKitTestPrograms
@testable import BPFSkeletonGenerator
import Foundation
import Testing

typealias Generated = LayoutsSkeleton.Types

@Suite("Swift types generated from BTF: layouts, accessors, the generator")
struct GeneratedTypeTests {
    @Test("Every generated struct has its C size and each stored field its C offset")
    func layoutsMatchC() {
        #expect(LayoutsSkeleton.Types.layoutMismatches() == [])
        #expect(KittestSkeleton.Types.layoutMismatches() == [])
        #expect(MemoryLayout<Generated.GenSample>.size == 152)
        #expect(MemoryLayout<Generated.GenPacked>.size == 7)
        #expect(MemoryLayout<InlineArray<3, Generated.GenPacked>>.stride == 21)
        #expect(MemoryLayout<Generated.GenEither>.size == 8)
        #expect(MemoryLayout<Generated.GenBig>.size == 8)
        #expect(Generated.GenColor.allCases == [.red, .green, .blue])
        #expect(Generated.GenColor.allCases.map(\.rawValue) == [1, 2, 0x7fff_ffff])
        #expect(Generated.GenLevel.allCases.allSatisfy(\.isKnown) && !Generated.GenLevel(rawValue: 0).isKnown)
        #expect(Generated.GenBig.huge.isKnown && !Generated.GenBig(rawValue: 2).isKnown)
        #expect("\(Generated.GenColor.green)" == "GEN_COLOR_GREEN" && "\(Generated.GenLevel(rawValue: 7))" == "GenLevel(rawValue: 7)")
    }

    @Test("The generator reads map types, globals and BPFKIT_TYPE names from the object's BTF")
    func generatorOnTheTestObject() throws {
        let object = try ObjectDescription(bytes: LayoutsSkeleton.objectBytes, name: "layouts")
        let samples = try #require(object.maps.first { $0.name == "samples" })
        #expect(samples.type == .hash)
        guard case .record(let key) = samples.key, case .record(let value) = samples.value else {
            Issue.record("samples: \(samples)")
            return
        }
        #expect(key.cName == "gen_point_t")
        #expect(value.cName == "struct gen_sample" && value.size == 152)
        let named = object.namedTypes.compactMap { shape -> String? in
            if case .record(let record) = shape { record.cName } else { nil }
        }
        #expect(named == ["struct gen_record_header", "struct gen_lonely"])

        let source = SkeletonGenerator(object: object, base64: "", sourceName: "layouts.bpf.c").source()
        for expected in [
            "public struct GenSample: BPFPlainData, Hashable, Sendable {",
            "fileprivate var _pad1: InlineArray<7, UInt8>",         // padding after `kind`
            "public var pairs: InlineArray<2, GenInner>",
            "public var name: BPFCharArray<12>",
            "public var grid: InlineArray<2, InlineArray<3, UInt32>>",
            "fileprivate var _bytes92: InlineArray<4, UInt8>",      // the anonymous union's bytes
            "public var word: UInt32 {",
            "public var low: UInt16",                               // an anonymous struct's member
            "BPFBitfield.loadSigned(from: $0, bitOffset: 803, bitCount: 5)",
            "public var namedAnon: NamedAnon",
            "public struct NamedAnon: BPFPlainData",
            "@inlinable public static var low: GenLevel { GenLevel(rawValue: -1) }",  // a constant, no global to load
            "@inlinable public static var huge: GenBig { GenBig(rawValue: 18446744069414584320) }",
            "public var `where`: UInt64",
            "fileprivate var _pad145: InlineArray<7, UInt8>",       // trailing padding
            "public var body: UInt32 {\n                get { loadField(at: 1) }",  // packed: misaligned
            "@inlinable public var data: UnsafeRawPointer { baseAddress + 8 }",    // flexible array
            "public struct GenLonely:",
            "public let samples: BPFHashMap<Types.GenPointT, Types.GenSample>",
            "public let packs: BPFArrayMap<Types.GenPacked>",
            "public let eithers: BPFPerCPUArray<Types.GenEither>",
            "public let colors: BPFHashMap<Types.GenColor, UInt8>",
            "public var lastInner: Types.GenInner {",
        ] {
            #expect(source.contains(expected), "\(expected)")
        }
    }

    @Test("The C layout a view checks a type against, read from BTF, is the one generated for it")
    func checkedLayoutIsGenerated() throws {
        let objects: [(bytes: [UInt8], name: String, maps: [(String, BPFTypeLayout?)])] = [
            (LayoutsSkeleton.objectBytes, "layouts", [("samples", Generated.GenSample.bpfLayout),
                                                      ("packs", Generated.GenPacked.bpfLayout),
                                                      ("eithers", Generated.GenEither.bpfLayout)]),
        ]
        for (bytes, name, maps) in objects {
            let object = try BPFObject(bytes: bytes, name: name)
            let btf = try #require(object.btfInfo)
            for (map, generated) in maps {
                #expect(btf.layout(of: try object.map(named: map).btfValueTypeID) == generated, "\(map)")
            }
            if name == "layouts" {
                #expect(btf.layout(of: try object.map(named: "samples").btfKeyTypeID) == Generated.GenPointT.bpfLayout)
            }
        }
    }

    @Test("C enum constants get short camelCase names; a name is never empty nor starts with a digit")
    func constantNaming() {
        #expect(constantNames(["OPENSNOOP_SRC_OPEN", "OPENSNOOP_SRC_IO_URING"]) == ["`open`", "ioUring"])
        #expect(constantNames(["MODE_1", "MODE_2"]) == ["mode1", "mode2"])
        #expect(constantNames(["ONLY_ONE"]) == ["onlyOne"])
        #expect(constantNames(["A_DEFAULT", "A_CASE"]) == ["`default`", "`case`"])
        #expect(typeName("view") == "View_")
        #expect(typeName("task_struct") == "TaskStruct")
    }

    @Test("Bitfields, union members and misaligned fields read and write their C bits")
    func computedFields() {
        var sample = Generated.GenSample(kind: 1, low: 2)
        sample.flagA = 5
        sample.flagB = -3
        sample.flagC = 0xABC
        #expect(sample.flagA == 5 && sample.flagB == -3 && sample.flagC == 0xABC)
        sample.flagA = 9  // 3 bits: 9 keeps 1
        #expect(sample.flagA == 1 && sample.flagB == -3)
        sample.word = 0x0403_0201
        #expect(sample.bytes[0] == 1 && sample.bytes[3] == 4)
        #expect(sample.kind == 1 && sample.low == 2)

        var packed = Generated.GenPacked(head: 0xAA)
        packed.body = 0xDEAD_BEEF
        packed.tail = 0xBEEF
        let bytes = withUnsafeBytes(of: packed, Array.init)
        #expect(bytes == [0xAA, 0xEF, 0xBE, 0xAD, 0xDE, 0xEF, 0xBE])

        // The view reads the same fields where they lie.
        withUnsafeBytes(of: sample) { raw in
            let view = Generated.GenSample.View(raw.baseAddress!)
            #expect(view.flagB == -3 && view.word == 0x0403_0201 && view.low == 2)
            #expect(view.load() == sample)
        }
    }

    @Test("Bitfield bits are numbered as BTF numbers them, across bytes and at full width")
    func bitfields() {
        var bytes = [UInt8](repeating: 0, count: 10)
        bytes.withUnsafeMutableBytes { BPFBitfield.store(.max, into: $0, bitOffset: 7, bitCount: 64) }
        #expect(bytes == [0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0])
        bytes.withUnsafeBytes {
            #expect(BPFBitfield.load(from: $0, bitOffset: 7, bitCount: 64) == .max)
            #expect(BPFBitfield.loadSigned(from: $0, bitOffset: 6, bitCount: 2) == -2)
        }
    }

    @Test("Char arrays read as strings; plain data loads only from enough bytes")
    func plainData() {
        var name: BPFCharArray<4> = "abcdef"
        #expect(name.string == "abcd")
        name = "ab"
        #expect(name.string == "ab" && "\(name)" == "ab" && name.bytes[3] == 0)
        #expect(UInt32(loading: UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
        ([1, 0, 0, 0, 9] as [UInt8]).withUnsafeBytes { raw in
            #expect(UInt32(loading: raw) == 1)
        }
        #expect(Generated.GenInner.zeroed == Generated.GenInner())
        #expect(Set([Generated.GenInner(tag: 1), Generated.GenInner(tag: 1)]).count == 1)
    }

    @Test("A declared layout is compared field by field, with messages naming the field")
    func layoutMismatches() {
        let c = BPFTypeLayout(name: "struct pair", size: 16, fields: [.init("a", offset: 0, size: 8), .init("b", offset: 8, size: 4)])
        let swapped = BPFTypeLayout(size: 16, fields: [.init("b", offset: 0, size: 4), .init("a", offset: 8, size: 8)])
        #expect(swapped.mismatch(with: c, swiftType: "Swapped") == "field b of struct pair is at byte 8, Swapped has it at byte 0")
        let narrow = BPFTypeLayout(size: 12, fields: [.init("a", offset: 0, size: 4)])
        #expect(narrow.mismatch(with: c, swiftType: "Narrow") == "field a of struct pair is 8 bytes, Narrow's is 4")
        let other = BPFTypeLayout(size: 8, fields: [.init("c", offset: 0, size: 8)])
        #expect(other.mismatch(with: c, swiftType: "Other") == "struct pair has no field c (its fields: a, b), which Other declares")
        #expect(BPFTypeLayout(Pair.self, fields: ["a": \.a, "b": \.b]).mismatch(with: c, swiftType: "Pair") == nil)
    }
}

/// `struct pair { __u64 a; __u32 b; }` mirrored with its fields swapped: the right size, the
/// wrong offsets.
struct SwappedPair: BPFPlainData {
    var b: UInt32
    var a: UInt64
    static let bpfLayout: BPFTypeLayout? = BPFTypeLayout(SwappedPair.self, fields: ["a": \.a, "b": \.b])
}

@Suite("Generated types on the real kernel", .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct GeneratedTypeKernelTests {
    @Test("Values the BPF program wrote through the C layout read back through the generated one")
    func roundTrip() throws {
        let skeleton = try LayoutsSkeleton.open().load()
        _ = try skeleton.programs.fill.run()
        let sample = try #require(try skeleton.typed.samples.lookup(Generated.GenPointT(x: 1, y: 2)))
        #expect(sample.kind == 7)
        #expect(sample.in.tag == 0x1234 && sample.in.value == 0x1122_3344_5566_7788)
        #expect(sample.pairs[1].tag == 9 && sample.pairs[1].value == 99 && sample.pairs[0].value == 0)
        #expect(sample.name.string == "ok")
        #expect(sample.grid[1][2] == 12 && sample.grid[0][0] == 0)
        #expect(sample.word == 0x0403_0201 && sample.bytes[0] == 1)
        #expect(sample.low == 0xAAAA && sample.high == 0xBBBB)
        #expect(sample.flagA == 5 && sample.flagB == -3 && sample.flagC == 0xABC)
        #expect(sample.color == .blue && sample.level == .low && sample.big == .huge)
        #expect(sample.enabled == 1 && sample.where == 0x12_3456_789a)
        #expect(sample.namedAnon.a == 21 && sample.namedAnon.b == 22 && sample.tail == 0xEE)

        let packed = try skeleton.typed.packs.lookup(0)
        #expect(packed.head == 0xAA && packed.body == 0xDEAD_BEEF && packed.tail == 0xBEEF)
        let either = try skeleton.typed.eithers.lookup(0).first { $0.number != 0 }
        #expect(either?.text.string == "@ABCD")
        #expect(try skeleton.typed.colors.lookup(.green) == 1)
        #expect(try skeleton.typed.colors.lookup(.red) == nil)
        #expect(skeleton.bss.lastInner == Generated.GenInner(tag: 0x55, value: 0x66))

        // Written from Swift, found by the kernel's byte-wise key comparison.
        try skeleton.typed.samples.update(Generated.GenPointT(x: 3), Generated.GenSample(kind: 3, name: "three"))
        #expect(try skeleton.typed.samples.lookup(Generated.GenPointT(x: 3))?.name.string == "three")
    }

    @Test("A hand-written type whose fields are not where BTF puts them is refused when the view is made")
    func wrongOffsetsRefused() throws {
        let skeleton = try loadTestObject()
        let error = expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt32, SwappedPair>(skeleton.maps.hashPair) }
        #expect(error.map { "\($0)" }?.contains("field a of struct pair is at byte 0, SwappedPair has it at byte 8") == true,
                "\(String(describing: error))")
        // A generated type of another struct of the same size is refused too.
        let other = expectBPFError(.invalidArgument) { _ = try BPFHashMap<UInt32, Generated.GenInner>(skeleton.maps.hashPair) }
        #expect(other.map { "\($0)" }?.contains("struct pair has no field tag") == true, "\(String(describing: other))")
        // The right declaration is accepted, and the skeleton's own view uses the generated type.
        _ = try BPFHashMap<UInt32, Pair>(skeleton.maps.hashPair)
        try skeleton.typed.hashPair.update(1, KittestSkeleton.Types.Pair(a: 5, b: 6))
        #expect(try BPFHashMap<UInt32, Pair>(skeleton.maps.hashPair).lookup(1) == Pair(a: 5, b: 6))
    }

    @Test("Bool, Swift enums and Optionals are refused as keys and values at compile time")
    func notPlainDataDoesNotCompile() throws {
        // Compiles a small file against the built BPFKit module: the plain one compiles, each
        // misuse is an error naming BPFPlainData.
        func typecheck(_ body: String) throws -> (status: Int32, output: String) {
            try compileSnippet("import BPFKit\nenum Level: UInt8 { case low, high }\n" + body + "\n")
        }
        let plain = try typecheck("func f(_ map: BPFMapHandle) throws { _ = try BPFHashMap<UInt32, InlineArray<4, UInt64>>(map) }")
        #expect(plain.status == 0, "\(plain.output)")
        for misuse in ["BPFHashMap<UInt32, Bool>", "BPFArrayMap<Level>", "BPFHashMap<UInt32?, UInt64>", "BPFPerCPUArray<(UInt32, UInt32)>"] {
            let result = try typecheck("func f(_ map: BPFMapHandle) throws { _ = try \(misuse)(map) }")
            #expect(result.status != 0 && result.output.contains("BPFPlainData"), "\(misuse): \(result.output)")
        }
    }
}
