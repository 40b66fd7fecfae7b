extension SafeText {
    /// Appends `b` as `appendTerminalSafe` does, with each space escaped too (`\x20`), so that
    /// it reads as one word on a line of words (a file name before a list of arguments).
    public static func appendTerminalSafeWord(_ b: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        var start = 0
        for index in 0...b.count where index == b.count || b[index] == UInt8(ascii: " ") {
            appendTerminalSafe(UnsafeRawBufferPointer(rebasing: b[start..<index]), into: &out)
            if index < b.count { out.append("\\x20") }
            start = index + 1
        }
    }
}
