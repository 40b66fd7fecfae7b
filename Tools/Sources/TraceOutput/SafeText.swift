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

    /// The high bit of each byte of `chunk` that is not printable ASCII or is `\` (or, for
    /// JSON, `"`): >= 0x80, < 0x20, 0x7F; as two words, the first byte lowest. Byte-wise
    /// arithmetic (no carries between bytes), which the compiler turns into a dozen SSE2
    /// instructions for the 16 bytes.
    @inline(__always)
    static func specialBytes(_ chunk: SIMD16<UInt8>, json: Bool) -> SIMD2<UInt64> {
        let shifted = chunk &- 0x20  // printable ASCII: 0x00...0x5E
        var special = shifted | (shifted &+ 0x21)  // high bit: above 0x5E
        special |= equalBytes(chunk, UInt8(ascii: "\\"))
        if json { special |= equalBytes(chunk, UInt8(ascii: "\"")) }
        return unsafeBitCast(special & 0x80, to: SIMD2<UInt64>.self)
    }

    /// The high bit set in each byte of `chunk` equal to `byte` (the other bits are not cleared).
    @inline(__always)
    static func equalBytes(_ chunk: SIMD16<UInt8>, _ byte: UInt8) -> SIMD16<UInt8> {
        let difference = chunk ^ SIMD16(repeating: byte)
        return (difference &- 1) & ~difference
    }

    /// The index (0...15) of the first byte with its high bit set in `lanes` (two words, the
    /// first byte lowest), or 16 if there is none.
    @inline(__always)
    static func firstMarked(_ lanes: SIMD2<UInt64>) -> Int {
        lanes[0] != 0 ? lanes[0].trailingZeroBitCount &>> 3 : 8 &+ lanes[1].trailingZeroBitCount &>> 3
    }

    /// Copies bytes from `b` starting at `start` (< `b.count`) into `out` up to the first one
    /// that needs care (see `specialBytes`), 16 at a time: each chunk is stored whole (16 bytes
    /// of room are reserved past the copy) and the end moved past its plain bytes. The last
    /// chunk is the last 16 bytes of `b` when the plain bytes before them were checked already
    /// (it overlaps them), else the bytes left, zero-padded (a zero byte needs care: the first
    /// padding byte stops the copy). Returns the index of the byte that needs care, or `b.count`.
    @inline(__always)
    static func copyPlain(_ b: UnsafeRawBufferPointer, from start: Int, json: Bool, into out: inout OutputBuffer) -> Int {
        let from = b.baseAddress!, count = b.count
        out.reserve(count &- start &+ 16)
        let to = UnsafeMutableRawPointer(out.base + out.used) - start  // byte k of `b` goes to `to + k`
        var i = start
        while count &- i >= 16 {
            let chunk = from.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
            (to + i).storeBytes(of: chunk, as: SIMD16<UInt8>.self)
            let special = specialBytes(chunk, json: json)
            if special[0] | special[1] != 0 {
                i &+= firstMarked(special)
                out.used = (to + i) - UnsafeMutableRawPointer(out.base)
                return i
            }
            i &+= 16
        }
        if i < count {
            let left = count &- i
            if count &- 16 >= start {
                let last = count &- 16
                let chunk = from.loadUnaligned(fromByteOffset: last, as: SIMD16<UInt8>.self)
                (to + last).storeBytes(of: chunk, as: SIMD16<UInt8>.self)
                i = last &+ firstMarked(specialBytes(chunk, json: json))
            } else {
                let low = loadWord(from + i, count: Swift.min(left, 8))
                let high = left > 8 ? loadWord(from + i + 8, count: left &- 8) : 0
                let chunk = unsafeBitCast(SIMD2(low.littleEndian, high.littleEndian), to: SIMD16<UInt8>.self)
                (to + i).storeBytes(of: chunk, as: SIMD16<UInt8>.self)
                i &+= firstMarked(specialBytes(chunk, json: json))
            }
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
            let chunk = field.baseAddress!.loadUnaligned(as: SIMD16<UInt8>.self)
            // Bytes before the first NUL: the name. `keep` masks them in each word.
            let length = firstMarked(unsafeBitCast(equalBytes(chunk, 0) & 0x80, to: SIMD2<UInt64>.self))
            let keep = SIMD2(lowBytes(length), lowBytes(length &- 8))
            if specialBytes(chunk, json: false) & keep == .zero {
                let spaces = SIMD2<UInt64>(repeating: 0x2020_2020_2020_2020)
                let words = unsafeBitCast(chunk, to: SIMD2<UInt64>.self)
                out.reserve(16)
                UnsafeMutableRawPointer(out.base + out.used).storeBytes(of: (words & keep) | (spaces & ~keep),
                                                                        as: SIMD2<UInt64>.self)
                out.used &+= 16
                return
            }
        }
        let start = out.count
        let length = field.firstIndex(of: 0) ?? field.count
        appendTerminalSafe(UnsafeRawBufferPointer(rebasing: field[..<length]), into: &out)
        out.pad(from: start, toWidth: width)
    }

    /// A mask of the first `count` bytes of a word (none for 0 or less, all for 8 or more).
    @inline(__always)
    static func lowBytes(_ count: Int) -> UInt64 {
        count <= 0 ? 0 : (1 << (UInt64(count) &* 8)) &- 1
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
