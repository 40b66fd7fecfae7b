import Foundation
import OpenSnoop
import OpenSnoopFormats
import OpenSnoopEvent
import TraceOutput
import Testing

/// The fast escaping, number and flag formatting against plain byte-by-byte references (the
/// code they replaced), on many random and hostile inputs.
@Suite("Fast formatting matches the reference")
struct FastFormattingTests {
    /// SplitMix64: a seeded generator, so that a failure names an input that can be replayed.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Bytes that need care, and the edges of UTF-8's ranges.
    static let interesting: [UInt8] = [
        0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x20, 0x22, 0x2F, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F,
        0x80, 0x9B, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xC3, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
    ]
    /// Valid UTF-8 pieces, some of them C1 controls (C2 80...C2 9F).
    static let pieces: [[UInt8]] = [
        Array("é".utf8), Array("€".utf8), Array("😀".utf8), Array("\u{85}".utf8), Array("\u{9B}".utf8),
        Array("\u{A0}".utf8), Array("\u{FFFD}".utf8), Array("\u{10FFFF}".utf8), Array("/usr/lib/x86_64-linux-gnu".utf8),
    ]

    /// A random input: plain ASCII runs, interesting bytes, UTF-8 pieces, or random bytes; 0 to 80 long.
    static func input(_ random: inout Random) -> [UInt8] {
        var bytes: [UInt8] = []
        let length = random.below(81)
        while bytes.count < length {
            switch random.below(4) {
            case 0: bytes += (0..<random.below(20)).map { _ in UInt8(0x21 + random.below(0x5E)) }
            case 1: bytes.append(interesting[random.below(interesting.count)])
            case 2: bytes += pieces[random.below(pieces.count)]
            default: bytes.append(UInt8(truncatingIfNeeded: random.next()))
            }
        }
        return Array(bytes.prefix(length))
    }

    /// A readable page followed by one that cannot be read: bytes placed at the end of the first
    /// crash the test if anything reads one byte past them.
    final class GuardedPage {
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region: UnsafeMutableRawPointer

        init() {
            region = mmap(nil, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            mprotect(region + size, size, PROT_NONE)
        }

        deinit { munmap(region, 2 * size) }

        /// `bytes`, ending where the unreadable page begins.
        func place(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
            let start = region + size - bytes.count
            bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return UnsafeRawBufferPointer(start: start, count: bytes.count)
        }
    }

    static func hex(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
    }

    /// The terminal escaping as it was written first, one byte at a time.
    static func referenceTerminal(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            let byte = b[i]
            if byte >= 0x20 && byte < 0x7F {
                out += byte == UInt8(ascii: "\\") ? Array("\\\\".utf8) : [byte]
                i += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\n"): out += Array("\\n".utf8); i += 1; continue
            case UInt8(ascii: "\t"): out += Array("\\t".utf8); i += 1; continue
            case UInt8(ascii: "\r"): out += Array("\\r".utf8); i += 1; continue
            default: break
            }
            if byte >= 0x80, let n = referenceSequenceLength(b, at: i), !(byte == 0xC2 && b[i + 1] < 0xA0) {
                out += b[i..<(i + n)]
                i += n
            } else {
                out += Array("\\x".utf8) + hex(byte)
                i += 1
            }
        }
        return out
    }

