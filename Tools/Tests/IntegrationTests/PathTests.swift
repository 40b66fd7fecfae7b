import Foundation
import Testing

/// The records of a helper run under `opensnoop -j [arguments] -n NAME`.
private func trace(_ arguments: [String], helper: [String], shell: String? = nil) throws -> [[String: Any]] {
    let name = uniqueName("paths")
    let tracer = try TracerRun(["-j", "-n", name] + arguments)
    if let shell {
        _ = try runShell(shell.replacingOccurrences(of: "HELPER", with: "\(Binaries.helper) --name \(name)"))
    } else {
        try runHelper(["--name", name] + helper)
    }
    tracer.stop()
    return try tracer.records().filter { ($0["comm"] as? String) == name }
}

@Suite("Paths: pseudo files, deleted files, PATH_MAX, chroots and --path", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct PathTests {
    @Test("-F names pipes, namespaces and memfds as the kernel does, not '/'")
    func pseudoFiles() throws {
        let records = try trace(["-F"], helper: ["pipe", "x", "memfd", "hello", "openat", "/proc/self/ns/mnt"])
        let full = records.compactMap { $0["full_path"] as? String }
        #expect(full.count == 3, "\(records)")
        #expect(full.first { $0.hasPrefix("pipe:[") && $0.hasSuffix("]") } != nil, "\(full)")
        #expect(full.contains("/memfd:hello"), "\(full)")
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        #expect(full.contains(link), "\(full)")
        #expect(records.first { ($0["full_path"] as? String) == "/memfd:hello" }?["full_path_deleted"] as? Bool == true)
    }

    @Test("-F marks deleted files: O_TMPFILE, an unlinked file reopened, a removed working directory")
    func deletedFiles() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/gone", withIntermediateDirectories: true)
        let records = try trace(["-F"], helper: [], shell: "cd \(dir) && HELPER tmpfile \(dir) unlinked \(dir)/u "
                                + "&& cd gone && rmdir \(dir)/gone && HELPER openat x")
        let deleted = records.filter { $0["full_path_deleted"] as? Bool == true }.compactMap { $0["full_path"] as? String }
        #expect(deleted.contains { $0.hasPrefix(dir + "/#") }, "\(records)")
        #expect(deleted.contains(dir + "/u"), "\(deleted)")
        #expect(deleted.contains(dir + "/gone/x"), "\(deleted)")
        #expect(!records.contains { ($0["full_path"] as? String) == dir + "/u" && $0["full_path_deleted"] as? Bool == false
                                    && ($0["path"] as? String)?.hasPrefix("/proc") == true })
        let text = try TracerRun(["-F", "-n", "nothing"])
        text.stop()
    }

    @Test("-F with a bad directory fd keeps the name as passed")
    func badDirectoryFD() throws {
        let records = try trace(["-F"], helper: ["baddirfd", "relative-name"])
        let record = try #require(records.first)
        #expect(record["errno"] as? Int == 9)
        #expect(record["full_path"] as? String == "relative-name")
    }

    @Test("Names of 4095, 4096 and 4097 bytes: whole, whole, and cut with a mark, also with -F")
    func namesAtPathMax() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let records = try trace(["-F"], helper: ["long", "4095", dir, "long", "4096", dir, "long", "4097", dir])
        #expect(records.count == 3)
        let lengths = records.map { ($0["path"] as? String)?.utf8.count ?? -1 }
        #expect(lengths == [4095, 4096, 4096])
        #expect(records.map { $0["path_truncated"] as? Bool } == [false, false, true])
        #expect(records.map { $0["full_path_truncated"] as? Bool } == [false, false, true])
        #expect(records.map { $0["errno"] as? Int } == [2, 36, 36])
    }

    @Test("-F resolved paths of 4095, 4096 and 4097 bytes: the last is cut at its root end and marked")
    func resolvedPathsAtPathMax() throws {
        let dir = try makeScratchDirectory()
        defer { removeTree(dir) }
        // Directories of 200-byte names until the path is near 4096 bytes, then one sized to land
        // the file "f" at exactly the length wanted.
        var results: [(Int, [String: Any])] = []
        for target in [4095, 4096, 4097] {
            var length = dir.utf8.count
            var script = "cd \(dir) && mkdir -p t\(target) && cd t\(target)"
            length += 1 + "t\(target)".utf8.count
            while target - length - 2 > 255 + 1 {
                let component = String(repeating: "d", count: 200)
                script += " && mkdir -p \(component) && cd \(component)"
                length += 201
            }
            let last = target - length - 1 - 2   // "/" + last + "/f"
            let component = String(repeating: "e", count: last)
            script += " && mkdir -p \(component) && cd \(component) && touch f && HELPER openat f"
            let records = try trace(["-F"], helper: [], shell: script)
            let record = try #require(records.first { ($0["path"] as? String) == "f" })
            results.append((target, record))
        }
        for (target, record) in results {
            let full = try #require(record["full_path"] as? String)
            if target <= 4096 {
                #expect(full.utf8.count == target, "\(target)")
                #expect(full.hasPrefix(dir + "/t\(target)/"))
                #expect(record["full_path_truncated"] as? Bool == false, "\(target)")
            } else {
                #expect(full.utf8.count < target && full.hasSuffix("/f"), "\(target): \(full.utf8.count)")
                #expect(record["full_path_truncated"] as? Bool == true)
            }
        }
    }

    @Test("In a chroot: the path as the process sees it, the host path beside it, failed opens alike")
    func chroot() throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/etc/present", contents: nil)
        try TestPrograms.buildOpener(at: root + "/opener", bits: 64)
        let tracer = try TracerRun(["-j", "-F", "-n", "opener"])
        _ = try runShell("chroot \(root) /opener /etc")
        tracer.stop()
        let ours = try tracer.records().filter { ($0["comm"] as? String) == "opener" && ($0["path"] as? String)?.hasPrefix("/etc/") == true }
        #expect(ours.count == 6, "\(tracer.output)")
        for record in ours where record["source"] as? String != "open_by_handle_at" {
            let path = try #require(record["path"] as? String)
            #expect(record["full_path"] as? String == path)
            #expect(record["full_path_host"] as? String == root + path)
        }
        #expect(ours.contains { $0["errno"] as? Int == 2 && ($0["full_path_host"] as? String) == root + "/etc/missing" })
    }

    @Test("--path matches relative names, '..' and '//' by the resolved path, and takes raw bytes")
    func pathFilterResolves() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
        for file in ["etc/passwd", "etc/group", "etc/shells", "other/x"] {
            FileManager.default.createFile(atPath: "\(dir)/\(file)", contents: nil)
        }
        let tracer = try TracerRun(["-j", "--path", dir + "/etc/"])
        _ = try runShell("cd \(dir)/etc && \(Binaries.helper) openat passwd && cd \(dir)/other && "
                         + "\(Binaries.helper) openat ../etc/group openat x openat /\(dir)/etc/shells")
        tracer.stop()
        let seen = Set(try tracer.records().compactMap { $0["path"] as? String })
        #expect(seen == ["passwd", "../etc/group", "/\(dir)/etc/shells"], "\(seen)")
        // Non-UTF-8 bytes in --path and -n are matched as bytes.
        let (status, out, err) = try runShell("""
            \(Binaries.opensnoop) -j -d 3 -n $'x\\xffy' --path $'\(dir)/b\\xfe' & sleep 1.5
            cd \(dir) && \(Binaries.helper) --name $'x\\xffy' creat $'b\\xfe1' creat other/nope >/dev/null; wait
            """)
        #expect(status == 0, "\(err)")
        let records = try out.split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == 1, "\(out)")
        #expect(Data(base64Encoded: records.first?["path_base64"] as? String ?? "") == Data([0x62, 0xFE, 0x31]))
    }

    @Test("io_uring: a fixed-file open has a slot, not fd 0; flags are the caller's (no O_LARGEFILE)")
    func ioUringSlotsAndFlags() throws {
        let records = try trace([], helper: ["uring-fixed", "/etc/hostname", "uring", "/etc/hostname"])
        #expect(records.count == 2)
        let fixed = try #require(records.first)
        #expect(fixed["fd"] is NSNull)
        #expect(fixed["fixed_slot"] as? Int == 0)
        #expect(records.last?["fd"] as? Int ?? -1 >= 0)
        #expect(records.allSatisfy { ($0["flags_names"] as? [String])?.contains("O_LARGEFILE") == false })
        let filtered = try trace(["-f", "O_LARGEFILE"], helper: ["uring", "/etc/hostname"])
        #expect(filtered.isEmpty)
    }

    @Test("Unreadable names and io_uring opens failing at preparation are reported")
    func unreadableAndPrepFailures() throws {
        let records = try trace([], helper: ["badptr", "x", "uring-badptr", "x"])
        #expect(records.map { $0["source"] as? String } == ["openat", "io_uring"])
        #expect(records.allSatisfy { $0["errno"] as? Int == 14 && $0["path_unreadable"] as? Bool == true })
    }
}
