internal import Glibc

/// Checks a Swift type against a map's key or value size: the sizes must agree up to the
/// trailing padding C counts and Swift's `size` does not (`size <= bytes <= stride`).
func checkSize<T>(_ type: T.Type, _ bytes: Int, _ what: String, map: BPFMapHandle) throws(BPFError) {
    let layout = (size: MemoryLayout<T>.size, stride: MemoryLayout<T>.stride)
    guard layout.size <= bytes && bytes <= layout.stride, layout.size > 0 else {
        throw BPFError(.invalidArgument, "view BPF map \(map.name)",
                       details: "its \(what) is \(bytes) bytes, \(T.self) is \(layout.size)")
    }
}

/// Throws unless the number of possible CPUs is known: a per-CPU value buffer sized by a guess
/// would let the kernel write past it.
func checkPossibleCPUs(_ map: BPFMapHandle) throws(BPFError) {
    guard BPFMapHandle.possibleCPUCount != nil else {
        throw BPFError(.notSupported, "view BPF map \(map.name)",
                       details: "the number of possible CPUs is unknown: /sys/devices/system/cpu/possible cannot be read (is /sys mounted?)")
    }
}

/// Checks a map's type against the kinds a view accepts.
func checkType(_ map: BPFMapHandle, _ accepted: [BPFMapType], view: String) throws(BPFError) {
    guard accepted.contains(map.type) else {
        let wanted = accepted.map { article($0) }.joined(separator: " or ")
        throw BPFError(.invalidArgument, "view BPF map \(map.name) as \(view)",
                       details: "is \(article(map.type)) map, must be \(wanted) map")
    }
}

/// Runs `body` with `value`'s bytes zero-padded to `count` bytes.
func withPaddedBytes<T, R>(of value: T, count: Int, _ body: (UnsafeRawPointer) throws(BPFError) -> R) throws(BPFError) -> R {
    try withUnsafeTemporaryAllocation(byteCount: max(count, 1), alignment: 8) { buffer throws(BPFError) in
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        withUnsafeBytes(of: value) { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        return try body(UnsafeRawPointer(buffer.baseAddress!))
    }
}

/// Reads a `T` from the start of `bytes` (which holds at least `MemoryLayout<T>.size`).
func load<T: BitwiseCopyable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) -> T {
    bytes.loadUnaligned(as: T.self)
}

/// What hash-like views share: lookup, update, delete and iteration over a checked handle.
/// `Value` is the Swift type of what one lookup returns (`[V]` for per-CPU maps).
protocol CheckedMapView {
    associatedtype Key: BPFPlainData
    var map: BPFMapHandle { get }
}

extension CheckedMapView {
    func withKey<R>(_ key: Key, _ body: (UnsafeRawPointer) throws(BPFError) -> R) throws(BPFError) -> R {
        try withPaddedBytes(of: key, count: map.keySize, body)
    }

    func rawLookup(_ key: Key) throws(BPFError) -> [UInt8]? {
        var value = [UInt8](repeating: 0, count: map.valueBufferSize)
        let found = try withKey(key) { pointer throws(BPFError) in try map.lookup(pointer, into: &value) }
        return found ? value : nil
    }

    func decodeKey(_ bytes: [UInt8]) -> Key {
        bytes.withUnsafeBytes { load(Key.self, from: $0) }
    }
}

extension CheckedMapView where Key == UInt32 {
    /// `index` as an array key, or `.invalidArgument` naming the map when it is out of range.
    func checkIndex(_ index: Int, _ context: String) throws(BPFError) -> UInt32 {
        guard index >= 0, index < map.maxEntries else {
            throw BPFError(.invalidArgument, "\(context) BPF map \(map.name)", details: "index \(index) is not in 0..<\(map.maxEntries)")
        }
        return UInt32(index)
    }
}

// MARK: - Hash maps

