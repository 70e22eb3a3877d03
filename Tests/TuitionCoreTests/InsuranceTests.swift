import Foundation
import Testing
import TuitionCore

@Suite struct InsuranceTests {
    static let insurer = Insurer.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000a1")!)
    static let institution = Institution.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000b1")!)
    static let enrollment = Enrollment.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000c1")!)
    static let guardian = Guardian.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000d1")!)

    static func product(_ kind: InsuranceProductKind = .studentTuition, rate: Int = 150, share: Int? = nil, limit: Money? = nil)
        -> InsuranceProduct
    {
        InsuranceProduct(
            id: InsuranceProduct.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000e1")!), insurer: insurer, kind: kind,
            premiumRateBasisPoints: rate, coveredShareBasisPoints: share, limit: limit)
    }

    @Test(arguments: [
        (Int64(100_000), 150, Int64(1_500)),  // exact: no rounding
        (99_999, 150, 1_500),  // 1,499.985 rounds up
        (1, 1, 1),  // a ten-thousandth of a fen is still a fen
        (10_000, 1, 1),
        (10_001, 1, 2),
        (0, 150, 0),
        (500_000, 10_000, 500_000),  // a 100% rate charges the whole sum
        (Int64.max, 10_000, Int64.max),  // the 128-bit intermediate does not overflow
        (Int64.max, 9_999, 9_222_449_699_651_090_330),
    ])
    func premiumRoundsUpToTheFen(sumInsuredFen: Int64, rateBasisPoints: Int, expectedFen: Int64) {
        let product = Self.product(rate: rateBasisPoints)
        #expect(premium(for: product, sumInsured: Money(fen: sumInsuredFen)) == Money(fen: expectedFen))
    }

    @Test func premiumIsTheSmallestFenAmountNotBelowTheExactShare() {
        var random = SplitMix64(seed: 4)
        for _ in 0..<5_000 {
            let sum = Int64.random(in: 0...1_000_000_000_000, using: &random)
            let rate = Int.random(in: 0...10_000, using: &random)
            let fen = premium(for: Self.product(rate: rate), sumInsured: Money(fen: sum)).fen
            // premium × 10,000 ≥ sum × rate > (premium − 1) × 10,000, compared in 128 bits.
            let exact = sum.multipliedFullWidth(by: Int64(rate))
            #expect(!isLess(fen.multipliedFullWidth(by: 10_000), than: exact))
            if fen > 0 { #expect(isLess((fen - 1).multipliedFullWidth(by: 10_000), than: exact)) }
        }
    }

    private func isLess(_ lhs: (high: Int64, low: UInt64), than rhs: (high: Int64, low: UInt64)) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    @Test(arguments: [
        (InsuranceProductKind.studentTuition, 150, Int?.none, Int64?.none, Rejection?.none),
        (.institutionRisk, 80, 5_000, 100_000_000, nil),
        (.institutionRisk, 80, 10_000, 1, nil),
        (.studentTuition, 0, nil, nil, .premiumRateInvalid),
        (.studentTuition, 10_001, nil, nil, .premiumRateInvalid),
        (.institutionRisk, -1, 5_000, 100, .premiumRateInvalid),
        (.institutionRisk, 80, nil, 100, .coverageTermsInvalid),
        (.institutionRisk, 80, 0, 100, .coverageTermsInvalid),
        (.institutionRisk, 80, 10_001, 100, .coverageTermsInvalid),
        (.institutionRisk, 80, 5_000, nil, .coverageTermsInvalid),
        (.institutionRisk, 80, 5_000, 0, .coverageTermsInvalid),
        (.studentTuition, 150, 5_000, nil, .coverageTermsInvalid),
        (.studentTuition, 150, nil, 100, .coverageTermsInvalid),
    ])
    func productTermsMatchTheirKind(kind: InsuranceProductKind, rate: Int, share: Int?, limitFen: Int64?, expected: Rejection?) {
        #expect(
            checkProductTerms(
                kind: kind, premiumRateBasisPoints: rate, coveredShareBasisPoints: share, limit: limitFen.map(Money.init(fen:)))
                == expected)
    }

    static let start = Date(timeIntervalSince1970: 1_780_000_000)
    static let end = start + 90 * 86_400

