internal import Glibc

/// The one error type of BPFKit: what was being done, and why it failed.
///
/// `kind` separates "this kernel cannot do it" from "you may not" from "it is broken", so that
/// callers can fall back or explain instead of failing blindly.
public struct BPFError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The kernel lacks the feature (program type, helper, tracepoint, BTF).
        case notSupported
        /// Missing privileges (root, or CAP_BPF with CAP_PERFMON).
        case permissionDenied
        /// A named program, map, variable or file does not exist.
        case notFound
        /// The caller passed something unusable (wrong size, bad value).
        case invalidArgument
        /// The verifier rejected a program; `details` holds its log when libbpf kept it.
        case verifierRejected
        /// Any other system error.
        case system
    }

    public let kind: Kind
    /// What was being attempted, e.g. `attach sys_exit_openat`.
    public let context: String
    /// The errno value, when the failure came from the system.
    public let errno: Int32?
    /// Extra text (a verifier log's last lines, a hint).
    public let details: String?

    public init(_ kind: Kind, _ context: String, errno: Int32? = nil, details: String? = nil) {
        self.kind = kind
        self.context = context
        self.errno = errno
        self.details = details
    }

    /// An error from an errno value, classified by it.
    public static func system(_ context: String, errno code: Int32) -> BPFError {
        let kind: Kind
        switch code {
        case EPERM, EACCES: kind = .permissionDenied
        case ENOENT: kind = .notFound
        case EOPNOTSUPP, ENOTSUP, ENOSYS: kind = .notSupported
        case EINVAL: kind = .invalidArgument
        default: kind = .system
        }
        return BPFError(kind, context, errno: code)
    }

    public var description: String {
        var text = context
        if let errno { text += ": " + String(cString: strerror(errno)) }
        if let details { text += " (\(details))" }
        return text
    }
}

/// Runs a libbpf or system call returning a negative value on failure (either `-errno` or
/// `-1` with `errno` set), retrying on EINTR, and throws a `BPFError` with `context`.
@discardableResult
func check(_ context: @autoclosure () -> String, _ call: () -> Int32) throws -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = result == -1 && errno != 0 ? errno : -result
        if code == EINTR { continue }
        throw BPFError.system(context(), errno: code)
    }
}
