import CgroupIdentity
import Foundation
import Testing

/// A TCP port nobody listens on now (the kernel picks it).
private func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            guard bind(fd, $0, length) == 0, getsockname(fd, $0, &length) == 0 else { throw POSIXError(.EADDRINUSE) }
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// GETs `url`; (status, body).
private func get(_ url: String) throws -> (Int, String) {
    let (_, out, _) = try runToCompletion("/usr/bin/curl", ["-s", "-m", "5", "-w", "\n%{http_code}", url])
    let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
    return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
}

@Suite("On every node: metrics a real Prometheus scrapes, rotated files, deploy files", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct FleetTests {
    @Test("Prometheus, started here, scrapes opens_total equal to what a named command did")
    func prometheusScrapes() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/present", contents: nil)
        let name = uniqueName("prom")
        let tracer = try TracerRun(["--metrics", "127.0.0.1:0", "--no-events", "-n", name])
        defer { tracer.stop() }
        #expect(waitUntil(seconds: 5) { tracer.errors.contains("/metrics\n") })
        let metricsPort = try #require(tracer.errors.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) },
                                       "\(tracer.errors)")
        #expect(try get("http://127.0.0.1:\(metricsPort)/healthz").0 == 200)

        let prometheusPort = try freePort()
        try """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: opensnoop
                static_configs:
                  - targets: ["127.0.0.1:\(metricsPort)"]
            """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data",
                                "--web.listen-address=127.0.0.1:\(prometheusPort)"]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle.nullDevice
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }

        try runHelper(["--name", name, "loop", "37", dir + "/present", "openat", dir + "/missing", "openat", dir + "/missing"])
        func query(_ expression: String) throws -> Int? {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let (status, body) = try get("http://127.0.0.1:\(prometheusPort)/api/v1/query?query=\(encoded)")
            guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                  let value = result.first?["value"] as? [Any], let text = value.last as? String else { return nil }
            return Int(Double(text) ?? -1)
        }
        let ok = "opensnoop_opens_total{comm=\"\(name)\",result=\"ok\"}"
        let failed = "opensnoop_opens_total{comm=\"\(name)\",result=\"ENOENT\"}"
        // The helper's own start-up opens also count: compare with what the kernel saw via a second count.
        #expect(waitUntil(seconds: 30) { ((try? query(failed)) ?? nil) == 2 + startupFailures(name) }, "ENOENT")
        let seenOK = try query(ok) ?? 0
        #expect(seenOK >= 37 && seenOK == 37 + startupSuccesses(name), "ok: \(seenOK)")
        #expect(try query("opensnoop_events_lost_total") == 0)
        #expect(try query("up{job=\"opensnoop\"}") == 1)
        #expect(try query("opensnoop_ring_buffer_size_bytes") ?? 0 > 0)

        // The exposition itself: types right, and what promtool's linter accepts.
        let (status, body) = try get("http://127.0.0.1:\(metricsPort)/metrics")
        #expect(status == 200)
        for line in ["# TYPE opensnoop_opens_total counter", "# TYPE opensnoop_events_lost_total counter",
                     "# TYPE opensnoop_opens_filtered_total counter", "# TYPE opensnoop_opens_overflow_total counter",
                     "# TYPE process_cpu_seconds_total counter",
                     "# TYPE process_resident_memory_bytes gauge", "# TYPE opensnoop_ring_buffer_used_bytes gauge"] {
            #expect(body.contains(line + "\n"), "\(line)")
        }
        let exposition = dir + "/metrics.txt"
        try (body + "\n").write(toFile: exposition, atomically: true, encoding: .utf8)
        let (lint, lintOut, lintErr) = try runToCompletion("/bin/sh", ["-c", "promtool check metrics < \(exposition)"])
        #expect(lint == 0, "\(lintOut)\(lintErr)")
        let (_, headCode, _) = try runToCompletion("/usr/bin/curl", ["-s", "-I", "-o", "/dev/null", "-w", "%{http_code}",
                                                                    "http://127.0.0.1:\(metricsPort)/metrics"])
        #expect(headCode == "200")
        #expect(try get("http://127.0.0.1:\(metricsPort)/nothing").0 == 404)
    }

    @Test("Connections to the metrics port cannot use up its descriptors: past 64 at once they are closed, a silent one after 10 s; tracing goes on")
    func metricsConnectionLimits() throws {
        // 128 descriptors: without the limit, 128 idle connections ended the run (EMFILE).
        let tracer = try TracerRun(["--nofile=128", Binaries.opensnoop, "--metrics", "127.0.0.1:0", "--no-events",
                                    "-n", uniqueName("conns")], executable: "/usr/bin/prlimit")
        defer { tracer.stop() }
        #expect(waitUntil(seconds: 5) { tracer.errors.contains("/metrics\n") })
        let port = try #require(tracer.errors.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) },
                                "\(tracer.errors)")
        let (status, out, err) = try runToCompletion("/usr/bin/python3", ["-c", """
            import socket, time, urllib.request
            held = [socket.create_connection(("127.0.0.1", \(port))) for _ in range(200)]
            time.sleep(1)
            closed = 0
            for s in held:
                s.settimeout(0.05)
                try:
                    closed += s.recv(1) == b""
                except socket.timeout:
                    pass
            for s in held: s.close()
            time.sleep(0.5)
            health = urllib.request.urlopen("http://127.0.0.1:\(port)/healthz", timeout=5).status
            silent = socket.create_connection(("127.0.0.1", \(port)))
            silent.settimeout(15)
            began = time.time()
            silent.recv(1)
            print(closed, health, round(time.time() - began))
            """])
        #expect(status == 0, "\(err)")
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "136 200 10", "closed at once, /healthz, seconds a silent one lived: \(out)")
        #expect(tracer.process.isRunning, "\(tracer.errors)")
    }

    @Test("--metrics :0 listens on IPv6 and IPv4 and says on which port; a port in use is one plain line, exit 1")
    func metricsAddress() throws {
        let tracer = try TracerRun(["--metrics", ":0", "--no-events", "-n", uniqueName("any")])
        #expect(waitUntil(seconds: 5) { tracer.errors.contains("\n") })
        let line = tracer.errors.split(separator: "\n").first.map(String.init) ?? ""
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }, "\(tracer.errors)")
        #expect(line.hasPrefix("opensnoop: serving metrics on http://[::]:"), "\(line)")
        #expect(try get("http://127.0.0.1:\(port)/healthz").0 == 200)
        #expect(try get("http://[::1]:\(port)/healthz").0 == 200)
        let (status, out, err) = try runToCompletion(Binaries.opensnoop + "-agent", ["--metrics", "127.0.0.1:\(port)", "--no-events"])
        defer { tracer.stop() }
        #expect(status == 1 && out.isEmpty)
        #expect(err == "opensnoop: --metrics: cannot listen on 127.0.0.1:\(port): Address already in use\n", "\(err)")
        let six = try runToCompletion(Binaries.opensnoop + "-agent", ["--metrics", "[::1]:\(port)", "--no-events"])
        #expect(six.2 == "opensnoop: --metrics: cannot listen on [::1]:\(port): Address already in use\n", "\(six.2)")
    }

    @Test("Rotation under load loses nothing silently and splits no line; old files are gzipped, mode 0600")
    func rotation() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = uniqueName("rot")
        let file = dir + "/events.jsonl"
        let tracer = try TracerRun(["-j", "-o", file, "--rotate-size", "1", "--rotate-keep", "50", "--rotate-compress", "-n", name])
        try runHelper(["--name", name, "loop", "12000", "/etc/hostname"])
        #expect(tracer.stop(settle: 1) == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("events.jsonl") }
        #expect(names.contains("events.jsonl.1.gz"), "\(names)")
        #expect(!names.contains { $0.contains("rotating") || $0.hasSuffix(".tmp") }, "\(names)")
        // Each open is in the files or counted by a lost record (a reader starved of CPU falls
        // behind the ring: then the kernel counts what it drops, and the output says so).
        var events = 0, lost = 0
        for entry in names {
            let path = dir + "/" + entry
            let (_, text, _) = entry.hasSuffix(".gz") ? try runToCompletion("/bin/gzip", ["-dc", path])
                                                      : try runToCompletion("/bin/cat", [path])
            for line in text.split(separator: "\n") {
                let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(entry)")
                if record["path"] as? String == "/etc/hostname" { events += 1 }
                lost += record["lost"] as? Int ?? 0
            }
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(entry)")
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            if !entry.hasSuffix(".gz") { #expect(size <= 1_000_000, "\(entry): \(size)") }
        }
        #expect(events <= 12000 && events + lost >= 12000, "\(events) events, \(lost) lost")
    }

    @Test("In text, every file that rotation starts begins with the header line")
    func rotationHeaders() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = uniqueName("roth")
        let file = dir + "/events.log"
        let tracer = try TracerRun(["-o", file, "--rotate-size", "1", "--rotate-keep", "5", "-n", name])
        // Lines of 46 bytes, 3.7 MB in all; in steps the ring holds whole (nothing lost, however
        // slow the reader), each written out before the next.
        func written() -> Int {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.filter { $0.hasPrefix("events.log") }.reduce(0) { total, entry in
                total + ((try? FileManager.default.attributesOfItem(atPath: dir + "/" + entry)[.size] as? Int) ?? 0)
            }
        }
        for step in 1...8 {
            try runHelper(["--name", name, "loop", "10000", "/etc/hostname"])
            #expect(waitUntil(seconds: 20) { written() >= step * 10000 * 46 }, "step \(step): \(written()) bytes")
        }
        #expect(tracer.stop(settle: 0.3) == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("events.log") }.sorted()
        #expect(names.count >= 2, "\(names): \((try? FileManager.default.attributesOfItem(atPath: file)[.size]) ?? 0) bytes")
        for entry in names {
            let lines = try String(contentsOfFile: dir + "/" + entry, encoding: .utf8).split(separator: "\n")
            #expect(lines.first == "PID    COMM              FD ERR PATH", "\(entry): \(lines.first ?? "")")
            #expect(lines.dropFirst().allSatisfy { $0.hasSuffix(" /etc/hostname") }, "\(entry)")
        }
    }

    @Test("--rotate-keep N leaves N old files, also when an earlier run kept more")
    func rotationPrunes() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/ev.log"
        for index in 1...5 { FileManager.default.createFile(atPath: "\(file).\(index)", contents: Data("old\(index)\n".utf8)) }
        FileManager.default.createFile(atPath: file + ".7.gz", contents: Data())
        FileManager.default.createFile(atPath: file + ".x", contents: Data())  // not ours: stays
        let name = uniqueName("prune")
        let tracer = try TracerRun(["-j", "-o", file, "--rotate-size", "1", "--rotate-keep", "2", "-n", name])
        try runHelper(["--name", name, "loop", "8000", "/etc/hostname"])  // more than 2 MB: rotates twice
        #expect(tracer.stop(settle: 1) == 0)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        #expect(names == ["ev.log", "ev.log.1", "ev.log.2", "ev.log.x"], "\(names)")
    }

    @Test("The deploy files lint: the systemd unit, the Prometheus config, the DaemonSet's YAML")
    func deployFiles() throws {
        // Tools/Tests/Programs → the repository's root.
        let deploy = TestPrograms.sources.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy").path
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // systemd-analyze checks that ExecStart exists: point it at the binary under test.
        let unit = try String(contentsOfFile: deploy + "/opensnoop.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/opensnoop-agent", with: Binaries.opensnoop + "-agent")
        try unit.write(toFile: dir + "/opensnoop.service", atomically: true, encoding: .utf8)
        let (status, out, err) = try runToCompletion("/usr/bin/systemd-analyze", ["verify", dir + "/opensnoop.service"])
        #expect(status == 0 && out.isEmpty && err.isEmpty, "\(out)\(err)")
        let (promStatus, _, promErr) = try runToCompletion("/usr/bin/promtool", ["check", "config", deploy + "/prometheus.yml"])
        #expect(promStatus == 0, "\(promErr)")
        let (yamlStatus, yamlOut, yamlErr) = try runToCompletion("/usr/bin/python3", ["-c", """
            import sys, yaml
            d = yaml.safe_load(open(sys.argv[1]))
            c = d["spec"]["template"]["spec"]["containers"][0]
            assert d["kind"] == "DaemonSet" and d["spec"]["template"]["spec"]["hostPID"]
            assert set(c["securityContext"]["capabilities"]["add"]) == {"BPF", "PERFMON", "DAC_READ_SEARCH"}
            k = yaml.safe_load(open(sys.argv[2]))
            assert k["scrape_configs"][0]["kubernetes_sd_configs"][0]["role"] == "pod"
            print(" ".join(c["args"]))
            """, deploy + "/daemonset.yaml", deploy + "/prometheus-kubernetes.yml"])
        #expect(yamlStatus == 0, "\(yamlErr)")
        // The arguments the unit and the DaemonSet give opensnoop are ones it takes.
        let arguments = yamlOut.split(separator: " ").map(String.init).filter { !$0.isEmpty }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let (help, _, helpErr) = try runToCompletion(Binaries.opensnoop, arguments.map { $0 == ":9473" ? "127.0.0.1:0" : $0 }
            .map { $0 == "/var/log/opensnoop/opens.jsonl" ? dir + "/x.jsonl" : $0 } + ["-n", "nobody-here", "-d", "0.5"])
        #expect(help == 0, "\(helpErr)")
    }
}

