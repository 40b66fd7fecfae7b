internal import CLibBPF
internal import Glibc

/// Update modes of `bpf_map_update_elem`.
public struct BPFUpdateFlags: Sendable, Equatable {
    let rawValue: UInt64
    /// Create or replace (`BPF_ANY`).
    public static let any = BPFUpdateFlags(rawValue: 0)
    /// Create only: `.alreadyExists` if the key is there (`BPF_NOEXIST`).
    public static let noExist = BPFUpdateFlags(rawValue: 1)
    /// Replace only: `.notFound` if the key is not there (`BPF_EXIST`).
    public static let exist = BPFUpdateFlags(rawValue: 2)
}

/// A loaded map, by its own file descriptor, with what the kernel says about it (type, sizes).
/// Raw, untyped access; typed views are built on it and check its sizes once.
/// `Sendable`: every operation is one system call on the descriptor.
public final class BPFMapHandle: Sendable {
    /// The descriptor, owned by this handle (closed when it is released).
    public let fileDescriptor: Int32
    /// The map's name, as the kernel has it (at most 15 bytes).
    public let name: String
    /// The map's type.
    public let type: BPFMapType
    /// Key size in bytes.
    public let keySize: Int
    /// Value size in bytes (per CPU, for per-CPU maps).
    public let valueSize: Int
    /// Capacity.
    public let maxEntries: Int
    /// The kernel's map id.
    public let id: UInt32
    /// `BPF_F_*` creation flags.
    public let flags: UInt32

    /// Takes ownership of `fd` (closed if this throws).
    init(owning fd: Int32, name: String?, context: String) throws(BPFError) {
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        let result = bpf_obj_get_info_by_fd(fd, &info, &length)
        guard result == 0 else {
            close(fd)
            throw BPFError.system(context, errno: -result)
        }
        fileDescriptor = fd
        let kernelName = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        self.name = name ?? kernelName
        type = BPFMapType(rawValue: info.type)
        keySize = Int(info.key_size)
        valueSize = Int(info.value_size)
        maxEntries = Int(info.max_entries)
        id = info.id
        flags = info.map_flags
    }

    /// A handle on a duplicate of `fd`.
    convenience init(duplicating fd: Int32, name: String) throws(BPFError) {
        let context = "use BPF map \(name)"
        let copy = try systemCall(context, retryOnInterrupt: false) { fcntl(fd, F_DUPFD_CLOEXEC, 3) }
        try self.init(owning: copy, name: name, context: context)
    }

    /// Opens the map pinned at `path`. Errors say whether the file is missing, or is not a BPF
    /// map (not on a BPF file system, or a pinned program or link).
    public convenience init(pinnedAt path: String) throws(BPFError) {
        let context = "use pinned map \(path)"
        var fs = statfs()
        guard statfs(path, &fs) == 0 else {
            throw BPFError.system(context, errno: errno)
        }
        let bpfFilesystemMagic = 0xcafe_4a11
        guard fs.f_type == bpfFilesystemMagic else {
            throw BPFError(.invalidArgument, context, details: "not a pinned BPF map (not on a BPF file system)")
        }
        // Programs and links cannot be opened read-only: EINVAL tells them from maps by type.
        let probe = clibbpf_obj_get(path, UInt32(BPF_F_RDONLY))
        if probe == -EINVAL {
            throw BPFError(.invalidArgument, context, details: "not a pinned BPF map (a pinned program or link)")
        } else if probe == -EACCES {
            throw BPFError.system(context, errno: EACCES, details: "the pinned file's mode does not let this user read it")
        } else if probe >= 0 {
            close(probe)
        }
        let fd = try libbpfCall(context) { clibbpf_obj_get(path, 0) }
        try self.init(owning: fd, name: nil, context: context)
    }

    /// Creates a new map (not part of any object): e.g. an inner map for a map of maps.
    /// A ring buffer takes key and value sizes 0 and a power-of-two multiple of the page size.
    public convenience init(creating type: BPFMapType, name: String, keySize: Int, valueSize: Int,
                            maxEntries: Int, flags: UInt32 = 0) throws(BPFError) {
        let context = "create BPF map \(name)"
        var options = bpf_map_create_opts()
        options.sz = MemoryLayout<bpf_map_create_opts>.size
        options.map_flags = flags
        let fd = try libbpfCall(context) {
            bpf_map_create(bpf_map_type(type.rawValue), name, UInt32(keySize), UInt32(valueSize),
                           UInt32(maxEntries), &options)
        }
        try self.init(owning: fd, name: name, context: context)
    }

