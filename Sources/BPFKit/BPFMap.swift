internal import CLibBPF
internal import Glibc

/// One map of a `BPFObject`. Before load it can be resized or replaced by a pinned map; after
/// load its elements can be read and written. Element access goes straight to the kernel and
/// is safe from any thread.
public struct BPFMap {
    let object: BPFObject
    let pointer: OpaquePointer

    /// The map's name.
    public var name: String { String(cString: bpf_map__name(pointer)) }

    /// The map's file descriptor (valid after load).
    public var fileDescriptor: Int32 { bpf_map__fd(pointer) }

    public var keySize: Int { Int(bpf_map__key_size(pointer)) }
    public var valueSize: Int { Int(bpf_map__value_size(pointer)) }

    /// Sets the number of entries (bytes, for a ring buffer: a power-of-two multiple of the page size). Before load.
    public func setMaxEntries(_ count: UInt32) throws {
        try check("resize BPF map \(name) to \(count)") { bpf_map__set_max_entries(pointer, count) }
    }

    /// Makes the program use the map pinned at `path` instead of creating this one. Before load.
    /// The pinned map must have the same key size; its value size and capacity are its own.
    public func reusePinned(at path: String) throws {
        let context = "use pinned map \(path) as \(name)"
        let fd = try check(context) { bpf_obj_get(path) }
        defer { close(fd) }
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        try check(context) { bpf_obj_get_info_by_fd(fd, &info, &length) }
        guard Int(info.key_size) == keySize else {
            throw BPFError(.invalidArgument, context, details: "its keys are \(info.key_size) bytes, \(keySize) expected")
        }
        try check(context) { bpf_map__reuse_fd(pointer, fd) }
    }

    /// Stores `value` under `key`.
    public func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ key: Key, _ value: Value) throws {
        var key = key, value = value
        try check("update BPF map \(name)") {
            bpf_map_update_elem(fileDescriptor, &key, &value, UInt64(BPF_ANY))
        }
    }

    /// Reads the per-CPU values stored under `key` of a per-CPU map and adds them up.
    public func sumPerCPU<Key: BitwiseCopyable>(_ key: Key) throws -> UInt64 {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { throw BPFError.system("count possible CPUs", errno: Int32(-cpus)) }
        var key = key
        var values = [UInt64](repeating: 0, count: cpus)
        try check("read BPF map \(name)") { bpf_map_lookup_elem(fileDescriptor, &key, &values) }
        return values.reduce(0, &+)
    }
}
