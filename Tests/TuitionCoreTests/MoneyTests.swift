import Foundation
import Testing
import TuitionCore

@Suite struct MoneyTests {
    @Test func allocationAlwaysAddsUpToTheWhole() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let total = Money(fen: Int64.random(in: 0...10_000_000, using: &generator))
            let weights = (0..<Int.random(in: 1...12, using: &generator)).map { _ in Int64.random(in: 0...1_000_000, using: &generator) }
            let parts = total.allocated(proportionalTo: weights)
            #expect(parts.count == weights.count)
            if weights.reduce(0, +) > 0 {
                #expect(parts.reduce(0) { $0 + $1.fen } == total.fen)
            }
            #expect(parts.allSatisfy { $0.fen >= 0 })
            // No part strays more than one fen from its exact share.
            let totalWeight = Double(weights.reduce(0, +))
            for (part, weight) in zip(parts, weights) where totalWeight > 0 {
                #expect(abs(Double(part.fen) - Double(total.fen) * Double(weight) / totalWeight) < 1.0 + 1e-6)
            }
        }
    }

    @Test func allocationGivesTheLeftoverFenToTheLargestRemainders() {
        #expect(Money(fen: 100).allocated(proportionalTo: [1, 1, 1]).map(\.fen) == [34, 33, 33])
        #expect(Money(fen: 10).allocated(proportionalTo: [1, 2]).map(\.fen) == [3, 7])
        #expect(Money(fen: 5).allocated(proportionalTo: [0, 0]).map(\.fen) == [0, 0])
    }

    @Test func allocationOfHugeAmountsDoesNotOverflow() {
        let parts = Money(fen: Int64.max / 2).allocated(proportionalTo: [Int64.max / 4, Int64.max / 4])
        #expect(parts.reduce(0) { $0 + $1.fen } == Int64.max / 2)
    }

    @Test func arithmeticReportsOverflowInsteadOfTrapping() {
        #expect(Money(fen: .max).adding(Money(fen: 1)) == nil)
        #expect(Money(fen: .min).subtracting(Money(fen: 1)) == nil)
        #expect(Money(fen: .max / 2).times(3) == nil)
        #expect(Money(fen: 8_000).times(60) == Money(fen: 480_000))
    }

    @Test func describesYuanForPeople() {
        #expect(Money(fen: 123_456).description == "¥1234.56")
        #expect(Money(fen: -5).description == "-¥0.05")
    }
}

@Suite struct BusinessDateTests {
    @Test func parsesOnlyRealDates() {
        #expect(BusinessDate("2026-02-28") != nil)
        #expect(BusinessDate("2026-02-29") == nil)
        #expect(BusinessDate("2024-02-29") != nil)
        #expect(BusinessDate("2026-13-01") == nil)
        #expect(BusinessDate("2026-1-01") == nil)
        #expect(BusinessDate("yesterday") == nil)
    }

    @Test func addingMonthsClampsToTheEndOfShorterMonths() {
        #expect(BusinessDate("2026-11-30")!.addingMonths(3).description == "2027-02-28")
        #expect(BusinessDate("2027-11-30")!.addingMonths(3).description == "2028-02-29")
        #expect(BusinessDate("2026-01-15")!.addingMonths(3).description == "2026-04-15")
        #expect(BusinessDate("2026-10-31")!.addingMonths(2).description == "2026-12-31")
    }

    @Test func dayCountsRoundTrip() {
        for days in stride(from: -800_000, through: 2_900_000, by: 997) {
            #expect(BusinessDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
        #expect(BusinessDate("1970-01-01")!.daysSinceEpoch == 0)
        #expect(BusinessDate("2026-11-23")!.addingDays(10).description == "2026-12-03")
    }

    @Test func theBusinessDayIsShanghais() {
        // 2026-11-23T16:30Z is already 24 November in Shanghai.
        let instant = Date(timeIntervalSince1970: 1_795_451_400)
        #expect(BusinessDate(shanghaiDateOf: instant).description == "2026-11-24")
    }
}
