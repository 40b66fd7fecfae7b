/// What the verifier reported for one program it accepted (the kernel's `BPF_LOG_STATS`, the
/// figures libbpf's `veristat` shows), from `BPFObject.load(collectingStatistics: true)`.
public struct VerifierStatistics: Sendable, Equatable {
    /// Instructions the verifier processed over every path it explored: the number the
    /// kernel's limit (1,000,000) applies to, not the program's length.
    public let instructionsProcessed: Int
    /// Verifier states kept in all.
    public let totalStates: Int
    /// Verifier states kept at most at one time.
    public let peakStates: Int
    /// The time the verifier took.
    public let verificationTime: Duration
    /// Each subprogram's stack depth in bytes, the main program first (the verifier's
    /// `stack depth 64+72+88`): the frames of a call chain add up against the kernel's limit.
    public let stackDepths: [Int]

    /// How each line of statistics starts.
    private static let linePrefixes = ["verification time ", "stack depth ", "processed "]

    /// Whether a log written at `BPF_LOG_STATS` holds nothing but statistics: the verifier
    /// accepted the program (a rejection says why).
    static func isStatisticsOnly(_ log: String) -> Bool {
        log.split(separator: "\n").allSatisfy { line in linePrefixes.contains { line.hasPrefix($0) } }
    }

    /// Reads the statistics from a log written at `BPF_LOG_STATS`; nil if it has none.
    init?(log: String) {
        var instructions: Int?, totalStates = 0, peakStates = 0, microseconds = 0, depths: [Int] = []
        for line in log.split(separator: "\n") {
            let words = line.split(separator: " ")
            func number(after word: Substring) -> Int? {
                words.firstIndex(of: word).flatMap { $0 + 1 < words.count ? Int(words[$0 + 1]) : nil }
            }
            if line.hasPrefix("processed ") {
                instructions = number(after: "processed")
                totalStates = number(after: "total_states") ?? 0
                peakStates = number(after: "peak_states") ?? 0
            } else if line.hasPrefix("verification time ") {
                microseconds = number(after: "time") ?? 0
            } else if line.hasPrefix("stack depth "), words.count == 3 {
                depths = words[2].split(separator: "+").compactMap { Int($0) }
            }
        }
        guard let instructions else { return nil }
        instructionsProcessed = instructions
        self.totalStates = totalStates
        self.peakStates = peakStates
        verificationTime = .microseconds(microseconds)
        stackDepths = depths
    }
}
