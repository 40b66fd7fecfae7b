/// Brings a command line written the getopt way (as BCC's and libbpf-tools' tools take it) to
/// the form swift-argument-parser reads, and keeps the exact bytes of chosen values.
///
/// - attached values: `-p123`, `-ncat`, `-xp123` (flags then an option), `--pid=123`;
/// - long options abbreviated to a prefix of one name only (`--dur 1`), as getopt_long allows;
///   an exact name always wins (`--summary`, not `--summary-by`);
/// - values that look like options: `-b -1` (the value of `-b` is `-1`, whatever it says);
/// - every option with a value becomes `--long=value`, so the parser never takes a value for an
///   option of its own;
/// - of an option that is not `repeatable`, the last one given wins (the parser sees only that);
/// - argp's `-?` and `--usage` are `--help`, when `options` has `help`;
/// - the values of `rawOptions` are kept as bytes, invalid UTF-8 included (the parser sees them
///   with U+FFFD).
/// Arguments after `--` are left alone.
public struct GetoptArguments: Sendable, Equatable {
    /// What an option is.
    public struct Option: Sendable, Equatable {
        public let long: String
        public let short: Character?
        public let takesValue: Bool
        /// Values accumulate when given more than once (else the last one wins).
        public let repeatable: Bool
        /// For an option whose value may be left out (`--summary [SECONDS]`): the value it then
        /// takes. Its value is the next argument only if that is a number.
        public let defaultValue: String?

        public init(long: String, short: Character? = nil, takesValue: Bool, repeatable: Bool = false,
                    defaultValue: String? = nil) {
            self.long = long
            self.short = short
            self.takesValue = takesValue
            self.repeatable = repeatable
            self.defaultValue = defaultValue
        }

        /// Whether `argument` can be this option's value when it follows it.
        func takes(_ argument: [UInt8]) -> Bool {
            defaultValue == nil || Double(String(decoding: argument, as: UTF8.self)) != nil
        }
    }

    /// A command line that cannot be read: the message says why.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The arguments for the parser (without the program name).
    public let arguments: [String]
    /// The exact bytes of each value of the options named in `rawOptions`, by long name.
    public let rawValues: [String: [[UInt8]]]
    /// Whether a `--` was given (everything after it is the command).
    public let hasTerminator: Bool
    /// The exact bytes of the arguments after `--` (the parser sees them with U+FFFD).
    public let trailing: [[UInt8]]

    /// Normalizes `argv` (without the program name) for `options`.
    public init(_ argv: [[UInt8]], options: [Option], rawOptions: Set<String> = []) throws(Failure) {
        var out: [String] = []
        var raw: [String: [[UInt8]]] = [:]
        var given: [String: Int] = [:]  // where each option is in `out`
        var terminator = false
        var trailing: [[UInt8]] = []
        var index = 0
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        // argp's `--usage` and `-?` ask for the help too.
        let help = options.first { $0.long == "help" }
        let longNames = options.map { ($0.long, $0) } + (help.map { [("usage", $0)] } ?? [])
        /// The option `--name` names: exactly, else as the prefix of one long name only.
        func longOption(_ name: String) throws(Failure) -> Option? {
            if let exact = longNames.first(where: { $0.0 == name }) { return exact.1 }
            let candidates = name.isEmpty ? [] : longNames.filter { $0.0.hasPrefix(name) }
            guard candidates.count < 2 else {
                throw Failure(description: "option '--\(name)' is ambiguous: "
                              + candidates.map { "--" + $0.0 }.joined(separator: ", "))
            }
            return candidates.first?.1
        }
        func emit(_ option: Option, _ value: [UInt8]?) throws(Failure) {
            // The parser would take the next argument for an empty value (`-o "" -d 1`).
            if value?.isEmpty == true {
                throw Failure(description: "--\(option.long)\(option.short.map { " (-\($0))" } ?? "") was given an empty value")
            }
            if let value, rawOptions.contains(option.long) {
                raw[option.long] = (option.repeatable ? raw[option.long] ?? [] : []) + [value]
            }
            let argument = "--" + option.long + (value.map { "=" + text($0) } ?? "")
            if !option.repeatable, let earlier = given[option.long] {
                out[earlier] = argument  // the last one wins, as with getopt
            } else {
                given[option.long] = out.count
                out.append(argument)
            }
        }
        while index < argv.count {
            let argument = argv[index]
            index += 1
            if argument == Array("--".utf8) {
                terminator = true
                out.append("--")
                trailing = Array(argv[index...])
                out += trailing.map(text)
                break
            }
            if argument.starts(with: Array("--".utf8)) {
                let body = argument.dropFirst(2)
                let equals = body.firstIndex(of: UInt8(ascii: "="))
                let name = text(Array(equals.map { body[..<$0] } ?? body[...]))
                guard let option = try longOption(name) else {
                    out.append(text(argument))  // the parser reports unknown options
                    continue
                }
                if let equals {
                    guard option.takesValue else {
                        throw Failure(description: "--\(option.long) takes no value")
                    }
                    try emit(option, Array(body[body.index(after: equals)...]))
                } else if option.takesValue {
                    if index < argv.count && option.takes(argv[index]) {
                        try emit(option, argv[index])
                        index += 1
                    } else if let value = option.defaultValue {
                        try emit(option, Array(value.utf8))
                    } else {
                        throw Failure(description: "missing value for --\(option.long)")
                    }
                } else {
                    try emit(option, nil)
                }
                continue
            }
            if argument.count > 1 && argument.first == UInt8(ascii: "-") {
                // A cluster of short options: flags, then at most one option taking a value.
                var position = 1
                while position < argument.count {
                    let letter = Character(UnicodeScalar(argument[position]))
                    position += 1
                    guard let option = options.first(where: { $0.short == letter }) ?? (letter == "?" ? help : nil) else {
                        out.append("-" + String(letter))  // the parser reports unknown options
                        continue
                    }
                    if !option.takesValue {
                        try emit(option, nil)
                        continue
                    }
                    if position < argument.count {
                        try emit(option, Array(argument[position...]))
                    } else if index < argv.count && option.takes(argv[index]) {
                        try emit(option, argv[index])
                        index += 1
                    } else if let value = option.defaultValue {
                        try emit(option, Array(value.utf8))
                    } else {
                        throw Failure(description: "missing value for -\(letter)")
                    }
                    break
                }
                continue
            }
            out.append(text(argument))
        }
        arguments = out
        rawValues = raw
        hasTerminator = terminator
        self.trailing = trailing
    }
}
