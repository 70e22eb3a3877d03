import struct Foundation.Date

/// Proleptic Gregorian dates as day counts, by arithmetic (Howard Hinnant's `days_from_civil` and `civil_from_days`):
/// signing and verifying read and write several UTC times per contract, and a Foundation `Calendar` costs more per
/// reading than the rest of the timestamp's handling. Used only from 1601 on, where Foundation's Gregorian calendar
/// (Julian before October 1582) agrees; other years, and components out of range, go through `Calendar` as before.
/// `TuitionCore.BusinessDate` has the same two formulas; ContractKit may not import the core (ArchitectureTests), so
/// the twenty lines live in both.
enum CivilDate {
    /// Years read and written by arithmetic; outside them, `Calendar`.
    static let years = 1601...9999

    /// Days since 1970-01-01.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01.
    static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
