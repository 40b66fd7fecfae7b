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

/// Runs `body` with `arguments` as a NUL-terminated C `argv` (exact bytes), for `execv` and
/// `posix_spawn`; the copies live until `body` returns.
public func withCArguments<R>(_ arguments: [[UInt8]], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { bytes in
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in bytes.enumerated() { copy[index] = CChar(bitPattern: byte) }
        copy[bytes.count] = 0
        return copy
    } + [nil]
    defer { argv.forEach { $0?.deallocate() } }
    return body(argv)
}
