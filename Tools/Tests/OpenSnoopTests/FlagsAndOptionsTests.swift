import OpenSnoop
import TraceOutput
import Testing

@Suite("Open flags")
struct OpenFlagsTests {
    @Test("Names parse with or without O_, in any case, with aliases")
    func parsing() {
        #expect(OpenFlags.named("O_RDONLY") == .accessMode(0))
        #expect(OpenFlags.named("wronly") == .accessMode(1))
        #expect(OpenFlags.named("O_RDWR") == .accessMode(2))
        #expect(OpenFlags.named("O_CREAT") == .bits(0o100))
        #expect(OpenFlags.named("o_trunc") == .bits(0o1000))
        #expect(OpenFlags.named("O_NDELAY") == .bits(0o4000))
        #expect(OpenFlags.named("O_SYNC") == .bits(0o4010000))
        #expect(OpenFlags.named("O_BOGUS") == nil)
    }

    @Test("Flags print as names; multi-bit flags once; unknown bits in octal")
    func names() {
        #expect(OpenFlags(rawValue: 0).names == ["O_RDONLY"])
        #expect(OpenFlags(rawValue: 0o2001101).names == ["O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC"])
        #expect(OpenFlags(rawValue: 0o4010002).names == ["O_RDWR", "O_SYNC"])
        #expect(OpenFlags(rawValue: 0o10000).names == ["O_RDONLY", "O_DSYNC"])
        #expect(OpenFlags(rawValue: 0o1_00000000_000).names == ["O_RDONLY", "0100000000000"])
    }

    @Test("Errno names")
    func errnoNames() {
        #expect(ErrnoName.of(2) == "ENOENT")
        #expect(ErrnoName.of(13) == "EACCES")
        #expect(ErrnoName.of(36) == "ENAMETOOLONG")
        #expect(ErrnoName.of(0) == nil)
        #expect(ErrnoName.of(-1) == nil)
        #expect(ErrnoName.of(100_000) == nil)
    }
}

@Suite("Trace options")
struct TraceOptionsTests {
    func rejects(_ change: (inout TraceOptions) -> Void) -> Bool {
        var options = TraceOptions()
        change(&options)
        do { try options.validate() } catch OpenSnoopError.invalidArgument { return true } catch { return false }
        return false
    }

    @Test("Defaults are valid")
    func defaults() throws {
        try TraceOptions().validate()
    }

    @Test("Bad values are rejected")
    func badValues() {
        #expect(rejects { $0.pids = [0] })
        #expect(rejects { $0.tids = [-5] })
        #expect(rejects { $0.commandNames = [Array("sixteen-bytes-xx".utf8)] })
        #expect(rejects { $0.commandNames = [[]] })
        #expect(rejects { $0.commandNames = Array(repeating: [0x61], count: 9) })
        #expect(rejects { $0.pids = Array(1...1025) })
        #expect(!rejects { $0.pids = Array(repeating: 5, count: 2000) })
        #expect(rejects { $0.ringBufferPages = 3 })
        #expect(rejects { $0.ringBufferPages = 0 })
        #expect(rejects { $0.pathPrefixes = [[]] })
        #expect(rejects { $0.pathPrefixes = Array(repeating: Array("/a".utf8), count: 9) })
        #expect(rejects { $0.cgroupDirectories = ["/nonexistent/cgroup"] })
        #expect(rejects { $0.cgroupDirectories = ["/tmp"] })
        #expect(!rejects { $0.commandNames = [Array("fifteen-bytes-x".utf8), [0xFF]] })
        #expect(!rejects { $0.ringBufferPages = 64 })
    }
}

@Suite("Output buffer")
struct OutputBufferTests {
    @Test("Numbers format like printf")
    func numbers() {
        var out = OutputBuffer()
        out.appendDecimal(-1, width: 3)
        out.append("|")
        out.appendDecimal(42, width: 6, leftAligned: true)
        out.append("|")
        out.appendOctal(0o2000000, width: 8)
        out.append("|")
        out.appendDecimal(Int64.min)
        #expect(String(decoding: out.bytes, as: UTF8.self) == " -1|42    |02000000|-9223372036854775808")
    }
}

@Suite("Wall clock")
struct WallClockTests {
    @Test("A time namespace's monotonic offset is read from timens_offsets")
    func timeNamespaceOffsets() {
        #expect(WallClock.parseTimeNamespaceOffsets("monotonic      86400         0\nboottime 0 0\n") == 86_400_000_000_000)
        #expect(WallClock.parseTimeNamespaceOffsets("monotonic -5 500\n") == -4_999_999_500)
        #expect(WallClock.parseTimeNamespaceOffsets("") == 0)
    }
}
