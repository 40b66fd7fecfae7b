public import ArgumentParser
internal import Glibc
internal import TraceOutput

extension ParsableCommand {
    /// Parses this process's arguments the getopt way (`GetoptArguments` with `options`) into
    /// the command, with the exact bytes of the values of `rawOptions`. `--help` prints the
    /// help and exits 0; bad input exits 2 with one line, `tool: message`, on standard error.
    public static func parseGetoptOrExit(_ options: [GetoptArguments.Option], rawOptions: Set<String> = [],
                                         tool: String) -> (command: Self, rawValues: [String: [[UInt8]]]) {
        do {
            let normalized = try GetoptArguments(GetoptArguments.commandLineBytes, options: options, rawOptions: rawOptions)
            return (try parse(normalized.arguments), normalized.rawValues)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let message = (error as? GetoptArguments.Failure)?.description ?? message(for: error)
            Diagnostics.report(message.split(separator: "\n").first.map(String.init) ?? "\(error)", tool: tool)
            Glibc.exit(2)
        }
    }
}
