import Getopt
import OpenSnoop

/// Parsers of option values; each throws a message saying what was expected.
enum ArgumentValue {
    /// A comma-separated list of process or thread ids (`-p 1,2`); each must be positive.
    static func ids(_ kind: String) -> (String) throws(InvalidValue) -> [Int32] {
        { (text: String) throws(InvalidValue) in
            try text.split(separator: ",", omittingEmptySubsequences: false).map { part throws(InvalidValue) in
                guard let id = Int32(part), id > 0 else {
                    throw InvalidValue("expected a positive \(kind) id (or a comma-separated list), got '\(part)'")
                }
                return id
            }
        }
    }

    /// A comma-separated list of user ids (`-u 0,1000`).
    static func uids(_ text: String) throws(InvalidValue) -> [UInt32] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { part throws(InvalidValue) in
            // (uid_t)-1 means "no user" to the kernel: not a user one can trace.
            guard let id = UInt32(part), id != UInt32.max else {
                throw InvalidValue("expected a user id from 0 to 4294967294, got '\(part)'")
            }
            return id
        }
    }

    /// A positive count (`--top 20`).
    static func count(_ text: String) throws(InvalidValue) -> Int {
        guard let value = Int(text), value > 0 else {
            throw InvalidValue("expected a positive whole number, got '\(text)'")
        }
        return value
    }

    /// A number of megabytes (`--rotate-size 100`), at most 10^6 (a terabyte).
    static func megabytes(_ text: String) throws(InvalidValue) -> Int {
        guard let value = Int(text), value > 0, value <= 1_000_000 else {
            throw InvalidValue("expected a whole number of megabytes from 1 to 1000000, got '\(text)'")
        }
        return value
    }

    /// A count that may be zero (`--rotate-keep 0`).
    static func countOrZero(_ text: String) throws(InvalidValue) -> Int {
        guard let value = Int(text), value >= 0, value <= 1000 else {
            throw InvalidValue("expected a whole number from 0 to 1000, got '\(text)'")
        }
        return value
    }

    /// `[ADDR]:PORT` (`:9473`, `127.0.0.1:9473`, `[::1]:9473`).
    static func listenAddress(_ text: String) throws(InvalidValue) -> ListenAddress {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw InvalidValue("expected [ADDR]:PORT with a port from 0 to 65535, e.g. :9473 or 127.0.0.1:9473, got '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return ListenAddress(host: host.isEmpty ? nil : host, port: port)
    }

    /// Summary keys (`--summary-by comm,path`).
    static func summaryKeys(_ text: String) throws(InvalidValue) -> SummaryKeys {
        guard let keys = SummaryKeys(parsing: text) else {
            throw InvalidValue("expected summary keys from comm, path, pid, errno, cgroup (comma-separated), got '\(text)'")
        }
        return keys
    }

    /// A positive integer (`-b 1024`).
    static func pages(_ text: String) throws(InvalidValue) -> Int {
        guard let value = Int(text), value > 0 else {
            throw InvalidValue("expected a power of two (e.g. 64, 1024, 2048), got '\(text)'")
        }
        return value
    }

    /// An `O_*` flag name (`-f O_WRONLY`, `-f wronly`).
    static func flag(_ text: String) throws(InvalidValue) -> OpenFlags.Named {
        guard let named = OpenFlags.named(text) else {
            throw InvalidValue("unknown open flag '\(text)': expected a name such as O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND")
        }
        return named
    }
}

extension ArgumentValue {
    /// `--attach-mode`: one of its modes' names.
    static func attachMode(_ text: String) throws(InvalidValue) -> TraceOptions.AttachMode {
        guard let mode = TraceOptions.AttachMode(rawValue: text) else {
            let names = TraceOptions.AttachMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw InvalidValue("expected one of \(names), got '\(text)'")
        }
        return mode
    }
}

/// Where `--metrics` listens.
struct ListenAddress: CustomStringConvertible {
    let host: String?
    let port: Int
    var description: String {
        guard let host else { return "*:\(port)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
