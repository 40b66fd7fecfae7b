// Taking entries out, draining, lazy iteration and batches: what hash-map views offer beyond
// lookup, update and delete (cilium/ebpf's LookupAndDelete, Drain, Iterate, Batch*).

/// A hash-like view whose entries can be taken out, iterated lazily and read in batches.
/// `Entry` is what one lookup returns (`[V]` for per-CPU maps).
protocol HashMapView: CheckedMapView {
    associatedtype Entry
    func decodeEntry(_ bytes: [UInt8]) -> Entry
}

extension HashMapView {
    func takeOut(_ key: Key) throws(BPFError) -> Entry? {
        var value = [UInt8](repeating: 0, count: map.valueBufferSize)
        let found = try withKey(key) { pointer throws(BPFError) in try map.lookupAndDelete(pointer, into: &value) }
        return found ? decodeEntry(value) : nil
    }

    func decodedEntries(deleting: Bool) throws(BPFError) -> [(key: Key, value: Entry)] {
        try map.rawEntries(deleting: deleting).map { (decodeKey($0.key), decodeEntry($0.value)) }
    }

    func decodedBatch(_ cursor: inout BPFMapBatchCursor, maxCount: Int, deleting: Bool) throws(BPFError) -> [(key: Key, value: Entry)] {
        guard maxCount > 0 else {
            throw BPFError(.invalidArgument, "read a batch of BPF map \(map.name)", details: "maxCount must be at least 1, not \(maxCount)")
        }
        return try map.batch(&cursor, count: maxCount, deleting: deleting).map { (decodeKey($0.key), decodeEntry($0.value)) }
    }

    func iterator() -> BPFMapIterator<Key, Entry> {
        BPFMapIterator(map, decodeKey: decodeKey, decodeValue: decodeEntry)
    }
}

extension BPFHashMap: HashMapView {
    func decodeEntry(_ bytes: [UInt8]) -> Value { bytes.withUnsafeBytes { load(Value.self, from: $0) } }

    /// Reads and deletes `key` in one system call (`bpf_map_lookup_and_delete_elem`, Linux
    /// 5.14; `.notSupported` before): no update can fall between the read and the delete.
    /// nil if it was not there.
    public func lookupAndDelete(_ key: Key) throws(BPFError) -> Value? { try takeOut(key) }

    /// Takes every entry out of the map and returns them: a per-interval read-and-reset that
    /// loses no update. Each entry is read and deleted at once (by the kernel, a hash bucket at
    /// a time under the bucket's lock, Linux 5.6; or one `lookupAndDelete(_:)` each), so an
    /// update lands either in what this returns or in the map for the next drain. Entries a
    /// program adds meanwhile may stay for the next drain. A program that adds to a value
    /// through the pointer `bpf_map_lookup_elem` gave it can still hit an entry being taken
    /// (nanoseconds wide): for exact counts, insert or update whole values, or swap maps.
    public func drain() throws(BPFError) -> [(key: Key, value: Value)] { try decodedEntries(deleting: true) }

    /// The entries, read one at a time as a loop asks for them (`bpf_map_get_next_key` and a
    /// lookup each): memory stays flat however large the map. See `BPFMapIterator`.
    public func lazyEntries() -> BPFMapIterator<Key, Value> { iterator() }

    /// About `maxCount` entries from `cursor` on (`BPF_MAP_LOOKUP_BATCH`, Linux 5.6: the kernel
    /// answers in whole hash buckets, so a bucket larger than `maxCount` comes whole); pass the
    /// same cursor again until `cursor.isAtEnd`. Key by key where the kernel has no batches.
    public func lookupBatch(_ cursor: inout BPFMapBatchCursor, maxCount: Int) throws(BPFError) -> [(key: Key, value: Value)] {
        try decodedBatch(&cursor, maxCount: maxCount, deleting: false)
    }

    /// `lookupBatch(_:maxCount:)` that also deletes what it returns, atomically per bucket
    /// (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`); `drain()` is this until the end.
    public func lookupAndDeleteBatch(_ cursor: inout BPFMapBatchCursor, maxCount: Int) throws(BPFError) -> [(key: Key, value: Value)] {
        try decodedBatch(&cursor, maxCount: maxCount, deleting: true)
    }

