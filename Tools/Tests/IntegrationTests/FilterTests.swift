import Foundation
import Testing

/// Paths of the records that fall under `dir`.
private func paths(_ tracer: TracerRun, under dir: String) throws -> Set<String> {
    Set(try tracer.records().compactMap { $0["path"] as? String }.filter { $0.hasPrefix(dir) })
}

/// A scratch directory with the named empty files.
private func directory(with files: [String]) throws -> String {
    let dir = try makeScratchDirectory()
    for file in files { FileManager.default.createFile(atPath: "\(dir)/\(file)", contents: nil) }
    return dir
}

@Suite("Filters run in the kernel: what must show shows, what must not does not", .serialized,
       .tags(.kernel), .enabled(if: isRoot, "loading BPF programs needs root"))
struct FilterTests {
    @Test("-p traces every thread of the given processes and nothing else")
    func pid() throws {
        let dir = try directory(with: ["a", "b", "c"])
        let traced = try WaitingHelper(["openat", dir + "/a", "threads", "2", dir + "/c"])
        let other = try WaitingHelper(["openat", dir + "/b"])
        let tracer = try TracerRun(["-j", "-p", "\(traced.pid),999999"])
        traced.go()
        other.go()
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/a", dir + "/c"])
        #expect(try tracer.records().filter { ($0["path"] as? String) == dir + "/c" }.count == 2)
    }

    @Test("-t traces one thread only")
    func tid() throws {
        let dir = try directory(with: ["main", "thread"])
        let helper = try WaitingHelper(["openat", dir + "/main", "threads", "2", dir + "/thread"])
        let tracer = try TracerRun(["-j", "-t", String(helper.pid)])
        helper.go()
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/main"])
    }

    @Test("-u traces one user only")
    func uid() throws {
        let dir = try directory(with: ["nobody", "root"])
        chmod(dir, 0o755)
        let tracer = try TracerRun(["-j", "-u", "65534"])
        try runHelper(["openat", dir + "/nobody"], as: "65534")
        try runHelper(["openat", dir + "/root"])
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/nobody"])
        #expect(try tracer.records().first { ($0["path"] as? String)?.hasPrefix(dir) == true }?["uid"] as? Int == 65534)
    }

    @Test("-x shows failed opens only, io_uring included")
    func failedOnly() throws {
        let dir = try directory(with: ["here"])
        let name = uniqueName("failed")
        let tracer = try TracerRun(["-j", "-x", "-n", name])
        try runHelper(["--name", name, "openat", dir + "/here", "openat", dir + "/gone",
                       "uring", dir + "/here", "uring", dir + "/gone-uring"])
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/gone", dir + "/gone-uring"], "\(tracer.output)")
    }

    @Test("-n matches a part of the command name")
    func name() throws {
        let dir = try directory(with: ["x"])
        let name = uniqueName("match")
        let tracer = try TracerRun(["-j", "-n", String(name.dropFirst(2).prefix(8))])
        try runHelper(["--name", name, "openat", dir + "/x"])
        try runHelper(["--name", uniqueName("other"), "openat", dir + "/x"])
        tracer.stop()
        let records = try tracer.records().filter { ($0["path"] as? String) == dir + "/x" }
        #expect(records.map { $0["comm"] as? String } == [name])
    }

    @Test("-f compares the access mode as a mode (O_RDONLY matches) and flags as bits",
          arguments: [(["O_RDONLY"], ["ro"]), (["O_WRONLY", "O_RDWR"], ["wo", "rwc"]), (["O_CREAT"], ["rwc"]),
                      (["rdonly", "O_CREAT"], ["ro", "rwc"])])
    func flags(filter: [String], expected: [String]) throws {
        let dir = try directory(with: ["ro", "wo"])
        let name = uniqueName("flags")
        let tracer = try TracerRun(["-j", "-n", name] + filter.flatMap { ["-f", $0] })
        try runHelper(["--name", name, "flags", dir + "/ro", "0", "flags", dir + "/wo", "1",
                       "flags", dir + "/rwc", "102"])
        tracer.stop()
        #expect(try paths(tracer, under: dir) == Set(expected.map { dir + "/" + $0 }))
    }

