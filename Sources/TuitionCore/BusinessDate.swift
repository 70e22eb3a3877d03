import Foundation

/// A calendar date in Asia/Shanghai, where the business day is reckoned. Pure arithmetic, no time zone database.
public struct BusinessDate: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
            (1...BusinessDate.daysIn(year: year, month: month)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// A date whose parts are known to be valid (constants, or arithmetic on a valid date); no check, no trap.
    init(validated year: Int, _ month: Int, _ day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`, ASCII digits only (`isASCIIDigits`): `+001` is no year.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy(\.isASCIIDigits),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The Shanghai calendar date of an instant (UTC+8, no daylight saving since 1991).
    public init(shanghaiDateOf instant: Date) {
        // Clamped to ±10¹⁵ s (tens of millions of years) so no instant, however absurd, traps the conversion.
        let interval = instant.timeIntervalSince1970
        let bounded = interval.isFinite ? max(-1e15, min(1e15, interval.rounded(.down))) : 0
        let seconds = Int(bounded) + 8 * 3600
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        self = BusinessDate(daysSinceEpoch: days)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        // Decoding is the edge: a date outside the documented window never reaches date arithmetic.
        guard let date = BusinessDate(text), PlatformLimits.dateInWindow(date) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "expected a date YYYY-MM-DD from 2000-01-01 to 2099-12-31"))
        }
        self = date
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (lhs: BusinessDate, rhs: BusinessDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// The same day `months` later, clamped to the end of a shorter month (31 Jan + 1 month = 28/29 Feb).
    /// Total: 9999-12-31 + 1 month is 10000-01-31, a value that compares correctly and never traps (issue #11).
    public func addingMonths(_ months: Int) -> BusinessDate {
        let months = max(-1_200_000, min(1_200_000, months))
        let monthIndex = year * 12 + (month - 1) + months
        let newYear = monthIndex >= 0 ? monthIndex / 12 : (monthIndex - 11) / 12
        let newMonth = monthIndex - newYear * 12 + 1
        let newDay = min(day, BusinessDate.daysIn(year: newYear, month: newMonth))
        return BusinessDate(validated: newYear, newMonth, newDay)
    }

    public func addingDays(_ days: Int) -> BusinessDate {
        BusinessDate(daysSinceEpoch: daysSinceEpoch + max(-1_000_000_000, min(1_000_000_000, days)))
    }

    /// Days since 1970-01-01 (Hinnant's days_from_civil).
    public var daysSinceEpoch: Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public init(daysSinceEpoch: Int) {
        let shifted = daysSinceEpoch + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.year = year
        self.month = month
        self.day = day
    }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// An RFC 3339 time (`2026-12-03T08:00:00Z`, `2026-12-03T16:00:00.123456+08:00`), with at most nine fractional
/// digits; nil for anything else, an impossible day, hour or offset included. Read by hand with the civil-date
/// arithmetic: ICU's parser, behind `ISO8601DateFormatter`, divides by zero (killing the process) on a fraction of 35
/// digits, reads some long fractions a second early and takes 30 February for 2 March.
public func parseRFC3339(_ text: String) -> Date? {
    var reader = RFC3339Reader(bytes: Array(text.utf8))
    return reader.read()
}

/// The parts of an RFC 3339 time, read left to right from its ASCII bytes.
private struct RFC3339Reader {
    let bytes: [UInt8]
    var index = 0

    mutating func read() -> Date? {
        guard bytes.count <= 35, let year = digits(4), skip("-"), let month = digits(2), skip("-"), let day = digits(2),
            skip("T") || skip("t"), let hour = digits(2), skip(":"), let minute = digits(2), skip(":"), let second = digits(2),
            let date = BusinessDate(year: year, month: month, day: day), hour < 24, minute < 60, second < 60,
            let nanoseconds = fraction(), let offset = offsetSeconds(), index == bytes.count
        else { return nil }
        let seconds = date.daysSinceEpoch * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9)
    }

    /// Exactly `count` ASCII digits.
    private mutating func digits(_ count: Int) -> Int? {
        guard index + count <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[index..<(index + count)] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += count
        return value
    }

    private mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    /// `.` and one to nine digits, as nanoseconds; 0 when there is no fraction.
    private mutating func fraction() -> Int? {
        guard skip(".") else { return 0 }
        var count = 0
        while index + count < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + count]) { count += 1 }
        guard (1...9).contains(count), let value = digits(count) else { return nil }
        return (count..<9).reduce(value) { value, _ in value * 10 }
    }

    /// `Z`, or `+hh:mm` / `-hh:mm` east of UTC, in seconds.
    private mutating func offsetSeconds() -> Int? {
        if skip("Z") || skip("z") { return 0 }
        let sign = skip("+") ? 1 : skip("-") ? -1 : 0
        guard sign != 0, let hours = digits(2), skip(":"), let minutes = digits(2), hours < 24, minutes < 60 else { return nil }
        return sign * (hours * 3600 + minutes * 60)
    }
}
