internal import CLibBPF
internal import Glibc

/// One map of a `BPFObject`, as the object defines it. Before load it can be resized or
/// replaced by a pinned map; after load, `handle()` gives a `Sendable` handle from which
/// typed views are made (`BPFHashMap`, `BPFArrayMap`, ...). Not thread-safe, like its object.
/// It keeps libbpf's object alive (so it stays safe to use), not the `BPFObject`'s links: a map
/// held after its skeleton is gone is read while no program of the object is attached.
public struct BPFMap {
    let storage: BPFObjectStorage
    let pointer: OpaquePointer

    /// The map's name.
    public var name: String { String(cString: bpf_map__name(pointer)) }
    /// The map's type.
    public var type: BPFMapType { BPFMapType(rawValue: bpf_map__type(pointer).rawValue) }
    /// Key size in bytes.
    public var keySize: Int { Int(bpf_map__key_size(pointer)) }
    /// Value size in bytes (per CPU, for per-CPU maps).
    public var valueSize: Int { Int(bpf_map__value_size(pointer)) }
    /// Capacity (bytes, for a ring buffer).
    public var maxEntries: Int { Int(bpf_map__max_entries(pointer)) }
    /// The map's file descriptor after load (-1 before); owned by the object.
    public var fileDescriptor: Int32 { bpf_map__fd(pointer) }
    /// Whether libbpf made this map for a data section (`.rodata`, `.data`, `.bss`, `.kconfig`).
    public var isInternal: Bool { bpf_map__is_internal(pointer) }

    /// The data section an internal map backs, from its BTF value type.
    var dataSection: BPFDataSection? {
        guard isInternal, let btf = BTFInfo(object: storage.pointer),
              let section = btf.dataSectionName(typeID: bpf_map__btf_value_type_id(pointer))
        else { return nil }
        return BPFDataSection(rawValue: section)
    }

    /// For a map of maps: creates a map as its `__array(values, ...)` definition describes, with
    /// `maxEntries` entries, makes it the template every map put in it must match, and returns it
    /// (the first map to put in; `BPFMapHandle(creatingLike:)` makes more). Before load. Made
    /// without BTF, as maps made from it are: before Linux 6.2 a map put in a map of maps must
    /// match the template in capacity, and in whether BTF describes it (a BTF-described map has
    /// another `timer_off`), so mixing libbpf's inner maps with user-made ones fails there.
    public func makeInnerMap(name: String, maxEntries: Int) throws(BPFError) -> BPFMapHandle {
        guard let inner = bpf_map__inner_map(pointer) else {
            throw BPFError(.invalidArgument, "make an inner map for BPF map \(self.name)", details: "not a map of maps")
        }
        let template = try BPFMapHandle(
            creating: BPFMapType(rawValue: bpf_map__type(inner).rawValue), name: name,
            keySize: Int(bpf_map__key_size(inner)), valueSize: Int(bpf_map__value_size(inner)),
            maxEntries: maxEntries, flags: bpf_map__map_flags(inner))
        try libbpfCall("set the inner map of BPF map \(self.name)") {
            bpf_map__set_inner_map_fd(pointer, template.fileDescriptor)
        }
        return template
    }

    /// Sets the number of entries (bytes, for a ring buffer: a power-of-two multiple of the
    /// page size). Before load.
    public func setMaxEntries(_ count: Int) throws(BPFError) {
        let context = "resize BPF map \(name) to \(count)"
        guard let count = UInt32(exactly: count), count > 0 else {
            throw BPFError(.invalidArgument, context, details: "out of range")
        }
        if type == .ringBuffer {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            guard count.nonzeroBitCount == 1, Int(count) % page == 0 else {
                throw BPFError(.invalidArgument, context, details: "a ring buffer's size must be a power of two and a multiple of \(page)")
            }
        }
        try libbpfCall(context) { bpf_map__set_max_entries(pointer, count) }
    }

    /// Makes the programs use the map pinned at `path` instead of creating this one. Before load.
    ///
    /// The pinned map must be of this map's type (a hash map may stand for an LRU hash and the
    /// reverse) with the same key and value sizes; its capacity is its own. Errors name the
    /// path and say what is wrong: `.notFound` "no such file", `.invalidArgument` "not a pinned
    /// BPF map", "is a hash map, must be an array", "has 4-byte keys, must have 8-byte keys".
    public func reusePinned(at path: String) throws(BPFError) {
        let pinned = try BPFMapHandle(pinnedAt: path)
        let context = "use pinned map \(path)"
        let compatible: Set<BPFMapType> = [.hash, .lruHash]
        guard pinned.type == type || (compatible.contains(pinned.type) && compatible.contains(type)) else {
            throw BPFError(.invalidArgument, context, details: "is \(article(pinned.type)) map, must be \(article(type)) map")
        }
        guard pinned.keySize == keySize else {
            throw BPFError(.invalidArgument, context, details: "has \(pinned.keySize)-byte keys, must have \(keySize)-byte keys")
        }
        guard pinned.valueSize == valueSize else {
            throw BPFError(.invalidArgument, context, details: "has \(pinned.valueSize)-byte values, must have \(valueSize)-byte values")
        }
        try libbpfCall(context) { bpf_map__reuse_fd(pointer, pinned.fileDescriptor) }
    }

    /// A handle of the loaded map for typed views and raw access; it holds its own descriptor,
    /// so it stays valid after the object is released.
    public func handle() throws(BPFError) -> BPFMapHandle {
        let fd = fileDescriptor
        guard fd >= 0 else {
            throw BPFError(.invalidArgument, "use BPF map \(name)", details: "the object is not loaded")
        }
        return try BPFMapHandle(duplicating: fd, name: name)
    }
}

/// "a hash", "an array", "an LRU hash": the type's name with its article.
func article(_ type: BPFMapType) -> String {
    let name = type.description
    return (name.first.map { "aeioAEFHILMNORSX".contains($0) } ?? false ? "an " : "a ") + name
}
