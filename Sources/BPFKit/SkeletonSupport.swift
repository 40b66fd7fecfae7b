/// What generated skeletons (`BPFObjectBuilder`) call: typed access to globals at offsets the
/// generator read from the same object's BTF. `checkLayout` runs once when a skeleton stage is
/// made; after it, accesses inside the checked size cannot fail. The one trap: a store into
/// `.rodata` after load (see `skeletonStore(_:at:)`), which generated code cannot reach: its
/// `RodataSettings` is noncopyable and consumed with the open stage by `load()`.
extension BPFGlobalData {
    /// Throws unless the section holds at least `size` bytes (what the generator saw).
    public func checkLayout(size: Int) throws(BPFError) {
        guard size <= storage.count else {
            throw BPFError(.invalidArgument, "use \(section.rawValue) of a generated skeleton",
                           details: "the section has \(storage.count) bytes, the skeleton expects \(size)")
        }
    }

    /// The `T` at byte `offset`; zero if it lies outside the section (never after `checkLayout`).
    /// `T` is plain data: a program may have written any bytes there (a C `bool` is read as a
    /// `UInt8`).
    public func skeletonLoad<T: BPFPlainData>(at offset: Int, as type: T.Type = T.self) -> T {
        guard offset >= 0, offset + MemoryLayout<T>.size <= storage.count else { return .zeroed }
        return storage.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    /// Stores `value` at byte `offset`; ignored if it lies outside the section (never after
    /// `checkLayout`). A store into `.rodata` once the object is loaded (by hand-written code:
    /// a generated `RodataSettings` cannot outlive `load()`) stops the process with a message naming the variable: the kernel froze
    /// the section, so the value would never reach the programs, and a property setter cannot
    /// throw (the throwing setters, such as `setTargComm(_:)`, and `BPFObject.setReadOnlyGlobal`
    /// throw `.invalidArgument` instead).
    public func skeletonStore<T: BitwiseCopyable>(_ value: T, at offset: Int) {
        if isFrozen {
            fatalError("set BPF global \(variableName(at: offset)) of \(objectName): \(section.rawValue) is read-only after load "
                       + "(set it between open() and load())")
        }
        guard acceptsStores, offset >= 0, offset + MemoryLayout<T>.size <= storage.count else { return }
        storage.storeBytes(of: value, toByteOffset: offset, as: T.self)
    }

    /// Stores up to `capacity` elements at `offset` and zeroes the rest of the array `name`;
    /// more elements than it holds is an error, and so is `.rodata` once the object is loaded.
    public func skeletonStoreElements<E: BitwiseCopyable>(_ values: some Collection<E>, at offset: Int,
                                                           capacity: Int, name: String) throws(BPFError) {
        guard acceptsStores else {
            throw BPFError(.invalidArgument, "set BPF global \(name)", details: "\(section.rawValue) is read-only after load")
        }
        guard values.count <= capacity else {
            throw BPFError(.invalidArgument, "set BPF global \(name)",
                           details: "\(values.count) elements given, it holds \(capacity)")
        }
        let stride = MemoryLayout<E>.stride
        for index in 0..<capacity {
            let position = offset + index * stride
            guard position + MemoryLayout<E>.size <= storage.count else { return }
            UnsafeMutableRawBufferPointer(rebasing: storage[position..<(position + MemoryLayout<E>.size)])
                .initializeMemory(as: UInt8.self, repeating: 0)
        }
        for (index, value) in values.enumerated() {
            skeletonStore(value, at: offset + index * stride)
        }
    }

    /// Stores up to `rows` rows of up to `columns` elements each into the two-dimensional array
    /// `name` at `offset`, zeroing the rest.
    public func skeletonStoreRows<E: BitwiseCopyable>(_ values: [[E]], at offset: Int, rows: Int, columns: Int,
                                                       name: String) throws(BPFError) {
        guard values.count <= rows else {
            throw BPFError(.invalidArgument, "set BPF global \(name)", details: "\(values.count) rows given, it holds \(rows)")
        }
        for (index, row) in values.enumerated() where row.count > columns {
            throw BPFError(.invalidArgument, "set BPF global \(name)",
                           details: "row \(index) has \(row.count) elements, a row holds \(columns)")
        }
        let rowBytes = columns * MemoryLayout<E>.stride
        for index in 0..<rows {
            try skeletonStoreElements(index < values.count ? values[index] : [], at: offset + index * rowBytes,
                                      capacity: columns, name: name)
        }
    }
}

/// A BPF object embedded in a generated skeleton: its name, and its bytes as base64 in the
/// binary's read-only data, decoded (without Foundation) each time they are asked for, so that
/// no copy is kept once the object is open (libbpf copies what it needs at open).
public struct BPFEmbeddedObject: Sendable {
    /// The object's name, as libbpf knows it.
    public let name: String
    /// The object's bytes in standard base64.
    public let base64: StaticString

    /// The object named `name` whose bytes are `base64`.
    public init(name: String, base64: StaticString) {
        self.name = name
        self.base64 = base64
    }

    /// The object's bytes, decoded.
    public var bytes: [UInt8] { Self.bytes(base64: base64) }

    /// Decodes standard base64 (padding and unknown characters are skipped).
    public static func bytes(base64 text: StaticString) -> [UInt8] {
        text.withUTF8Buffer { input in
            [UInt8](unsafeUninitializedCapacity: input.count / 4 * 3 + 3) { output, count in
                decodingTable.withUnsafeBufferPointer { table in
                    var accumulator: UInt32 = 0
                    var bits: UInt32 = 0
                    for character in input {
                        let value = table[Int(character)]
                        if value == 0xFF { continue }
                        accumulator = (accumulator << 6) | UInt32(value)
                        bits += 6
                        if bits >= 8 {
                            bits -= 8
                            output[count] = UInt8(truncatingIfNeeded: accumulator >> bits)
                            count += 1
                        }
                    }
                }
            }
        }
    }

    /// Each byte's value as a base64 digit, 0xFF for other bytes.
    private static let decodingTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()
}
