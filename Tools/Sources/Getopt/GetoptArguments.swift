internal import TraceOutput

/// A command line read the getopt way, as BCC's and libbpf-tools' tools take it, with the exact
/// bytes of every value:
///
/// - attached values: `-p123`, `-ncat`, `-xp123` (flags then an option), `--pid=123`;
/// - long options abbreviated to a prefix of one name only (`--dur 1`), as getopt_long allows;
///   an exact name always wins (`--summary`, not `--summary-by`);
/// - values that look like options: `-b -1` (the value of `-b` is `-1`, whatever it says);
/// - argp's `-?` and `--usage` are `--help`, when `options` has `help`;
/// - arguments after `--` are the command, left alone; an argument before it that is no option
///   is an error.
public struct GetoptArguments: Sendable, Equatable {
    /// What an option is, and its line in the help.
    public struct Option: Sendable, Equatable {
        public let long: String
        public let short: Character?
        /// The value's name in the help (`PID`); nil for a flag, which takes no value.
        public let valueName: String?
        public let help: String
        /// For an option whose value may be left out (`--summary [SECONDS]`): the value it then
        /// takes. Its value is the next argument only if that is a number.
        public let defaultValue: String?

        public init(_ long: String, short: Character? = nil, value valueName: String? = nil,
                    defaultValue: String? = nil, help: String) {
            self.long = long
            self.short = short
            self.valueName = valueName
            self.help = help
            self.defaultValue = defaultValue
        }

        public var takesValue: Bool { valueName != nil }

        /// `--pid (-p)`: how messages name it.
        public var name: String { "--\(long)" + (short.map { " (-\($0))" } ?? "") }

        /// Whether `argument` can be this option's value when it follows it.
        func takes(_ argument: [UInt8]) -> Bool {
            defaultValue == nil || Double(String(decoding: argument, as: UTF8.self)) != nil
        }
    }

    /// A command line that cannot be read: the message says why.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The values of each option given, by long name, in order (a flag: an empty one each time).
    public let values: [String: [[UInt8]]]
    /// Whether a `--` was given (everything after it is the command).
    public let hasTerminator: Bool
    /// The exact bytes of the arguments after `--`.
    public let trailing: [[UInt8]]

    /// Reads `argv` (without the program name) for `options`.
    public init(_ argv: [[UInt8]], options: [Option]) throws(Failure) {
        var values: [String: [[UInt8]]] = [:]
        var terminator = false
        var trailing: [[UInt8]] = []
        var index = 0
        // argp's `--usage` and `-?` ask for the help too.
        let help = options.first { $0.long == "help" }
        let longNames = options.map { ($0.long, $0) } + (help.map { [("usage", $0)] } ?? [])
        /// The option `--name` names, and its long name: exactly, else as the prefix of one
        /// long name only.
        func longOption(_ name: [UInt8]) throws(Failure) -> (String, Option) {
            let text = String(decoding: name, as: UTF8.self)
            if let exact = longNames.first(where: { $0.0 == text }) { return exact }
            let candidates = name.isEmpty ? [] : longNames.filter { $0.0.hasPrefix(text) }
            guard candidates.count < 2 else {
                throw Failure("option '--\(text)' is ambiguous: " + candidates.map { "--" + $0.0 }.joined(separator: ", "))
            }
            guard let found = candidates.first else {
                throw Failure("unknown option '--\(SafeText.terminalSafe(name))'")
            }
            return found
        }
        /// The value of `option`, spelled `spelled`, from the next argument, else its default.
        func following(_ option: Option, _ spelled: String) throws(Failure) -> [UInt8] {
            if index < argv.count && option.takes(argv[index]) {
                index += 1
                return argv[index - 1]
            }
            guard let value = option.defaultValue else { throw Failure("missing value for \(spelled)") }
            return Array(value.utf8)
        }
        func add(_ option: Option, _ value: [UInt8]) throws(Failure) {
            if option.takesValue && value.isEmpty { throw Failure("\(option.name) was given an empty value") }
            values[option.long, default: []].append(value)
        }
        while index < argv.count {
            let argument = argv[index]
            index += 1
            if argument == Array("--".utf8) {
                terminator = true
                trailing = Array(argv[index...])
                break
            }
            if argument.starts(with: Array("--".utf8)) {
                let body = argument.dropFirst(2)
                let equals = body.firstIndex(of: UInt8(ascii: "="))
                let (long, option) = try longOption(Array(equals.map { body[..<$0] } ?? body[...]))
                if let equals {
                    guard option.takesValue else { throw Failure("--\(long) takes no value") }
                    try add(option, Array(body[body.index(after: equals)...]))
                } else {
                    try add(option, option.takesValue ? following(option, "--\(option.long)") : [])
                }
                continue
            }
            guard argument.count > 1 && argument.first == UInt8(ascii: "-") else {
                throw Failure("unexpected argument '\(SafeText.terminalSafe(argument))'")
            }
            // A cluster of short options: flags, then at most one option taking a value.
            var position = 1
            while position < argument.count {
                let byte = argument[position]
                let letter = Character(UnicodeScalar(byte))
                position += 1
                guard let option = options.first(where: { $0.short == letter }) ?? (letter == "?" ? help : nil) else {
                    let plain = byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "-")
                    throw Failure(plain ? "unknown option '-\(letter)'"
                                        : "unknown option in '\(SafeText.terminalSafe(argument))'")
                }
                if !option.takesValue {
                    try add(option, [])
                } else if position < argument.count {
                    try add(option, Array(argument[position...]))
                    break
                } else {
                    try add(option, following(option, "-\(letter)"))
                }
            }
        }
        self.values = values
        hasTerminator = terminator
        self.trailing = trailing
    }

    /// Whether flag (or option) `long` was given.
    public func flag(_ long: String) -> Bool { values[long] != nil }

    /// The exact bytes of the last value of `long`: of an option given more than once, the last
    /// one wins, as with getopt.
    public func last(_ long: String) -> [UInt8]? { values[long]?.last }

    /// The last value of `long` as text (invalid UTF-8 as U+FFFD).
    public func string(_ long: String) -> String? { last(long).map { String(decoding: $0, as: UTF8.self) } }

    /// Every value of `long` as text, in order.
    public func strings(_ long: String) -> [String] { (values[long] ?? []).map { String(decoding: $0, as: UTF8.self) } }
}

/// What a parser of an option's value throws: the message says what was expected.
public struct InvalidValue: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

extension GetoptArguments {
    /// The last value of `option` made by `parse` (the last one wins, as with getopt); nil if it
    /// was not given. A value `parse` refuses, the last or an earlier one, is a failure naming
    /// the option.
    public func value<T>(_ option: Option, _ parse: (String) throws(InvalidValue) -> T) throws(Failure) -> T? {
        try values(option, parse).last
    }

    /// Every value of `option`, each made by `parse`.
    public func values<T>(_ option: Option, _ parse: (String) throws(InvalidValue) -> T) throws(Failure) -> [T] {
        try strings(option.long).map { text throws(Failure) in try Self.parse(text, of: option, parse) }
    }

    private static func parse<T>(_ text: String, of option: Option, _ parse: (String) throws(InvalidValue) -> T) throws(Failure) -> T {
        do {
            return try parse(text)
        } catch {
            throw Failure("\(option.name): \(error.message)")
        }
    }
}
