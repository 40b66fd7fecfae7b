/// The pieces a JSON Lines formatter writes straight into an `OutputBuffer`: `,"key":value`
/// for numbers, booleans, errno values and untrusted bytes, and the lost-events record.
/// Untrusted bytes are JSON strings (`SafeText.appendJSONString`: each byte of invalid UTF-8
/// is U+FFFD there), followed by `"KEY_base64"` with the exact bytes only when that was lossy.
extension OutputBuffer {
    /// Appends `{"time":"<RFC 3339 UTC>","ts_ns":N`: how a record of an event at kernel
    /// monotonic time `monotonic` begins.
    @inlinable
    public mutating func appendJSONRecordStart(at monotonic: UInt64, clock: inout WallClock) {
        clock.appendJSONRecordStart(monotonic, into: &self)
    }

    /// Appends `,"key":` (`,"key_base64":` with `base64`).
    public mutating func appendJSONKey(_ key: StaticString, base64: Bool = false) {
        append(",\"")
        append(key)
        append(base64 ? "_base64\":" : "\":")
    }

    /// Appends `,"key":value`.
    public mutating func appendJSONField(_ key: StaticString, _ value: Int64) {
        appendJSONKey(key)
        appendDecimal(value)
    }

    /// Appends `,"key":true` or `,"key":false`.
    public mutating func appendJSONField(_ key: StaticString, _ value: Bool) {
        appendJSONKey(key)
        append(value ? "true" : "false")
    }

    /// Appends `,"key":"..."` for untrusted bytes, and `,"key_base64":"..."` if they are not valid UTF-8.
    public mutating func appendJSONField(_ key: StaticString, bytes: UnsafeRawBufferPointer) {
        appendJSONField(key, byteStrings: CollectionOfOne(bytes), asArray: false)
    }

    /// Appends `,"key":["...",...]` for a list of untrusted byte strings, and
    /// `,"key_base64":["...",...]` (every one of them) if any is not valid UTF-8.
    public mutating func appendJSONField(_ key: StaticString, byteStrings: some Collection<UnsafeRawBufferPointer>) {
        appendJSONField(key, byteStrings: byteStrings, asArray: true)
    }

    private mutating func appendJSONField(_ key: StaticString, byteStrings: some Collection<UnsafeRawBufferPointer>,
                                          asArray: Bool) {
        var lossless = true
        for base64 in [false, true] where !base64 || !lossless {
            appendJSONKey(key, base64: base64)
            if asArray { append(UInt8(ascii: "[")) }
            for (index, item) in byteStrings.enumerated() {
                if index > 0 { append(UInt8(ascii: ",")) }
                if base64 {
                    SafeText.appendBase64(item, into: &self)
                } else if !SafeText.appendJSONString(item, into: &self) {
                    lossless = false
                }
            }
            if asArray { append(UInt8(ascii: "]")) }
        }
    }

    /// Appends `,"errno":N,"errno_name":"ENAME"` (`null` for 0 and for numbers Linux has no name for).
    public mutating func appendJSONErrno(_ code: Int32) {
        appendJSONField("errno", Int64(code))
        appendJSONKey("errno_name")
        if code != 0, let name = ErrnoName.of(code) {
            append(UInt8(ascii: "\""))
            append(name)
            append(UInt8(ascii: "\""))
        } else {
            append("null")
        }
    }

    /// Appends the record of events lost since the last one: `{"lost":N,"lost_total":M}`.
    public mutating func appendJSONLostRecord(_ count: UInt64, total: UInt64) {
        append("{\"lost\":")
        appendUnsigned(count)
        append(",\"lost_total\":")
        appendUnsigned(total)
        append("}\n")
    }
}
