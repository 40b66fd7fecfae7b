public import OpenSnoop
public import TraceOutput

/// JSON Lines: one object per open, every field named and typed.
///
/// Strings: `comm`, `path` and `full_path` are the bytes as UTF-8 JSON strings. A name that is
/// not valid UTF-8 has each bad byte replaced by U+FFFD there, and its exact bytes are given in
/// base64 in `comm_base64` / `path_base64` / `full_path_base64` (present only then), so the
/// encoding is lossless. With `columns.cgroup`: `cgroup_id`, `cgroup` (the path below the cgroup2
/// mount, or null), and `container_id` / `pod_uid` where the path shows them. Lost events are
/// records too: `{"lost":N,"lost_total":M,...}`.
public struct JSONFormatter: EventFormatter {
    public let columns: OutputColumns
    private var clock: WallClock
    /// `errno_name` by errno (no entry where there is none).
    private static let errnoNames = QuotedNames((0..<ErrnoName.limit).map { ErrnoName.of($0) ?? "" })
    /// `,"pid":…,"tid":…,"uid":…,"comm":…`, kept while the thread repeats.
    private var identity = RepeatedRun()
    /// `,"flags":…` to `,"compat":…`, kept while the way of opening repeats.
    private var opening = RepeatedRun()
    /// `,"fd":…` to `,"errno_name":…`, kept while the result repeats.
    private var outcome = RepeatedRun()
    /// Names the cgroup fields (with `columns.cgroup`).
    private let cgroups: CgroupFields?
    /// The cgroup's column or fields, kept while the cgroup repeats.
    private var cgroupRun = RepeatedRun()

    /// `cgroups` names cgroups when `columns.cgroup` is set (by default, from the cgroup2 mount).
    public init(columns: OutputColumns, clock: WallClock = WallClock(), cgroups: CgroupFields? = nil) {
        self.columns = columns
        self.clock = clock
        self.cgroups = columns.cgroup ? cgroups ?? CgroupFields() : nil
    }

    public mutating func appendHeader(into out: inout OutputBuffer) {}

    // Each field is appended after its whole `,"key":` prefix, one copy.

    /// Appends `,"key":"bytes"` and, if they are not valid UTF-8, `,"key_base64":"..."`.
    private static func appendBytesField(_ key: StaticString, _ base64Key: StaticString, _ bytes: UnsafeRawBufferPointer,
                                         into out: inout OutputBuffer) {
        out.append(key)
        if !SafeText.appendJSONString(bytes, into: &out) {
            out.append(base64Key)
            SafeText.appendBase64(bytes, into: &out)
        }
    }

    private static func appendBool(_ key: StaticString, _ value: Bool, into out: inout OutputBuffer) {
        out.append(key)
        out.append(value ? "true" : "false")
    }

    private static func appendInt(_ key: StaticString, _ value: Int64, into out: inout OutputBuffer) {
        out.append(key)
        out.appendDecimal(value)
    }

    private static func appendUnsigned(_ key: StaticString, _ value: UInt64, into out: inout OutputBuffer) {
        out.append(key)
        out.appendUnsigned(value)
    }

    /// The names of sources and flags, rendered once (used when the `opening` run changes).
    private static let names = OpenNames()

    /// Quoted names of the fields that describe how a file was opened.
    private struct OpenNames {
        /// `source` by `OpenEvent.Source` raw value.
        let sources: QuotedNames = {
            var names = [String](repeating: "", count: Int(OpenEvent.Source.allCases.map(\.rawValue).max()!) + 1)
            for source in OpenEvent.Source.allCases { names[Int(source.rawValue)] = source.name }
            return QuotedNames(names)
        }()
        /// The first of `flags_names`, by access mode (0...3).
        let accessModes = QuotedNames((0...3).map { mode in
            OpenFlags.accessModeNames.first { $0.mode == mode }?.name ?? "O_ACCMODE"
        })
        /// The rest of `flags_names`, in `OpenFlags.bitNames` order.
        let bitNames = QuotedNames(OpenFlags.bitNames.map(\.name))
        let bits = OpenFlags.bitNames.map(\.bits)

