public import BPFKit

/// Why tracing could not start or go on, phrased for the user.
public enum OpenSnoopError: Error, CustomStringConvertible {
    /// The user asked for something impossible (bad value, missing directory): exit code 2.
    case invalidArgument(String)
    /// The system cannot trace: no privileges, no BTF, a kernel too old.
    case unsupported(String)
    /// A BPF operation failed.
    case bpf(BPFError)
    /// A ring-buffer record of this many bytes did not decode: the BPF program and this
    /// library disagree on the event layout.
    case malformedRecord(size: Int)

    public var description: String {
        switch self {
        case .invalidArgument(let message), .unsupported(let message): message
        case .bpf(let error): error.description
        case .malformedRecord(let size):
            "a record of \(size) bytes could not be decoded: the BPF program and opensnoop disagree on the event layout"
        }
    }
}
