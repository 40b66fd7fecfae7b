internal import Glibc

/// Tells a supervisor that tracing has started, by systemd's notification protocol: when
/// `NOTIFY_SOCKET` names a datagram socket (a path, or `@name` in the abstract namespace),
/// `READY=1` is sent to it (a `Type=notify` unit then counts the service as up). Nothing
/// happens without it. The variable is taken out of the environment at `claim()`, so that a
/// command the tracer starts does not answer in its name.
public enum Readiness {
    /// Set once by `claim()` on the main thread, before any other thread exists.
    nonisolated(unsafe) private static var socketPath: [UInt8]? = nil

    /// Takes `NOTIFY_SOCKET` out of the environment; call first thing.
    public static func claim() {
        guard let value = getenv("NOTIFY_SOCKET") else { return }
        socketPath = Array(String(cString: value).utf8)
        unsetenv("NOTIFY_SOCKET")
    }

    /// Puts the claimed variable back, for a program this process is about to become (`exec`).
    public static func restoreForExec() {
        guard let path = socketPath else { return }
        setenv("NOTIFY_SOCKET", String(decoding: path, as: UTF8.self), 1)
    }

    /// Sends `READY=1` to the claimed socket, if any.
    public static func notifyReady() {
        guard var path = socketPath else { return }
        guard !path.isEmpty, path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let message = Array("READY=1".utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
    }
}
