import Foundation
import Testing
import TuitionCore

/// Issue #11: the core's rules at the edge of their domain — no input traps, every bound is a named rejection.
@Suite struct EdgeRuleTests {
    @Test func dateArithmeticNeverTrapsEvenAtTheEndOfTheCalendar() throws {
        let last = try #require(BusinessDate(year: 9999, month: 12, day: 31))
        #expect(last.addingMonths(3).description == "10000-03-31")
        #expect(last.addingMonths(3) > last)
        #expect(last.addingMonths(Int.max) > last && last.addingMonths(Int.min) < last)
        #expect(last.addingDays(Int.max) > last && last.addingDays(Int.min) < last)
        let first = try #require(BusinessDate(year: 1, month: 1, day: 31))
        #expect(first.addingMonths(-1).description == "0000-12-31")
        #expect(
            BusinessDate(shanghaiDateOf: Date(timeIntervalSince1970: .infinity))
                == BusinessDate(shanghaiDateOf: Date(timeIntervalSince1970: 0)))
        _ = BusinessDate(shanghaiDateOf: Date(timeIntervalSince1970: 1e300))
        let order = ChargeOrder(lessons: 5, pricePerLesson: .yuan(100), termStart: last, termEnd: last)
        #expect(try checkCharge(order, caps: .national).get() == .yuan(500))
    }

    @Test func datesOutsideTheDocumentedWindowAreRefusedWhenDecoded() throws {
        func decode(_ text: String) -> BusinessDate? { try? JSONDecoder().decode(BusinessDate.self, from: Data("\"\(text)\"".utf8)) }
        #expect(decode("2000-01-01") != nil && decode("2099-12-31") != nil)
        for text in ["1999-12-31", "2100-01-01", "9999-12-01", "0001-01-01", "2026-02-30"] { #expect(decode(text) == nil, "\(text)") }
    }

    /// RFC 3339 times are read by hand: ICU's parser traps on a 35-digit fraction and misreads long ones.
    @Test func rfc3339TimesAreReadExactlyAndAnythingElseIsNil() throws {
        let base = 1_795_138_200.0  // 2026-11-20T01:30:00Z
        let valid: [(String, Double)] = [
            ("2026-11-20T01:30:00Z", base), ("2026-11-20t01:30:00z", base), ("2026-11-20T09:30:00+08:00", base),
            ("2026-11-19T20:30:00-05:00", base), ("2026-11-20T01:30:00.250Z", base + 0.25),
            ("2026-11-20T01:30:00.5+00:00", base + 0.5), ("2026-11-20T01:30:00.000000001Z", base + 1e-9),
            ("2026-11-20T08:00:00.11111111+08:00", base - 5400 + 0.11111111), ("2000-02-29T00:00:00Z", 951_782_400),
            ("1970-01-01T00:00:00Z", 0),
        ]
        for (text, seconds) in valid {
            let date = try #require(parseRFC3339(text), "\(text)")
            #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-6, "\(text): \(date.timeIntervalSince1970)")
        }
        let invalid = [
            "2024-06-01T08:00:00." + String(repeating: "0", count: 35) + "Z", "2024-06-01T00:00:00.1111111111+08:00",
            "2050-02-30T00:00:00Z", "2026-11-20T01:30:00+99:99", "2026-11-20T24:00:00Z", "2026-11-20T01:60:00Z",
            "2026-12-31T23:59:60Z", "2026-11-20T01:30Z", "2026-11-20 01:30:00Z", "2026-11-20T01:30:00", "2026-11-20T01:30:00.Z",
            "2026-11-20T01:30:00Zjunk", "2026-11-20T01:30:00+0800", "+2026-11-20T01:30:00Z", "２０２６-11-20T01:30:00Z",
            "2026-11-20T01:30:00 Z", "", "yesterday", String(repeating: "9", count: 10_000),
        ]
        for text in invalid { #expect(parseRFC3339(text) == nil, "\(text)") }
    }

    /// An instant PostgreSQL keeps in whole microseconds comes back as a `Date` near it, and its millisecond is the one
    /// the microseconds fall in: on exact millisecond boundaries, flooring the `Double` gave the millisecond before.
    @Test func anInstantsMillisecondIsReadFromItsMicroseconds() {
        let since2000 = Date(timeIntervalSince1970: 946_684_800)
        var random = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            // PostgreSQL's microseconds since 2000, decoded as PostgresNIO decodes them; every other one on a millisecond.
            // 2020 to 2037: past 2³¹ s since 1970 a `Date`'s Double is too coarse to hold every microsecond exactly.
            var micros = Int64.random(in: 631_152_000_000_000...1_167_609_600_000_000, using: &random)
            if step.isMultiple(of: 2) { micros -= micros % 1000 }
            let date = Date(timeInterval: Double(micros) / 1_000_000, since: since2000)
            let expected = (micros + 946_684_800_000_000) / 1000
            #expect(wholeMilliseconds(since1970: date) == expected, "\(micros)")
            #expect(wholeMicroseconds(since1970: date) == micros + 946_684_800_000_000, "\(micros)")
        }
        #expect(wholeMilliseconds(since1970: Date(timeIntervalSince1970: -0.0005)) == -1)
        #expect(wholeMilliseconds(since1970: Date(timeIntervalSince1970: .infinity)) == 0)
    }

    @Test func moneyArithmeticThrowsANamedRejectionOnOverflow() {
        let big = Money(fen: .max)
        #expect(throws: Rejection.amountTooLarge) { try big.plus(Money(fen: 1)) }
        #expect(throws: Rejection.amountTooLarge) { try Money(fen: .min).minus(Money(fen: 1)) }
        #expect(throws: Rejection.amountTooLarge) { try big.multiplied(by: 2) }
        #expect(throws: Rejection.amountTooLarge) {
            try Money.sum([Money(fen: 5_000_000_000_000_000_000), Money(fen: 5_000_000_000_000_000_000)])
        }
        #expect((try? Money.sum([Money(fen: 1), Money(fen: 2)])) == Money(fen: 3))
    }

    @Test func everyAmountHasADocumentedCeiling() {
        #expect(throws: Rejection.amountTooLarge) {
            try checkAmount(PlatformLimits.topUpMaximum.adding(Money(fen: 1))!, atMost: PlatformLimits.topUpMaximum)
        }
        #expect(throws: Rejection.amountMustBePositive) { try checkAmount(.zero, atMost: PlatformLimits.claimMaximum) }
        #expect((try? checkAmount(PlatformLimits.claimMaximum, atMost: PlatformLimits.claimMaximum)) != nil)
        guard case .failure(.amountTooLarge) = decideReserveTopUp(amount: Money(fen: 5_000_000_000_000_000_000), institution: .active)
        else {
            Issue.record("a huge top-up was not refused")
            return
        }
        #expect(
            checkProductTerms(kind: .institutionRisk, premiumRateBasisPoints: 100, coveredShareBasisPoints: 8_000, limit: Money(fen: .max))
                == .amountTooLarge)
        // Ceilings keep every sum the platform makes far inside 64 bits: a million of the largest amounts still fit.
        #expect(PlatformLimits.sumInsuredMaximum.times(1_000_000) != nil)
    }

    @Test func textRefusesControlCharactersAndBidirectionalOverridesButFreeTextKeepsLineBreaks() {
        for bad in ["a\u{0}b", "a\u{1b}[2Jb", "a\u{7f}", "a\u{85}b", "\u{202e}gpj.exe", "a\u{2066}b", "a\u{2028}b"] {
            #expect(throws: Rejection.textHasForbiddenCharacters) { try validText(bad, maxScalars: 100) }
            #expect(throws: Rejection.textHasForbiddenCharacters) { try validOptionalText(bad, maxScalars: 100) }
        }
        #expect(throws: Rejection.textHasForbiddenCharacters) { try validText("第一行\n第二行", maxScalars: 100) }
        #expect(throws: Rejection.textHasForbiddenCharacters) { try validOptionalLine("宁波\t海曙", maxScalars: 100) }
        #expect((try? validFreeText("第一行\n第二行\t完", maxScalars: 100)) == "第一行\n第二行\t完")
        #expect((try? validText("  海曙星火培训学校 ", maxScalars: 100)) == "海曙星火培训学校")
    }

    /// The credit-code rule is the contract XSD's `tg:creditCode` pattern, checked against that pattern itself on
    /// random strings over the alphabet and its neighbours.
    @Test func theCreditCodeRuleIsTheContractSchemasPattern() throws {
        let xsd = try String(
            contentsOf: repositoryRoot.appendingPathComponent("contract-templates/gf-2021-2604/v1/contract.xsd"), encoding: .utf8)
        let start = try #require(xsd.range(of: "<xs:simpleType name=\"creditCode\">"))
        let patternLine = try #require(xsd[start.upperBound...].range(of: #"value="([^"]+)""#, options: .regularExpression))
        let pattern = String(xsd[patternLine].dropFirst(7).dropLast())
        let regex = try NSRegularExpression(pattern: "^\(pattern)$")
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZa-")
        var accepted = 0
        for round in 0..<20_000 {
            var code = round % 2 == 0 ? Array("52330203MJ0000000X") : (0..<18).map { _ in alphabet.randomElement(using: &generator)! }
            for _ in 0..<Int.random(in: 0...2, using: &generator) {
                code[Int.random(in: 0..<18, using: &generator)] = alphabet.randomElement(using: &generator)!
            }
            if Int.random(in: 0..<20, using: &generator) == 0 { code.removeLast() }
            let text = String(code)
            let bySchema = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            #expect(InstitutionRegistrationRule.isValidCreditCode(text) == bySchema, "\(text)")
            if bySchema { accepted += 1 }
        }
        #expect(accepted > 1_000)
    }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
