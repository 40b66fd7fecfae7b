import Foundation
import Testing

/// Every filter and feature on (all that adds code to the programs), with and without the ones
/// that resolve or hash paths. The kernel matrix runs the same sets in every guest.
private let everything = ["-x", "-L", "--slower", "0.001", "-n", "kmx", "-p", "1", "-u", "0", "-f", "O_RDONLY",
                          "--summary", "--per-cpu-rings"]
private let resolving = ["-F", "--path", "/", "--summary-by", "comm,path,pid,errno,cgroup"]

@Suite("The verifier's budget: every program fits the 512-byte stack with room to spare", .tags(.kernel),
       .enabled(if: isRoot, "loading BPF programs needs root"))
struct VerifierBudgetTests {
    @Test("In each attach mode, with every feature on, no call chain can use more than 384 bytes of stack (frames rounded to 32)",
          arguments: ["raw", "tracepoints"])
    func stackBudget(mode: String) throws {
        let (status, out, err) = try runToCompletion(Binaries.opensnoop,
                                                     ["--verifier-stats", "--attach-mode", mode] + everything + resolving)
        #expect(status == 0, "\(err)")
        let rows = out.split(separator: "\n").dropFirst().map { $0.split(separator: " ") }
        let programs = rows.compactMap(\.first).map(String.init)
        #expect(programs.contains(mode == "raw" ? "raw_sys_exit" : "tp_sys_exit"), "\(out)")
        #expect(programs.contains("uring_complete"), "\(out)")
        for row in rows {
            let chain = Int(row.last ?? "") ?? .max
            let instructions = Int(row.dropFirst().first ?? "") ?? .max
            #expect(chain <= 384, "\(row.joined(separator: " ")): the stack budget (512) needs room for what comes next")
            #expect(instructions < 100_000, "\(row.joined(separator: " ")): the verifier's work is start-up time")
        }
    }

    @Test("--verifier-stats prints the table and nothing else; the full raw variant where bpf_loop exists")
    func statisticsOnly() throws {
        let (status, out, err) = try runToCompletion(Binaries.opensnoop, ["--verifier-stats", "--attach-mode", "raw"])
        #expect(status == 0)
        #expect(err.isEmpty, "\(err)")
        #expect(out.hasPrefix("PROGRAM "))
        #expect(out.contains("raw_sys_exit "))
        #expect(!out.contains("raw_sys_exit_basic"), "the full variant loads where bpf_loop exists")
    }
}
