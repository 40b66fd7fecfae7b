internal import Glibc

/// Converts the kernel's monotonic timestamps to wall-clock time. The offset between the two
/// clocks is read once, at creation; formatted seconds are cached, so a timestamp costs a
/// division and a compare in the common case.
public struct WallClock {
    /// Wall-clock nanoseconds minus monotonic nanoseconds.
    public let offsetNanoseconds: Int64
    private var cachedSecond: Int64 = .min
    private var cachedLocal: (UInt8, UInt8, UInt8) = (0, 0, 0)
    private var cachedUTCSecond: Int64 = .min
    private var cachedUTC: [UInt8] = []

    public init() {
        var real = timespec(), mono = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_MONOTONIC, &mono)
        offsetNanoseconds = (Int64(real.tv_sec) - Int64(mono.tv_sec)) * 1_000_000_000
            + Int64(real.tv_nsec) - Int64(mono.tv_nsec)
    }

    /// Wall-clock nanoseconds since the epoch of a kernel monotonic timestamp.
    public func wallNanoseconds(_ monotonic: UInt64) -> Int64 {
        Int64(bitPattern: monotonic) &+ offsetNanoseconds
    }

    /// Appends local `HH:MM:SS` (libbpf-tools opensnoop's TIME column).
    public mutating func appendLocalTime(_ monotonic: UInt64, into out: inout OutputBuffer) {
        let second = wallNanoseconds(monotonic) / 1_000_000_000
        if second != cachedSecond {
            var t = time_t(second)
            var parts = tm()
            localtime_r(&t, &parts)
            cachedLocal = (UInt8(parts.tm_hour), UInt8(parts.tm_min), UInt8(parts.tm_sec))
            cachedSecond = second
        }
        out.appendZeroPadded(UInt64(cachedLocal.0), width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendZeroPadded(UInt64(cachedLocal.1), width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendZeroPadded(UInt64(cachedLocal.2), width: 2)
    }

    /// Appends RFC 3339 UTC time with nanoseconds, e.g. `2026-11-25T10:35:07.123456789Z`.
    public mutating func appendRFC3339(_ monotonic: UInt64, into out: inout OutputBuffer) {
        let wall = wallNanoseconds(monotonic)
        let second = wall / 1_000_000_000
        if second != cachedUTCSecond {
            var t = time_t(second)
            var parts = tm()
            gmtime_r(&t, &parts)
            var text = OutputBuffer(capacity: 20)
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
            cachedUTC = text.bytes
            cachedUTCSecond = second
        }
        cachedUTC.withUnsafeBytes { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "."))
        out.appendZeroPadded(UInt64(wall % 1_000_000_000), width: 9)
        out.append(UInt8(ascii: "Z"))
    }
}