    @Test("--path keeps paths with one of the prefixes")
    func pathPrefix() throws {
        let dir = try directory(with: ["keep1", "keep2", "drop"])
        let tracer = try TracerRun(["-j", "--path", dir + "/keep1", "--path", dir + "/keep2"])
        try runHelper(["openat", dir + "/keep1", "openat", dir + "/drop", "openat", dir + "/keep2"])
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/keep1", dir + "/keep2"])
    }

    @Test("--cgroup traces tasks in a cgroup v2 directory and below; --cgroupmap takes a pinned id map")
    func cgroup() throws {
        let dir = try directory(with: ["in", "out"])
        let cgroup = try cgroup2Mount() + "/opensnoop-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: cgroup + "/child", withIntermediateDirectories: true)
        defer {
            rmdir(cgroup + "/child")
            rmdir(cgroup)
        }
        for arguments in [["--cgroup", cgroup], ["--cgroupmap", "pinned"]] {
            var arguments = arguments
            var pinned: String? = nil
            if arguments[1] == "pinned" {
                pinned = pinPath("cgroups")
                let id = try #require(try FileManager.default.attributesOfItem(atPath: cgroup + "/child")[.systemFileNumber] as? UInt64)
                try bpftool(["map", "create", pinned!, "type", "hash", "key", "8", "value", "8", "entries", "8", "name", "ostest_cg"])
                try bpftool(["map", "update", "pinned", pinned!, "key"] + bytes(id) + ["value"] + bytes(1))
                arguments[1] = pinned!
            }
            defer { if let pinned { unlink(pinned) } }
            let inside = try WaitingHelper(["openat", dir + "/in"])
            try "\(inside.pid)\n".write(toFile: cgroup + "/child/cgroup.procs", atomically: false, encoding: .utf8)
            let outside = try WaitingHelper(["openat", dir + "/out"])
            let tracer = try TracerRun(["-j"] + arguments)
            inside.go()
            outside.go()
            tracer.stop()
            #expect(try paths(tracer, under: dir) == [dir + "/in"], "\(arguments)")
        }
    }

    @Test("--mntnsmap traces the mount namespaces in a pinned map")
    func mountNamespace() throws {
        let dir = try directory(with: ["same", "other"])
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        let id = try #require(UInt64(link.dropFirst("mnt:[".count).dropLast()))
        let pinned = pinPath("mount-namespaces")
        try bpftool(["map", "create", pinned, "type", "hash", "key", "8", "value", "8", "entries", "8", "name", "ostest_ns"])
        defer { unlink(pinned) }
        try bpftool(["map", "update", "pinned", pinned, "key"] + bytes(id) + ["value"] + bytes(1))
        let tracer = try TracerRun(["-j", "--mntnsmap", pinned])
        try runHelper(["openat", dir + "/same"])
        _ = try runShell("unshare -m \(Binaries.helper) openat \(dir)/other")
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/same"])
    }

    @Test("Filters combine with AND across kinds")
    func combined() throws {
        let dir = try directory(with: ["yes", "no"])
        let name = uniqueName("and")
        let tracer = try TracerRun(["-j", "-n", name, "-x", "--path", dir + "/"])
        try runHelper(["--name", name, "openat", dir + "/yes", "openat", dir + "/missing", "openat", "/nonexistent"])
        try runHelper(["openat", dir + "/missing2"])
        tracer.stop()
        #expect(try paths(tracer, under: dir) == [dir + "/missing"])
    }
}

/// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems).
private func cgroup2Mount() throws -> String {
    let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
    let line = try #require(mounts.split(separator: "\n").first { $0.split(separator: " ")[2] == "cgroup2" })
    return String(line.split(separator: " ")[1])
}

/// Little-endian bytes of `value` as bpftool arguments.
private func bytes(_ value: UInt64) -> [String] {
    (0..<8).map { String((value >> (8 * UInt64($0))) & 0xFF) }
}

private func bpftool(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
    process.arguments = arguments
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "bpftool \(arguments)")
}