    @Test(arguments: [
        // (product kind, insures institution?, sum insured, period days, tuition paid, expected)
        (InsuranceProductKind.studentTuition, false, Int64(300_000), 90, Int64(300_000), Rejection?.none),
        (.studentTuition, false, 300_001, 90, 300_000, .sumInsuredExceedsCover),
        (.studentTuition, false, 0, 90, 300_000, .amountMustBePositive),
        (.studentTuition, false, 100, 0, 300_000, .policyPeriodInvalid),
        (.studentTuition, true, 100, 90, 300_000, .insuredDoesNotMatchProduct),
        (.institutionRisk, true, 50_000_000, 365, 0, nil),
        (.institutionRisk, true, 50_000_001, 365, 0, .sumInsuredExceedsCover),
        (.institutionRisk, false, 100, 365, 0, .insuredDoesNotMatchProduct),
    ])
    func policyTermsAreCheckedInOrder(
        kind: InsuranceProductKind, insuresInstitution: Bool, sumFen: Int64, days: Int, paidFen: Int64, expected: Rejection?
    ) {
        let product = kind == .institutionRisk ? Self.product(kind, rate: 80, share: 5_000, limit: Money(fen: 50_000_000)) : Self.product()
        let insured: InsuredParty =
            insuresInstitution ? .institution(Self.institution) : .enrollment(Self.enrollment, guardian: Self.guardian)
        #expect(
            checkPolicyTerms(
                product: product, insured: insured, sumInsured: Money(fen: sumFen), periodStart: Self.start,
                periodEnd: Self.start + TimeInterval(days * 86_400), tuitionPaid: Money(fen: paidFen)) == expected)
    }

    static func policy(remainingFen: Int64 = 300_000, cancelledAt: Date? = nil) -> Policy {
        Policy(
            id: Policy.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000f1")!), number: "TG-2026-000001",
            product: product().id, kind: .studentTuition, insured: .enrollment(enrollment, guardian: guardian),
            sumInsured: Money(fen: 300_000), remaining: Money(fen: remainingFen), premium: Money(fen: 4_500), periodStart: start,
            periodEnd: end, cancelledAt: cancelledAt)
    }

    /// (offset from period start in seconds, remaining fen, cancelled at offset, status, in force)
    static let statusCases: [(TimeInterval, Int64, TimeInterval?, PolicyStatus, Bool)] = [
        (0, 300_000, nil, .active, true),
        (45 * 86_400, 300_000, nil, .active, true),
        (90 * 86_400 - 1, 300_000, nil, .active, true),
        (90 * 86_400, 300_000, nil, .expired, false),  // the period is half-open
        (-1, 300_000, nil, .active, false),  // issued, not yet in force
        (10, 0, nil, .exhausted, true),  // in force, nothing left to pay
        (90 * 86_400, 0, nil, .expired, false),
        (10, 300_000, 10, .cancelled, false),  // cancelled at that very instant
        (10, 300_000, 11, .active, true),
        (90 * 86_400 + 5, 0, 20, .cancelled, false),  // cancellation wins over expiry and exhaustion
    ]

    @Test(arguments: statusCases)
    func policyStatusFollowsPeriodCancellationAndRemaining(
        offset: TimeInterval, remainingFen: Int64, cancelledOffset: TimeInterval?, status: PolicyStatus, inForce: Bool
    ) {
        let policy = Self.policy(remainingFen: remainingFen, cancelledAt: cancelledOffset.map { Self.start + $0 })
        #expect(policy.policyStatus(at: Self.start + offset) == status)
        #expect(policy.isInForce(at: Self.start + offset) == inForce)
    }

    @Test func aPolicyCoversOnlyWhatItInsures() {
        let otherEnrollment = Enrollment.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000c2")!)
        let otherInstitution = Institution.ID(UUID(uuidString: "00000000-0000-7000-8000-0000000000b2")!)
        let tuition = Self.policy()
        #expect(tuition.covers(enrollment: Self.enrollment, institution: Self.institution))
        #expect(!tuition.covers(enrollment: otherEnrollment, institution: Self.institution))
        var risk = Self.policy()
        risk.kind = .institutionRisk
        risk.insured = .institution(Self.institution)
        #expect(risk.covers(enrollment: Self.enrollment, institution: Self.institution))
        #expect(risk.covers(enrollment: otherEnrollment, institution: Self.institution))
        #expect(!risk.covers(enrollment: Self.enrollment, institution: otherInstitution))
        // A kind that contradicts the insured party covers nothing.
        risk.kind = .studentTuition
        #expect(!risk.covers(enrollment: Self.enrollment, institution: Self.institution))
    }

    @Test func newRejectionCodesAreStable() {
        #expect(Rejection.premiumRateInvalid.rawValue == "premium_rate_invalid")
        #expect(Rejection.coverageTermsInvalid.rawValue == "coverage_terms_invalid")
        #expect(Rejection.policyPeriodInvalid.rawValue == "policy_period_invalid")
        #expect(Rejection.insuredDoesNotMatchProduct.rawValue == "insured_does_not_match_product")
        #expect(Rejection.sumInsuredExceedsCover.rawValue == "sum_insured_exceeds_cover")
        #expect(InsuranceProductKind.allCases.map(\.rawValue) == ["institution_risk", "student_tuition"])
        #expect(PolicyStatus.allCases.map(\.rawValue) == ["active", "expired", "cancelled", "exhausted"])
        #expect(ClaimReason.allCases.map(\.rawValue) == ["institution_defunct", "refund_refused"])
    }
}

/// A seeded generator (SplitMix64), so every randomized run can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
