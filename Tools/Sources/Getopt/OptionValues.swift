/// Parsers of values that tracers' options share; each throws a message saying what was expected.
public enum OptionValues {
    /// A positive decimal number of `unit`, at most 10^9 (`limit` says how long that is).
    private static func positive(_ text: String, _ unit: String, limit: String) throws(InvalidValue) -> Double {
        // Decimal only: Double(_:) also reads hexadecimal ("0x10" would be 16).
        guard text.allSatisfy({ $0.isASCII && ($0.isNumber || ".eE+-".contains($0)) }),
              let value = Double(text), value.isFinite, value > 0 else {
            throw InvalidValue("expected a positive number of \(unit), got '\(text)'")
        }
        guard value <= 1e9 else {
            throw InvalidValue("expected at most 1000000000 \(unit) (\(limit)), got '\(text)'")
        }
        return value
    }

    /// A positive number of seconds (`-d 10`, `-d 0.5`), at most 10^9 (about 31 years).
    public static func seconds(_ text: String) throws(InvalidValue) -> Double {
        try positive(text, "seconds", limit: "about 31 years")
    }

    /// A positive number of milliseconds (`--slower 2.5`).
    public static func milliseconds(_ text: String) throws(InvalidValue) -> Double {
        try positive(text, "milliseconds", limit: "about 11 days")
    }
}
