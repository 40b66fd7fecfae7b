@testable import BPFKit
import BPFKitTestPrograms
import ExecSnoopBPF
import Glibc
import OpenSnoopBPF
import Testing

@Suite("CO-RE against the cut-down kernel BTF: pure parts")
struct CORECutPureTests {
    @Test("Access strings, flavors and malformed BTF")
    func parsing() {
        #expect(CORETargetBTF.parseAccess(buffer("0:12:3")) == [0, 12, 3])
        #expect(CORETargetBTF.parseAccess(buffer("0")) == [0])
        #expect(CORETargetBTF.parseAccess(buffer("0::1")) == nil)
        #expect(CORETargetBTF.parseAccess(buffer("0:x")) == nil)
        #expect(CORETargetBTF.parseAccess(buffer("")) == nil)
        #expect(essential("task_struct___old") == "task_struct")
        #expect(essential("a___b___c") == "a___b")
        #expect(essential("__u64") == "__u64")
        #expect(essential("x____y") == "x____y")
        #expect(essential("task_struct") == "task_struct")
        [UInt8](repeating: 0, count: 40).withUnsafeBytes { #expect(RawBTF($0) == nil) }
        [UInt8](repeating: 0x7F, count: 80).withUnsafeBytes { #expect(ELFSections($0) == nil) }
    }

    @Test("An object's BTF and its relocations read from the ELF bytes")
    func objectSections() throws {
        try KittestSkeleton.objectBytes.withUnsafeBytes { object in
            let sections = try #require(ELFSections(object))
            let btf = try #require(sections[".BTF"]), ext = try #require(sections[".BTF.ext"])
            let local = try #require(RawBTF(btf))
            let relocations = try #require(CORETargetBTF.relocations(ext, local: local))
            #expect(relocations.contains { $0.kind == CORETargetBTF.RelocationKind.enumValueValue })
            #expect(relocations.contains { $0.kind == CORETargetBTF.RelocationKind.typeSize })
            #expect(relocations.contains { CORETargetBTF.RelocationKind.fieldKinds.contains($0.kind) && $0.access.count > 2 })
        }
    }

    private func buffer(_ text: String) -> UnsafeRawBufferPointer {
        let bytes = Array(text.utf8)
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        pointer.copyBytes(from: bytes)
        return UnsafeRawBufferPointer(rebasing: pointer[0..<bytes.count])
    }

    private func essential(_ name: String) -> String {
        Array(name.utf8).withUnsafeBytes { String(decoding: essentialName($0), as: UTF8.self) }
    }
}

/// Whether this kernel maps its BTF (Linux 6.16): the cut is made only then.
let kernelMapsBTF = KernelBTFMapping.withKernelBTF { _ in true } ?? false

@Suite("CO-RE against the cut-down kernel BTF: the same program as libbpf's own search",
       .tags(.kernel), .enabled(if: isRoot && kernelMapsBTF, "needs root and a kernel that maps its BTF"))
struct CORECutKernelTests {
    static let objects: [(String, [UInt8])] = [
        ("kittest", KittestSkeleton.objectBytes), ("opensnoop", OpensnoopSkeleton.objectBytes),
        ("execsnoop", ExecsnoopSkeleton.objectBytes),
    ]

    /// The cut for an object's bytes, from the kernel's BTF mapped, or read when `map` is false.
    static func cut(_ bytes: [UInt8], map: Bool = true) -> [UInt8]? {
        bytes.withUnsafeBytes { object in
            ELFSections(object).flatMap { sections in
                KernelBTFMapping.withKernelBTF(map: map) { CORETargetBTF.make(sections: sections, kernel: $0) }
            }
        }
    }

    @Test("The cut holds only what the relocations use", arguments: objects.map(\.0))
    func small(name: String) throws {
        let bytes = try #require(Self.objects.first { $0.0 == name }?.1)
        let cut = try #require(Self.cut(bytes))
        let btf = cut.withUnsafeBytes { RawBTF($0)?.count ?? 0 }
        #expect(cut.count < 64 * 1024 && btf > 10, "\(cut.count) bytes, \(btf) types")
        #expect(try BPFObject(bytes: bytes, name: name).usesCutTargetBTF)
        #expect(try !BPFObject(bytes: bytes, name: name, cutKernelBTF: false).usesCutTargetBTF)
    }

    @Test("An embedded object's open takes the work prefetched for it, once, and relocates the same")
    func prefetched() throws {
        // Its own name: tests beside this one open the kittest skeleton.
        let embedded = BPFEmbeddedObject(name: "prefetched", base64: KittestSkeleton.embeddedObject.base64)
        OpenPrefetch.start(embedded)  // what BPFObject.prefetch does with more than two CPUs
        let object = try BPFObject(embedded: embedded)
        #expect(object.tookPrefetch && object.usesCutTargetBTF)
        let again = try BPFObject(embedded: embedded)
        #expect(!again.tookPrefetch && again.usesCutTargetBTF)  // taken once
        let instructions = try relocated(object)
        #expect(!instructions.isEmpty)
        #expect(try instructions == relocated(again))
        #expect(try instructions == relocated(KittestSkeleton.objectBytes, name: "kittest", cut: false))

        // Bytes that are no object: the open fails as it would have.
        let junk = BPFEmbeddedObject(name: "junk", base64: "f0VMRgAAAAAAAAAA")
        OpenPrefetch.start(junk)
        #expect(throws: BPFError.self) { try BPFObject(embedded: junk) }
    }

    @Test("Where the kernel cannot map its BTF, it is read, and the cut is the same", arguments: objects.map(\.0))
    func readNotMapped(name: String) throws {
        let bytes = try #require(Self.objects.first { $0.0 == name }?.1)
        let cuts = [true, false].map { Self.cut(bytes, map: $0) }
        #expect(cuts[0] != nil && cuts[0] == cuts[1])
    }

    @Test("Every program relocates to the same instructions", arguments: objects.map(\.0))
    func sameInstructions(name: String) throws {
        let bytes = try #require(Self.objects.first { $0.0 == name }?.1)
        let cut = try relocated(bytes, name: name, cut: true)
        let whole = try relocated(bytes, name: name, cut: false)
        #expect(cut.keys.sorted() == whole.keys.sorted())
        #expect(!cut.isEmpty)
        for (program, instructions) in cut {
            #expect(instructions.count > 1, "program \(program)")
            #expect(instructions == whole[program], "program \(program)")
        }
    }

    @Test("Field offsets and sizes, missing fields, types, enums, bitfields, array elements and zero-length arrays read the same")
    func sameResults() throws {
        func results(cut: Bool) throws -> [UInt64] {
            let object = try BPFObject(bytes: KittestSkeleton.objectBytes, name: "kittest", cutKernelBTF: cut)
            #expect(object.usesCutTargetBTF == cut)
            for program in object.programs { program.autoload = program.name == "core_shapes" }
            try object.load()
            try object.program(named: "core_shapes").run()
            let bytes = try object.globals(.bss).bytes("core_results")
            return bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        }
        let cut = try results(cut: true)
        #expect(cut == (try results(cut: false)))
        #expect(cut[1] == 16)                        // sizeof(task->comm)
        #expect(cut[2] == 0 && cut[3] == 1)          // a missing field, an existing type
        #expect(cut[4] > 1000)                       // sizeof(struct task_struct)
        #expect(cut[5] == 1 && cut[6] == 1)          // BPF_FUNC_map_lookup_elem, BPF_FUNC_snprintf exists
        #expect(cut[7] == UInt64(getpid()))
        #expect(cut[8] > 0)                          // the length of the cwd's last component
        #expect(cut[11] == 0)                        // a zero-length array that is not last: no such field
    }

    /// The loaded programs' instructions by name, map descriptors blanked (they differ between
    /// two loads).
    private func relocated(_ bytes: [UInt8], name: String, cut: Bool) throws -> [String: [UInt64]] {
        try relocated(BPFObject(bytes: bytes, name: name, cutKernelBTF: cut))
    }

    private func relocated(_ object: BPFObject) throws -> [String: [UInt64]] {
        for program in object.programs {
            switch program.attachPoint {
            case .fentry, .kprobe: program.autoload = false  // refused here
            default: program.autoload = program.name != "rejected"
            }
        }
        try object.load()
        var result: [String: [UInt64]] = [:]
        for program in object.programs where program.autoload {
            var instructions = program.instructions
            for index in instructions.indices {
                let opcode = instructions[index] & 0xff, source = (instructions[index] >> 12) & 0xf
                if opcode == 0x18 && source != 0 { instructions[index] &= 0x0000_0000_ffff_ffff }  // ld_imm64 of a map
            }
            result[program.name] = instructions
        }
        return result
    }
}

@Suite("CO-RE against the cut-down kernel BTF: damaged objects")
struct CORECutDamageTests {
    private func le(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    @Test("Damaged ELF, BTF and relocation bytes are refused, never a trap")
    func damaged() {
        let original = KittestSkeleton.objectBytes
        // Where the BTF sections are: most damage goes there, the rest anywhere.
        let targets: [Range<Int>] = original.withUnsafeBytes { object in
            guard let sections = ELFSections(object) else { return [] }
            return [".BTF", ".BTF.ext"].compactMap { name in
                sections[name].map { section in
                    let start = section.baseAddress! - object.baseAddress!
                    return start..<(start + section.count)
                }
            }
        }
        #expect(targets.count == 2)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for round in 0..<600 {
            var bytes = original
            for _ in 0..<(1 + round % 8) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let range = round % 5 == 0 || targets.isEmpty ? 0..<bytes.count : targets[round % targets.count]
                let at = range.lowerBound + Int(state >> 33) % range.count
                bytes[at] = UInt8(truncatingIfNeeded: state >> 17)
            }
            bytes.withUnsafeBytes { object in
                guard let sections = ELFSections(object), let btf = sections[".BTF"], let local = RawBTF(btf) else { return }
                if let ext = sections[".BTF.ext"], let relocations = CORETargetBTF.relocations(ext, local: local) {
                    var cut = CORETargetBTF.Cut(local: local, kernel: local)
                    _ = cut.build(relocations)
                }
            }
        }
        // A relocation block claiming 2^32 - 1 records of 2^32 - 16 bytes each.
        var ext: [UInt8] = [0x9F, 0xEB, 1, 0] + le(32) + le(0) + le(0) + le(0) + le(0) + le(0) + le(16)
        ext += le(0xFFFF_FFF0) + le(0) + le(0xFFFF_FFFF) + le(0)
        original.withUnsafeBytes { object in
            guard let sections = ELFSections(object), let btf = sections[".BTF"], let local = RawBTF(btf) else {
                Issue.record("the test object has no BTF")
                return
            }
            ext.withUnsafeBytes { #expect(CORETargetBTF.relocations($0, local: local) == nil) }
        }
        for size in [0, 1, 24, 63, 64, 200] {
            Array(original.prefix(size)).withUnsafeBytes { #expect(ELFSections($0).map { _ in size >= 64 } ?? true) }
        }
    }
}