/// Opens the helper makes while starting (its dynamic loader's), counted the way opensnoop sees
/// them: measured by tracing a run of it that opens nothing itself.
private func startupFailures(_ name: String) -> Int { startupOpens(name).failed }
private func startupSuccesses(_ name: String) -> Int { startupOpens(name).ok }

nonisolated(unsafe) private var measuredStartup: (ok: Int, failed: Int)? = nil

private func startupOpens(_ name: String) -> (ok: Int, failed: Int) {
    if let measuredStartup { return measuredStartup }
    let probe = uniqueName("probe")
    guard let tracer = try? TracerRun(["-j", "-n", probe]) else { return (0, 0) }
    _ = try? runHelper(["--name", probe, "sleep", "1"])
    tracer.stop()
    let records = (try? tracer.records()) ?? []
    let result = (records.filter { ($0["fd"] as? Int ?? -1) >= 0 }.count, records.filter { ($0["fd"] as? Int ?? 0) < 0 }.count)
    measuredStartup = result
    return result
}

/// A container runtime's way of naming cgroups, for a container `id` in pod `uid`.
struct CgroupScheme: Sendable, CustomTestStringConvertible {
    let runtime: String
    /// The cgroup's path below the test's own top-level cgroup.
    let path: @Sendable (_ id: String, _ uid: String) -> String
    let inPod: Bool
    var testDescription: String { runtime }

