import Foundation
import Testing

@Suite("Every way of opening a file is traced", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct OpenCoverageTests {
    @Test("open, openat, openat2, creat and io_uring show with the right fd or errno",
          arguments: ["raw", "tracepoints"])
    func everyOpenKind(attachMode: String) throws {
        let dir = try makeScratchDirectory()
        let file = dir + "/present"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let name = uniqueName("kinds")
        let tracer = try TracerRun(["-j", "-n", name, "--attach-mode", attachMode])
        let results = try runHelper(["--name", name, "open", file, "openat", file, "openat2", file,
                                     "creat", dir + "/created", "uring", file, "uring2", file,
                                     "uring", dir + "/missing", "openat", dir + "/missing",
                                     "openat2", dir + "/missing"])
        #expect(tracer.stop() == 0)
        let records = try tracer.records()
        let expectedSources = ["open", "openat", "openat2", "creat", "io_uring", "io_uring", "io_uring", "openat", "openat2"]
        #expect(results.count == expectedSources.count)
        // Only the helper's own opens after its start-up: those under the scratch directory.
        let ours = records.filter { ($0["path"] as? String)?.hasPrefix(dir) == true }
        #expect(ours.count == results.count, "trace: \(tracer.output)")
        for (index, (result, source)) in zip(results, expectedSources).enumerated() where index < ours.count {
            let record = ours[index]
            let value = Int(result.split(separator: " ")[1])!
            #expect(record["source"] as? String == source, "\(result)")
            #expect(record["comm"] as? String == name)
            if value >= 0 {
                #expect(record["fd"] as? Int == value, "\(result)")
                #expect(record["errno"] as? Int == 0)
            } else {
                #expect(record["fd"] as? Int == -1, "\(result)")
                #expect(record["errno"] as? Int == -value, "\(result)")
                #expect(record["errno_name"] as? String == "ENOENT")
            }
        }
        #expect(ours.map { $0["path"] as? String } == [file, file, file, dir + "/created", file, file,
                                                        dir + "/missing", dir + "/missing", dir + "/missing"])
    }

    @Test("A storm of 500 short-lived children: every open, each with the child's COMM (shared and per-CPU rings)",
          arguments: [[], ["--per-cpu-rings"]])
    func forkStorm(rings: [String]) throws {
        let dir = try makeScratchDirectory()
        for k in 0..<500 { FileManager.default.createFile(atPath: "\(dir)/storm-\(k)", contents: nil) }
        let tracer = try TracerRun(["-j", "--path", dir + "/"] + rings)
        let results = try runHelper(["storm", "500", dir])
        #expect(results == ["storm 500"])
        #expect(tracer.stop() == 0)
        let records = try tracer.records()
        var seen = Set<String>()
        for record in records {
            let path = try #require(record["path"] as? String)
            let k = path.split(separator: "-").last.map(String.init) ?? ""
            #expect(record["comm"] as? String == "storm-\(k)")
            #expect(record["fd"] as? Int ?? -1 >= 0)
            seen.insert(path)
        }
        #expect(seen.count == 500)
        #expect(records.count == 500)
        #expect(!tracer.errors.contains("lost"))
    }

    @Test("Threads are reported with their own TID under the process's PID")
    func threads() throws {
        let dir = try makeScratchDirectory()
        let file = dir + "/t"
        FileManager.default.createFile(atPath: file, contents: nil)
        let name = uniqueName("thr")
        let helper = try WaitingHelper(["--name", name, "threads", "4", file])
        let tracer = try TracerRun(["-j", "-p", String(helper.pid)])
        helper.go()
        #expect(tracer.stop() == 0)
        let records = try tracer.records().filter { $0["path"] as? String == file }
        #expect(records.count == 4)
        #expect(Set(records.compactMap { $0["pid"] as? Int }) == [Int(helper.pid)])
        #expect(Set(records.compactMap { $0["tid"] as? Int }).count == 4)
    }
}
