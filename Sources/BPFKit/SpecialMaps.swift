internal import CLibBPF
internal import Glibc

// MARK: - Queues and stacks

/// A typed view of a queue (first in, first out) or stack (last in, first out) map, which has
/// values and no keys (Linux 4.20). The value size is checked when the view is made.
/// `Sendable`: each call is one system call.
public struct BPFQueueMap<Value: BPFPlainData>: Sendable {
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if its type or value size do not match.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.queue, .stack], view: "a queue")
        try checkSize(Value.self, map.valueSize, "value", map: map)
        self.map = map
    }

    /// Views a map of a loaded object.
    public init(_ map: BPFMap) throws(BPFError) { try self.init(map.handle()) }

    /// Whether the map is a stack (pops the newest value) rather than a queue (the oldest).
    public var isStack: Bool { map.type == .stack }

    /// Adds `value`. When the map is full this throws, unless `overwritingOldest`, which drops
    /// the oldest value to make room (`BPF_EXIST`).
    public func push(_ value: Value, overwritingOldest: Bool = false) throws(BPFError) {
        let context = "push onto BPF map \(map.name)"
        let flags: UInt64 = overwritingOldest ? 2 : 0  // BPF_EXIST : BPF_ANY
        let result = try withPaddedBytes(of: value, count: map.valueSize) { bpf_map_update_elem(map.fileDescriptor, nil, $0, flags) }
        if result == -E2BIG {
            throw BPFError(.system, context, details: "it is full (\(map.maxEntries) values): pop first, or push overwritingOldest")
        }
        try libbpfCall(context) { result }
    }

    /// Removes and returns the next value (the oldest of a queue, the newest of a stack), or
    /// nil if the map is empty.
    public func pop() throws(BPFError) -> Value? {
        var value = [UInt8](repeating: 0, count: map.valueSize)
        return try map.lookupAndDelete(nil, into: &value) ? decode(value) : nil
    }

    /// The value `pop()` would return, left in place; nil if the map is empty.
    public func peek() throws(BPFError) -> Value? {
        var value = [UInt8](repeating: 0, count: map.valueSize)
        let result = bpf_map_lookup_elem(map.fileDescriptor, nil, &value)
        if result == -ENOENT { return nil }
        try libbpfCall("peek at BPF map \(map.name)") { result }
        return decode(value)
    }

    /// Pops until the map is empty, or at most its capacity's worth (so that a producer as
    /// fast as the reader cannot keep it going); in `pop()` order.
    public func drain() throws(BPFError) -> [Value] {
        var values: [Value] = []
        while values.count < map.maxEntries, let value = try pop() { values.append(value) }
        return values
    }

    private func decode(_ bytes: [UInt8]) -> Value { bytes.withUnsafeBytes { load(Value.self, from: $0) } }
}

// MARK: - LPM tries