/// A typed view of a hash or LRU hash map. Key and value sizes are checked when the view is
/// made. `Sendable`: each call is one system call (iteration sees a map that may change).
///
/// Keys are compared byte for byte by the kernel: use key types without padding.
public struct BPFHashMap<Key: BPFPlainData, Value: BPFPlainData>: CheckedMapView, Sendable {
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if its type or sizes do not match.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.hash, .lruHash], view: "a hash map")
        try checkSize(Key.self, map.keySize, "key", map: map)
        try checkSize(Value.self, map.valueSize, "value", map: map)
        self.map = map
    }

    /// Views a map of a loaded object; a key or value type that declares its layout
    /// (`BPFPlainData.bpfLayout`) is checked field by field against the map's BTF.
    public init(_ map: BPFMap) throws(BPFError) {
        try self.init(map.handle())
        try map.checkLayout(key: Key.self, value: Value.self)
    }

    /// The value under `key`, or nil.
    public func lookup(_ key: Key) throws(BPFError) -> Value? {
        try rawLookup(key)?.withUnsafeBytes { load(Value.self, from: $0) }
    }

    /// Stores `value` under `key`; `.noExist` fails with `.alreadyExists`, `.exist` with `.notFound`.
    public func update(_ key: Key, _ value: Value, flags: BPFUpdateFlags = .any) throws(BPFError) {
        try withKey(key) { keyPointer throws(BPFError) in
            try withPaddedBytes(of: value, count: map.valueSize) { valuePointer throws(BPFError) in
                try map.update(keyPointer, valuePointer, flags: flags)
            }
        }
    }

    /// Deletes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ key: Key) throws(BPFError) -> Bool {
        try withKey(key) { pointer throws(BPFError) in try map.delete(pointer) }
    }

    /// Every key.
    public func keys() throws(BPFError) -> [Key] { try map.rawKeys().map(decodeKey) }

    /// Every entry (in batches where the kernel can).
    public func entries() throws(BPFError) -> [(key: Key, value: Value)] {
        try map.rawEntries().map { entry in
            (decodeKey(entry.key), entry.value.withUnsafeBytes { load(Value.self, from: $0) })
        }
    }
}

/// A typed view of a per-CPU hash or LRU per-CPU hash map: one value per possible CPU.
/// Sizes checked when made; the kernel's per-CPU stride (value size rounded up to 8) is handled.
public struct BPFPerCPUHashMap<Key: BPFPlainData, Value: BPFPlainData>: CheckedMapView, Sendable {
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if its type or sizes do not match.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.perCPUHash, .lruPerCPUHash], view: "a per-CPU hash map")
        try checkPossibleCPUs(map)
        try checkSize(Key.self, map.keySize, "key", map: map)
        try checkSize(Value.self, map.valueSize, "value", map: map)
        self.map = map
    }

    /// Views a map of a loaded object; a key or value type that declares its layout
    /// (`BPFPlainData.bpfLayout`) is checked field by field against the map's BTF.
    public init(_ map: BPFMap) throws(BPFError) {
        try self.init(map.handle())
        try map.checkLayout(key: Key.self, value: Value.self)
    }

    /// The values under `key`, one per possible CPU, or nil.
    public func lookup(_ key: Key) throws(BPFError) -> [Value]? {
        try rawLookup(key).map { perCPUValues($0, Value.self, map: map) }
    }

    /// Stores one value per possible CPU under `key` (`values.count` must be `possibleCPUs`).
    public func update(_ key: Key, _ values: [Value], flags: BPFUpdateFlags = .any) throws(BPFError) {
        let bytes = try perCPUBytes(values, map: map)
        try withKey(key) { pointer throws(BPFError) in try map.update(pointer, bytes, flags: flags) }
    }

    /// Deletes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ key: Key) throws(BPFError) -> Bool {
        try withKey(key) { pointer throws(BPFError) in try map.delete(pointer) }
    }

    /// Every key.
    public func keys() throws(BPFError) -> [Key] { try map.rawKeys().map(decodeKey) }

    /// Every entry with its per-CPU values.
    public func entries() throws(BPFError) -> [(key: Key, values: [Value])] {
        try map.rawEntries().map { (decodeKey($0.key), perCPUValues($0.value, Value.self, map: map)) }
    }
}

// MARK: - Arrays

