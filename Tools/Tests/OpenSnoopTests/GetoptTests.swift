import Getopt
import Testing

@Suite("getopt-style command lines")
struct GetoptTests {
    typealias Option = GetoptArguments.Option
    static let pid = Option("pid", short: "p", value: "PID", help: "Processes.")
    let options: [Option] = [
        pid,
        .init("duration", short: "d", value: "SECONDS", help: "Stop after SECONDS."),
        .init("name", short: "n", value: "NAME", help: "Names."),
        .init("failed", short: "x", help: "Failed only."),
        .init("json", short: "j", help: "JSON Lines."),
        .init("buffer-pages", short: "b", value: "PAGES", help: "Pages."),
        .init("summary", value: "SECONDS", defaultValue: "1", help: "A table every SECONDS."),
        .init("summary-by", value: "KEYS", help: "Keys."),
        .init("output", short: "o", value: "FILE", help: "Output."),
        .init("help", short: "h", help: "Show help information."),
    ]

    func parse(_ arguments: [String]) throws -> GetoptArguments {
        try GetoptArguments(arguments.map { Array($0.utf8) }, options: options)
    }

    /// Each option given, with its values as text.
    func given(_ arguments: [String]) throws -> [String: [String]] {
        try parse(arguments).values.mapValues { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    @Test("Attached values, clusters and long forms")
    func attached() throws {
        #expect(try given(["-p123", "-d1", "-ncat"]) == ["pid": ["123"], "duration": ["1"], "name": ["cat"]])
        #expect(try given(["-xjp", "5"]) == ["failed": [""], "json": [""], "pid": ["5"]])
        #expect(try given(["-xp5"]) == ["failed": [""], "pid": ["5"]])
        #expect(try given(["--pid", "7", "--pid=8"]) == ["pid": ["7", "8"]])
    }

    @Test("A value that looks like an option is the option's value")
    func negativeValues() throws {
        #expect(try given(["-b", "-1"]) == ["buffer-pages": ["-1"]])
        #expect(try given(["-n", "--json"]) == ["name": ["--json"]])
    }

    @Test("Of an option given more than once the last value wins, as with getopt; all are kept in order")
    func repeats() throws {
        let result = try parse(["-d", "1", "-x", "-d2"])
        #expect(result.string("duration") == "2")
        #expect(result.strings("duration") == ["1", "2"])
        #expect(try parse(["--summary", "--summary=5"]).string("summary") == "5")
        #expect(try parse(["-n", "a", "-n", "b"]).values["name"] == [Array("a".utf8), Array("b".utf8)])
        let bytes = try GetoptArguments([Array("-oa".utf8), Array("-o".utf8), [0x62, 0xFF]], options: options)
        #expect(bytes.last("output") == [0x62, 0xFF])
        #expect(bytes.string("output") == "b\u{FFFD}")
    }

    @Test("Long options may be abbreviated to a prefix of one name; an exact name wins")
    func prefixes() throws {
        #expect(try given(["--dur", "1", "--fail", "--js"]) == ["duration": ["1"], "failed": [""], "json": [""]])
        #expect(try given(["--na=cat", "--pid=5"]) == ["name": ["cat"], "pid": ["5"]])
        #expect(try given(["--summary", "-x"]) == ["summary": ["1"], "failed": [""]])
        #expect(try given(["--summary-b", "pid"]) == ["summary-by": ["pid"]])
        #expect(try given(["-xj"]) == ["failed": [""], "json": [""]])  // short clusters are not long names
        let ambiguous = #expect(throws: GetoptArguments.Failure.self) { try parse(["--sum=2"]) }
        #expect(ambiguous?.description == "option '--sum' is ambiguous: --summary, --summary-by")
        let flag = #expect(throws: GetoptArguments.Failure.self) { try parse(["--jso=1"]) }
        #expect(flag?.description == "--json takes no value")
    }

    @Test("argp's -? and --usage are --help before --, when there is a help option")
    func usage() throws {
        #expect(try parse(["-?"]).flag("help"))
        #expect(try given(["-x?", "--usage"]) == ["failed": [""], "help": ["", ""]])
        #expect(try parse(["--", "ls", "-?", "--usage"]).flag("help") == false)
        let withoutHelp = options.filter { $0.long != "help" }
        let unknown = #expect(throws: GetoptArguments.Failure.self) {
            try GetoptArguments([Array("-?".utf8)], options: withoutHelp)
        }
        #expect(unknown?.description == "unknown option '-?'")
    }

    @Test("Missing values, values on flags, unknown options and stray arguments are errors")
    func errors() {
        let missing = #expect(throws: GetoptArguments.Failure.self) { try parse(["-p"]) }
        #expect(missing?.description == "missing value for -p")
        #expect(throws: GetoptArguments.Failure.self) { try parse(["--json=1"]) }
        // An empty value is an error, not a reason to take the next argument as the value.
        let empty = #expect(throws: GetoptArguments.Failure.self) { try parse(["-n", "", "-d", "1"]) }
        #expect(empty?.description == "--name (-n) was given an empty value")
        #expect(throws: GetoptArguments.Failure.self) { try parse(["--duration="]) }
        let unknown = #expect(throws: GetoptArguments.Failure.self) { try parse(["-x", "--bogus"]) }
        #expect(unknown?.description == "unknown option '--bogus'")
        let cluster = #expect(throws: GetoptArguments.Failure.self) { try parse(["-xq"]) }
        #expect(cluster?.description == "unknown option '-q'")
        let dash = #expect(throws: GetoptArguments.Failure.self) { try parse(["-x-"]) }
        #expect(dash?.description == "unknown option in '-x-'")
        let bytes = #expect(throws: GetoptArguments.Failure.self) { try GetoptArguments([[0x2D, 0x2D, 0xFF]], options: options) }
        #expect(bytes?.description == "unknown option '--\\xff'")
        let alias = #expect(throws: GetoptArguments.Failure.self) { try parse(["--usage=1"]) }
        #expect(alias?.description == "--usage takes no value")
        let stray = #expect(throws: GetoptArguments.Failure.self) { try parse(["-x", "ls"]) }
        #expect(stray?.description == "unexpected argument 'ls'")
    }

    @Test("Everything after -- is the command, left alone, as its exact bytes")
    func terminator() throws {
        let result = try parse(["-x", "--", "ls", "-p1", "--", "-d"])
        #expect(result.values.keys.sorted() == ["failed"])
        #expect(result.hasTerminator)
        #expect(result.trailing == ["ls", "-p1", "--", "-d"].map { Array($0.utf8) })
        #expect(try parse(["-x"]).hasTerminator == false)
        let command: [[UInt8]] = [Array("cat".utf8), [0x61, 0xFF]]
        #expect(try GetoptArguments([Array("--".utf8)] + command, options: options).trailing == command)
    }

    @Test("An option whose value may be left out takes the next argument only if it is a number")
    func optionalValue() throws {
        #expect(try given(["--summary"]) == ["summary": ["1"]])
        #expect(try given(["--summary", "5"]) == ["summary": ["5"]])
        #expect(try given(["--summary", "-x"]) == ["summary": ["1"], "failed": [""]])
        #expect(try given(["--summary=0.5", "-j"]) == ["summary": ["0.5"], "json": [""]])
    }

    @Test("Values keep their exact bytes, invalid UTF-8 included")
    func rawBytes() throws {
        let result = try GetoptArguments([Array("-n".utf8), [0x61, 0xFF, 0x62]], options: options)
        #expect(result.values["name"] == [[0x61, 0xFF, 0x62]])
        #expect(try GetoptArguments([[0x2D, 0x6E, 0xC3, 0x28]], options: options).values["name"] == [[0xC3, 0x28]])
    }

    @Test("A value its parser refuses is a failure naming the option")
    func parsedValues() throws {
        let parsed = try parse(["-p", "1", "-p2"])
        #expect(try parsed.values(Self.pid) { (text: String) throws(InvalidValue) in Int(text) ?? 0 } == [1, 2])
        let refused = #expect(throws: GetoptArguments.Failure.self) {
            try parse(["-p", "x"]).value(Self.pid) { (text: String) throws(InvalidValue) -> Int in
                throw InvalidValue("expected a number, got '\(text)'")
            }
        }
        #expect(refused?.description == "--pid (-p): expected a number, got 'x'")
        // The last value wins, but an earlier one the parser refuses is no less an error.
        #expect(throws: GetoptArguments.Failure.self) {
            try parse(["-p", "x", "-p", "1"]).value(Self.pid) { (text: String) throws(InvalidValue) -> Int in
                guard let value = Int(text) else { throw InvalidValue("expected a number, got '\(text)'") }
                return value
            }
        }
    }

    @Test("--help lists every option beside its names, wrapped at 80 columns")
    func help() {
        let help = CommandHelp(abstract: "Trace.", usage: "tool [OPTIONS]", discussion: "More.", options: options)
        let lines = help.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "OVERVIEW: Trace.")
        #expect(lines.contains("  -p, --pid <PID>         Processes."))
        #expect(lines.contains("      --summary [<SECONDS>]"))
        #expect(lines.contains("                          A table every SECONDS."))
        #expect(lines.allSatisfy { $0.count <= 80 })
    }
}
