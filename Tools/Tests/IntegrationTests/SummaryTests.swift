import Foundation
import Testing

/// Runs `opensnoop -j --summary INTERVAL ARGS` while `work` runs; returns the JSON snapshots.
private func summaries(_ arguments: [String], interval: String = "0.3", work: () throws -> Void) throws -> [[String: Any]] {
    let tracer = try TracerRun(["-j", "--summary", interval] + arguments)
    try work()
    tracer.stop(settle: 0.5)
    #expect(tracer.errors.isEmpty, "\(tracer.errors)")
    return try tracer.records()
}

private func rows(_ snapshots: [[String: Any]]) -> [[String: Any]] {
    snapshots.flatMap { ($0["rows"] as? [[String: Any]]) ?? [] }
}

@Suite("Summaries and latency counted in the kernel", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct SummaryTests {
    @Test("Counts are exact: known files, known times, failures, several processes and threads, across snapshots")
    func exactCounts() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for file in ["a", "b"] { FileManager.default.createFile(atPath: "\(dir)/\(file)", contents: nil) }
        let name = uniqueName("sum")
        let snapshots = try summaries(["-n", name, "--path", dir + "/"]) {
            for _ in 0..<3 {
                try runHelper(["--name", name, "loop", "200", dir + "/a", "openat", dir + "/missing",
                               "threads", "4", dir + "/b"])
            }
        }
        #expect(snapshots.count >= 2, "several snapshots")
        var counts: [String: (Int, Int)] = [:]
        for row in rows(snapshots) {
            let path = try #require(row["path"] as? String)
            #expect(row["comm"] as? String == name)
            let (count, failed) = counts[path] ?? (0, 0)
            counts[path] = (count + (row["count"] as? Int ?? 0), failed + (row["failed"] as? Int ?? 0))
        }
        #expect(counts[dir + "/a"]! == (600, 0))
        #expect(counts[dir + "/b"]! == (12, 0))
        #expect(counts[dir + "/missing"]! == (3, 3))
        let missing = try #require(rows(snapshots).first { $0["path"] as? String == dir + "/missing" })
        #expect((missing["errnos"] as? [String: Int]) == ["ENOENT": 1] || (missing["errnos"] as? [String: Int])?["ENOENT"] ?? 0 >= 1)
        let totals = snapshots.compactMap { $0["opens"] as? Int }.reduce(0, +)
        #expect(totals == 615)
    }

    @Test("A full table counts the rest under (other), never drops them")
    func capacity() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = uniqueName("cap")
        let files = (0..<10).map { "\(dir)/f\($0)" }
        for file in files { FileManager.default.createFile(atPath: file, contents: nil) }
        let snapshots = try summaries(["-n", name, "--path", dir + "/", "--summary-capacity", "3"], interval: "5") {
            try runHelper(["--name", name] + files.flatMap { ["openat", $0] } + ["openat", dir + "/gone"])
        }
        let snapshot = try #require(snapshots.first { ($0["opens"] as? Int ?? 0) > 0 })
        #expect((snapshot["rows"] as? [Any])?.count == 3)
        let other = try #require(snapshot["other"] as? [String: Int])
        #expect(other["count"] == 8)
        #expect(snapshot["opens"] as? Int == 11)
        #expect(snapshot["failed"] as? Int == 1)
    }

    @Test("Summary keys: by errno, by pid, by command alone, by path (an unreadable name apart from an empty one)")
    func keys() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/x", contents: nil)
        let name = uniqueName("keys")
        let work = { try runHelper(["--name", name, "openat", dir + "/x", "openat", dir + "/nope", "openat", dir + "/nope"]) }
        let byErrno = rows(try summaries(["-n", name, "--summary-by", "errno"], work: { _ = try work() }))
        #expect(Set(byErrno.compactMap { row in (row["errno"] as? Int).map { "\($0):\(row["count"] as? Int ?? 0)" } })
                .isSuperset(of: ["2:2"]))
        #expect(byErrno.first { $0["errno"] as? Int == 0 }.map { $0["count"] as? Int ?? 0 } ?? 0 >= 1)
        let byPid = rows(try summaries(["-n", name, "--summary-by", "pid,comm"], work: { _ = try work() }))
        #expect(byPid.count == 1)
        #expect(byPid.first?["pid"] as? Int ?? 0 > 0)
        #expect(byPid.first?["path"] == nil)
        // An empty name and names that could not be read are rows apart.
        let byPath = rows(try summaries(["-n", name, "--summary-by", "path"], work: {
            try runHelper(["--name", name, "openat", "", "badptr", "x", "badptr", "x"])
        }))
        let empty = byPath.filter { $0["path"] as? String == "" }.map { "\($0["path_unreadable"] as? Bool ?? true):\($0["count"] as? Int ?? 0)" }
        #expect(Set(empty) == ["false:1", "true:2"], "\(byPath)")
    }

    @Test("-L gives every event its latency; --slower keeps only opens that took that long, decided in the kernel")
    func latencyAndSlower() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/fast", contents: nil)
        let name = uniqueName("lat")
        let timed = try TracerRun(["-j", "-L", "-n", name])
        try runHelper(["--name", name, "openat", dir + "/fast", "uring", dir + "/fast"])
        timed.stop()
        let latencies = try timed.records().filter { ($0["path"] as? String)?.hasPrefix(dir) == true }.map { $0["latency_ns"] as? Int ?? -1 }
        #expect(latencies.count == 2 && latencies.allSatisfy { $0 > 0 && $0 < 1_000_000_000 }, "\(latencies)")

        // A FIFO opened for reading blocks until a writer comes: a real slow open.
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let slow = try TracerRun(["-j", "--slower", "150", "--path", dir + "/"])
        _ = try runShell("(\(Binaries.helper) openat \(fifo) >/dev/null &) ; sleep 0.4; echo x > \(fifo); "
                         + "\(Binaries.helper) openat \(dir)/fast openat \(dir)/fast >/dev/null")
        slow.stop()
        let records = try slow.records()
        // The reader waited for the writer; the writer found a reader waiting and did not wait.
        #expect(records.filter { $0["path"] as? String == fifo }.map { $0["comm"] as? String } == ["opensnoop-testh"],
                "\(slow.output)")
        #expect(!records.contains { $0["path"] as? String == dir + "/fast" })
        #expect(records.allSatisfy { ($0["latency_ns"] as? Int ?? 0) >= 150_000_000 })
    }

    @Test("--summary --latency: per-row percentiles; by command alone, a log2 histogram per command")
    func latencySummary() throws {
        let name = uniqueName("dist")
        let snapshots = try summaries(["-n", name, "-L", "--path", "/etc/hostname"]) {
            try runHelper(["--name", name, "loop", "50", "/etc/hostname"])
        }
        let row = try #require(rows(snapshots).first)
        let latency = try #require(row["latency"] as? [String: Any])
        #expect((latency["log2_ns_buckets"] as? [Int])?.reduce(0, +) == row["count"] as? Int)
        let p50 = latency["p50_ns_at_most"] as? Int ?? 0, p99 = latency["p99_ns_at_most"] as? Int ?? 0
        #expect(p50 > 0 && p50 <= p99 && p99 <= latency["max_ns"] as? Int ?? 0)

        let text = try TracerRun(["--summary", "5", "-L", "--summary-by", "comm", "-n", name])
        try runHelper(["--name", name, "loop", "20", "/etc/hostname"])
        text.stop()
        #expect(text.output.contains("comm = \(name)\n"), "\(text.output)")
        #expect(text.output.contains("nsecs"))
        #expect(text.output.contains("|*"))
    }
}