    static let all: [CgroupScheme] = [
        .init(runtime: "containerd (systemd driver)", path: { id, uid in
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uid.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(id).scope"
        }, inPod: true),
        .init(runtime: "CRI-O (systemd driver)", path: { id, uid in
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid.replacingOccurrences(of: "-", with: "_")).slice/crio-\(id).scope"
        }, inPod: true),
        .init(runtime: "Kubernetes (cgroupfs driver)", path: { id, uid in "/kubepods/besteffort/pod\(uid)/\(id)" }, inPod: true),
        .init(runtime: "Docker (systemd driver)", path: { id, _ in "/system.slice/docker-\(id).scope" }, inPod: false),
        .init(runtime: "Docker (cgroupfs driver)", path: { id, _ in "/docker/\(id)" }, inPod: false),
        .init(runtime: "Podman", path: { id, _ in "/machine.slice/libpod-\(id).scope" }, inPod: false),
    ]
}

@Suite("Container identity on the real kernel", .serialized, .tags(.kernel), .enabled(if: isRoot, "needs root"))
struct ContainerIdentityKernelTests {
    @Test("A process moved into a container's cgroup: its opens carry the cgroup path, container id and pod UID (JSON and --cgroup-column); --container traces it alone",
          arguments: CgroupScheme.all)
    func namedContainer(_ scheme: CgroupScheme) throws {
        let mount = try #require(CgroupResolver.cgroup2MountPoint())
        let id = String((UUID().uuidString + UUID().uuidString).lowercased().filter(\.isHexDigit).prefix(64))
        let uid = UUID().uuidString.lowercased()
        let top = "/opensnoop-test-\(getpid())"
        let relative = top + scheme.path(id, uid)
        let cgroup = mount + relative
        try FileManager.default.createDirectory(atPath: cgroup, withIntermediateDirectories: true)
        defer {
            // Bottom up: a cgroup is removed with rmdir once it has no children and no tasks.
            var level = relative
            while level.count >= top.count {
                rmdir(mount + level)
                level = String(level[..<(level.lastIndex(of: "/") ?? level.startIndex)])
            }
        }
        let cgroupID = try #require(try FileManager.default.attributesOfItem(atPath: cgroup)[.systemFileNumber] as? UInt64)
        let resolver = try #require(CgroupResolver())
        let entry = try #require(resolver.entry(for: cgroupID))
        #expect(entry.path == relative)
        #expect(entry.identity == ContainerIdentity(containerID: id, podUID: scheme.inPod ? uid : nil))
        #expect(resolver.entry(for: 0xFFFF_FFFF_FFFF) == nil)
        #expect(resolver.directories(ofContainer: String(id.prefix(12))) == [cgroup])

        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/in", contents: nil)
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        let inside = try WaitingHelper(["openat", dir + "/in"])
        try "\(inside.pid)\n".write(toFile: cgroup + "/cgroup.procs", atomically: false, encoding: .utf8)
        let outside = try WaitingHelper(["openat", dir + "/out"])
        let json = try TracerRun(["-j", "--path", dir])
        let text = try TracerRun(["--cgroup-column", "--path", dir])
        let filtered = try TracerRun(["-j", "--container", String(id.prefix(12))])
        inside.go()
        outside.go()
        json.stop()
        text.stop()
        filtered.stop()

        // JSON: the container's fields on its open only.
        let records = try json.records()
        let opened = try #require(records.first { $0["path"] as? String == dir + "/in" })
        #expect(opened["cgroup_id"] as? UInt64 == cgroupID)
        #expect(opened["cgroup"] as? String == relative)
        #expect(opened["container_id"] as? String == id)
        #expect(opened["pod_uid"] as? String == (scheme.inPod ? uid : nil))
        let own = try #require(records.first { $0["path"] as? String == dir + "/out" })
        let ownPath = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        #expect(own["cgroup"] as? String == ownPath)
        #expect(own["container_id"] == nil && own["pod_uid"] == nil)

        // Text: CGROUP before PATH, aligned with the header; the short id for the container.
        let lines = text.output.split(separator: "\n").map(String.init)
        let header = try #require(lines.first)
        #expect(header.hasPrefix("PID    COMM              FD ERR CGROUP                   PATH"))
        let pathColumn = try #require(header.range(of: "PATH")).lowerBound.utf16Offset(in: header)
        let inLine = try #require(lines.first { $0.hasSuffix(dir + "/in") })
        let cells = inLine.split(separator: " ", omittingEmptySubsequences: true)
        #expect(cells.count == 6 && cells[4] == id.prefix(12))
        #expect(inLine.utf16.count - (dir + "/in").utf16.count == pathColumn)
        let outLine = try #require(lines.first { $0.hasSuffix(dir + "/out") })
        #expect(!outLine.contains(String(id.prefix(12))))
        #expect(outLine.utf16.count - (dir + "/out").utf16.count == pathColumn)

        // --container ID: its opens, nothing else.
        let paths = Set(try filtered.records().compactMap { $0["path"] as? String }.filter { $0.hasPrefix(dir) })
        #expect(paths == [dir + "/in"])
    }

    @Test("--container with no such container is a one-line error")
    func unknownContainer() throws {
        let (status, _, err) = try runToCompletion(Binaries.opensnoop, ["--container", "deadbeefdeadbeef"])
        #expect(status == 2)
        #expect(err == "opensnoop: --container deadbeefdeadbeef: no container cgroup has such an id\n")
    }
}
