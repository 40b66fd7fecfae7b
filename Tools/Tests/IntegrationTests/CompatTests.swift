import Foundation
import Testing

/// Whether this kernel runs 32-bit x86 programs.
private let hasIA32 = FileManager.default.fileExists(atPath: "/proc/sys/abi/vsyscall32")

@Suite("Every open, whoever makes it: 32-bit programs and open_by_handle_at", .serialized, .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct CompatTests {
    /// Builds the opener (32- or 64-bit) in a scratch directory with a `present` file; returns
    /// the directory and the program's path.
    private func opener(bits: Int) throws -> (dir: String, program: String) {
        let dir = try makeScratchDirectory()
        FileManager.default.createFile(atPath: dir + "/present", contents: nil)
        let program = dir + "/opener\(bits)"
        try TestPrograms.buildOpener(at: program, bits: bits)
        return (dir, program)
    }

    @Test("A 32-bit program's opens show once each, with the right fd or errno, in raw mode (fexit: the kernel matrix)",
          .enabled(if: hasIA32, "this kernel runs no 32-bit programs"),
          arguments: [["-j"], ["-j", "-F"], ["-j", "-x"]])
    func compatOpens(arguments: [String]) throws {
        let (dir, program) = try opener(bits: 32)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tracer = try TracerRun(arguments + ["--path", dir + "/", "--attach-mode", "raw"])
        let results = try runHelperLike(program, [dir])
        tracer.stop()
        let records = try tracer.records()
        let expected = arguments.contains("-x") ? results.filter { $0.1 < 0 } : results
        #expect(records.count == expected.count, "\(tracer.output)")
        for (record, (syscall, result)) in zip(records, expected) {
            #expect(record["source"] as? String == syscall)
            #expect(record["compat"] as? Bool == true)
            #expect(record["fd"] as? Int == (result >= 0 ? result : -1))
            #expect(record["errno"] as? Int == (result >= 0 ? 0 : -result))
            if arguments.contains("-F") {
                #expect((record["full_path"] as? String)?.hasPrefix(dir + "/") == true, "\(record)")
            }
        }
        #expect(records.first { $0["source"] as? String == "open_by_handle_at" }?["path"] as? String
                == (arguments.contains("-x") ? nil : dir + "/present"))
    }

    @Test("32-bit opens are filtered in the kernel like others, and --no-compat leaves them out",
          .enabled(if: hasIA32, "this kernel runs no 32-bit programs"))
    func compatFilters() throws {
        let (dir, program) = try opener(bits: 32)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let filtered = try TracerRun(["-j", "--path", dir + "/", "-n", "no-such-command", "--attach-mode", "raw"])
        _ = try runHelperLike(program, [dir])
        filtered.stop()
        #expect(try filtered.records().isEmpty)
        let off = try TracerRun(["-j", "--path", dir + "/", "--no-compat", "--attach-mode", "raw", "-v"])
        _ = try runHelperLike(program, [dir])
        off.stop()
        #expect(try off.records().isEmpty)
        #expect(off.errors.contains("attach mode raw, 32-bit opens not traced (--no-compat)"), "\(off.errors)")
    }

    @Test("The default mode: fexit traces 32-bit opens; else tracepoints, which -v says leaves them to --attach-mode raw",
          .enabled(if: hasIA32, "this kernel runs no 32-bit programs"))
    func compatInDefaultMode() throws {
        let (dir, program) = try opener(bits: 32)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tracer = try TracerRun(["-j", "--path", dir + "/", "-v"])
        let results = try runHelperLike(program, [dir])
        tracer.stop()
        let records = try tracer.records()
        if tracer.errors.contains("attach mode fexit, 32-bit opens traced") {
            #expect(records.count == results.count, "\(tracer.output)")
            #expect(records.allSatisfy { $0["compat"] as? Bool == true })
        } else {
            #expect(tracer.errors.contains(
                "attach mode tracepoints, 32-bit opens not traced (--attach-mode raw traces them)"),
                "\(tracer.errors)")
            #expect(records.isEmpty, "\(tracer.output)")
        }
    }

    @Test("-- COMMAND follows a 32-bit command and text output shows its opens")
    func compatCommand() throws {
        let (dir, program) = try opener(bits: hasIA32 ? 32 : 64)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, out, err) = try runToCompletion(Binaries.opensnoop, ["--path", dir + "/", "--attach-mode", "raw", "--", program, dir])
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n").filter { $0.hasSuffix(dir + "/present") }
        #expect(lines.count == 4, "\(out)")
    }

    @Test("open_by_handle_at: the handle's file is the path; a bad mount fd is an error; 64-bit too",
          arguments: ["raw", "tracepoints"])
    func openByHandle(attachMode: String) throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/handled", contents: nil)
        let name = uniqueName("handle")
        let tracer = try TracerRun(["-j", "-n", name, "--attach-mode", attachMode])
        let results = try runHelper(["--name", name, "handle", dir + "/handled", "handle-badmount", dir + "/handled"])
        tracer.stop()
        let records = try tracer.records().filter { $0["source"] as? String == "open_by_handle_at" }
        #expect(records.count == 2, "\(tracer.output)")
        #expect(records.first?["path"] as? String == dir + "/handled")
        #expect(records.first?["fd"] as? Int == Int(results[0].split(separator: " ")[1]))
        #expect(records.last?["errno"] as? Int == 9)
        #expect(records.allSatisfy { $0["compat"] as? Bool == false })
    }
}

/// Runs `program` to completion; returns its "<syscall> <result>" lines parsed.
private func runHelperLike(_ program: String, _ arguments: [String]) throws -> [(String, Int)] {
    let (_, out, _) = try runToCompletion(program, arguments)
    return out.split(separator: "\n").map { line in
        let parts = line.split(separator: " ")
        return (String(parts[0]), Int(parts[1]) ?? 0)
    }
}
