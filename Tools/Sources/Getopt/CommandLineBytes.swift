internal import CommandLineCapture
internal import Glibc

extension GetoptArguments {
    /// This process's arguments (without the program name) as their exact bytes:
    /// `CommandLine.arguments` replaces invalid UTF-8. Right without /proc too (CommandLineCapture).
    public static var commandLineBytes: [[UInt8]] {
        _ = command_line_capture_linked()
        return stride(from: 1, to: Int(CommandLine.argc), by: 1).map { index in
            guard let pointer = CommandLine.unsafeArgv[index] else { return [] }
            return UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)).map { $0 }
        }
    }
}
