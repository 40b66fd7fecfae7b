internal import Glibc

/// Names cgroups by their v2 id (what the kernel records, `bpf_get_current_cgroup_id`): the path
/// below the cgroup2 mount and the container identity it shows. A cgroup's id is its directory's
/// inode number on cgroup2, and a kernfs file handle: the kernel opens it back
/// (`open_by_handle_at`, which needs CAP_DAC_READ_SEARCH) and `/proc/self/fd` names it. Answers
/// are cached (ids are never reused); a cgroup gone before it was asked about has no path.
/// Not thread-safe.
public final class CgroupResolver {
    /// What is known of one cgroup.
    public struct Entry: Sendable, Equatable {
        /// The exact bytes of the path below the cgroup2 mount, e.g. `/system.slice/ssh.service`
        /// (a delegated subtree's owner names its cgroups: any bytes but `/` and NUL).
        public let pathBytes: [UInt8]
        public let identity: ContainerIdentity

        /// `pathBytes` as text (bytes that are not UTF-8 become U+FFFD).
        public var path: String { String(decoding: pathBytes, as: UTF8.self) }

        /// The cgroup at `pathBytes`, its identity read from the path.
        public init(pathBytes: [UInt8]) {
            self.pathBytes = pathBytes
            self.identity = ContainerIdentity(cgroupPath: String(decoding: pathBytes, as: UTF8.self))
        }
    }

    /// Where cgroup2 is mounted.
    public let mountPoint: String
    private let mountFD: Int32
    private var cache: [UInt64: Entry?] = [:]
    /// At most this many cgroups are remembered (the oldest answers go first past it).
    public static let cacheLimit = 65536

    /// Opens the cgroup2 mount found in /proc/self/mountinfo; nil without one.
    public init?() {
        guard let mountPoint = Self.cgroup2MountPoint() else { return nil }
        let fd = open(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.mountPoint = mountPoint
        self.mountFD = fd
    }

    deinit { close(mountFD) }

    /// The cgroup2 mount point (the first in /proc/self/mountinfo).
    public static func cgroup2MountPoint() -> String? {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            // id parent major:minor root mountpoint options... - fstype source options
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2, halves[1].split(separator: " ").first == "cgroup2" else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count >= 5 { return unescapeMountField(fields[4]) }
        }
        return nil
    }

    /// mountinfo escapes space, tab, newline and backslash as \\ooo.
    static func unescapeMountField(_ field: Substring) -> String {
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let value = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(value)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The cgroup with v2 id `id`, or nil (no such cgroup now, or no permission).
    public func entry(for id: UInt64) -> Entry? {
        if let known = cache[id] { return known }
        let entry = resolve(id).map(Entry.init(pathBytes:))
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[id] = entry
        return entry
    }

    /// glibc's `open_by_handle_at`, which Swift's Glibc module does not export (it is a GNU
    /// extension): found by name once.
    private static let openByHandle: (@convention(c) (Int32, UnsafeMutableRawPointer, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "open_by_handle_at") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, UnsafeMutableRawPointer, Int32) -> Int32).self)
    }()

    /// FILEID_KERNFS: a handle holding the 64-bit kernfs node id.
    private static let kernfsHandleType: Int32 = 0xFE

    private func resolve(_ id: UInt64) -> [UInt8]? {
        let headerSize = MemoryLayout<UInt32>.size + MemoryLayout<Int32>.size
        var storage = [UInt8](repeating: 0, count: headerSize + 8)
        storage.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(8), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: Self.kernfsHandleType, toByteOffset: 4, as: Int32.self)
            raw.storeBytes(of: id, toByteOffset: headerSize, as: UInt64.self)
        }
        guard let openByHandle = Self.openByHandle else { return nil }
        let fd = storage.withUnsafeMutableBytes { raw in
            openByHandle(mountFD, raw.baseAddress!, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
        guard length > 0 else { return nil }
        let full = target[0..<length].map { UInt8(bitPattern: $0) }
        let mount = Array(mountPoint.utf8)
        guard mount != [UInt8(ascii: "/")], full.starts(with: mount) else { return full }
        let relative = Array(full.dropFirst(mount.count))
        return relative.isEmpty ? [UInt8(ascii: "/")] : relative
    }

    /// The cgroup directories (absolute paths) whose container id starts with `prefix`.
    public func directories(ofContainer prefix: String) -> [String] {
        var found: [String] = []
        var pending = [mountPoint]
        while let directory = pending.popLast() {
            guard let handle = opendir(directory) else { continue }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let path = directory + "/" + name
                let identity = ContainerIdentity(cgroupPath: "/" + name)
                if let id = identity.containerID, id.hasPrefix(prefix) {
                    found.append(path)  // its subtree belongs to it
                } else {
                    pending.append(path)
                }
            }
        }
        return found.sorted()
    }
}
