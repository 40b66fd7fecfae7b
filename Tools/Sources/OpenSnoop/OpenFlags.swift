/// Flags of an open (`O_*`, Linux values), with their names.
///
/// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) is a two-bit field, not a set of bits:
/// use `accessMode` to compare it.
public struct OpenFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let writeOnly = OpenFlags(rawValue: 0o1)
    public static let readWrite = OpenFlags(rawValue: 0o2)
    public static let create = OpenFlags(rawValue: 0o100)
    public static let exclusive = OpenFlags(rawValue: 0o200)
    public static let truncate = OpenFlags(rawValue: 0o1000)
    public static let append = OpenFlags(rawValue: 0o2000)
    public static let nonBlocking = OpenFlags(rawValue: 0o4000)
    public static let directory = OpenFlags(rawValue: 0o200000)
    public static let noFollow = OpenFlags(rawValue: 0o400000)
    public static let closeOnExec = OpenFlags(rawValue: 0o2000000)

    /// The two access-mode bits.
    public static let accessModeMask: UInt64 = 0o3

    /// The access mode: 0 `O_RDONLY`, 1 `O_WRONLY`, 2 `O_RDWR` (3 is Linux's special "no access").
    public var accessMode: UInt8 { UInt8(rawValue & Self.accessModeMask) }

    /// Every `O_*` name Linux defines (x86-64 values), with aliases. Access modes are listed
    /// separately because they are not bits.
    public static let accessModeNames: [(name: String, mode: UInt8)] = [
        ("O_RDONLY", 0), ("O_WRONLY", 1), ("O_RDWR", 2),
    ]

    /// Named flag bits, in the order they are printed. Multi-bit flags (`O_SYNC`, `O_TMPFILE`)
    /// come before the bits they contain so that a name is printed once.
    public static let bitNames: [(name: String, bits: UInt64)] = [
        ("O_CREAT", 0o100), ("O_EXCL", 0o200), ("O_NOCTTY", 0o400), ("O_TRUNC", 0o1000),
        ("O_APPEND", 0o2000), ("O_NONBLOCK", 0o4000), ("O_SYNC", 0o4010000), ("O_DSYNC", 0o10000),
        ("O_ASYNC", 0o20000), ("O_DIRECT", 0o40000), ("O_LARGEFILE", 0o100000),
        ("O_TMPFILE", 0o20200000), ("O_DIRECTORY", 0o200000), ("O_NOFOLLOW", 0o400000),
        ("O_NOATIME", 0o1000000), ("O_CLOEXEC", 0o2000000), ("O_PATH", 0o10000000),
    ]

    /// Other spellings accepted on input.
    public static let aliases: [String: String] = [
        "O_NDELAY": "O_NONBLOCK", "O_FSYNC": "O_SYNC", "O_RSYNC": "O_SYNC", "FASYNC": "O_ASYNC",
    ]

    /// What a flag name stands for: an access mode or a set of bits. Accepts names with or
    /// without the `O_` prefix, any case. Nil for an unknown name.
    public enum Named: Equatable, Sendable {
        case accessMode(UInt8)
        case bits(UInt64)
    }

    public static func named(_ text: String) -> Named? {
        var name = text.uppercased()
        if !name.hasPrefix("O_") && name != "FASYNC" { name = "O_" + name }
        name = aliases[name] ?? name
        if let mode = accessModeNames.first(where: { $0.name == name }) { return .accessMode(mode.mode) }
        if let flag = bitNames.first(where: { $0.name == name }) { return .bits(flag.bits) }
        return nil
    }

    /// The names of these flags: the access mode first, then each named bit set; bits without
    /// a name as one octal number.
    public var names: [String] {
        var result = [Self.accessModeNames.first { $0.mode == accessMode }?.name ?? "O_ACCMODE"]
        var remaining = rawValue & ~Self.accessModeMask
        for flag in Self.bitNames where remaining & flag.bits == flag.bits {
            result.append(flag.name)
            remaining &= ~flag.bits
        }
        if remaining != 0 { result.append("0" + String(remaining, radix: 8)) }
        return result
    }
}
