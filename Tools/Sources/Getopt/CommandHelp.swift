internal import Glibc
internal import TraceOutput

/// A command's `--help`, made from the options its command line is read with.
public struct CommandHelp: Sendable {
    /// The tools' version (opensnoop, opensnoop-agent and execsnoop are released together), as
    /// `-V` prints it.
    public static let version = "0.2.0"

    public let abstract: String
    /// `opensnoop [OPTIONS] [-- COMMAND ...]`
    public let usage: String
    /// Paragraphs after the overview (already wrapped, or left to the terminal).
    public let discussion: String
    public let options: [GetoptArguments.Option]

    public init(abstract: String, usage: String, discussion: String, options: [GetoptArguments.Option]) {
        self.abstract = abstract
        self.usage = usage
        self.discussion = discussion
        self.options = options
    }

    /// What `--help` or `--version` among `arguments` asks to print, or nil if neither was given.
    public func reply(to arguments: GetoptArguments) -> String? {
        if arguments.flag("help") { return text }
        if arguments.flag("version") { return Self.version + "\n" }
        return nil
    }

    /// The help: overview, discussion, usage, then one entry per option, its text wrapped at 80
    /// columns beside the option's names.
    public var text: String {
        var out = "OVERVIEW: \(abstract)\n\n\(discussion)\n\nUSAGE: \(usage)\n\nOPTIONS:\n"
        let column = 26
        for option in options {
            var label = "  " + (option.short.map { "-\($0), " } ?? "    ") + "--" + option.long
            if let value = option.valueName { label += option.defaultValue == nil ? " <\(value)>" : " [<\(value)>]" }
            var line = String(repeating: " ", count: column)
            if label.count <= column - 2 {
                line = label + String(repeating: " ", count: column - label.count)
            } else {
                out += label + "\n"  // the text starts on the next line
            }
            for word in option.help.split(separator: " ") {
                if line.count + 1 + word.count > 80 && line.count > column {
                    out += line + "\n"
                    line = String(repeating: " ", count: column)
                }
                line += (line.count > column ? " " : "") + word
            }
            out += line + "\n"
        }
        return out
    }
}

extension GetoptArguments {
    /// This process's command line read for `options`. `--help` prints `help`, `--version` the
    /// version, and exit 0; bad input exits 2 with one line, `tool: message`, on standard error.
    public static func parseOrExit(_ options: [Option], help: CommandHelp, tool: String) -> GetoptArguments {
        do {
            let arguments = try GetoptArguments(commandLineBytes, options: options)
            if let reply = help.reply(to: arguments) {
                reply.withCString { _ = write(STDOUT_FILENO, $0, strlen($0)) }
                exit(0)
            }
            return arguments
        } catch {
            Diagnostics.report(error.description, tool: tool)
            exit(2)
        }
    }
}
