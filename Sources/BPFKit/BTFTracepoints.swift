internal import CLibBPF
internal import Synchronization

/// The kernel BTF type ids of `tp_btf` targets (the `btf_trace_NAME` typedefs), found in the
/// memory-mapped kernel BTF so that libbpf need not read it (see `clibbpf_register_tp_btf`):
/// with `CORETargetBTF`, an object of tp_btf and raw tracepoint programs loads without libbpf
/// parsing the kernel's BTF at all. Tracepoints of modules are searched for in their BTF.
enum BTFTracepoints {
    /// Ids by tracepoint name; 0 for a name the kernel's BTF does not have.
    private static let ids = Mutex<[String: Int32]>([:])

    /// Whether libbpf took BPFKit's tp_btf handler (registered once, before any object opens).
    static let registered: Bool = clibbpf_register_tp_btf { name in
        guard let name else { return -1 }
        return BTFTracepoints.ids.withLock { $0[String(cString: name)] } ?? -1
    } >= 0

    /// Looks up the names not known yet, in one pass over the kernel's BTF; false if it cannot be
    /// read.
    @discardableResult
    static func resolve(_ names: [String]) -> Bool {
        if unknown(names).isEmpty { return true }
        return KernelBTFMapping.withKernelBTF { resolve(names, in: $0) } != nil
    }

    /// Looks up the names not known yet in `kernel`.
    static func resolve(_ names: [String], in kernel: RawBTF) {
        let wanted = unknown(names)
        if wanted.isEmpty { return }
        // Compared as bytes: of the kernel's ~1,500 btf_trace_ typedefs only the wanted become Strings.
        let typedefs = wanted.map { (name: $0, bytes: Array("btf_trace_\($0)".utf8)) }
        var found = Dictionary(uniqueKeysWithValues: wanted.map { ($0, Int32(0)) })
        let typedefKind = UInt32(1) << RawBTF.Kind.typedef.rawValue
        kernel.forEachType(kinds: typedefKind, firstBytes: RawBTF.NameStarts(typedefs.map(\.bytes))) { id, nameOffset in
            let name = kernel.name(at: nameOffset)
            for typedef in typedefs where typedef.bytes.count == name.count && typedef.bytes.elementsEqual(name) {
                found[typedef.name] = Int32(id)
            }
        }
        ids.withLock { $0.merge(found) { _, new in new } }
    }

    private static func unknown(_ names: [String]) -> Set<String> {
        Set(names).subtracting(ids.withLock { Set($0.keys) })
    }

    /// The tp_btf targets named by an object's program sections (`tp_btf/NAME`, `?tp_btf/NAME`).
    static func targets(_ sections: ELFSections) -> [String] {
        sections.names.compactMap { section in
            let name = section.hasPrefix("?") ? section.dropFirst() : Substring(section)
            guard name.hasPrefix("tp_btf/") else { return nil }
            let target = name.dropFirst("tp_btf/".count)
            return target.isEmpty ? nil : String(target)
        }
    }

    /// Whether the kernel's BTF has the tracepoint `name`; nil if it cannot be read.
    static func exists(_ name: String) -> Bool? {
        guard resolve([name]) else { return nil }
        return ids.withLock { ($0[name] ?? 0) > 0 }
    }
}
