internal import BPFKit

/// Refuses at build time what libbpf would only notice at load: a program in an ELF section it
/// does not know (`SEC("tracepont/...")`), whose type it cannot tell; and what would attach
/// nowhere, a tracepoint section without its category (`SEC("tracepoint/sched_process_exec")`).
/// Each such program gives
/// one diagnostic in the form compilers use and SwiftPM shows, `FILE:LINE:COLUMN: error: TEXT`,
/// pointing at the `SEC(...)` in the BPF source (`FILE: error: TEXT` if it is not written
/// there literally, e.g. made by a macro).
package func unknownSectionDiagnostics(programs: [ObjectDescription.Program], sourcePath: String,
                                       sourceText: String) -> [String] {
    let lines = sourceText.split(separator: "\n", omittingEmptySubsequences: false)
    return programs.filter { BPFProgramType(section: $0.section) == nil || BPFAttachPoint(section: $0.section).namesNoTracepointCategory }.map { program in
        var message = "program '\(program.name)' is in section '\(program.section)', which libbpf does not know"
        if BPFAttachPoint(section: program.section).namesNoTracepointCategory {
            message = "program '\(program.name)' is in section '\(program.section)', which names no tracepoint category: "
                + "tracepoint/CATEGORY/NAME, e.g. tracepoint/sched/sched_process_exec"
        } else if let suggestion = knownSection(near: program.section) {
            message += ": did you mean '\(suggestion)'?"
        } else {
            message += " (libbpf's sections: tracepoint/CATEGORY/NAME, raw_tp/NAME, tp_btf/NAME, kprobe/FUNCTION, "
                + "fentry/FUNCTION, uprobe, iter/KIND, ...)"
        }
        let written = ["SEC(\"\(program.section)\")", "SEC(\"?\(program.section)\")"]
        for (index, line) in lines.enumerated() {
            guard let range = written.lazy.compactMap({ line.firstRange(of: $0) }).first else { continue }
            let column = line.distance(from: line.startIndex, to: range.lowerBound) + 1
            return "\(sourcePath):\(index + 1):\(column): error: \(message)"
        }
        return "\(sourcePath): error: \(message)"
    }
}

/// A section libbpf knows whose first part is at most two edits from `section`'s, the rest kept:
/// `tracepont/syscalls/sys_enter_openat` → `tracepoint/syscalls/sys_enter_openat`.
func knownSection(near section: String) -> String? {
    let parts = section.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let rest = parts.count > 1 ? "/" + parts[1] : ""
    let kinds = ["tracepoint", "tp", "raw_tracepoint", "raw_tp", "tp_btf", "kprobe", "kretprobe", "ksyscall",
                 "kretsyscall", "uprobe", "uretprobe", "usdt", "fentry", "fexit", "fmod_ret", "lsm", "iter",
                 "perf_event", "socket", "xdp", "tc", "struct_ops", "syscall"]
    return kinds.map { (kind: $0, distance: editDistance(Array($0.utf8), Array(parts[0].utf8))) }
        .filter { $0.distance <= 2 && BPFProgramType(section: $0.kind + rest) != nil }
        .min { $0.distance < $1.distance }
        .map { $0.kind + rest }
}

/// The Levenshtein distance between two byte strings.
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    var previous = Array(0...b.count)
    for (i, x) in a.enumerated() {
        var current = [i + 1]
        for (j, y) in b.enumerated() {
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}
