internal import CLibBPF
internal import Glibc

/// The one error type of BPFKit: what was being done, and why it failed.
///
/// `kind` separates "this kernel cannot do it" (`notSupported`) from "BPFKit cannot do it"
/// (`unimplemented`), from "you may not", from "the verifier said no" and from "it is broken",
/// so that callers can fall back or explain instead of failing blindly. Like cilium/ebpf's
/// `VerifierError`, a rejection keeps the whole verifier log and shows its last lines.
public struct BPFError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// The running kernel lacks the feature (program type, attach kind, helper, tracepoint, BTF).
        case notSupported
        /// BPFKit has no support for this (a map or program kind it does not model).
        case unimplemented
        /// Missing privileges (root, or CAP_BPF with CAP_PERFMON).
        case permissionDenied
        /// A named program, map, variable, file or key does not exist.
        case notFound
        /// The key exists already (an update with `.noExist`).
        case alreadyExists
        /// The caller passed something unusable (wrong size, wrong map type, bad value).
        case invalidArgument
        /// The verifier rejected a program: `verifierLog` holds its log, `details` its last lines.
        case verifierRejected
        /// Any other system error.
        case system
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// What was being attempted, e.g. `attach sys_exit_openat`.
    public let context: String
    /// The errno value, when the failure came from the system.
    public let errno: Int32?
    /// Extra text: the reason in words (a verifier log's last lines, a size mismatch, a hint).
    public let details: String?
    /// The verifier's whole log, for `.verifierRejected`.
    public let verifierLog: String?
    /// Whether `verifierLog` filled the buffer BPFKit gave it (1 MiB), so that its start is
    /// missing (the kernel keeps a long log's end, where the reason is, since Linux 6.4).
    public let verifierLogTruncated: Bool

    /// An error of `kind` while doing `context`.
    public init(_ kind: Kind, _ context: String, errno: Int32? = nil, details: String? = nil,
                verifierLog: String? = nil, verifierLogTruncated: Bool = false) {
        self.kind = kind
        self.context = context
        self.errno = errno
        self.details = details
        self.verifierLog = verifierLog
        self.verifierLogTruncated = verifierLogTruncated
    }

    /// An error from an errno value, classified by it.
    public static func system(_ context: String, errno code: Int32, details: String? = nil) -> BPFError {
        let kind: Kind
        switch code {
        case EPERM, EACCES: kind = .permissionDenied
        case ENOENT: kind = .notFound
        case EEXIST: kind = .alreadyExists
        case EOPNOTSUPP, ENOSYS, kernelENOTSUPP, libbpfErrorProgramType: kind = .notSupported
        case EINVAL, E2BIG, libbpfErrorFormat, libbpfErrorEndian: kind = .invalidArgument
        case libbpfErrorVerify: kind = .verifierRejected
        default: kind = .system
        }
        return BPFError(kind, context, errno: code, details: details)
    }

    /// Why it failed, without the context: the errno text and the details. A verifier rejection
    /// gives its details only (the kernel's EACCES says nothing the verifier's lines do not).
    public var reason: String {
        var parts: [String] = []
        if let errno, kind != .verifierRejected || details == nil { parts.append(errnoText(errno)) }
        if let details { parts.append(details) }
        return parts.joined(separator: ": ")
    }

    /// `context: reason`, one line per verifier-log line kept in `details`.
    public var description: String {
        let reason = reason
        return reason.isEmpty ? context : context + ": " + reason
    }
}

/// The kernel's internal ENOTSUPP (524), which BPF syscalls return to user space.
let kernelENOTSUPP: Int32 = 524

/// libbpf's own error codes (`enum libbpf_errno`, 4000 and up) that BPFKit classifies.
let libbpfErrorFormat: Int32 = 4001, libbpfErrorEndian: Int32 = 4003, libbpfErrorVerify: Int32 = 4007,
    libbpfErrorProgramType: Int32 = 4010

/// `strerror` text, with the kernel-internal codes BPF returns named too, and libbpf's own codes
/// (4000 and up: "Relocation failed", not "Unknown error 4005") in libbpf's words.
func errnoText(_ code: Int32) -> String {
    if code == kernelENOTSUPP { return "operation not supported by this kernel" }
    if code >= 4000 && code < 4100 {
        var buffer = [CChar](repeating: 0, count: 128)
        if libbpf_strerror(code, &buffer, buffer.count) == 0 {
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
    return String(cString: strerror(code))
}

/// Runs a libbpf call that returns `-errno` on failure (libbpf 1.0 convention) and a
/// non-negative value on success. Never retried: libbpf calls are not all idempotent.
@discardableResult
func libbpfCall(_ context: @autoclosure () -> String, _ call: () -> Int32) throws(BPFError) -> Int32 {
    let result = call()
    guard result < 0 else { return result }
    throw BPFError.system(context(), errno: -result)
}

/// Runs a libbpf call that returns a pointer, or NULL with `errno` set.
func libbpfPointer<T>(_ context: @autoclosure () -> String, _ call: () -> T?) throws(BPFError) -> T {
    errno = 0
    if let result = call() { return result }
    throw BPFError.system(context(), errno: errno != 0 ? errno : EINVAL)
}

/// Runs a POSIX call that returns -1 and sets `errno` on failure, retrying on EINTR only when
/// `retryOnInterrupt` says the call is idempotent (swift-system's `valueOrErrno` convention).
@discardableResult
func systemCall<T: FixedWidthInteger>(_ context: @autoclosure () -> String, retryOnInterrupt: Bool,
                                      _ call: () -> T) throws(BPFError) -> T {
    while true {
        let result = call()
        guard result == -1 else { return result }
        let code = errno
        if code == EINTR && retryOnInterrupt { continue }
        throw BPFError.system(context(), errno: code)
    }
}
