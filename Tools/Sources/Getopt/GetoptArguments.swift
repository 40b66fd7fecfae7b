/// Brings a command line written the getopt way (as BCC's and libbpf-tools' tools take it) to
/// the form swift-argument-parser reads, and keeps the exact bytes of chosen values.
///
/// - attached values: `-p123`, `-ncat`, `-xp123` (flags then an option), `--pid=123`;
/// - values that look like options: `-b -1` (the value of `-b` is `-1`, whatever it says);
/// - every option with a value becomes `--long=value`, so the parser never takes a value for an
///   option of its own;
/// - options that may be given once are checked for repeats;
/// - the values of `rawOptions` are kept as bytes, invalid UTF-8 included (the parser sees them
///   with U+FFFD).
/// Arguments after `--` are left alone.
public struct GetoptArguments: Sendable, Equatable {
    /// What an option is.
    public struct Option: Sendable, Equatable {
        public let long: String
        public let short: Character?
        public let takesValue: Bool
        /// May be given more than once (values accumulate).
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
        var seen: [String: Int] = [:]
        var terminator = false
        var trailing: [[UInt8]] = []
        var index = 0
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        func emit(_ option: Option, _ value: [UInt8]?) throws(Failure) {
            seen[option.long, default: 0] += 1
            if !option.repeatable && seen[option.long]! > 1 {
                throw Failure(description: "--\(option.long) may be given only once")
            }
            guard let value else {
                out.append("--" + option.long)
                return
            }
            // The parser would take the next argument for an empty value (`-o "" -d 1`).
            guard !value.isEmpty else {
                throw Failure(description: "--\(option.long)\(option.short.map { " (-\($0))" } ?? "") was given an empty value")
            }
            if rawOptions.contains(option.long) { raw[option.long, default: []].append(value) }
            out.append("--\(option.long)=" + text(value))
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
                guard let option = options.first(where: { $0.long == name }) else {
                    out.append(text(argument))  // the parser reports unknown options
                    continue
                }
                if let equals {
                    guard option.takesValue else {
                        throw Failure(description: "--\(name) takes no value")
                    }
                    try emit(option, Array(body[body.index(after: equals)...]))
                } else if option.takesValue {
                    if index < argv.count && option.takes(argv[index]) {
                        try emit(option, argv[index])
                        index += 1
                    } else if let value = option.defaultValue {
                        try emit(option, Array(value.utf8))
                    } else {
                        throw Failure(description: "missing value for --\(name)")
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
                    guard let option = options.first(where: { $0.short == letter }) else {
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
