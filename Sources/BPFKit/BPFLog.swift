internal import CLibBPF
internal import Glibc
internal import Synchronization

/// Where libbpf's own messages go. libbpf is silent from process start (BPFKit installs its
/// print callback before `main`); a tool routes the messages to a Swift handler when asked,
/// e.g. for `--verbose`: `BPFLog.printToStandardError(upTo: .info)` prints each as
/// `libbpf: MESSAGE`. Handlers get the message without libbpf's own `libbpf: ` prefix.
/// Safe to call from any thread.
public enum BPFLog {
    /// How much libbpf says.
    public enum Level: Int32, Sendable, Comparable {
        case warning = 0
        case info = 1
        case debug = 2

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// Receives one message (its trailing newline and libbpf's `libbpf: ` prefix removed).
    /// Called on whichever thread libbpf runs on, while libbpf holds no lock of ours.
    public typealias Handler = @Sendable (Level, String) -> Void

    private static let current = Mutex<Handler?>(nil)

    /// What libbpf puts before most of its messages (not before a verifier log's lines).
    private static let libbpfPrefix = "libbpf: "

    /// Sends libbpf's messages up to `level` to `handler`.
    public static func route(upTo level: Level, to handler: @escaping Handler) {
        current.withLock { $0 = handler }
        clibbpf_set_log_handler({ level, message in
            guard let message, let handler = BPFLog.current.withLock({ $0 }) else { return }
            var text = Substring(String(cString: message))
            if text.hasSuffix("\n") { text.removeLast() }
            if text.hasPrefix(BPFLog.libbpfPrefix) { text = text.dropFirst(BPFLog.libbpfPrefix.count) }
            handler(Level(rawValue: level) ?? .debug, String(text))
        }, level.rawValue)
    }

    /// Sends libbpf's messages up to `level` to standard error, prefixed with `prefix`.
    public static func printToStandardError(upTo level: Level, prefix: String = "libbpf: ") {
        route(upTo: level) { _, message in
            let line = prefix + message + "\n"
            _ = line.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
        }
    }

    /// The version of the libbpf this process runs, as libbpf reports it: `MAJOR.MINOR` (no
    /// patch level), e.g. `1.7`. The system's shared libbpf, or the one a build linked in
    /// statically (opensnoop's release build does); for a tool's verbose output.
    public static var libbpfVersion: String {
        "\(libbpf_major_version()).\(libbpf_minor_version())"
    }

    /// Silences libbpf again (the state at process start).
    public static func silence() {
        clibbpf_set_log_handler(nil, -1)
        current.withLock { $0 = nil }
    }
}
