/// Byte-exact, injection-proof renderings of untrusted bytes (paths, command names).
public enum SafeText {
    /// Length of the valid UTF-8 sequence starting at `i`, or nil if the byte there does not
    /// start one (overlongs, surrogates and values past U+10FFFF are invalid).
    @inline(__always)
    static func utf8SequenceLength(_ b: UnsafeRawBufferPointer, at i: Int) -> Int? {
        let first = b[i]
        if first < 0x80 { return 1 }
        func continuation(_ k: Int) -> Bool { i + k < b.count && b[i + k] & 0xC0 == 0x80 }
        switch first {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : nil
        case 0xE0...0xEF:
            guard continuation(1), continuation(2) else { return nil }
            let second = b[i + 1]
            if first == 0xE0 && second < 0xA0 { return nil }  // overlong
            if first == 0xED && second > 0x9F { return nil }  // surrogate
            return 3
        case 0xF0...0xF4:
            guard continuation(1), continuation(2), continuation(3) else { return nil }
            let second = b[i + 1]
            if first == 0xF0 && second < 0x90 { return nil }  // overlong
            if first == 0xF4 && second > 0x8F { return nil }  // past U+10FFFF
            return 4
        default:
            return nil
        }
    }

    /// Whether every byte is part of valid UTF-8.
    public static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < b.count {
            guard let n = utf8SequenceLength(b, at: i) else { return false }
            i += n
        }
        return true
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    @inline(__always)
    private static func appendHexEscape(_ byte: UInt8, prefix: StaticString, into out: inout OutputBuffer) {
        out.append(prefix)
        hexDigits.withUTF8Buffer { hex in
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
    }

    /// Appends `b` for a terminal: printable ASCII and valid UTF-8 as is; `\\`, `\n`, `\t`,
    /// `\r` escaped; every other control byte (C0, DEL, C1) and every byte of invalid UTF-8 as
    /// `\xNN`. No file name can end a line or send an escape sequence, and the mapping is
    /// reversible.
    public static func appendTerminalSafe(_ b: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        var i = 0
        while i < b.count {
            let byte = b[i]
            if byte >= 0x20 && byte < 0x7F {
                if byte == UInt8(ascii: "\\") { out.append("\\\\") } else { out.append(byte) }
                i += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\n"): out.append("\\n"); i += 1; continue
            case UInt8(ascii: "\t"): out.append("\\t"); i += 1; continue
            case UInt8(ascii: "\r"): out.append("\\r"); i += 1; continue
            default: break
            }
            // C1 controls (U+0080...U+009F) are encoded C2 80...C2 9F: escape them too.
            if byte >= 0x80, let n = utf8SequenceLength(b, at: i), !(byte == 0xC2 && b[i + 1] < 0xA0) {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[i..<(i + n)]))
                i += n
            } else {
                appendHexEscape(byte, prefix: "\\x", into: &out)
                i += 1
            }
        }
    }

    /// Appends `b` as a quoted JSON string. Valid UTF-8 is kept; control characters are
    /// escaped; each byte of invalid UTF-8 becomes U+FFFD. Returns false when a byte was
    /// replaced (then the caller should also give the exact bytes, e.g. in base64).
    @discardableResult
    public static func appendJSONString(_ b: UnsafeRawBufferPointer, into out: inout OutputBuffer) -> Bool {
        var lossless = true
        out.append(UInt8(ascii: "\""))
        var i = 0
        while i < b.count {
            let byte = b[i]
            switch byte {
            case UInt8(ascii: "\""): out.append("\\\""); i += 1
            case UInt8(ascii: "\\"): out.append("\\\\"); i += 1
            case UInt8(ascii: "\n"): out.append("\\n"); i += 1
            case UInt8(ascii: "\t"): out.append("\\t"); i += 1
            case UInt8(ascii: "\r"): out.append("\\r"); i += 1
            case 0..<0x20, 0x7F:
                appendHexEscape(byte, prefix: "\\u00", into: &out); i += 1
            case 0x20..<0x7F:
                out.append(byte); i += 1
            default:
                if let n = utf8SequenceLength(b, at: i) {
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[i..<(i + n)]))
                    i += n
                } else {
                    out.append("\\ufffd")
                    lossless = false
                    i += 1
                }
            }
        }
        out.append(UInt8(ascii: "\""))
        return lossless
    }

    /// Appends `b` in standard base64 (RFC 4648, with padding), quoted for JSON.
    public static func appendBase64(_ b: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        out.append(UInt8(ascii: "\""))
        alphabet.withUTF8Buffer { table in
            var i = 0
            while i < b.count {
                let chunk = min(3, b.count - i)
                var value = UInt32(b[i]) << 16
                if chunk > 1 { value |= UInt32(b[i + 1]) << 8 }
                if chunk > 2 { value |= UInt32(b[i + 2]) }
                for k in 0..<4 {
                    if k <= chunk {
                        out.append(table[Int((value >> UInt32(18 - 6 * k)) & 0x3F)])
                    } else {
                        out.append(UInt8(ascii: "="))
                    }
                }
                i += 3
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
