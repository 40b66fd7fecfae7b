public import CgroupIdentity
import TraceOutput

/// The cgroup fields of events: each cgroup v2 id the kernel recorded, named by a
/// `CgroupResolver` (its path, container id and pod UID). The event formatters keep what they
/// rendered for the last ids (`RepeatedRun`), so a run of events from one cgroup costs a compare
/// and a copy. A cgroup that is gone by the time its first event is read (or that cannot be
/// opened) has no name: `"cgroup":null`, `-` in text.
public final class CgroupFields {
    private let names: (UInt64) -> CgroupResolver.Entry?

    /// The width of the text column (`CGROUP`), a space included.
    public static let textWidth = 25

    /// Names cgroups with `resolver`; nil (no cgroup2 mount) leaves every cgroup unnamed.
    public convenience init(resolver: CgroupResolver? = CgroupResolver()) {
        self.init { id in resolver?.entry(for: id) }
    }

    /// Names cgroups with `names` (nil: unnamed).
    public init(names: @escaping (UInt64) -> CgroupResolver.Entry?) {
        self.names = names
    }

    /// `,"cgroup_id":N,"cgroup":"PATH"` (or `null`), then `,"container_id":"ID"` and
    /// `,"pod_uid":"UID"` when the path shows them.
    func appendJSON(_ id: UInt64, into out: inout OutputBuffer) {
        out.append(",\"cgroup_id\":")
        out.appendUnsigned(id)
        guard let found = names(id) else {
            out.append(",\"cgroup\":null")
            return
        }
        found.pathBytes.withUnsafeBytes { out.appendJSONField("cgroup", bytes: $0) }
        if let container = found.identity.containerID {
            out.append(",\"container_id\":\"")
            out.append(container)
            out.append(UInt8(ascii: "\""))
        }
        if let pod = found.identity.podUID {
            out.append(",\"pod_uid\":\"")
            out.append(pod)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// The `CGROUP` column's header cell (`textWidth` wide).
    static func appendTextHeader(into out: inout OutputBuffer) {
        let start = out.count
        out.append("CGROUP")
        out.pad(from: start, toWidth: textWidth)
    }

    /// The `CGROUP` cell, left-aligned in `textWidth`: a container's short id (12 digits, as
    /// `docker ps` shows it), else the cgroup's path, its end kept (`...` before it) when it
    /// is too long; `-` for an unnamed cgroup.
    func appendText(_ id: UInt64, into out: inout OutputBuffer) {
        let start = out.count
        if let found = names(id) {
            if let container = found.identity.containerID {
                out.append(String(container.prefix(12)))
            } else {
                Self.appendTail(found.pathBytes, width: Self.textWidth - 1, into: &out)
            }
        } else {
            out.append(UInt8(ascii: "-"))
        }
        out.pad(from: start, toWidth: Self.textWidth)
    }

    /// Appends `path` escaped for a terminal; if that is wider than `width`, `...` and the
    /// escaped form of the longest end of the path that fits (cut before a character, never
    /// inside one or inside an escape such as `\x1b`). Rendered once per cgroup.
    static func appendTail(_ path: [UInt8], width: Int, into out: inout OutputBuffer) {
        func escaped(_ bytes: ArraySlice<UInt8>) -> OutputBuffer {
            var text = OutputBuffer(capacity: bytes.count * 4 + 16)
            bytes.withUnsafeBytes { SafeText.appendTerminalSafe($0, into: &text) }
            return text
        }
        let whole = escaped(path[...])
        guard whole.count > width else {
            whole.withUnsafeBytes { out.append(contentsOf: $0) }
            return
        }
        out.append("...")
        for start in path.indices where path[start] & 0xC0 != 0x80 {
            let tail = escaped(path[start...])
            if tail.count <= width - 3 {
                tail.withUnsafeBytes { out.append(contentsOf: $0) }
                return
            }
        }
    }
}
