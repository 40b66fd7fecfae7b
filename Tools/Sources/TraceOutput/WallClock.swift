internal import Glibc

/// Converts the kernel's monotonic timestamps (`bpf_ktime_get_ns`: the host's clock, whatever
/// time namespace we run in) to wall-clock time. The offset between the clocks is measured at
/// creation and again whenever a second of kernel time has passed since, so a step of the wall
/// clock shows within a second; formatted seconds are cached, so a timestamp costs a division
/// and a compare in the common case.
public struct WallClock {
    /// Wall-clock nanoseconds minus the kernel's monotonic nanoseconds.
    public private(set) var offsetNanoseconds: Int64 = 0
    /// The kernel time at which the offset was last measured.
    private var measuredAt: UInt64 = 0
    /// Our CLOCK_MONOTONIC minus the host's (a time namespace's offset; 0 outside one).
    private let namespaceOffset: Int64
    private var cachedSecond: Int64 = .min
    /// `HH:MM:SS` of `cachedSecond`, 8 bytes in a word.
    private var cachedLocal: UInt64 = 0
    private var cachedUTCSecond: Int64 = .min
    /// `YYYY-MM-DDTHH:MM:SS.` of `cachedUTCSecond` (20 bytes, `cachedUTCLength` past year 9999)
    /// in four words: appended with one copy, no array.
    private var cachedUTC: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var cachedUTCLength = 0

    /// `monotonic / 100_000_000` of the last `appendNanoseconds`, and its decimal digits (up to
    /// 12, in two words).
    private var cachedHigh: UInt64 = 0
    private var cachedHighDigits: (UInt64, UInt64) = (0, 0)
    private var cachedHighLength = 0

    /// How often the offset is measured again, in kernel nanoseconds.
    public static let resyncNanoseconds: UInt64 = 1_000_000_000

    public init() {
        namespaceOffset = Self.timeNamespaceOffset()
        measure()
    }