/// A typed view of a longest-prefix-match trie (`BPF_MAP_TYPE_LPM_TRIE`): its key is a 32-bit
/// prefix length followed by the data, an `Address` (4 bytes for IPv4, 16 for IPv6, in network
/// order, as the kernel compares them bit by bit from the first byte). Key and value sizes
/// are checked when the view is made. `Sendable`: each call is one system call.
public struct BPFLPMTrie<Address: BPFPlainData, Value: BPFPlainData>: Sendable {
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if its type or sizes do not match.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.lpmTrie], view: "an LPM trie")
        guard MemoryLayout<Address>.size > 0, map.keySize == 4 + MemoryLayout<Address>.size else {
            throw BPFError(.invalidArgument, "view BPF map \(map.name)",
                           details: "its key is \(map.keySize) bytes, a prefix length and \(Address.self) are \(4 + MemoryLayout<Address>.size)")
        }
        try checkSize(Value.self, map.valueSize, "value", map: map)
        self.map = map
    }

    /// Views a map of a loaded object.
    public init(_ map: BPFMap) throws(BPFError) { try self.init(map.handle()) }

    /// The longest prefix length: the bits of an `Address`.
    public var maxPrefixLength: Int { (map.keySize - 4) * 8 }

    /// Stores `value` for the prefix of `address` `prefixLength` bits long.
    public func update(_ address: Address, prefixLength: Int, _ value: Value, flags: BPFUpdateFlags = .any) throws(BPFError) {
        let key = try key(address, prefixLength, "update")
        try withPaddedBytes(of: value, count: map.valueSize) { pointer throws(BPFError) in
            try map.update(key, pointer, flags: flags)
        }
    }

    /// The value of the longest stored prefix that matches the first `prefixLength` bits of
    /// `address` (all of them by default): the kernel's lookup, as a router's.
    public func lookup(_ address: Address, prefixLength: Int? = nil) throws(BPFError) -> Value? {
        let key = try key(address, prefixLength ?? maxPrefixLength, "look up in")
        var value = [UInt8](repeating: 0, count: map.valueSize)
        return try map.lookup(key, into: &value) ? value.withUnsafeBytes { load(Value.self, from: $0) } : nil
    }

    /// Deletes exactly the prefix of `address` `prefixLength` bits long; returns whether it was there.
    @discardableResult
    public func delete(_ address: Address, prefixLength: Int) throws(BPFError) -> Bool {
        try map.delete(try key(address, prefixLength, "delete from"))
    }

    /// Every stored prefix with its value.
    public func entries() throws(BPFError) -> [(address: Address, prefixLength: Int, value: Value)] {
        var entries: [(address: Address, prefixLength: Int, value: Value)] = []
        var value = [UInt8](repeating: 0, count: map.valueSize)
        for key in try map.rawKeys() {
            guard try map.lookup(key, into: &value) else { continue }  // deleted meanwhile
            let length = key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            let address = key.withUnsafeBytes { load(Address.self, from: UnsafeRawBufferPointer(rebasing: $0[4...])) }
            entries.append((address, Int(length), value.withUnsafeBytes { load(Value.self, from: $0) }))
        }
        return entries
    }

    /// The kernel's key: the prefix length, then the address.
    private func key(_ address: Address, _ prefixLength: Int, _ verb: String) throws(BPFError) -> [UInt8] {
        guard (0...maxPrefixLength).contains(prefixLength) else {
            throw BPFError(.invalidArgument, "\(verb) BPF map \(map.name)",
                           details: "prefix length \(prefixLength) is not in 0...\(maxPrefixLength)")
        }
        return paddedBytes(of: UInt32(prefixLength), count: 4) + paddedBytes(of: address, count: map.keySize - 4)
    }
}

// MARK: - Program arrays

/// A typed view of a program array (`BPF_MAP_TYPE_PROG_ARRAY`): the table `bpf_tail_call`
/// jumps through. Setting a program at an index makes a tail call to that index run it.
/// `Sendable`: each call is one system call. The kernel empties a program array when its
/// last file descriptor and pin are gone (its object's and this view's).
public struct BPFProgramArray: Sendable {
    /// The map viewed.
    public let map: BPFMapHandle

    /// Views `map`; throws `.invalidArgument` naming the map if it is not a program array.
    public init(_ map: BPFMapHandle) throws(BPFError) {
        try checkType(map, [.programArray], view: "a program array")
        self.map = map
    }

    /// Views a map of a loaded object.
    public init(_ map: BPFMap) throws(BPFError) { try self.init(map.handle()) }

    /// The number of slots.
    public var count: Int { map.maxEntries }

    /// Puts the loaded `program` at `index` (it must be of the type of the programs that tail
    /// call through this array).
    public func set(_ program: BPFProgram, at index: Int) throws(BPFError) {
        let context = "set BPF map \(map.name)[\(index)] to BPF program \(program.label)"
        let slot = try checkIndex(index, context)
        guard program.fileDescriptor >= 0 else {
            throw BPFError(.invalidArgument, context, details: "the program is not loaded")
        }
        var key = slot, value = UInt32(program.fileDescriptor)
        try libbpfCall(context) { bpf_map_update_elem(map.fileDescriptor, &key, &value, 0) }
    }

    /// Empties slot `index`; returns whether it held a program.
    @discardableResult
    public func remove(at index: Int) throws(BPFError) -> Bool {
        var key = try checkIndex(index, "empty BPF map \(map.name)[\(index)]")
        return try map.delete(&key)
    }

    private func checkIndex(_ index: Int, _ context: String) throws(BPFError) -> UInt32 {
        guard index >= 0, index < map.maxEntries else {
            throw BPFError(.invalidArgument, context, details: "index \(index) is not in 0..<\(map.maxEntries)")
        }
        return UInt32(index)
    }
}
