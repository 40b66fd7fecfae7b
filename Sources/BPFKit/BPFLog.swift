internal import CLibBPF

/// Where libbpf's own messages go. By default libbpf is silent; tools turn it on for `--verbose`.
public enum BPFLog {
    public enum Level: Int32, Sendable {
        case silent = -1
        case warnings = 0
        case info = 1
        case debug = 2
    }

    /// Sends libbpf's messages up to `level` to standard error. Call before opening objects.
    public static func setLevel(_ level: Level) {
        clibbpf_set_log_level(level.rawValue)
    }
}
