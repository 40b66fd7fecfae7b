internal import CZlib
internal import DetachedThreads
internal import Glibc
internal import Synchronization

/// When and how an output file is rotated (`--rotate-size`, `--rotate-keep`, `--rotate-compress`).
public struct RotationPolicy: Sendable, Equatable {
    /// Rotate before the file would grow past this many bytes (whole lines only: a line longer
    /// than this gets a file of its own).
    public var maxBytes: Int
    /// Old files kept: `path.1` (newest) to `path.N`.
    public var keep: Int
    /// gzip old files (`path.1.gz` …).
    public var compress: Bool

    public init(maxBytes: Int, keep: Int, compress: Bool) {
        self.maxBytes = maxBytes
        self.keep = keep
        self.compress = compress
    }
}

/// Rotates an output file by number: the full file is moved aside at once (a rename, on the
/// writer's thread, so the next line goes to a new file), then in the background, one rotation
/// after another, the numbered files move up (`path.1` → `path.2` …, the oldest past `keep`
/// removed) and the moved file becomes `path.1` (gzip-compressed with `compress`).
final class LogRotator: @unchecked Sendable {
    let path: String
    let policy: RotationPolicy
    /// Rotations begun, and rotations whose background work is done (guarded by `state`).
    private let state = Mutex<(started: Int, finished: Int)>((0, 0))

    init(path: String, policy: RotationPolicy) {
        self.path = path
        self.policy = policy
    }

    /// Moves the current file aside and starts its numbering and compression in the background.
    func rotateAway() throws(OutputSink.OutputError) {
        let ticket = state.withLock { value -> Int in
            value.started += 1
            return value.started
        }
        let aside = "\(path).rotating-\(getpid())-\(ticket)"
        guard rename(path, aside) == 0 else { throw .failed(errno) }
        do {
            try DetachedThread.start { self.run(ticket: ticket, aside: aside) }
        } catch {
            run(ticket: ticket, aside: aside)  // no thread to be had: the work is done here, then
        }
    }

    /// Waits until every rotation's background work is done (before the process exits).
    func finish() {
        while state.withLock({ $0.finished < $0.started }) { usleep(10_000) }
    }

    /// Does one rotation's work, after the rotations begun before it.
    private func run(ticket: Int, aside: String) {
        while state.withLock({ $0.finished < ticket - 1 }) { usleep(10_000) }
        integrate(aside)
        state.withLock { $0.finished = ticket }
    }

    private func numbered(_ index: Int) -> [String] { ["\(path).\(index)", "\(path).\(index).gz"] }

    /// Makes the moved-aside file `path.1`: the others move up, the oldest go.
    private func integrate(_ aside: String) {
        removeNumbered(from: max(policy.keep, 1))
        guard policy.keep > 0 else {
            unlink(aside)
            return
        }
        if policy.keep > 1 {
            for index in stride(from: policy.keep - 1, through: 1, by: -1) {
                for (old, new) in zip(numbered(index), numbered(index + 1)) { rename(old, new) }
            }
        }
        if policy.compress, Self.gzip(aside, to: "\(path).1.gz") {
            unlink(aside)
        } else {
            rename(aside, "\(path).1")
        }
    }

    /// Removes `path.N` and `path.N.gz` for every N ≥ `first`: also those a run with a larger
    /// `--rotate-keep` left, so that lowering it frees the disk.
    private func removeNumbered(from first: Int) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let prefix = Array((slash.map { String(path[path.index(after: $0)...]) } ?? path).utf8) + [UInt8(ascii: ".")]
        guard let stream = opendir(directory) else { return }
        defer { closedir(stream) }
        var doomed: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard name.starts(with: prefix) else { continue }
            var number = name[prefix.count...]
            if number.reversed().starts(with: Array(".gz".utf8).reversed()) { number = number.dropLast(3) }
            guard !number.isEmpty, number.count < 10, number.allSatisfy({ (0x30...0x39).contains($0) }),
                  let index = Int(String(decoding: number, as: UTF8.self)), index >= first else { continue }
            doomed.append(directory + "/" + String(decoding: name, as: UTF8.self))
        }
        for name in doomed { unlink(name) }
    }

    /// Compresses `source` into `target` (written aside, then renamed); false on any error.
    static func gzip(_ source: String, to target: String) -> Bool {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return false }
        defer { close(input) }
        let temporary = target + ".tmp"
        let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0, let file = gzdopen(output, "wb6") else { return false }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var ok = true
        while ok {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                ok = count == 0
                break
            }
            ok = buffer.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32(count)) } == Int32(count)
        }
        ok = gzclose(file) == Z_OK && ok
        if ok { ok = rename(temporary, target) == 0 }
        if !ok { unlink(temporary) }
        return ok
    }
}
