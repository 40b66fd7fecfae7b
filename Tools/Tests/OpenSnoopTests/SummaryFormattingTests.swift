import Foundation
import OpenSnoop
import OpenSnoopFormats
import TraceOutput
import Testing

@Suite("Summaries: histograms, keys and tables")
struct SummaryFormattingTests {
    @Test("Quantiles are the upper bounds of their log2 buckets, at most the exact maximum")
    func quantiles() {
        var buckets = Array(repeating: UInt64(0), count: LatencyHistogram.bucketCount)
        buckets[10] = 90   // [1024, 2048) ns
        buckets[20] = 10   // [1 Mi, 2 Mi) ns
        let histogram = LatencyHistogram(buckets: buckets, maxNanoseconds: 1_500_000)
        #expect(histogram.count == 100)
        #expect(histogram.quantileUpperBound(0.5) == 2048)
        #expect(histogram.quantileUpperBound(0.9) == 2048)
        #expect(histogram.quantileUpperBound(0.99) == 1_500_000, "capped at the exact maximum")
        #expect(LatencyHistogram(buckets: buckets).quantileUpperBound(0.99) == 2 << 20)
        #expect(LatencyHistogram().quantileUpperBound(0.5) == nil)
        #expect(histogram.maximum == 1_500_000 && LatencyHistogram().maximum == nil, "none timed: no maximum, not 0")
    }

    @Test("--summary-by takes comma-separated key names")
    func keys() {
        #expect(SummaryKeys(parsing: "comm,path") == [.comm, .path])
        #expect(SummaryKeys(parsing: "errno") == .errno)
        #expect(SummaryKeys(parsing: "cgroup,pid") == [.cgroup, .pid])
        #expect(SummaryKeys(parsing: "bogus") == nil)
        #expect(SummaryKeys(parsing: "") == nil)
        #expect(SummaryKeys(parsing: "comm,") == nil)
    }

    @Test("A table: header line, columns, escaped names, the most frequent errno, and (other)")
    func table() {
        var formatter = SummaryFormatter(keys: [.comm, .path], latency: false, json: false, top: nil, redraw: false)
        var first = SummaryRow()
        first.comm = Array("cat".utf8)
        first.path = Array("/etc/a\nb".utf8)
        first.count = 12
        first.failed = 2
        first.errnos = [.init(errorNumber: 2, count: 2)]
        let snapshot = SummarySnapshot(rows: [first], otherCount: 5, otherFailed: 1, namesLost: 0,
                                       intervalNanoseconds: 1_000_000_000, capacity: 1)
        var out = OutputBuffer()
        formatter.append(snapshot, at: 1_000_000_000, screenRows: nil, into: &out)
        let lines = String(decoding: out.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0].hasSuffix("  17 opens, 3 failed, in 1.00 s; 1 of 1 rows; 5 opens in (other): the table was full (--summary-capacity)"))
        #expect(lines[1] == "   COUNT  FAILED TOP ERRNO    COMM             PATH")
        #expect(lines[2] == "      12       2 ENOENT       cat              /etc/a\\nb")
        #expect(lines[3] == "       5       1              (other)")
    }

    @Test("A snapshot in JSON parses back")
    func json() throws {
        var formatter = SummaryFormatter(keys: [.comm, .path], latency: true, json: true, top: nil, redraw: false)
        var row = SummaryRow()
        row.comm = [0xFF]
        row.path = nil
        row.count = 1
        row.latency = LatencyHistogram()
        let snapshot = SummarySnapshot(rows: [row], otherCount: 0, otherFailed: 0, namesLost: 1,
                                       intervalNanoseconds: 5, capacity: 4)
        var out = OutputBuffer()
        formatter.append(snapshot, at: 1, screenRows: nil, into: &out)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.bytes)) as? [String: Any])
        let first = try #require((object["rows"] as? [[String: Any]])?.first)
        #expect(first["comm_base64"] as? String == "/w==")
        #expect(first["path"] is NSNull)
        #expect(object["names_lost"] as? Int == 1)
    }
}