    /// Creates a new map with `template`'s type, key and value sizes, capacity and flags (not
    /// its contents): for instance a second inner map to swap into a map of maps.
    public convenience init(creatingLike template: BPFMapHandle, name: String? = nil) throws(BPFError) {
        try self.init(creating: template.type, name: name ?? template.name, keySize: template.keySize,
                      valueSize: template.valueSize, maxEntries: template.maxEntries, flags: template.flags)
    }

    deinit { close(fileDescriptor) }

    /// Deletes every key (of a hash map; one call per key). Not atomic: keys added meanwhile may stay.
    public func removeAll() throws(BPFError) {
        for key in try rawKeys() {
            var key = key
            _ = try delete(&key)
        }
    }

    /// Pins the map at `path` on a BPF file system; remove the file to unpin.
    public func pin(at path: String) throws(BPFError) {
        try libbpfCall("pin BPF map \(name) at \(path)") { bpf_obj_pin(fileDescriptor, path) }
    }

    /// Bytes of one value as the syscalls see it: per-CPU maps hold the value size rounded up to
    /// 8 bytes for each possible CPU.
    public var valueBufferSize: Int {
        type.isPerCPU ? (valueSize + 7) / 8 * 8 * BPFMapHandle.possibleCPUs : valueSize
    }

    /// The number of possible CPUs (the per-CPU value count), from /sys/devices/system/cpu/possible;
    /// 1 if that cannot be read (see `possibleCPUCount`).
    public static var possibleCPUs: Int { possibleCPUCount ?? 1 }

    /// The number of possible CPUs, or nil if /sys/devices/system/cpu/possible cannot be read
    /// (no /sys): per-CPU maps cannot be read then, and the typed per-CPU views refuse them.
    public static var possibleCPUCount: Int? {
        let count = libbpf_num_possible_cpus()
        return count > 0 ? Int(count) : nil
    }

    // MARK: Checked untyped access (cilium/ebpf's Map.Lookup/Put/Delete): sizes checked per call

    private func checkedSizes<K, V>(_ key: K.Type, _ value: V.Type, _ context: String) throws(BPFError) {
        guard !type.isPerCPU else {
            throw BPFError(.invalidArgument, context, details: "is \(article(type)) map: use BPFPerCPUArray or BPFPerCPUHashMap")
        }
        try checkSize(K.self, keySize, "key", map: self)
        try checkSize(V.self, valueSize, "value", map: self)
    }

    /// The value under `key`, or nil; `K` and `V` must match the map's key and value sizes.
    public func lookup<K: BitwiseCopyable, V: BPFPlainData>(_ key: K, as type: V.Type = V.self) throws(BPFError) -> V? {
        try checkedSizes(K.self, V.self, "look up in BPF map \(name)")
        var value = [UInt8](repeating: 0, count: valueSize)
        let found = try withPaddedBytes(of: key, count: keySize) { pointer throws(BPFError) in try lookup(pointer, into: &value) }
        return found ? value.withUnsafeBytes { load(V.self, from: $0) } : nil
    }

