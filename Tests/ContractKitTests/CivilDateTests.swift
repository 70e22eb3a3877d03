import Foundation
import Testing

@testable import ContractKit

/// Signing times are read and written by arithmetic rather than through Foundation's calendar: the two must agree.
struct CivilDateTests {
    static func calendarText(_ milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        return XAdESTime.calendarFormat(seconds: seconds, fraction: milliseconds - seconds * 1000)
    }

    @Test func formatAgreesWithTheCalendarFrom1601To9999() {
        var generator = SystemRandomNumberGenerator()
        let first = Int64(CivilDate.days(year: 1601, month: 1, day: 1)) * 86_400_000
        let last = Int64(CivilDate.days(year: 9999, month: 12, day: 31)) * 86_400_000 + 86_399_999
        var samples: [Int64] = [first, last, 0, -1, 951_782_400_000, 4_107_542_399_999]  // 1970, 1969, 2000-02-29, 2100-02-28
        for _ in 0..<20_000 { samples.append(Int64.random(in: first...last, using: &generator)) }
        for milliseconds in samples {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            #expect(XAdESTime.format(date) == Self.calendarText(milliseconds), "\(milliseconds)")
        }
    }

    @Test func yearsBefore1601StillGoThroughTheCalendar() {
        let date = Date(timeIntervalSince1970: -12_219_292_800)  // 1582-10-15, the first Gregorian day
        #expect(XAdESTime.format(date) == "1582-10-15T00:00:00.000Z")
        #expect(XAdESTime.parse("1582-10-15T00:00:00.000Z") == date)
    }

    @Test func readingAgreesWithTheCalendarAndRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let milliseconds = Int64.random(in: -11_644_473_600_000...253_402_300_799_999, using: &generator)
            let text = Self.calendarText(milliseconds)
            guard let parsed = XAdESTime.parse(text) else {
                Issue.record("\(text) did not parse")
                continue
            }
            #expect(XAdESTime.milliseconds(parsed) == milliseconds, "\(text)")
        }
    }

    @Test func componentsOutOfRangeAreNormalizedAsBefore() {
        // A leap second and the 31st of April are what a calendar normalizes; the profile then refuses them, since
        // the text read does not round-trip.
        #expect(TimeStampVerifier.generalizedTime("20261231235960Z") == Date(timeIntervalSince1970: 1_798_761_600))
        #expect(XAdESTime.parse("2026-12-31T23:59:60.000Z") == nil)
        #expect(XAdESTime.parse("2026-04-31T00:00:00.000Z") == nil)
        #expect(TimeStampVerifier.generalizedTime("20260228120000.5Z") == Date(timeIntervalSince1970: 1_772_280_000.5))
    }
}
