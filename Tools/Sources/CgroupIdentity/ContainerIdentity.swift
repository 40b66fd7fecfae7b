/// Who a cgroup belongs to, read from its path as the container runtimes name them:
/// Docker (`docker-ID.scope`, `/docker/ID`), containerd (`cri-containerd-ID.scope`,
/// `/kubepods/.../ID`, nerdctl's `nerdctl-ID.scope`), CRI-O (`crio-ID.scope`) and Podman
/// (`libpod-ID.scope`), with Kubernetes pods (`pod<UID>` in cgroupfs naming,
/// `kubepods-…-pod<UID with _>.slice` in systemd naming).
public struct ContainerIdentity: Sendable, Equatable {
    /// The container's id (64 hex digits), nil when the cgroup is no container's.
    public var containerID: String?
    /// The Kubernetes pod's UID (dashed), nil outside a pod.
    public var podUID: String?

    public init(containerID: String? = nil, podUID: String? = nil) {
        self.containerID = containerID
        self.podUID = podUID
    }

    /// Runtime prefixes of container scopes. Conmon's scopes (`crio-conmon-`, `libpod-conmon-`)
    /// are the monitor's, not the container's, and are not matched.
    private static let scopePrefixes = ["docker-", "cri-containerd-", "crio-", "libpod-", "nerdctl-", "containerd-"]

    /// The identity a cgroup path (as `/proc/PID/cgroup` shows it) reveals.
    public init(cgroupPath: String) {
        var container: String? = nil
        var pod: String? = nil
        for component in cgroupPath.split(separator: "/") {
            if let id = Self.containerID(in: component) { container = id }
            if let uid = Self.podUID(in: component) { pod = uid }
        }
        self.init(containerID: container, podUID: pod)
    }

    private static func isContainerID(_ text: Substring) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    private static func containerID(in component: Substring) -> String? {
        if isContainerID(component) { return String(component) }
        guard component.hasSuffix(".scope") else { return nil }
        let scope = component.dropLast(".scope".count)
        for prefix in scopePrefixes where scope.hasPrefix(prefix) {
            let id = scope.dropFirst(prefix.count)
            if isContainerID(id) { return String(id) }
        }
        return nil
    }

    private static func podUID(in component: Substring) -> String? {
        // systemd: kubepods-besteffort-pod1a2b_3c4d.slice; cgroupfs: pod1a2b-3c4d
        if component.hasSuffix(".slice") {
            guard let last = component.dropLast(".slice".count).split(separator: "-").last,
                  last.hasPrefix("pod") else { return nil }
            let uid = String(last.dropFirst(3).map { $0 == "_" ? "-" : $0 })
            return isUUID(Substring(uid)) ? uid : nil
        }
        guard component.hasPrefix("pod") else { return nil }
        let uid = component.dropFirst(3)
        return isUUID(uid) ? String(uid) : nil
    }

    /// 8-4-4-4-12 hex digits.
    private static func isUUID(_ text: Substring) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.utf8.count) == [8, 4, 4, 4, 12] else { return false }
        return groups.allSatisfy { $0.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) } }
    }
}
