/// The opensnoop BPF program, compiled from `bpf/opensnoop.bpf.c` by the package build.
public enum OpenSnoopBPF {
    /// The BPF object file (ELF with BTF), ready for `BPFObject(bytes:)`.
    public static var objectBytes: [UInt8] {
        Base64.decode(opensnoopBPFObjectBase64)
    }
}

/// A minimal base64 decoder for the embedded object (no Foundation at run time).
enum Base64 {
    static func decode(_ text: StaticString) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(c)] = UInt8(i)
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8CodeUnitCount / 4 * 3)
        var accumulator: UInt32 = 0
        var bits = 0
        text.withUTF8Buffer { buffer in
            for c in buffer {
                let v = table[Int(c)]
                if v == 0xFF { continue }  // '=' padding
                accumulator = (accumulator << 6) | UInt32(v)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
        }
        return out
    }
}
