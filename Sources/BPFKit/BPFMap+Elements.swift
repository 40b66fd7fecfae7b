internal import CLibBPF
internal import Glibc

extension BPFMap {
    /// The keys of a loaded hash map, in the kernel's order. `Key` must have the map's key size.
    public func keys<Key: BitwiseCopyable>(as type: Key.Type) throws -> [Key] {
        guard MemoryLayout<Key>.size == keySize else {
            throw BPFError(.invalidArgument, "list keys of BPF map \(name)",
                           details: "keys are \(keySize) bytes, \(MemoryLayout<Key>.size) given")
        }
        var result: [Key] = []
        var next = [UInt8](repeating: 0, count: keySize)
        var previous: [UInt8]? = nil
        while true {
            let status: Int32 = next.withUnsafeMutableBytes { nextRaw in
                if let previous {
                    return previous.withUnsafeBytes { bpf_map_get_next_key(fileDescriptor, $0.baseAddress, nextRaw.baseAddress) }
                }
                return bpf_map_get_next_key(fileDescriptor, nil, nextRaw.baseAddress)
            }
            if status != 0 { break }
            result.append(next.withUnsafeBytes { $0.loadUnaligned(as: Key.self) })
            previous = next
        }
        return result
    }

    /// The value stored under `key` as raw bytes (the map's value size), or nil.
    public func valueBytes<Key: BitwiseCopyable>(_ key: Key) throws -> [UInt8]? {
        guard MemoryLayout<Key>.size == keySize else {
            throw BPFError(.invalidArgument, "read BPF map \(name)",
                           details: "keys are \(keySize) bytes, \(MemoryLayout<Key>.size) given")
        }
        var key = key
        var value = [UInt8](repeating: 0, count: valueSize)
        let status = value.withUnsafeMutableBytes { bpf_map_lookup_elem(fileDescriptor, &key, $0.baseAddress) }
        return status == 0 ? value : nil
    }

    /// Removes `key`; false if it was not there.
    @discardableResult
    public func delete<Key: BitwiseCopyable>(_ key: Key) throws -> Bool {
        guard MemoryLayout<Key>.size == keySize else {
            throw BPFError(.invalidArgument, "delete from BPF map \(name)",
                           details: "keys are \(keySize) bytes, \(MemoryLayout<Key>.size) given")
        }
        var key = key
        return bpf_map_delete_elem(fileDescriptor, &key) == 0
    }
}