    /// Stores `value` under `key`; `K` and `V` must match the map's key and value sizes.
    public func update<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, _ value: V, flags: BPFUpdateFlags = .any) throws(BPFError) {
        try checkedSizes(K.self, V.self, "update BPF map \(name)")
        try withPaddedBytes(of: key, count: keySize) { keyPointer throws(BPFError) in
            try withPaddedBytes(of: value, count: valueSize) { valuePointer throws(BPFError) in
                try update(keyPointer, valuePointer, flags: flags)
            }
        }
    }

    /// Deletes `key` (of the map's key size); returns whether it was there.
    @discardableResult
    public func delete<K: BitwiseCopyable>(_ key: K) throws(BPFError) -> Bool {
        try checkSize(K.self, keySize, "key", map: self)
        return try withPaddedBytes(of: key, count: keySize) { pointer throws(BPFError) in try delete(pointer) }
    }

    // MARK: Raw element access (sizes are the caller's: typed views check them)

    /// Reads the value under `key` into `value` (`valueBufferSize` bytes); false if absent.
    func lookup(_ key: UnsafeRawPointer, into value: UnsafeMutableRawPointer) throws(BPFError) -> Bool {
        let result = bpf_map_lookup_elem(fileDescriptor, key, value)
        if result == -ENOENT { return false }
        try libbpfCall("look up in BPF map \(name)") { result }
        return true
    }

    /// Stores `value` under `key`.
    func update(_ key: UnsafeRawPointer, _ value: UnsafeRawPointer, flags: BPFUpdateFlags) throws(BPFError) {
        try libbpfCall("update BPF map \(name)") { bpf_map_update_elem(fileDescriptor, key, value, flags.rawValue) }
    }

    /// Deletes `key`; false if it was absent.
    func delete(_ key: UnsafeRawPointer) throws(BPFError) -> Bool {
        let result = bpf_map_delete_elem(fileDescriptor, key)
        if result == -ENOENT { return false }
        try libbpfCall("delete from BPF map \(name)") { result }
        return true
    }

    /// Reads and deletes the value under `key` (nil for a queue or stack) into `value`
    /// (`valueBufferSize` bytes) in one system call; false if absent (or the queue is empty).
    func lookupAndDelete(_ key: UnsafeRawPointer?, into value: UnsafeMutableRawPointer) throws(BPFError) -> Bool {
        let context = "look up and delete in BPF map \(name)"
        let result = bpf_map_lookup_and_delete_elem(fileDescriptor, key, value)
        switch -result {
        case 0: return true
        case ENOENT: return false
        case kernelENOTSUPP, EOPNOTSUPP:
            throw BPFError(.notSupported, context, errno: -result,
                           details: "the kernel takes entries out of \(article(type)) map in one call from Linux 5.14 (queues and stacks: 4.20)")
        default: throw BPFError.system(context, errno: -result)
        }
    }

    /// The key after `key` in the kernel's order (the first for nil); nil after the last. A
    /// hash map whose `key` was deleted meanwhile starts over from its first key.
    func nextKey(after key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        var next = [UInt8](repeating: 0, count: keySize)
        let result = key.map { bpf_map_get_next_key(fileDescriptor, $0, &next) }
            ?? bpf_map_get_next_key(fileDescriptor, nil, &next)
        if result == -ENOENT { return nil }
        try libbpfCall("list keys of BPF map \(name)") { result }
        return next
    }

    /// Every key, in the kernel's order, read with `bpf_map_get_next_key`.
    func rawKeys() throws(BPFError) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        while let key = try nextKey(after: keys.last) { keys.append(key) }
        return keys
    }

    /// Every key and value (taken out of the map with `deleting`), in batches of up to 4096.
    /// Values are `valueBufferSize` bytes each. A drain stops after twice the map's capacity,
    /// so that a producer as fast as it cannot keep it going (what it adds meanwhile stays).
    func rawEntries(deleting: Bool = false) throws(BPFError) -> [(key: [UInt8], value: [UInt8])] {
        var cursor = BPFMapBatchCursor()
        var entries: [(key: [UInt8], value: [UInt8])] = []
        while !cursor.isAtEnd && (!deleting || entries.count < 2 * maxEntries) {
            entries += try batch(&cursor, count: max(min(maxEntries, 4096), 16), deleting: deleting)
        }
        return entries
    }

    /// About `count` entries from `cursor` on (hash maps answer in whole buckets), read, and
    /// deleted with `deleting`, with `BPF_MAP_LOOKUP_BATCH` or `BPF_MAP_LOOKUP_AND_DELETE_BATCH`
    /// (Linux 5.6; the kernel deletes each bucket's entries under the bucket's lock as it
    /// copies them). Where the kernel has no batch operation for this map: key by key, a
    /// deleting read taking each entry with `bpf_map_lookup_and_delete_elem`.
    func batch(_ cursor: inout BPFMapBatchCursor, count: Int, deleting: Bool) throws(BPFError) -> [(key: [UInt8], value: [UInt8])] {
        let context = "\(deleting ? "look up and delete" : "look up") a batch of BPF map \(name)"
        var capacity = max(count, 1)
        let valueBytes = valueBufferSize
        switch cursor.position {
        case .end: return []
        case .afterKey(let key): return try batchByKey(&cursor, after: key, count: capacity, deleting: deleting)
        case .start, .kernel: break
        }
        let isFirst = if case .start = cursor.position { true } else { false }
        var input = if case .kernel(let token) = cursor.position { token } else { [UInt8](repeating: 0, count: max(keySize, 8)) }
        var output = [UInt8](repeating: 0, count: max(keySize, 8))
        while true {
            var keys = [UInt8](repeating: 0, count: keySize * capacity)
            var values = [UInt8](repeating: 0, count: valueBytes * capacity)
            var returned = UInt32(capacity)
            let result = input.withUnsafeMutableBytes { token in
                let from = isFirst ? nil : token.baseAddress
                return deleting
                    ? bpf_map_lookup_and_delete_batch(fileDescriptor, from, &output, &keys, &values, &returned, nil)
                    : bpf_map_lookup_batch(fileDescriptor, from, &output, &keys, &values, &returned, nil)
            }
            if isFirst && returned == 0 && [-EINVAL, -EOPNOTSUPP, -kernelENOTSUPP].contains(result) {
                return try batchByKey(&cursor, after: nil, count: capacity, deleting: deleting)
            }
            if result == -ENOSPC && returned == 0 {  // one bucket holds more than asked for
                capacity *= 2
                continue
            }
            guard result == 0 || result == -ENOENT else { throw BPFError.system(context, errno: -result) }
            cursor.position = result == -ENOENT ? .end : .kernel(output)
            return (0..<Int(returned)).map { index in
                (Array(keys[index * keySize..<(index + 1) * keySize]),
                 Array(values[index * valueBytes..<(index + 1) * valueBytes]))
            }
        }
    }

    /// `batch` where the kernel has no batch operation: up to `count` keys after `key`; a
    /// deleting read takes the first key each time (what it took is gone).
    private func batchByKey(_ cursor: inout BPFMapBatchCursor, after key: [UInt8]?, count: Int,
                            deleting: Bool) throws(BPFError) -> [(key: [UInt8], value: [UInt8])] {
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var value = [UInt8](repeating: 0, count: valueBufferSize)
        var last = key
        while entries.count < count {
            guard let next = try nextKey(after: deleting ? nil : last) else {
                cursor.position = .end
                return entries
            }
            last = next
            if try deleting ? lookupAndDelete(next, into: &value) : lookup(next, into: &value) {
                entries.append((next, value))
            }
        }
        cursor.position = .afterKey(last ?? [])
        return entries
    }

    /// Stores every key with its value, with `BPF_MAP_UPDATE_BATCH` (Linux 5.6) where the kernel
    /// has it and `flags` is `.any` (the batch takes no update mode), otherwise one by one.
    /// `keys` and `values` hold `count` keys and `count` values of `valueBufferSize` bytes.
    func updateBatch(keys: [UInt8], values: [UInt8], count: Int, flags: BPFUpdateFlags) throws(BPFError) {
        if flags == .any {
            var options = bpf_map_batch_opts()
            options.sz = MemoryLayout<bpf_map_batch_opts>.size
            var done = UInt32(count)
            let result = bpf_map_update_batch(fileDescriptor, keys, values, &done, &options)
            if result == 0 { return }
            guard [-EINVAL, -EOPNOTSUPP, -kernelENOTSUPP].contains(result) else {
                throw BPFError.system("update a batch of BPF map \(name)", errno: -result,
                                      details: result == -E2BIG ? "the map is full (\(maxEntries) entries)" : nil)
            }
        }
        let valueBytes = valueBufferSize
        for index in 0..<count {
            try update(Array(keys[index * keySize..<(index + 1) * keySize]),
                       Array(values[index * valueBytes..<(index + 1) * valueBytes]), flags: flags)
        }
    }

    /// Deletes every key of `keys` (`count` keys) that is there, with `BPF_MAP_DELETE_BATCH`
    /// (Linux 5.6) or one by one; returns how many were there.
    func deleteBatch(keys: [UInt8], count: Int) throws(BPFError) -> Int {
        var options = bpf_map_batch_opts()
        options.sz = MemoryLayout<bpf_map_batch_opts>.size
        var deleted = 0
        var start = 0
        while start < count {
            var done = UInt32(count - start)
            let result = keys.withUnsafeBytes { bpf_map_delete_batch(fileDescriptor, $0.baseAddress! + start * keySize, &done, &options) }
            deleted += Int(done)
            if result == 0 { return deleted }
            if result == -ENOENT {  // stops at the first missing key: skip it, go on
                start += Int(done) + 1
                continue
            }
            guard start == 0 && done == 0 && [-EINVAL, -EOPNOTSUPP, -kernelENOTSUPP].contains(result) else {
                throw BPFError.system("delete a batch of BPF map \(name)", errno: -result)
            }
            for index in 0..<count {
                if try delete(Array(keys[index * keySize..<(index + 1) * keySize])) { deleted += 1 }
            }
            return deleted
        }
        return deleted
    }
}

/// Where a batch read of a map goes on from (cilium/ebpf's `MapBatchCursor`): make one with
/// `BPFMapBatchCursor()` and pass it to each call (`BPFHashMap.lookupBatch(_:maxCount:)`,
/// `lookupAndDeleteBatch(_:maxCount:)`) until `isAtEnd`. Belongs to one map and one kind of call.
public struct BPFMapBatchCursor: Sendable {
    enum Position: Sendable {
        /// Nothing read yet.
        case start
        /// The kernel's token for the next batch.
        case kernel([UInt8])
        /// Read key by key (no batch operation in the kernel): the last key read.
        case afterKey([UInt8])
        /// The whole map read.
        case end
    }

    var position = Position.start

    /// A cursor at the start of a map.
    public init() {}

    /// Whether the whole map has been read.
    public var isAtEnd: Bool {
        if case .end = position { true } else { false }
    }
}
