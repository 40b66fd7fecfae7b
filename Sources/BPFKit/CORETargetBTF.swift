internal import Glibc

/// The kernel's BTF cut down to the types and members one BPF object's CO-RE relocations use
/// (what `bpftool gen min_core_btf` makes ahead of time, made here at open time, from the
/// kernel's BTF memory-mapped in place, or read once where the kernel cannot map it).
///
/// Given to libbpf as the object's target BTF, it spares libbpf reading, copying and indexing
/// the whole kernel BTF (megabytes, and most of a small tool's start-up) while libbpf relocates
/// to the same offsets: every candidate type libbpf would accept is there, with every member on
/// the path of each relocation that matches it, at its original offset and size. `make` answers
/// nil, and libbpf is left to search the kernel's BTF itself, whenever that could differ:
/// relocations to kernel type ids or of `TYPE_MATCHES` kind, a type found in no kernel BTF but
/// perhaps in a module's, a candidate libbpf cannot size, or BTF this reader does not know.
enum CORETargetBTF {
    static let kernelBTFPath = "/sys/kernel/btf/vmlinux"

    /// The cut-down BTF for an object's sections, from the kernel's BTF, or nil (see above).
    static func make(sections: ELFSections, kernel: RawBTF) -> [UInt8]? {
        guard let btfSection = sections[".BTF"], let extSection = sections[".BTF.ext"], let local = RawBTF(btfSection),
              let relocations = relocations(extSection, local: local), !relocations.isEmpty else { return nil }
        var cut = Cut(local: local, kernel: kernel)
        return cut.build(relocations)
    }

    /// One CO-RE relocation record: the local root type, its access string, its kind.
    struct Relocation {
        let type: UInt32
        let access: [Int]
        let kind: UInt32
    }

    /// libbpf's relocation kinds (`enum bpf_core_relo_kind`).
    enum RelocationKind {
        static let fieldKinds: ClosedRange<UInt32> = 0...5
        static let typeIDLocal: UInt32 = 6, typeExists: UInt32 = 8, typeSize: UInt32 = 9
        static let enumValueExists: UInt32 = 10, enumValueValue: UInt32 = 11
    }