    /// Measures the offset now.
    private mutating func measure() {
        var real = timespec(), mono = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_MONOTONIC, &mono)
        let host = (Int64(mono.tv_sec) * 1_000_000_000 + Int64(mono.tv_nsec)) - namespaceOffset
        offsetNanoseconds = Int64(real.tv_sec) * 1_000_000_000 + Int64(real.tv_nsec) - host
        measuredAt = UInt64(max(host, 0))
        cachedSecond = .min
        cachedUTCSecond = .min
    }

    /// The monotonic offset of our time namespace, from `/proc/self/timens_offsets`
    /// (`monotonic SECONDS NANOSECONDS`); 0 when there is none.
    static func timeNamespaceOffset() -> Int64 {
        SmallFile.text("/proc/self/timens_offsets").map(parseTimeNamespaceOffsets) ?? 0
    }

    /// The monotonic offset in nanoseconds from the text of `timens_offsets`.
    public static func parseTimeNamespaceOffsets(_ text: String) -> Int64 {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 3, fields[0] == "monotonic" || fields[0] == "1",
                  let seconds = Int64(fields[1]), let nanoseconds = Int64(fields[2]) else { continue }
            return seconds &* 1_000_000_000 &+ nanoseconds
        }
        return 0
    }

    /// Wall-clock nanoseconds since the epoch of a kernel monotonic timestamp.
    public func wallNanoseconds(_ monotonic: UInt64) -> Int64 {
        Int64(bitPattern: monotonic) &+ offsetNanoseconds
    }

    /// Measures the offset again if a second of kernel time passed since it last was.
    @inline(__always)
    private mutating func resyncIfDue(_ monotonic: UInt64) {
        if monotonic &- measuredAt >= Self.resyncNanoseconds && monotonic > measuredAt { measure() }
    }

    /// Appends local `HH:MM:SS` (libbpf-tools opensnoop's TIME column).
    public mutating func appendLocalTime(_ monotonic: UInt64, into out: inout OutputBuffer) {
        resyncIfDue(monotonic)
        let second = wallNanoseconds(monotonic) / 1_000_000_000
        if second != cachedSecond {
            var t = time_t(second)
            var parts = tm()
            localtime_r(&t, &parts)
            var text = OutputBuffer(capacity: 8)
            text.appendZeroPadded(UInt64(parts.tm_hour), width: 2)
            text.append(UInt8(ascii: ":"))
            text.appendZeroPadded(UInt64(parts.tm_min), width: 2)
            text.append(UInt8(ascii: ":"))
            text.appendZeroPadded(UInt64(parts.tm_sec), width: 2)
            cachedLocal = text.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            cachedSecond = second
        }
        withUnsafeBytes(of: cachedLocal) { out.append(contentsOf: $0) }
    }

    /// Appends RFC 3339 UTC time with nanoseconds, e.g. `2026-11-25T10:35:07.123456789Z`.
    public mutating func appendRFC3339(_ monotonic: UInt64, into out: inout OutputBuffer) {
        resyncIfDue(monotonic)
        let wall = wallNanoseconds(monotonic)
        cacheUTC(of: wall)
        let length = cachedUTCLength
        withUnsafeBytes(of: cachedUTC) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<length])) }
        let nanoseconds = UInt64(wall % 1_000_000_000)
        out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: nanoseconds / 100_000_000))
        out.appendEightDigits(nanoseconds % 100_000_000)
        out.append(UInt8(ascii: "Z"))
    }

    /// Appends a kernel timestamp (`monotonic`, ns) in decimal. The digits above its last 8
    /// change every 0.1 s: they are rendered then and copied in between.
    public mutating func appendNanoseconds(_ monotonic: UInt64, into out: inout OutputBuffer) {
        let high = monotonic / 100_000_000
        guard high != 0 else { return out.appendUnsigned(monotonic) }
        cacheHighDigits(high)
        let length = cachedHighLength
        withUnsafeBytes(of: cachedHighDigits) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<length])) }
        out.appendEightDigits(monotonic % 100_000_000)
    }

    /// `{"time":"` `appendRFC3339` `","ts_ns":` `appendNanoseconds` (how a JSON record of an
    /// event begins) with one capacity check and no call: 17 digits made, the rest copied
    /// whole from the caches (their bytes past the cached lengths are scratch, overwritten).
    @usableFromInline
    mutating func appendJSONRecordStart(_ monotonic: UInt64, into out: inout OutputBuffer) {
        resyncIfDue(monotonic)
        let wall = wallNanoseconds(monotonic)
        let high = monotonic / 100_000_000
        guard high != 0 else {  // the first 0.1 s after boot: no digits above the last 8
            out.append("{\"time\":\"")
            appendRFC3339(monotonic, into: &out)
            out.append("\",\"ts_ns\":")
            return appendNanoseconds(monotonic, into: &out)
        }
        cacheUTC(of: wall)
        cacheHighDigits(high)
        out.reserve(128)
        var at = UnsafeMutableRawPointer(out.base + out.used)
        Self.put("{\"time\":\"", at: &at)
        withUnsafeBytes(of: cachedUTC) { OutputBuffer.copy($0.baseAddress!, count: $0.count, to: at) }
        at += cachedUTCLength
        let nanoseconds = UInt64(wall % 1_000_000_000)
        at.storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: nanoseconds / 100_000_000), as: UInt8.self)
        (at + 1).storeBytes(of: OutputBuffer.eightDigits(nanoseconds % 100_000_000).littleEndian, as: UInt64.self)
        at += 9
        Self.put("Z\",\"ts_ns\":", at: &at)
        withUnsafeBytes(of: cachedHighDigits) { OutputBuffer.copy($0.baseAddress!, count: $0.count, to: at) }
        at += cachedHighLength
        at.storeBytes(of: OutputBuffer.eightDigits(monotonic % 100_000_000).littleEndian, as: UInt64.self)
        out.used = at + 8 - UnsafeMutableRawPointer(out.base)
    }

    /// Stores `text` at `at` and moves `at` past it.
    @inline(__always)
    private static func put(_ text: StaticString, at: inout UnsafeMutableRawPointer) {
        OutputBuffer.copy(text.utf8Start, count: text.utf8CodeUnitCount, to: at)
        at += text.utf8CodeUnitCount
    }

    /// Makes `cachedUTC` the `YYYY-MM-DDTHH:MM:SS.` of wall-clock time `wall`, if it is not.
    @inline(__always)
    private mutating func cacheUTC(of wall: Int64) {
        let second = wall / 1_000_000_000
        if second != cachedUTCSecond { renderUTC(second) }
    }

    @inline(never)
    private mutating func renderUTC(_ second: Int64) {
        var t = time_t(second)
        var parts = tm()
        gmtime_r(&t, &parts)
        var text = OutputBuffer(capacity: 24)
        text.appendZeroPadded(UInt64(parts.tm_year + 1900), width: 4)
        text.append(UInt8(ascii: "-"))
        text.appendZeroPadded(UInt64(parts.tm_mon + 1), width: 2)
        text.append(UInt8(ascii: "-"))
        text.appendZeroPadded(UInt64(parts.tm_mday), width: 2)
        text.append(UInt8(ascii: "T"))
        text.appendZeroPadded(UInt64(parts.tm_hour), width: 2)
        text.append(UInt8(ascii: ":"))
        text.appendZeroPadded(UInt64(parts.tm_min), width: 2)
        text.append(UInt8(ascii: ":"))
        text.appendZeroPadded(UInt64(parts.tm_sec), width: 2)
        text.append(UInt8(ascii: "."))
        cachedUTCLength = Self.keep(text, in: &cachedUTC)
        cachedUTCSecond = second
    }

    /// Makes `cachedHighDigits` the decimal digits of `high` (`monotonic / 100_000_000`), if they are not.
    @inline(__always)
    private mutating func cacheHighDigits(_ high: UInt64) {
        if high != cachedHigh { renderHighDigits(high) }
    }

    @inline(never)
    private mutating func renderHighDigits(_ high: UInt64) {
        var text = OutputBuffer(capacity: 24)
        text.appendUnsigned(high)
        cachedHighLength = Self.keep(text, in: &cachedHighDigits)
        cachedHigh = high
    }

    /// Copies as much of `text` as the fixed-size `cache` holds into it; returns that length.
    private static func keep<Cache>(_ text: borrowing OutputBuffer, in cache: inout Cache) -> Int {
        let length = min(text.count, MemoryLayout<Cache>.size)
        text.withUnsafeBytes { bytes in
            withUnsafeMutableBytes(of: &cache) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(length))) }
        }
        return length
    }
}