    /// The JSON string escaping as it was written first, and whether it was lossless.
    static func referenceJSON(_ b: [UInt8]) -> ([UInt8], Bool) {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        var lossless = true
        var i = 0
        while i < b.count {
            let byte = b[i]
            switch byte {
            case UInt8(ascii: "\""): out += Array("\\\"".utf8); i += 1
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8); i += 1
            case UInt8(ascii: "\n"): out += Array("\\n".utf8); i += 1
            case UInt8(ascii: "\t"): out += Array("\\t".utf8); i += 1
            case UInt8(ascii: "\r"): out += Array("\\r".utf8); i += 1
            case 0..<0x20, 0x7F: out += Array("\\u00".utf8) + hex(byte); i += 1
            case 0x20..<0x7F: out.append(byte); i += 1
            default:
                if let n = referenceSequenceLength(b, at: i) {
                    out += b[i..<(i + n)]
                    i += n
                } else {
                    out += Array("\\ufffd".utf8)
                    lossless = false
                    i += 1
                }
            }
        }
        out.append(UInt8(ascii: "\""))
        return (out, lossless)
    }

    /// UTF-8 validity by the standard's table (Unicode 15, table 3-7).
    static func referenceSequenceLength(_ b: [UInt8], at i: Int) -> Int? {
        func inRange(_ k: Int, _ range: ClosedRange<UInt8>) -> Bool { i + k < b.count && range.contains(b[i + k]) }
        switch b[i] {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return inRange(1, 0x80...0xBF) ? 2 : nil
        case 0xE0: return inRange(1, 0xA0...0xBF) && inRange(2, 0x80...0xBF) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return inRange(1, 0x80...0xBF) && inRange(2, 0x80...0xBF) ? 3 : nil
        case 0xED: return inRange(1, 0x80...0x9F) && inRange(2, 0x80...0xBF) ? 3 : nil
        case 0xF0: return inRange(1, 0x90...0xBF) && inRange(2, 0x80...0xBF) && inRange(3, 0x80...0xBF) ? 4 : nil
        case 0xF1...0xF3: return inRange(1, 0x80...0xBF) && inRange(2, 0x80...0xBF) && inRange(3, 0x80...0xBF) ? 4 : nil
        case 0xF4: return inRange(1, 0x80...0x8F) && inRange(2, 0x80...0xBF) && inRange(3, 0x80...0xBF) ? 4 : nil
        default: return nil
        }
    }

    @Test("Terminal and JSON escaping of 50,000 random and hostile byte strings, ending at unreadable memory")
    func escaping() {
        var random = Random(state: 12)
        let page = GuardedPage()
        for round in 0..<50_000 {
            let bytes = Self.input(&random)
            let raw = page.place(bytes)
            // Something already in the buffer, so the output does not start aligned; a small
            // buffer, so that it grows on the way.
            let prefix = random.below(9)
            var out = OutputBuffer(capacity: 1 + random.below(100))
            out.append(repeating: UInt8(ascii: "."), count: prefix)
            SafeText.appendTerminalSafe(raw, into: &out)
            let terminal = Array(out.bytes.dropFirst(prefix))
            out.removeAll()
            let lossless = SafeText.appendJSONString(raw, into: &out)
            let expected = (terminal: Self.referenceTerminal(bytes), json: Self.referenceJSON(bytes))
            #expect(terminal == expected.terminal, "round \(round): \(bytes)")
            #expect(out.bytes == expected.json.0, "round \(round): \(bytes)")
            #expect(lossless == expected.json.1, "round \(round): \(bytes)")
            if terminal != expected.terminal || out.bytes != expected.json.0 { return }
        }
    }

    @Test("A 16-byte command-name field: escaped before its first NUL, padded to 16 columns")
    func commField() {
        var random = Random(state: 34)
        let page = GuardedPage()
        for round in 0..<50_000 {
            var field = (0..<16).map { _ in
                random.below(3) == 0 ? Self.interesting[random.below(Self.interesting.count)] : UInt8(0x20 + random.below(0x5F))
            }
            let nul = random.below(18)  // 16 and 17: no NUL at all
            if nul < 16 { field[nul] = 0 }
            let name = Array(field.prefix { $0 != 0 })
            var expected = Self.referenceTerminal(name)
            if expected.count < 16 { expected += [UInt8](repeating: UInt8(ascii: " "), count: 16 - expected.count) }
            var out = OutputBuffer()
            SafeText.appendTerminalSafeField(page.place(field), paddedTo: 16, into: &out)
            #expect(out.bytes == expected, "round \(round): \(field)")
            if out.bytes != expected { return }
        }
    }

    @Test("Numbers in every width and alignment match printf")
    func numbers() {
        var random = Random(state: 56)
        var values: [Int64] = [0, 1, -1, 9, 10, 99, 100, -100, 4_194_304, Int64.max, Int64.min, Int64(Int32.min)]
        for _ in 0..<20_000 {
            let value = Int64(bitPattern: random.next()) >> random.below(64)
            values.append(value)
        }
        for value in values {
            let width = random.below(24)
            var out = OutputBuffer(capacity: 1)
            out.appendDecimal(value, width: width)
            out.append("|")
            out.appendDecimal(value, width: width, leftAligned: true)
            out.append("|")
            out.appendUnsigned(value.magnitude)
            out.append("|")
            out.appendOctal(value.magnitude, width: width)
            out.append("|")
            out.appendZeroPadded(value.magnitude, width: width)
            let expected = String(format: "%*lld|%-*lld|%llu|%0*llo|%0*llu", width, value, width, value, value.magnitude,
                                  width, value.magnitude, width, value.magnitude)
            #expect(String(decoding: out.bytes, as: UTF8.self) == expected)
            #expect(OutputBuffer.decimalDigits(value.magnitude) == String(value.magnitude).count)
        }
    }

    @Test("Text: the FD and ERR columns match printf's %3d inside and outside the range of kept cells")
    func resultColumns() {
        var formatter = TextFormatter(columns: OutputColumns())
        for ret in [-4095, 100_000, Int32.max] + Array(-1_100...1_100) {
            let line = EventFixture.format(EventFixture.record(pid: 1, ret: ret), with: &formatter)
            let columns = String(format: "%3ld %3ld ", ret >= 0 ? Int(ret) : -1, ret >= 0 ? 0 : -Int(ret))
            #expect(line == "1      cat              " + columns + "/etc/hosts\n", "ret \(ret)")
        }
    }

    @Test("A JSON record's start is its time and ts_ns fields, cached or not, within 0.1 s of boot too")
    func recordStart() {
        var random = Random(state: 78)
        var clock = WallClock()
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let past = UInt64(now.tv_sec) * 1_000_000_000  // no later than now: no resync between the two
        for round in 0..<20_000 {
            let monotonic = [random.next() % past, random.next() % 200_000_000, past - random.next() % 2_000_000_000][random.below(3)]
            var pieces = OutputBuffer(capacity: 1), whole = OutputBuffer(capacity: 1)
            func appendPieces() {
                pieces.append("{\"time\":\"")
                clock.appendRFC3339(monotonic, into: &pieces)
                pieces.append("\",\"ts_ns\":")
                clock.appendNanoseconds(monotonic, into: &pieces)
            }
            if random.below(2) == 0 { appendPieces() }
            whole.appendJSONRecordStart(at: monotonic, clock: &clock)
            if pieces.isEmpty { appendPieces() }
            #expect(whole.bytes == pieces.bytes, "round \(round): \(monotonic)")
            if whole.bytes != pieces.bytes { return }
        }
    }

    @Test("JSON flags_names, errno_name and source match the library's names")
    func jsonNames() throws {
        var random = Random(state: 78)
        var formatter = JSONFormatter(columns: OutputColumns())
        var flags: [UInt64] = [0, 1, 2, 3, 0o4010000, 0o20200000, 0o10000, 1 << 63, UInt64.max]
        for _ in 0..<2_000 { flags.append(random.next() >> random.below(64)) }
        for (index, value) in flags.enumerated() {
            let errno = Int32(index % 140)
            let source = OpenEvent.Source.allCases[index % OpenEvent.Source.allCases.count]
            let line = EventFixture.format(EventFixture.record(ret: -errno, flags: value, source: source),
                                           with: &formatter)
            let names = OpenFlags(rawValue: value).names.map { "\"\($0)\"" }.joined(separator: ",")
            #expect(line.contains(",\"flags\":\(value),\"flags_names\":[\(names)],"))
            let errnoName = errno == 0 ? "null" : ErrnoName.of(errno).map { "\"\($0)\"" } ?? "null"
            #expect(line.contains(",\"errno_name\":\(errnoName),"))
            #expect(line.contains(",\"source\":\"\(source.name)\","))
        }
    }

    @Test("A formatter reused across events (repeated runs kept) writes each line as a new one would")
    func repeatedRuns() {
        var random = Random(state: 90)
        let comms: [[UInt8]] = [Array("cat".utf8), Array("cat".utf8) + [0, 0x41], [0xFF, 0x0A], Array("fifteen-bytes-x".utf8), []]
        let clock = WallClock()
        for columns in [OutputColumns(), OutputColumns(uid: true), OutputColumns(timestamp: true, uid: true, flags: true)] {
            var text = TextFormatter(columns: columns, clock: clock)
            var json = JSONFormatter(columns: columns, clock: clock)
            for round in 0..<3_000 {
                let record = EventFixture.record(
                    pid: UInt32(1 + random.below(3)), tid: UInt32(1 + random.below(3)), uid: UInt32(random.below(2) * 1000),
                    ret: Int32(random.below(5)) - 2, flags: [0, 0o2000000, 0o101][random.below(3)], mode: UInt32(random.below(2) * 0o644),
                    comm: comms[random.below(comms.count)], eventFlags: random.below(4) == 0 ? UInt16(OPENSNOOP_EV_COMPAT.rawValue) : 0,
                    source: OpenEvent.Source(rawValue: UInt8(1 + random.below(4))))
                var freshText = TextFormatter(columns: columns, clock: clock)
                var freshJSON = JSONFormatter(columns: columns, clock: clock)
                let reusedLines = (EventFixture.format(record, with: &text), EventFixture.format(record, with: &json))
                let freshLines = (EventFixture.format(record, with: &freshText), EventFixture.format(record, with: &freshJSON))
                #expect(reusedLines.0 == freshLines.0, "round \(round)")
                #expect(reusedLines.1 == freshLines.1, "round \(round)")
                if reusedLines != freshLines { return }
            }
        }
    }
}
