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

    private static let hexDigits: StaticString = "0123456789abcdef"

    @inline(__always)
    private static func appendHexEscape(_ byte: UInt8, prefix: StaticString, into out: inout OutputBuffer) {
        out.append(prefix)
        out.append(hexDigits.utf8Start[Int(byte >> 4)])
        out.append(hexDigits.utf8Start[Int(byte & 0xF)])
    }

    /// Up to 8 bytes from `p` (`count` of them, 1...8) in a word, first byte lowest; reads
    /// nothing past them.
    @inline(__always)
    static func loadWord(_ p: UnsafeRawPointer, count: Int) -> UInt64 {
        if count >= 8 { return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) }
        if count >= 4 {
            let low = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            let high = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self)))
            return low | high &<< (UInt64(count &- 4) &* 8)
        }
        if count >= 2 {
            let low = UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            let high = UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: count &- 2, as: UInt16.self)))
            return low | high &<< (UInt64(count &- 2) &* 8)
        }
        return UInt64(p.load(as: UInt8.self))
    }

    /// The high bit of each byte of `word` that is not printable ASCII or is `\` (or, for
    /// JSON, `"`): >= 0x80, < 0x20, 0x7F. Exact per byte (no carries between bytes).
    @inline(__always)
    static func specialBytes(_ word: UInt64, json: Bool) -> UInt64 {
        let low7 = word & 0x7F7F_7F7F_7F7F_7F7F
        let atLeast20 = low7 &+ 0x6060_6060_6060_6060  // high bit: byte & 0x7F >= 0x20
        let atLeast7F = low7 &+ 0x0101_0101_0101_0101  // high bit: byte & 0x7F == 0x7F
        var plain = atLeast20 & ~atLeast7F & ~word & ~zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
        if json { plain &= ~zeroBytes(word ^ 0x2222_2222_2222_2222) }
        return ~plain & 0x8080_8080_8080_8080
    }

    /// Copies bytes from `b` starting at `i` (< `b.count`) into `out` up to the first one that
    /// needs care (see `specialBytes`), 8 at a time: each word is stored whole (8 bytes of room
    /// are reserved past the copy) and the end moved past its plain bytes. Returns the index of
    /// that byte, or `b.count`.
    @inline(__always)
    static func copyPlain(_ b: UnsafeRawBufferPointer, from i: Int, json: Bool, into out: inout OutputBuffer) -> Int {
        let from = b.baseAddress!, count = b.count
        out.reserve(count &- i &+ 8)
        let to = UnsafeMutableRawPointer(out.base + out.used) - i  // byte k of `b` goes to `to + k`
        var i = i
        while i &+ 8 <= count {
            let word = UInt64(littleEndian: from.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            (to + i).storeBytes(of: word.littleEndian, as: UInt64.self)
            let special = specialBytes(word, json: json)
            if special != 0 {
                i &+= special.trailingZeroBitCount &>> 3
                out.used = (to + i) - UnsafeMutableRawPointer(out.base)
                return i
            }
            i &+= 8
        }
        if i < count {
            let n = count &- i
            let word = loadWord(from + i, count: n)
            (to + i).storeBytes(of: word.littleEndian, as: UInt64.self)
            let special = specialBytes(word, json: json) & ((1 &<< (UInt64(n) &* 8)) &- 1)
            i &+= special == 0 ? n : special.trailingZeroBitCount &>> 3
        }
        out.used = (to + i) - UnsafeMutableRawPointer(out.base)
        return i
    }

    /// `bytes` escaped as `appendTerminalSafe` does, as a string (for messages).
    public static func terminalSafe(_ bytes: [UInt8]) -> String {
        var out = OutputBuffer(capacity: bytes.count * 4 + 16)
        bytes.withUnsafeBytes { appendTerminalSafe($0, into: &out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Appends `b` for a terminal: printable ASCII and valid UTF-8 as is; `\\`, `\n`, `\t`,
    /// `\r` escaped; every other control byte (C0, DEL, C1) and every byte of invalid UTF-8 as
    /// `\xNN`. No file name can end a line or send an escape sequence, and the mapping is
    /// reversible.
    public static func appendTerminalSafe(_ b: UnsafeRawBufferPointer, into out: inout OutputBuffer) {
        var i = 0
        while i < b.count {
            i = copyPlain(b, from: i, json: false, into: &out)
            guard i < b.count else { return }
            let byte = b[i]
            switch byte {
            case UInt8(ascii: "\\"): out.append("\\\\"); i += 1; continue
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

    /// Appends a NUL-padded name field (a task's 16-byte `comm`) for a terminal, as
    /// `appendTerminalSafe` does with its bytes before the first NUL, then spaces to `width`
    /// columns (`%-16s`). A 16-byte field of plain bytes takes two loads and two stores.
    public static func appendTerminalSafeField(_ field: UnsafeRawBufferPointer, paddedTo width: Int,
                                               into out: inout OutputBuffer) {
        if field.count == 16 && width == 16 {
            let low = loadWord(field.baseAddress!, count: 8)
            let high = loadWord(field.baseAddress! + 8, count: 8)
            // Bytes before the first NUL: the name. `keep` masks them in each word.
            let lowZeros = zeroBytes(low), highZeros = zeroBytes(high)
            let lowLength = lowZeros == 0 ? 8 : UInt64(lowZeros.trailingZeroBitCount &>> 3)
            let highLength = lowZeros != 0 ? 0 : highZeros == 0 ? 8 : UInt64(highZeros.trailingZeroBitCount &>> 3)
            let lowKeep: UInt64 = lowLength == 8 ? ~0 : (1 &<< (lowLength &* 8)) &- 1
            let highKeep: UInt64 = highLength == 8 ? ~0 : (1 &<< (highLength &* 8)) &- 1
            if (specialBytes(low, json: false) & lowKeep) | (specialBytes(high, json: false) & highKeep) == 0 {
                let spaces: UInt64 = 0x2020_2020_2020_2020
                out.reserve(16)
                let at = UnsafeMutableRawPointer(out.base + out.used)
                at.storeBytes(of: ((low & lowKeep) | (spaces & ~lowKeep)).littleEndian, as: UInt64.self)
                (at + 8).storeBytes(of: ((high & highKeep) | (spaces & ~highKeep)).littleEndian, as: UInt64.self)
                out.used &+= 16
                return
            }
        }
        let start = out.count
        let length = field.firstIndex(of: 0) ?? field.count
        appendTerminalSafe(UnsafeRawBufferPointer(rebasing: field[..<length]), into: &out)
        out.pad(from: start, toWidth: width)
    }

    /// The high bit of each zero byte of `word` (exact: no borrows).
    @inline(__always)
    static func zeroBytes(_ word: UInt64) -> UInt64 {
        ~(((word & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | word) & 0x8080_8080_8080_8080
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
            i = copyPlain(b, from: i, json: true, into: &out)
            guard i < b.count else { break }
            let byte = b[i]
            switch byte {
            case UInt8(ascii: "\""): out.append("\\\""); i += 1
            case UInt8(ascii: "\\"): out.append("\\\\"); i += 1
            case UInt8(ascii: "\n"): out.append("\\n"); i += 1
            case UInt8(ascii: "\t"): out.append("\\t"); i += 1
            case UInt8(ascii: "\r"): out.append("\\r"); i += 1
            case 0..<0x20, 0x7F:
                appendHexEscape(byte, prefix: "\\u00", into: &out); i += 1
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