    /// The CO-RE relocations of a `.BTF.ext` section; nil if it is malformed.
    static func relocations(_ ext: UnsafeRawBufferPointer, local: RawBTF) -> [Relocation]? {
        guard ext.count >= 32, ext.loadUnaligned(as: UInt16.self) == RawBTF.magic else { return nil }
        let headerLength = Int(ext.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard headerLength >= 32, headerLength <= ext.count else { return [] }  // no CO-RE part
        let start = headerLength + Int(ext.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        let length = Int(ext.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        guard length > 0 else { return [] }
        guard start + length <= ext.count, length >= 4 else { return nil }
        let recordSize = Int(ext.loadUnaligned(fromByteOffset: start, as: UInt32.self))
        guard recordSize >= 16 else { return nil }
        var result: [Relocation] = []
        var position = start + 4
        let end = start + length
        while position < end {
            guard position + 8 <= end else { return nil }
            let count = Int(ext.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
            position += 8
            guard count <= (end - position) / recordSize else { return nil }
            for index in 0..<count {
                let record = position + index * recordSize
                let type = ext.loadUnaligned(fromByteOffset: record + 4, as: UInt32.self)
                let accessOffset = ext.loadUnaligned(fromByteOffset: record + 8, as: UInt32.self)
                let kind = ext.loadUnaligned(fromByteOffset: record + 12, as: UInt32.self)
                guard let access = parseAccess(local.name(at: accessOffset)) else { return nil }
                result.append(Relocation(type: type, access: access, kind: kind))
            }
            position += count * recordSize
        }
        return result
    }

    /// "0:1:2" as [0, 1, 2]; nil if it is not such a list.
    static func parseAccess(_ text: UnsafeRawBufferPointer) -> [Int]? {
        var result: [Int] = []
        var current: Int?
        for byte in text {
            if byte == UInt8(ascii: ":") {
                guard let value = current else { return nil }
                result.append(value)
                current = nil
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                let value = (current ?? 0) * 10 + Int(byte - UInt8(ascii: "0"))
                guard value < 1 << 20 else { return nil }
                current = value
            } else {
                return nil
            }
        }
        guard let value = current else { return nil }
        result.append(value)
        return result
    }

    /// The matching and the writing of one cut-down BTF.
    struct Cut {
        let local: RawBTF
        let kernel: RawBTF
        /// Members kept, by kernel struct/union id (their indexes).
        private var members: [UInt32: Set<Int>] = [:]
        /// Kernel types a relocation needs as such (its candidates), and whether pointers in
        /// them lead on (type relocations compare pointed-to types; field ones only kinds).
        private var roots: [(id: UInt32, deep: Bool)] = []
        /// Set when libbpf would fail a relocation outright (a candidate of no size): the cut
        /// would not, so there is none.
        private var unsure = false

        init(local: RawBTF, kernel: RawBTF) {
            self.local = local
            self.kernel = kernel
        }

        mutating func build(_ relocations: [Relocation]) -> [UInt8]? {
            var wanted: Set<Candidates.Key> = []
            for relocation in relocations where relocation.kind != RelocationKind.typeIDLocal {
                guard local.isValid(relocation.type) else { return nil }
                wanted.insert(Candidates.Key(local: local, type: relocation.type))
            }
            guard let candidates = Candidates.find(Array(wanted), in: kernel) else { return nil }
            for relocation in relocations where relocation.kind != RelocationKind.typeIDLocal {
                let found = candidates[Candidates.Key(local: local, type: relocation.type)] ?? []
                guard !found.isEmpty else { return nil }  // libbpf would look in module BTF
                switch relocation.kind {
                case RelocationKind.fieldKinds:
                    guard let accessors = localAccessors(relocation) else { return nil }
                    for candidate in found { matchField(accessors, candidate: candidate) }
                case RelocationKind.typeExists, RelocationKind.typeSize:
                    roots += found.map { ($0, true) }
                case RelocationKind.enumValueExists, RelocationKind.enumValueValue:
                    roots += found.map { ($0, false) }
                default:
                    return nil  // kernel type ids, TYPE_MATCHES: left to libbpf
                }
            }
            if unsure { return nil }
            // Candidates keep their kernel order: libbpf takes a load's size from the first match.
            var writer = Writer(kernel: kernel, members: members)
            for root in roots.sorted(by: { $0.id < $1.id }) {
                guard writer.emit(root.id, deep: root.deep) != nil else { return nil }
            }
            return writer.bytes()
        }

        /// A step of a field access: into member `index` of the local type `type` (named), or
        /// to element `index` of an array (unnamed; the first step is the root's).
        struct Accessor {
            let type: UInt32
            let index: Int
            let named: Bool
        }

        /// The named members and array indexes of a field relocation's access (libbpf's
        /// "high-level spec"): anonymous members are skipped, matched by name below them.
        func localAccessors(_ relocation: Relocation) -> [Accessor]? {
            guard let first = relocation.access.first else { return nil }
            var id = local.resolved(relocation.type)
            var result = [Accessor(type: id, index: first, named: false)]
            for index in relocation.access.dropFirst() {
                id = local.resolved(id)
                guard local.isValid(id) else { return nil }
                if local.isComposite(id) {
                    guard index < local.vlen(id) else { return nil }
                    let member = local.member(id, index)
                    if member.nameOffset != 0 {
                        result.append(Accessor(type: id, index: index, named: true))
                    }
                    id = member.type
                } else if local.kind(id) == .array {
                    let array = local.array(id)
                    id = local.resolved(array.element)
                    result.append(Accessor(type: id, index: index, named: false))
                } else {
                    return nil
                }
            }
            return result
        }

        /// Matches a field access against one candidate as libbpf does; keeps the members on
        /// its path if it matches.
        mutating func matchField(_ accessors: [Accessor], candidate: UInt32) {
            var target = candidate
            var path: [(UInt32, Int)] = []
            for (position, accessor) in accessors.enumerated() {
                let resolved = kernel.resolved(target)
                guard kernel.isValid(resolved) else {
                    unsure = true  // libbpf cannot size it: the relocation fails there
                    return
                }
                if accessor.named {
                    let member = local.member(accessor.type, accessor.index)
                    guard let next = matchMember(local.name(at: member.nameOffset), localType: member.type,
                                                 in: resolved, path: &path) else { return }
                    target = next
                } else if position == 0 {
                    guard hasSize(resolved) else {
                        unsure = true
                        return
                    }
                } else {
                    guard kernel.kind(resolved) == .array else { return }
                    let array = kernel.array(resolved)
                    // Flexible only as the last member of its struct (libbpf's is_flex_arr).
                    let flexible = array.count == 0 && accessors[position - 1].named
                        && path.last.map { $0.1 == kernel.vlen($0.0) - 1 } == true
                    if !flexible && accessor.index >= array.count { return }
                    target = kernel.resolved(array.element)
                    guard hasSize(target) else {
                        unsure = true
                        return
                    }
                }
            }
            for (composite, index) in path { members[composite, default: []].insert(index) }
            roots.append((candidate, false))
        }

        /// Whether libbpf can size the kernel type (a resolved id).
        func hasSize(_ id: UInt32) -> Bool {
            guard kernel.isValid(id) else { return false }
            switch kernel.kind(id) {
            case .int, .pointer, .array, .structure, .union, .enumeration, .enumeration64, .float, .dataSection: return true
            default: return false
            }
        }

        /// The member named `name` of the kernel struct/union `id`, searched through anonymous
        /// members too; its type if it is compatible with `localType`, nil otherwise.
        func matchMember(_ name: UnsafeRawBufferPointer, localType: UInt32, in id: UInt32,
                         path: inout [(UInt32, Int)], depth: Int = 0) -> UInt32? {
            guard kernel.isComposite(id), depth < 32 else { return nil }
            for index in 0..<kernel.vlen(id) {
                let member = kernel.member(id, index)
                let memberName = kernel.name(at: member.nameOffset)
                if memberName.isEmpty {
                    path.append((id, index))
                    if let found = matchMember(name, localType: localType, in: kernel.resolved(member.type),
                                               path: &path, depth: depth + 1) {
                        return found
                    }
                    path.removeLast()
                } else if memberName.elementsEqual(name) {
                    guard fieldsCompatible(local: localType, kernel: member.type) else { return nil }
                    path.append((id, index))
                    return member.type
                }
            }
            return nil
        }

        /// libbpf's field compatibility: composites with composites, pointers with pointers,
        /// integers with integers, enums and forwards by name, arrays by element.
        func fieldsCompatible(local localID: UInt32, kernel kernelID: UInt32) -> Bool {
            var localID = localID, kernelID = kernelID
            for _ in 0..<32 {
                localID = local.resolved(localID)
                kernelID = kernel.resolved(kernelID)
                guard local.isValid(localID), kernel.isValid(kernelID) else { return false }
                if local.isComposite(localID) && kernel.isComposite(kernelID) { return true }
                let localKind = local.kind(localID)
                guard Candidates.Key.group(localKind) == Candidates.Key.group(kernel.kind(kernelID)) else { return false }
                switch localKind {
                case .pointer, .float:
                    return true
                case .forward, .enumeration, .enumeration64:
                    let a = essentialName(local.name(localID)), b = essentialName(kernel.name(kernelID))
                    return a.isEmpty || b.isEmpty || a.elementsEqual(b)
                case .int:
                    return (local.intEncoding(localID) >> 16) & 0xff == 0 && (kernel.intEncoding(kernelID) >> 16) & 0xff == 0
                case .array:
                    localID = local.array(localID).element
                    kernelID = kernel.array(kernelID).element
                default:
                    return false
                }
            }
            return false
        }
    }

    /// Kernel types whose kind and essential name match a local type's: libbpf's candidates.
    enum Candidates {
        struct Key: Hashable {
            let kind: RawBTF.Kind
            let name: [UInt8]

            init(local: RawBTF, type: UInt32) {
                kind = Key.group(local.kind(type))
                name = Array(essentialName(local.name(type)))
            }

            /// Kinds libbpf takes for one another when it looks for candidates.
            static func group(_ kind: RawBTF.Kind) -> RawBTF.Kind { kind == .enumeration64 ? .enumeration : kind }
        }

        /// One pass over the kernel's types; nil if a wanted type has no name.
        static func find(_ keys: [Key], in kernel: RawBTF) -> [Key: [UInt32]]? {
            guard !keys.contains(where: { $0.name.isEmpty }) else { return nil }
            var byLength = [[Key]](repeating: [], count: (keys.map(\.name.count).max() ?? 0) + 1)
            var kinds: UInt32 = 0
            for key in keys {
                byLength[key.name.count].append(key)
                kinds |= 1 << key.kind.rawValue
                if key.kind == .enumeration { kinds |= 1 << RawBTF.Kind.enumeration64.rawValue }
            }
            var result: [Key: [UInt32]] = [:]
            // A flavor is cut from the end only, so a candidate starts as its essential name does.
            kernel.forEachType(kinds: kinds, firstBytes: RawBTF.NameStarts(keys.map(\.name))) { id, nameOffset in
                let name = essentialName(kernel.name(at: nameOffset))
                guard name.count < byLength.count else { return }
                for key in byLength[name.count] where key.kind == Key.group(kernel.kind(id)) && key.name.elementsEqual(name) {
                    result[key, default: []].append(id)
                }
            }
            return result
        }
    }

    /// Writes the kept kernel types as a new BTF: ids renumbered, strings collected, members cut
    /// to those kept (offsets and sizes unchanged), pointers made untyped unless `deep`.
    struct Writer {
        let kernel: RawBTF
        let members: [UInt32: Set<Int>]
        private var ids: [UInt64: UInt32] = [:]
        private var records: [[UInt8]] = [[]]
        private var strings: [UInt8] = [0]
        private var stringOffsets: [[UInt8]: UInt32] = [[]: 0]
        private var voidPointer: UInt32?

        init(kernel: RawBTF, members: [UInt32: Set<Int>]) {
            self.kernel = kernel
            self.members = members
        }

        /// The new id of kernel type `id` (0 stays void); nil for a kind BPFKit does not cut.
        mutating func emit(_ id: UInt32, deep: Bool) -> UInt32? {
            if id == 0 { return 0 }
            guard kernel.isValid(id) else { return nil }
            let kind = kernel.kind(id)
            let followsPointers: Bool
            switch kind {
            case .pointer, .array, .typedef, .volatile, .const, .restrict, .typeTag, .functionPrototype: followsPointers = deep
            default: followsPointers = false
            }
            if kind == .pointer && !deep { return untypedPointer() }
            let key = UInt64(id) << 1 | (followsPointers ? 1 : 0)
            if let known = ids[key] { return known }
            let newID = UInt32(records.count)
            ids[key] = newID
            records.append([])
            let name = string(kernel.nameOffset(id))
            let info = kernel.info(id)
            var record: [UInt8] = []
            switch kind {
            case .int, .float, .forward:
                record = header(name, info, kernel.sizeOrType(id)) + trailer(id)
            case .enumeration, .enumeration64:
                record = header(name, info, kernel.sizeOrType(id))
                let stride = kind == .enumeration ? 8 : 12
                let bytes = kernel.bytes[kernel.record(id)].dropFirst(12)
                for index in 0..<kernel.vlen(id) {
                    let entry = Array(bytes.dropFirst(index * stride).prefix(stride))
                    record += le(string(kernel.enumeratorNameOffset(id, index))) + entry.dropFirst(4)
                }
            case .pointer, .typedef, .volatile, .const, .restrict, .typeTag:
                guard let target = emit(kernel.sizeOrType(id), deep: deep) else { return nil }
                record = header(name, info, target)
            case .array:
                let array = kernel.array(id)
                guard let element = emit(array.element, deep: deep), let index = emit(array.index, deep: false) else {
                    return nil
                }
                record = header(name, info, 0) + le(element) + le(index) + le(array.count)
            case .structure, .union:
                var keptSet = members[id] ?? []
                // A zero-length array is flexible to libbpf only as the last member: keep the
                // real last member after one that is not, or the cut would make it last.
                let last = kernel.vlen(id) - 1
                if keptSet.contains(where: { index in
                    let type = kernel.resolved(kernel.member(id, index).type)
                    return index != last && kernel.isValid(type) && kernel.kind(type) == .array && kernel.array(type).count == 0
                }) {
                    keptSet.insert(last)
                }
                let kept = keptSet.sorted()
                record = header(name, info & ~0xffff | UInt32(kept.count), kernel.sizeOrType(id))
                for index in kept {
                    let member = kernel.member(id, index)
                    guard let type = emit(member.type, deep: false) else { return nil }
                    record += le(string(member.nameOffset)) + le(type) + le(member.offset)
                }
            case .functionPrototype:
                guard let result = emit(kernel.sizeOrType(id), deep: deep) else { return nil }
                record = header(name, info, result)
                for index in 0..<kernel.vlen(id) {
                    let parameter = kernel.parameter(id, index)
                    guard let type = emit(parameter.type, deep: deep) else { return nil }
                    record += le(string(parameter.nameOffset)) + le(type)
                }
            case .function, .variable, .dataSection, .declarationTag:
                return nil
            }
            records[Int(newID)] = record
            return newID
        }

        private mutating func untypedPointer() -> UInt32 {
            if let known = voidPointer { return known }
            let newID = UInt32(records.count)
            records.append(header(0, RawBTF.Kind.pointer.rawValue << 24, 0))
            voidPointer = newID
            return newID
        }

        private func trailer(_ id: UInt32) -> [UInt8] { Array(kernel.bytes[kernel.record(id)].dropFirst(12)) }

        private func header(_ name: UInt32, _ info: UInt32, _ sizeOrType: UInt32) -> [UInt8] {
            le(name) + le(info) + le(sizeOrType)
        }

        private func le(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

        /// The new string offset of the kernel string at `offset`.
        private mutating func string(_ offset: UInt32) -> UInt32 {
            let text = Array(kernel.name(at: offset))
            if let known = stringOffsets[text] { return known }
            let newOffset = UInt32(strings.count)
            strings += text + [0]
            stringOffsets[text] = newOffset
            return newOffset
        }

        /// The whole BTF: header, types, strings.
        func bytes() -> [UInt8] {
            let types = records.dropFirst().flatMap { $0 }
            var result: [UInt8] = withUnsafeBytes(of: RawBTF.magic.littleEndian) { Array($0) } + [1, 0]
            result += le(24) + le(0) + le(UInt32(types.count)) + le(UInt32(types.count)) + le(UInt32(strings.count))
            return result + types + strings
        }
    }
}

/// The kernel's BTF, for the length of a call: mapped read-only in place where the kernel allows
/// (Linux 6.16 and later; the pages are the kernel's own and cost this process no memory), read
/// once into memory otherwise (as libbpf would read it, but once, and not copied again).
enum KernelBTFMapping {
    /// `body` over the kernel's BTF; `map: false` reads it even where it could be mapped (tests).
    static func withKernelBTF<R>(map: Bool = true, _ body: (RawBTF) -> R?) -> R? {
        let fd = open(CORETargetBTF.kernelBTFPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size > 0, status.st_size < 1 << 30 else { return nil }
        let size = Int(status.st_size)
        if map, let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED {
            defer { munmap(base, size) }
            return RawBTF(UnsafeRawBufferPointer(start: base, count: size)).flatMap(body)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var done = 0
        while done < size {
            let count = read(fd, buffer.baseAddress! + done, size - done)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            done += count
        }
        return RawBTF(UnsafeRawBufferPointer(buffer)).flatMap(body)
    }
}

/// The sections of a 64-bit little-endian ELF file, by name.
struct ELFSections {
    private var sections: [String: UnsafeRawBufferPointer] = [:]

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 64, bytes[0] == 0x7F, bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "L"),
              bytes[3] == UInt8(ascii: "F"), bytes[4] == 2, bytes[5] == 1 else { return nil }
        /// A 64-bit field as a byte count, nil past the file's end.
        func within(_ value: UInt64) -> Int? { value <= UInt64(bytes.count) ? Int(value) : nil }
        guard let tableOffset = within(bytes.loadUnaligned(fromByteOffset: 0x28, as: UInt64.self)) else { return nil }
        let entrySize = Int(bytes.loadUnaligned(fromByteOffset: 0x3A, as: UInt16.self))
        let count = Int(bytes.loadUnaligned(fromByteOffset: 0x3C, as: UInt16.self))
        let namesIndex = Int(bytes.loadUnaligned(fromByteOffset: 0x3E, as: UInt16.self))
        guard entrySize >= 64, namesIndex < count, tableOffset + count * entrySize <= bytes.count else { return nil }
        func section(_ index: Int) -> (name: Int, range: Range<Int>)? {
            let entry = tableOffset + index * entrySize
            let name = Int(bytes.loadUnaligned(fromByteOffset: entry, as: UInt32.self))
            guard let offset = within(bytes.loadUnaligned(fromByteOffset: entry + 0x18, as: UInt64.self)),
                  let size = within(bytes.loadUnaligned(fromByteOffset: entry + 0x20, as: UInt64.self)),
                  size <= bytes.count - offset else { return nil }
            return (name, offset..<(offset + size))
        }
        guard let names = section(namesIndex) else { return nil }
        for index in 0..<count {
            guard let (nameOffset, range) = section(index), names.range.lowerBound + nameOffset < names.range.upperBound
            else { continue }
            var end = names.range.lowerBound + nameOffset
            while end < names.range.upperBound && bytes[end] != 0 { end += 1 }
            let name = String(decoding: bytes[(names.range.lowerBound + nameOffset)..<end], as: UTF8.self)
            sections[name] = UnsafeRawBufferPointer(rebasing: bytes[range])
        }
    }

    subscript(name: String) -> UnsafeRawBufferPointer? { sections[name] }

    /// The section names.
    var names: Dictionary<String, UnsafeRawBufferPointer>.Keys { sections.keys }
}
