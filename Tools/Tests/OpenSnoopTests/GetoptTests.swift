import Getopt
import Testing

@Suite("getopt-style command lines")
struct GetoptTests {
    let options: [GetoptArguments.Option] = [
        .init(long: "pid", short: "p", takesValue: true, repeatable: true),
        .init(long: "duration", short: "d", takesValue: true),
        .init(long: "name", short: "n", takesValue: true, repeatable: true),
        .init(long: "failed", short: "x", takesValue: false, repeatable: true),
        .init(long: "json", short: "j", takesValue: false, repeatable: true),
        .init(long: "buffer-pages", short: "b", takesValue: true),
        .init(long: "summary", takesValue: true, defaultValue: "1"),
        .init(long: "summary-by", takesValue: true),
        .init(long: "output", short: "o", takesValue: true),
        .init(long: "help", short: "h", takesValue: false, repeatable: true),
    ]

    func normalize(_ arguments: [String]) throws -> GetoptArguments {
        try GetoptArguments(arguments.map { Array($0.utf8) }, options: options, rawOptions: ["name"])
    }

    @Test("Attached values, clusters and long forms all become --long=value")
    func attached() throws {
        #expect(try normalize(["-p123", "-d1", "-ncat"]).arguments == ["--pid=123", "--duration=1", "--name=cat"])
        #expect(try normalize(["-xjp", "5"]).arguments == ["--failed", "--json", "--pid=5"])
        #expect(try normalize(["-xp5"]).arguments == ["--failed", "--pid=5"])
        #expect(try normalize(["--pid", "7", "--pid=8"]).arguments == ["--pid=7", "--pid=8"])
    }

    @Test("A value that looks like an option is the option's value")
    func negativeValues() throws {
        #expect(try normalize(["-b", "-1"]).arguments == ["--buffer-pages=-1"])
        #expect(try normalize(["-n", "--json"]).arguments == ["--name=--json"])
    }

    @Test("Of an option given once the last one wins, as with getopt; repeatable ones accumulate")
    func repeats() throws {
        #expect(try normalize(["-d", "1", "-x", "-d2"]).arguments == ["--duration=2", "--failed"])
        #expect(try normalize(["--summary", "--summary=5"]).arguments == ["--summary=5"])
        #expect(try normalize(["-n", "a", "-n", "b"]).rawValues["name"] == [Array("a".utf8), Array("b".utf8)])
        // Only the last value's exact bytes are kept.
        let result = try GetoptArguments([Array("-oa".utf8), Array("-o".utf8), [0x62, 0xFF]], options: options,
                                         rawOptions: ["output"])
        #expect(result.rawValues["output"] == [[0x62, 0xFF]])
        #expect(result.arguments == ["--output=b\u{FFFD}"])
    }

    @Test("Long options may be abbreviated to a prefix of one name; an exact name wins")
    func prefixes() throws {
        #expect(try normalize(["--dur", "1", "--fail", "--js"]).arguments == ["--duration=1", "--failed", "--json"])
        #expect(try normalize(["--na=cat", "--pid=5"]).arguments == ["--name=cat", "--pid=5"])
        #expect(try normalize(["--na=cat"]).rawValues["name"] == [Array("cat".utf8)])
        #expect(try normalize(["--summary", "-x"]).arguments == ["--summary=1", "--failed"])
        #expect(try normalize(["--summary-b", "pid"]).arguments == ["--summary-by=pid"])
        // Short clusters are not long names.
        #expect(try normalize(["-xj"]).arguments == ["--failed", "--json"])
        let ambiguous = #expect(throws: GetoptArguments.Failure.self) { try normalize(["--sum=2"]) }
        #expect(ambiguous?.description == "option '--sum' is ambiguous: --summary, --summary-by")
        #expect(try normalize(["--bogus", "--"]).arguments == ["--bogus", "--"])
        let flag = #expect(throws: GetoptArguments.Failure.self) { try normalize(["--jso=1"]) }
        #expect(flag?.description == "--json takes no value")
    }

    @Test("argp's -? and --usage are --help before --, when there is a help option")
    func usage() throws {
        #expect(try normalize(["-?"]).arguments == ["--help"])
        #expect(try normalize(["-x?", "--usage"]).arguments == ["--failed", "--help", "--help"])
        #expect(try normalize(["--", "ls", "-?", "--usage"]).arguments == ["--", "ls", "-?", "--usage"])
        let withoutHelp = options.filter { $0.long != "help" }
        #expect(try GetoptArguments([Array("-?".utf8), Array("--usage".utf8)], options: withoutHelp).arguments
                == ["-?", "--usage"])
    }

    @Test("Missing values and values on flags are errors")
    func missing() {
        #expect(throws: GetoptArguments.Failure.self) { try normalize(["-p"]) }
        #expect(throws: GetoptArguments.Failure.self) { try normalize(["--json=1"]) }
        // An empty value is an error, not a reason to take the next argument as the value.
        let empty = #expect(throws: GetoptArguments.Failure.self) { try normalize(["-n", "", "-d", "1"]) }
        #expect(empty?.description == "--name (-n) was given an empty value")
        #expect(throws: GetoptArguments.Failure.self) { try normalize(["--duration="]) }
    }

    @Test("Everything after -- is left alone; unknown options pass through for the parser to report")
    func terminator() throws {
        let result = try normalize(["-x", "--", "ls", "-p1", "--", "-d"])
        #expect(result.arguments == ["--failed", "--", "ls", "-p1", "--", "-d"])
        #expect(result.hasTerminator)
        #expect(try normalize(["--bogus", "-q"]).arguments == ["--bogus", "-q"])
        #expect(try normalize(["-x"]).hasTerminator == false)
        // The command's exact bytes, invalid UTF-8 included.
        let command: [[UInt8]] = [Array("cat".utf8), [0x61, 0xFF]]
        #expect(try GetoptArguments([Array("--".utf8)] + command, options: options).trailing == command)
    }

    @Test("An option whose value may be left out takes the next argument only if it is a number")
    func optionalValue() throws {
        #expect(try normalize(["--summary"]).arguments == ["--summary=1"])
        #expect(try normalize(["--summary", "5"]).arguments == ["--summary=5"])
        #expect(try normalize(["--summary", "-x"]).arguments == ["--summary=1", "--failed"])
        #expect(try normalize(["--summary=0.5", "-j"]).arguments == ["--summary=0.5", "--json"])
    }

    @Test("Values keep their exact bytes, invalid UTF-8 included")
    func rawBytes() throws {
        let result = try GetoptArguments([Array("-n".utf8), [0x61, 0xFF, 0x62]], options: options, rawOptions: ["name"])
        #expect(result.rawValues["name"] == [[0x61, 0xFF, 0x62]])
        #expect(try GetoptArguments([[0x2D, 0x6E, 0xC3, 0x28]], options: options, rawOptions: ["name"]).rawValues["name"]
                == [[0xC3, 0x28]])
    }
}
