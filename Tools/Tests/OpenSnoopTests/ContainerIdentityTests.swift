import CgroupIdentity
import Testing

@Suite("Container identity from cgroup paths")
struct ContainerIdentityTests {
    let id = String(repeating: "0123456789abcdef", count: 4)
    let uid = "1a2b3c4d-5e6f-7a8b-9c0d-ef1234567890"

    @Test("Docker, containerd, CRI-O, Podman and nerdctl scopes, systemd and cgroupfs naming")
    func runtimes() {
        for path in ["/system.slice/docker-\(id).scope", "/docker/\(id)", "/machine.slice/libpod-\(id).scope",
                     "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(id).scope",
                     "/system.slice/nerdctl-\(id).scope", "/default/\(id)"] {
            #expect(ContainerIdentity(cgroupPath: path) == ContainerIdentity(containerID: id), "\(path)")
        }
    }

    @Test("Kubernetes pods: the pod UID with dashes, in both cgroup drivers' naming")
    func pods() {
        let systemd = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid.replacingDashes).slice/cri-containerd-\(id).scope"
        #expect(ContainerIdentity(cgroupPath: systemd) == ContainerIdentity(containerID: id, podUID: uid))
        let crio = "/kubepods.slice/kubepods-pod\(uid.replacingDashes).slice/crio-\(id).scope"
        #expect(ContainerIdentity(cgroupPath: crio) == ContainerIdentity(containerID: id, podUID: uid))
        let cgroupfs = "/kubepods/besteffort/pod\(uid)/\(id)"
        #expect(ContainerIdentity(cgroupPath: cgroupfs) == ContainerIdentity(containerID: id, podUID: uid))
        #expect(ContainerIdentity(cgroupPath: "/kubepods/pod\(uid)") == ContainerIdentity(podUID: uid))
    }

    @Test("Not containers: host services, conmon monitors, near misses")
    func notContainers() {
        for path in ["/", "/system.slice/ssh.service", "/user.slice/user-1000.slice/session-2.scope",
                     "/machine.slice/libpod-conmon-\(id).scope", "/kubepods.slice/crio-conmon-\(id).scope",
                     "/system.slice/docker-\(id.dropLast()).scope", "/system.slice/docker-\(id.uppercased()).scope",
                     "/kubepods/podnot-a-uid"] {
            #expect(ContainerIdentity(cgroupPath: path) == ContainerIdentity(), "\(path)")
        }
    }
}

extension String {
    fileprivate var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}