    /// Stores every entry in one system call (`BPF_MAP_UPDATE_BATCH`, Linux 5.6), or one by one
    /// where the kernel has no batches or `flags` is not `.any` (its batch takes no update
    /// mode). Entries before a failing one are stored.
    public func updateBatch(_ entries: some Collection<(key: Key, value: Value)>, flags: BPFUpdateFlags = .any) throws(BPFError) {
        var keys: [UInt8] = [], values: [UInt8] = []
        keys.reserveCapacity(entries.count * map.keySize)
        values.reserveCapacity(entries.count * map.valueSize)
        for entry in entries {
            keys += paddedBytes(of: entry.key, count: map.keySize)
            values += paddedBytes(of: entry.value, count: map.valueSize)
        }
        try map.updateBatch(keys: keys, values: values, count: entries.count, flags: flags)
    }

    /// Deletes every key of `keys` that is there (`BPF_MAP_DELETE_BATCH`, Linux 5.6; one by one
    /// before); returns how many were.
    @discardableResult
    public func deleteBatch(_ keys: some Collection<Key>) throws(BPFError) -> Int {
        try map.deleteBatch(keys: keys.flatMap { paddedBytes(of: $0, count: map.keySize) }, count: keys.count)
    }
}

extension BPFPerCPUHashMap: HashMapView {
    func decodeEntry(_ bytes: [UInt8]) -> [Value] { perCPUValues(bytes, Value.self, map: map) }

    /// Reads and deletes `key`'s per-CPU values in one system call (Linux 5.14); nil if absent.
    /// See `BPFHashMap.lookupAndDelete(_:)`.
    public func lookupAndDelete(_ key: Key) throws(BPFError) -> [Value]? { try takeOut(key) }

    /// Takes every entry out of the map and returns them, losing no update: see `BPFHashMap.drain()`.
    public func drain() throws(BPFError) -> [(key: Key, values: [Value])] {
        try decodedEntries(deleting: true).map { ($0.key, $0.value) }
    }

    /// The entries, read one at a time as a loop asks for them. See `BPFMapIterator`.
    public func lazyEntries() -> BPFMapIterator<Key, [Value]> { iterator() }
}

/// The entries of a map read one at a time, as a loop asks for them: a key with
/// `bpf_map_get_next_key`, then its value; no more than one entry is held at a time.
///
/// Single pass: iterate it once (`for (key, value) in map.lazyEntries()`). A map that changes
/// meanwhile may yield an entry twice or not at all (the kernel starts over from the first key
/// when the current one was deleted). An error ends the sequence early and is kept in `error`:
/// check it after the loop, as with cilium/ebpf's `MapIterator.Err()`; so is a map changing
/// so much that the iteration yielded more entries than the map holds.
public final class BPFMapIterator<Key: BPFPlainData, Value>: Sequence, IteratorProtocol {
    private let map: BPFMapHandle
    private let decodeKey: ([UInt8]) -> Key
    private let decodeValue: ([UInt8]) -> Value
    private var current: [UInt8]?
    private var finished = false
    private var yielded = 0

    /// Why the iteration ended early, or nil.
    public private(set) var error: BPFError?

    init(_ map: BPFMapHandle, decodeKey: @escaping ([UInt8]) -> Key, decodeValue: @escaping ([UInt8]) -> Value) {
        self.map = map
        self.decodeKey = decodeKey
        self.decodeValue = decodeValue
    }

    /// The next entry, or nil at the end (or after an error: see `error`).
    public func next() -> (key: Key, value: Value)? {
        guard !finished else { return nil }
        do throws(BPFError) {
            var value = [UInt8](repeating: 0, count: map.valueBufferSize)
            while let key = try map.nextKey(after: current) {
                current = key
                // Deleted since its key was read: go on from it.
                guard try map.lookup(key, into: &value) else { continue }
                yielded += 1
                guard yielded <= map.maxEntries else {
                    throw BPFError(.system, "iterate over BPF map \(map.name)",
                                   details: "the map changed under the iteration more than it holds (deleted keys make the kernel start over)")
                }
                return (decodeKey(key), decodeValue(value))
            }
        } catch {
            self.error = error
        }
        finished = true
        return nil
    }
}

/// `value`'s bytes zero-padded (or cut) to `count` bytes.
func paddedBytes<T>(of value: T, count: Int) -> [UInt8] {
    withUnsafeBytes(of: value) { bytes in Array(bytes.prefix(count)) + [UInt8](repeating: 0, count: max(0, count - bytes.count)) }
}