/// A typed view of an array map (keys are indices `0..<count`). Sizes checked when made.
/// `Sendable`. Works for a `.bss`-style array too, but prefer `BPFGlobalData` there.
public struct BPFArrayMap<Value: BPFPlainData>: CheckedMapView, Sendable {
    typealias Key = UInt32
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if its type or value size do not match.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.array], view: "an array map")
        try checkSize(Value.self, map.valueSize, "value", map: map)
        self.map = map
    }

    /// Views a map of a loaded object; a value type that declares its layout
    /// (`BPFPlainData.bpfLayout`) is checked field by field against the map's BTF.
    public init(_ map: BPFMap) throws(BPFError) {
        try self.init(map.handle())
        try map.checkLayout(value: Value.self)
    }

    /// The number of elements.
    public var count: Int { map.maxEntries }

    /// The element at `index`.
    public func lookup(_ index: Int) throws(BPFError) -> Value {
        let key = try checkIndex(index, "read")
        guard let bytes = try rawLookup(key) else { throw BPFError(.notFound, "read BPF map \(map.name)[\(index)]") }
        return bytes.withUnsafeBytes { load(Value.self, from: $0) }
    }

    /// Stores `value` at `index` (arrays have every index: `.noExist` always fails).
    public func update(_ index: Int, _ value: Value, flags: BPFUpdateFlags = .any) throws(BPFError) {
        let key = try checkIndex(index, "update")
        try withKey(key) { keyPointer throws(BPFError) in
            try withPaddedBytes(of: value, count: map.valueSize) { valuePointer throws(BPFError) in
                try map.update(keyPointer, valuePointer, flags: flags)
            }
        }
    }

    /// Every element, in index order (in batches where the kernel can).
    public func values() throws(BPFError) -> [Value] {
        try map.rawEntries().sorted { decodeKey($0.key) < decodeKey($1.key) }
            .map { $0.value.withUnsafeBytes { load(Value.self, from: $0) } }
    }
}

/// A typed view of a per-CPU array map: each element has one value per possible CPU.
/// Sizes checked when made; the kernel's per-CPU stride (value size rounded up to 8) is handled.
public struct BPFPerCPUArray<Value: BPFPlainData>: CheckedMapView, Sendable {
    typealias Key = UInt32
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if its type or value size do not match.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.perCPUArray], view: "a per-CPU array map")
        try checkPossibleCPUs(map)
        try checkSize(Value.self, map.valueSize, "value", map: map)
        self.map = map
    }

    /// Views a map of a loaded object; a value type that declares its layout
    /// (`BPFPlainData.bpfLayout`) is checked field by field against the map's BTF.
    public init(_ map: BPFMap) throws(BPFError) {
        try self.init(map.handle())
        try map.checkLayout(value: Value.self)
    }

    /// The number of elements.
    public var count: Int { map.maxEntries }

    /// The values at `index`, one per possible CPU.
    public func lookup(_ index: Int) throws(BPFError) -> [Value] {
        guard let bytes = try rawLookup(try checkIndex(index, "read")) else { throw BPFError(.notFound, "read BPF map \(map.name)[\(index)]") }
        return perCPUValues(bytes, Value.self, map: map)
    }

    /// Stores one value per possible CPU at `index` (`values.count` must be `possibleCPUs`).
    public func update(_ index: Int, _ values: [Value]) throws(BPFError) {
        let key = try checkIndex(index, "update")
        let bytes = try perCPUBytes(values, map: map)
        try withKey(key) { pointer throws(BPFError) in try map.update(pointer, bytes, flags: .any) }
    }
}

extension BPFPerCPUArray where Value: FixedWidthInteger {
    /// The sum over all CPUs of the counter at `index` (wrapping).
    public func sum(_ index: Int) throws(BPFError) -> Value {
        try lookup(index).reduce(0, &+)
    }
}

/// Splits a per-CPU value buffer into one value per possible CPU (stride: size rounded up to 8).
func perCPUValues<V: BitwiseCopyable>(_ bytes: [UInt8], _ type: V.Type, map: BPFMapHandle) -> [V] {
    let stride = (map.valueSize + 7) / 8 * 8
    return bytes.withUnsafeBytes { raw in
        (0..<BPFMapHandle.possibleCPUs).map { cpu in
            load(V.self, from: UnsafeRawBufferPointer(rebasing: raw[(cpu * stride)...]))
        }
    }
}

/// Lays out one value per possible CPU at the kernel's stride.
func perCPUBytes<V: BitwiseCopyable>(_ values: [V], map: BPFMapHandle) throws(BPFError) -> [UInt8] {
    let cpus = BPFMapHandle.possibleCPUs
    guard values.count == cpus else {
        throw BPFError(.invalidArgument, "update BPF map \(map.name)",
                       details: "\(values.count) values given, one per possible CPU (\(cpus)) needed")
    }
    let stride = (map.valueSize + 7) / 8 * 8
    var bytes = [UInt8](repeating: 0, count: stride * cpus)
    bytes.withUnsafeMutableBytes { raw in
        for (cpu, value) in values.enumerated() {
            withUnsafeBytes(of: value) { source in
                UnsafeMutableRawBufferPointer(rebasing: raw[(cpu * stride)..<(cpu * stride + map.valueSize)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(map.valueSize)))
            }
        }
    }
    return bytes
}