        /// `flags_names`: the access mode, each named bit set, then unnamed bits as one octal
        /// number (`OpenFlags.names`, without making strings).
        func appendFlags(_ flags: UInt64, into out: inout OutputBuffer) {
            out.append(",\"flags_names\":[")
            accessModes.append(Int(flags & OpenFlags.accessModeMask), into: &out)
            var remaining = flags & ~OpenFlags.accessModeMask
            for index in bits.indices where remaining & bits[index] == bits[index] {
                out.append(UInt8(ascii: ","))
                bitNames.append(index, into: &out)
                remaining &= ~bits[index]
            }
            if remaining != 0 {
                out.append(",\"0")
                out.appendOctal(remaining, width: 1)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    public mutating func append(_ event: OpenEvent, into out: inout OutputBuffer) {
        out.appendJSONRecordStart(at: event.timestampNanoseconds, clock: &clock)
        let comm = event.commWords
        let who = RepeatedRun.Key(a: UInt64(UInt32(bitPattern: event.pid)) << 32 | UInt64(UInt32(bitPattern: event.tid)),
                                  b: UInt64(event.uid), c: comm.0, d: comm.1)
        identity.append(who, into: &out) { out in
            Self.appendInt(",\"pid\":", Int64(event.pid), into: &out)
            Self.appendInt(",\"tid\":", Int64(event.tid), into: &out)
            Self.appendInt(",\"uid\":", Int64(event.uid), into: &out)
            event.withCommBytes { Self.appendBytesField(",\"comm\":", ",\"comm_base64\":", $0, into: &out) }
        }
        let slot = event.fixedSlot
        let result = RepeatedRun.Key(a: UInt64(UInt32(bitPattern: event.result)), b: slot.map { UInt64($0) + 1 } ?? 0, c: 0, d: 0)
        outcome.append(result, into: &out) { out in
            if let slot {
                out.append(",\"fd\":null")
                Self.appendUnsigned(",\"fixed_slot\":", UInt64(slot), into: &out)
            } else {
                Self.appendInt(",\"fd\":", Int64(event.fileDescriptor), into: &out)
            }
            Self.appendInt(",\"ret\":", Int64(event.result), into: &out)
            let errorNumber = event.errorNumber
            Self.appendInt(",\"errno\":", Int64(errorNumber), into: &out)
            out.append(",\"errno_name\":")
            if errorNumber != 0 && Self.errnoNames.has(Int(errorNumber)) {
                Self.errnoNames.append(Int(errorNumber), into: &out)
            } else {
                out.append("null")
            }
        }
        let how = RepeatedRun.Key(a: event.flags.rawValue, b: UInt64(event.mode) << 32 | UInt64(UInt32(bitPattern: event.directoryFD)),
                                  c: UInt64(event.source.rawValue) | (event.isCompat ? 1 << 8 : 0), d: 0)
        opening.append(how, into: &out) { out in
            let names = Self.names
            Self.appendUnsigned(",\"flags\":", event.flags.rawValue, into: &out)
            names.appendFlags(event.flags.rawValue, into: &out)
            Self.appendInt(",\"mode\":", Int64(event.mode), into: &out)
            Self.appendInt(",\"dirfd\":", Int64(event.directoryFD), into: &out)
            out.append(",\"source\":")
            names.sources.append(Int(event.source.rawValue), into: &out)
            Self.appendBool(",\"compat\":", event.isCompat, into: &out)
        }
        if columns.latency {
            if let latency = event.latencyNanoseconds {
                Self.appendUnsigned(",\"latency_ns\":", latency, into: &out)
            } else {
                out.append(",\"latency_ns\":null")
            }
        }
        if columns.cgroup {
            // The reference to `cgroups` is taken (retained) only to render a new cgroup.
            let id = event.cgroupID, key = RepeatedRun.Key(a: id, b: 0, c: 0, d: 0)
            if !cgroupRun.appendKept(key, into: &out), let cgroups {
                cgroupRun.render(key, into: &out) { cgroups.appendJSON(id, into: &$0) }
            }
        }
        if event.source == .openByHandleAt, let resolved = event.fullPathBytes {
            Self.appendBytesField(",\"path\":", ",\"path_base64\":", resolved, into: &out)
        } else {
            Self.appendBytesField(",\"path\":", ",\"path_base64\":", event.pathBytes, into: &out)
        }
        switch (event.pathTruncated, event.pathUnreadable) {
        case (false, false): out.append(",\"path_truncated\":false,\"path_unreadable\":false")
        case (true, false): out.append(",\"path_truncated\":true,\"path_unreadable\":false")
        case (false, true): out.append(",\"path_truncated\":false,\"path_unreadable\":true")
        case (true, true): out.append(",\"path_truncated\":true,\"path_unreadable\":true")
        }
        if columns.fullPath { Self.appendFullPath(event, into: &out) }
        out.append("}\n")
    }

    /// `-F`'s fields (out of line, as the rarer: `append` stays small enough for the common
    /// fields' code to be inlined there).
    @inline(never)
    private static func appendFullPath(_ event: OpenEvent, into out: inout OutputBuffer) {
        if let full = event.fullPathBytes {
            Self.appendBytesField(",\"full_path\":", ",\"full_path_base64\":", full, into: &out)
            if event.isChrooted, let host = event.hostPathBytes {
                Self.appendBytesField(",\"full_path_host\":", ",\"full_path_host_base64\":", host, into: &out)
            }
        } else {
            out.append(",\"full_path\":null")
        }
        Self.appendBool(",\"full_path_truncated\":", event.fullPathBytes != nil && event.fullPathTruncated, into: &out)
        Self.appendBool(",\"full_path_deleted\":", event.fullPathBytes != nil && event.fullPathDeleted, into: &out)
    }

    public mutating func appendLost(_ count: UInt64, total: UInt64, into out: inout OutputBuffer) -> Bool {
        out.appendJSONLostRecord(count, total: total)
        return true
    }
}

/// Names rendered once as quoted JSON strings (they are plain ASCII), appended by index
/// with one copy and no string made per event.
struct QuotedNames {
    private let bytes: [UInt8]
    /// Where each name starts in `bytes`, and one more for the end of the last.
    private let starts: [Int]

    /// `names[i]` becomes entry `i`; an empty name is no entry (`has` is false).
    init(_ names: [String]) {
        var bytes: [UInt8] = [], starts = [0]
        for name in names {
            if !name.isEmpty { bytes += [UInt8(ascii: "\"")] + Array(name.utf8) + [UInt8(ascii: "\"")] }
            starts.append(bytes.count)
        }
        self.bytes = bytes
        self.starts = starts
    }

    /// Whether there is a name at `index`.
    func has(_ index: Int) -> Bool {
        index >= 0 && index + 1 < starts.count && starts[index + 1] > starts[index]
    }

    /// Appends the quoted name at `index` (which must be valid).
    func append(_ index: Int, into out: inout OutputBuffer) {
        bytes.withUnsafeBytes { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[starts[index]..<starts[index + 1]])) }
    }
}
