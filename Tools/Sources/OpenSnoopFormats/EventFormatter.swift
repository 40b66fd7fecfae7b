public import OpenSnoop
public import TraceOutput

/// Which optional columns or fields the output has.
public struct OutputColumns: Sendable, Equatable {
    /// `-T`: the time of the open.
    public var timestamp = false
    /// `-U`: the user id.
    public var uid = false
    /// `-e`: the open flags.
    public var flags = false
    /// `-F`: the resolved absolute path instead of the path as passed.
    public var fullPath = false
    /// The task's cgroup: its id, path, container id and pod UID in JSON; `--cgroup-column`'s
    /// `CGROUP` in text.
    public var cgroup = false
    /// `-L`: how long the open took (`LAT(us)`, JSON `latency_ns`).
    public var latency = false

    public init(timestamp: Bool = false, uid: Bool = false, flags: Bool = false, fullPath: Bool = false,
                cgroup: Bool = false, latency: Bool = false) {
        self.timestamp = timestamp
        self.uid = uid
        self.flags = flags
        self.fullPath = fullPath
        self.cgroup = cgroup
        self.latency = latency
    }
}

/// Renders events into bytes. Implementations allocate nothing per event.
public protocol EventFormatter {
    /// Appends the header line, if the format has one.
    mutating func appendHeader(into out: inout OutputBuffer)
    /// Appends one event as one line.
    mutating func append(_ event: OpenEvent, into out: inout OutputBuffer)
    /// Appends a lost-events record to the output stream, if the format carries them there;
    /// returns false when the notice belongs on standard error instead.
    mutating func appendLost(_ count: UInt64, total: UInt64, into out: inout OutputBuffer) -> Bool
}

/// The bytes a formatter last rendered for some fields, appended again while those fields
/// repeat (one process opening file after file): a compare and a copy instead of number
/// formatting and escaping. The last two renderings are kept, so that two alternating values
/// (an open that succeeds, then one that fails; two processes taking turns) repeat too.
///
/// Measured (callgrind, 100,000 opens of one process, every 8th failing, 41-byte paths): without
/// these caches the reader took 682 instead of 481 instructions an event in text, 3,561 instead
/// of 941 in JSON Lines.
struct RepeatedRun {
    /// What the rendered bytes depend on: every input of the `render` closure.
    struct Key: Equatable {
        var a: UInt64, b: UInt64, c: UInt64, d: UInt64
    }

    private var key: Key? = nil
    private var bytes: [UInt8] = []
    /// The rendering before the last.
    private var previousKey: Key? = nil
    private var previousBytes: [UInt8] = []

    /// Appends the bytes for `key`: kept ones if it is one of the last two keys seen,
    /// otherwise those `render` appends, which are kept.
    @inline(__always)
    mutating func append(_ key: Key, into out: inout OutputBuffer, render: (inout OutputBuffer) -> Void) {
        if !appendKept(key, into: &out) { self.render(key, into: &out, with: render) }
    }

    /// After `appendKept` returned false for `key`: appends the bytes `render` appends and keeps
    /// them for `key`, in place of the older of the two renderings.
    @inline(__always)
    mutating func render(_ key: Key, into out: inout OutputBuffer, with render: (inout OutputBuffer) -> Void) {
        let start = out.count
        render(&out)
        bytes.removeAll(keepingCapacity: true)  // no allocation once it has held the longest
        out.withUnsafeBytes { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[start...])) }
        self.key = key
    }

    /// Appends the kept bytes for `key` if it is one of the last two keys seen (then returns
    /// true); otherwise appends nothing (then call `render(_:into:with:)`).
    @inline(__always)
    mutating func appendKept(_ key: Key, into out: inout OutputBuffer) -> Bool {
        if key != self.key {
            swap(&self.key, &previousKey)
            swap(&bytes, &previousBytes)
            if key != self.key { return false }
        }
        bytes.withUnsafeBytes { out.append(contentsOf: $0) }
        return true
    }
}

extension OpenEvent {
    /// The command name's 16 bytes as two words (part of a `RepeatedRun.Key`).
    var commWords: (UInt64, UInt64) {
        let raw = commField
        return (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }
}
