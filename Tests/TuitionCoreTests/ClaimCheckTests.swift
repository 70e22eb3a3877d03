import Foundation
import Testing
import TuitionCore

/// A claim, the enrollment's facts and the policy claimed against; the base passes every check.
struct ClaimFixture: Sendable {
    static let defunct = Date(timeIntervalSince1970: 1_790_000_000)
    static let day: TimeInterval = 86_400
    static let guardian = Guardian.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000d01")!)
    static let stranger = Guardian.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000d02")!)
    static let enrollment = Enrollment.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000c01")!)
    static let otherEnrollment = Enrollment.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000c02")!)
    static let institution = Institution.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000b01")!)
    static let otherInstitution = Institution.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000b02")!)

    var claim = ClaimRequest(
        claimant: guardian, enrollment: enrollment, reason: .institutionDefunct, claimed: Money(fen: 200_000), eventTime: defunct)
    /// 40 lessons at ¥100 paid 60 days before; 10 lessons recorded 50 days before and 3 within the 30-day window:
    /// entitlement 400,000 − 130,000 = 270,000 fen. Two lessons a week: a spike is 18 or more lessons in the window.
    var facts = EnrollmentLedgerFacts(
        enrollment: enrollment, institution: institution, guardian: guardian, pricePerLesson: Money(fen: 10_000),
        lessonsBought: 40, lessonsPerWeek: 2, paid: Money(fen: 400_000), paidAt: defunct - 60 * day,
        lessons: [
            LessonEntry(lessons: 10, recordedAt: defunct - 50 * day, status: .confirmed),
            LessonEntry(lessons: 3, recordedAt: defunct - 5 * day, status: .recorded),
        ])
    var policy: Policy? = Policy(
        id: Policy.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000f01")!), number: "TG-2026-000042",
        product: InsuranceProduct.ID(UUID(uuidString: "00000000-0000-7000-8000-000000000e01")!), kind: .studentTuition,
        insured: .enrollment(enrollment, guardian: guardian), sumInsured: Money(fen: 400_000), remaining: Money(fen: 400_000),
        premium: Money(fen: 6_000), periodStart: defunct - 60 * day, periodEnd: defunct + 30 * day)

    mutating func insureInstitution(_ institution: Institution.ID) {
        policy?.kind = .institutionRisk
        policy?.insured = .institution(institution)
    }

    mutating func addLessons(_ lessons: Int, at instant: Date, status: LessonStatus = .recorded) {
        facts.lessons.append(LessonEntry(lessons: lessons, recordedAt: instant, status: status))
    }
}

struct ClaimCase: Sendable, CustomTestStringConvertible {
    let name: String
    let change: @Sendable (inout ClaimFixture) -> Void
    /// The one check result the change is about.
    let check: ClaimCheck
    let outcome: ClaimCheckOutcome
    let code: ClaimCheckCode
    let decision: ClaimDecision

    var testDescription: String { name }

    init(
        _ name: String, _ check: ClaimCheck, _ outcome: ClaimCheckOutcome, _ code: ClaimCheckCode, _ decision: ClaimDecision,
        change: @escaping @Sendable (inout ClaimFixture) -> Void
    ) {
        self.name = name
        self.change = change
        self.check = check
        self.outcome = outcome
        self.code = code
        self.decision = decision
    }
}

@Suite struct ClaimCheckTests {
    typealias F = ClaimFixture
    static let defunct = ClaimFixture.defunct
    static let day = ClaimFixture.day

    static let cases: [ClaimCase] = [
        // claimant
        ClaimCase("the guardian claims", .claimant, .passed, .claimantIsGuardian, .approve(Money(fen: 200_000))) { _ in },
        ClaimCase("someone else claims", .claimant, .failed, .claimantIsNotGuardian, .reject(.claimantIsNotGuardian)) {
            $0.claim.claimant = F.stranger
        },
        // policy
        ClaimCase("policy bought after the collapse", .policy, .failed, .policyNotActiveAtEvent, .reject(.policyNotActiveAtEvent)) {
            $0.policy?.periodStart = F.defunct + 1
        },
        ClaimCase("policy starting at the defunct instant", .policy, .passed, .policyCoversEnrollment, .approve(Money(fen: 200_000))) {
            $0.policy?.periodStart = F.defunct
        },
        ClaimCase("policy expired before", .policy, .failed, .policyNotActiveAtEvent, .reject(.policyNotActiveAtEvent)) {
            $0.policy?.periodEnd = F.defunct - F.day
        },
        ClaimCase("policy ending at the defunct instant", .policy, .failed, .policyNotActiveAtEvent, .reject(.policyNotActiveAtEvent)) {
            $0.policy?.periodEnd = F.defunct
        },
        ClaimCase("policy cancelled before", .policy, .failed, .policyNotActiveAtEvent, .reject(.policyNotActiveAtEvent)) {
            $0.policy?.cancelledAt = F.defunct - 1
        },
        ClaimCase("policy cancelled after", .policy, .passed, .policyCoversEnrollment, .approve(Money(fen: 200_000))) {
            $0.policy?.cancelledAt = F.defunct + 1
        },
        ClaimCase(
            "tuition policy of another enrollment", .policy, .failed, .policyDoesNotCoverEnrollment, .reject(.policyDoesNotCoverEnrollment)
        ) { $0.policy?.insured = .enrollment(F.otherEnrollment, guardian: F.guardian) },
        ClaimCase("risk policy of the institution", .policy, .passed, .policyCoversEnrollment, .approve(Money(fen: 200_000))) {
            $0.insureInstitution(F.institution)
        },
        ClaimCase(
            "risk policy of another institution", .policy, .failed, .policyDoesNotCoverEnrollment, .reject(.policyDoesNotCoverEnrollment)
        ) { $0.insureInstitution(F.otherInstitution) },
        ClaimCase("policy exhausted", .policy, .failed, .policyExhausted, .reject(.policyExhausted)) {
            $0.policy?.remaining = .zero
        },
        ClaimCase("no policy: the institution's own funds", .policy, .notApplicable, .noPolicyClaimedAgainst, .approve(Money(fen: 200_000)))
        {
            $0.policy = nil
        },
        // payment
        ClaimCase("paid a second before", .payment, .passed, .paymentBeforeDefunct, .approve(Money(fen: 200_000))) {
            $0.facts.paidAt = F.defunct - 1
        },
        ClaimCase("paid at the defunct instant", .payment, .failed, .paymentAfterDefunct, .reject(.paymentAfterDefunct)) {
            $0.facts.paidAt = F.defunct
        },
        ClaimCase("paid after", .payment, .failed, .paymentAfterDefunct, .reject(.paymentAfterDefunct)) {
            $0.facts.paidAt = F.defunct + F.day
        },
        ClaimCase("never paid", .payment, .failed, .enrollmentNotPaid, .reject(.enrollmentNotPaid)) {
            $0.facts.paidAt = nil
            $0.facts.paid = .zero
            $0.facts.lessons = []
        },
        // entitlement
        ClaimCase("every lesson consumed", .entitlement, .failed, .noUnconsumedTuition, .reject(.noUnconsumedTuition)) {
            $0.addLessons(27, at: F.defunct - 40 * F.day)
        },
        ClaimCase("the rest refunded", .entitlement, .failed, .noUnconsumedTuition, .reject(.noUnconsumedTuition)) {
            $0.facts.refunded = Money(fen: 270_000)
        },
        ClaimCase("already paid on an earlier claim", .entitlement, .failed, .noUnconsumedTuition, .reject(.noUnconsumedTuition)) {
            $0.facts.claimPayouts = Money(fen: 270_000)
        },
        ClaimCase(
            "lessons recorded after the collapse do not count", .entitlement, .passed, .unconsumedTuitionRemains,
            .approve(Money(fen: 270_000))
        ) {
            $0.claim.claimed = Money(fen: 270_000)
            $0.addLessons(27, at: F.defunct)
        },
        // amount
        ClaimCase("claims exactly the entitlement", .amount, .passed, .claimWithinEntitlement, .approve(Money(fen: 270_000))) {
            $0.claim.claimed = Money(fen: 270_000)
        },
        ClaimCase("claims a fen more", .amount, .adjusted, .claimExceedsEntitlement, .approve(Money(fen: 270_000))) {
            $0.claim.claimed = Money(fen: 270_001)
        },
        ClaimCase("claims the whole payment", .amount, .adjusted, .claimExceedsEntitlement, .approve(Money(fen: 270_000))) {
            $0.claim.claimed = Money(fen: 400_000)
        },
        ClaimCase("claims nothing", .amount, .failed, .claimAmountNotPositive, .reject(.claimAmountNotPositive)) {
            $0.claim.claimed = .zero
        },
        // consumption
        ClaimCase("17 lessons in the window, 2 a week", .consumption, .passed, .consumptionWithinSchedule, .approve(Money(fen: 130_000))) {
            $0.addLessons(14, at: F.defunct - 1)
        },
        ClaimCase(
            "18 lessons in the window, 2 a week", .consumption, .referred, .consumptionSpikeBeforeCollapse,
            .refer([.consumptionSpikeBeforeCollapse])
        ) { $0.addLessons(15, at: F.defunct - 1) },
        ClaimCase(
            "a burst exactly 30 days before counts", .consumption, .referred, .consumptionSpikeBeforeCollapse,
            .refer([.consumptionSpikeBeforeCollapse])
        ) { $0.addLessons(15, at: F.defunct - 30 * F.day) },
        ClaimCase(
            "a burst 30 days and a second before does not", .consumption, .passed, .consumptionWithinSchedule, .approve(Money(fen: 120_000))
        ) {
            $0.addLessons(15, at: F.defunct - 30 * F.day - 1)
        },
        ClaimCase("a burst after the collapse does not", .consumption, .passed, .consumptionWithinSchedule, .approve(Money(fen: 200_000))) {
            $0.addLessons(27, at: F.defunct + 1)
        },
        ClaimCase(
            "a generous schedule absorbs the burst", .consumption, .passed, .consumptionWithinSchedule, .approve(Money(fen: 40_000))
        ) {
            $0.facts.lessonsPerWeek = 5
            $0.addLessons(23, at: F.defunct - F.day)
            $0.claim.claimed = Money(fen: 40_000)
        },
        // disputes
        ClaimCase("a disputed lesson", .disputes, .referred, .disputedLessons, .refer([.disputedLessons])) {
            $0.addLessons(1, at: F.defunct - 3 * F.day, status: .disputed)
        },
        ClaimCase("a disputed lesson after the collapse", .disputes, .passed, .noDisputedLessons, .approve(Money(fen: 200_000))) {
            $0.addLessons(1, at: F.defunct + F.day, status: .disputed)
        },
        // combinations
        ClaimCase(
            "a spike and a dispute are both referred", .disputes, .referred, .disputedLessons,
            .refer([.consumptionSpikeBeforeCollapse, .disputedLessons])
        ) {
            $0.addLessons(15, at: F.defunct - 2 * F.day, status: .disputed)
        },
        ClaimCase("a failure beats a referral", .disputes, .referred, .disputedLessons, .reject(.policyNotActiveAtEvent)) {
            $0.addLessons(1, at: F.defunct - 3 * F.day, status: .disputed)
            $0.policy?.periodEnd = F.defunct - 1
        },
        ClaimCase("the first failure wins", .payment, .failed, .paymentAfterDefunct, .reject(.claimantIsNotGuardian)) {
            $0.claim.claimant = F.stranger
            $0.facts.paidAt = F.defunct + 1
        },
        ClaimCase(
            "an over-claim is referred, not cut, when a person must look", .amount, .adjusted, .claimExceedsEntitlement,
            .refer([.disputedLessons])
        ) {
            $0.claim.claimed = Money(fen: 999_999)
            $0.addLessons(1, at: F.defunct - 3 * F.day, status: .disputed)
        },
    ]

    @Test(arguments: cases)
    func eachCheckDecidesAsSpecified(_ testCase: ClaimCase) {
        var fixture = ClaimFixture()
        testCase.change(&fixture)
        let assessment = assessClaim(fixture.claim, facts: fixture.facts, policy: fixture.policy)
        #expect(assessment.checks.map(\.check) == ClaimCheck.allCases, "every check runs, in order")
        let result = assessment.checks.first { $0.check == testCase.check }
        #expect(result?.outcome == testCase.outcome)
        #expect(result?.code == testCase.code)
        #expect(assessment.decision == testCase.decision)
    }

    @Test func theBaseClaimPassesEveryCheck() {
        let fixture = ClaimFixture()
        let assessment = assessClaim(fixture.claim, facts: fixture.facts, policy: fixture.policy)
        #expect(assessment.checks.allSatisfy { $0.outcome == .passed })
        #expect(assessment.entitlement == Money(fen: 270_000))
        #expect(assessment.approvable == Money(fen: 200_000))
        #expect(assessment.decision == .approve(Money(fen: 200_000)))
    }

    @Test func aReferredClaimStillCarriesWhatApprovalWouldPay() {
        var fixture = ClaimFixture()
        fixture.claim.claimed = Money(fen: 500_000)
        fixture.addLessons(2, at: Self.defunct - Self.day, status: .disputed)
        let assessment = assessClaim(fixture.claim, facts: fixture.facts, policy: fixture.policy)
        #expect(assessment.entitlement == Money(fen: 250_000))
        #expect(assessment.approvable == Money(fen: 250_000))
        #expect(assessment.decision == .refer([.disputedLessons]))
    }

    @Test(arguments: [
        // (paid fen, paid days before the event (nil: unpaid), lessons before, lessons at or after, refunded, paid on claims, expected)
        (Int64(400_000), Int?.some(60), 13, 0, Int64(0), Int64(0), Int64(270_000)),
        (400_000, 60, 13, 20, 0, 0, 270_000),  // after the event: excluded
        (400_000, 60, 0, 0, 0, 0, 400_000),
        (400_000, 60, 40, 0, 0, 0, 0),
        (400_000, 60, 13, 0, 100_000, 0, 170_000),
        (400_000, 60, 13, 0, 100_000, 50_000, 120_000),
        (400_000, 60, 13, 0, 200_000, 100_000, 0),  // never negative
        (400_000, 0, 0, 0, 0, 0, 0),  // paid at the event instant
        (400_000, nil, 0, 0, 0, 0, 0),
    ])
    func entitlementIsUnconsumedTuitionAsOfTheEvent(
        paidFen: Int64, paidDaysBefore: Int?, lessonsBefore: Int, lessonsAfter: Int, refundedFen: Int64, claimPayoutsFen: Int64,
        expectedFen: Int64
    ) {
        var lessons: [LessonEntry] = []
        if lessonsBefore > 0 { lessons.append(LessonEntry(lessons: lessonsBefore, recordedAt: Self.defunct - 1, status: .confirmed)) }
        if lessonsAfter > 0 { lessons.append(LessonEntry(lessons: lessonsAfter, recordedAt: Self.defunct, status: .recorded)) }
        let facts = EnrollmentLedgerFacts(
            enrollment: ClaimFixture.enrollment, institution: ClaimFixture.institution, guardian: ClaimFixture.guardian,
            pricePerLesson: Money(fen: 10_000), lessonsBought: 40, lessonsPerWeek: 2, paid: Money(fen: paidFen),
            paidAt: paidDaysBefore.map { Self.defunct - TimeInterval($0) * Self.day }, refunded: Money(fen: refundedFen),
            claimPayouts: Money(fen: claimPayoutsFen), lessons: lessons)
        #expect(entitlement(of: facts, asOf: Self.defunct) == Money(fen: expectedFen))
    }

    @Test(arguments: [
        (0, 1, false), (8, 1, false), (9, 1, true),  // 2 × 30/7 ≈ 8.57 for one lesson a week
        (17, 2, false), (18, 2, true),
        (180, 21, false), (181, 21, true),
    ])
    func aSpikeIsMoreThanTwiceTheSchedule(lessons: Int, perWeek: Int, spike: Bool) {
        #expect(isConsumptionSpike(lessonsInWindow: lessons, lessonsPerWeek: perWeek) == spike)
    }

    @Test func reasonCodesAreUniqueAndSnakeCase() {
        let codes = ClaimCheckCode.allCases.map(\.rawValue)
        #expect(Set(codes).count == codes.count)
        #expect(codes.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
        #expect(ClaimCheckCode.claimantIsNotGuardian.rawValue == "claimant_is_not_guardian")
        #expect(ClaimCheckCode.consumptionSpikeBeforeCollapse.rawValue == "consumption_spike_before_collapse")
        #expect(
            ClaimCheck.allCases.map(\.rawValue) == ["claimant", "policy", "payment", "entitlement", "amount", "consumption", "disputes"])
    }
}

/// A guardian's claim on the institution's risk-control policy takes at most the product's covered share of the
/// enrollment's unconsumed tuition, less what that policy already paid on it (DESIGN §2: the product "covers a share").
@Suite struct RiskShareClaimTests {
    typealias F = ClaimFixture

    /// The base fixture (270,000 fen unconsumed) claimed on a risk-control policy covering `share` basis points.
    static func assess(
        claimed: Int64, share: Int, paidByPolicy: Int64 = 0, otherPayouts: Int64 = 0, change: (inout ClaimFixture) -> Void = { _ in }
    ) -> ClaimAssessment {
        var fixture = ClaimFixture()
        fixture.insureInstitution(F.institution)
        fixture.claim.claimed = Money(fen: claimed)
        fixture.facts.claimPayouts = Money(fen: paidByPolicy + otherPayouts)
        change(&fixture)
        let terms = RiskShareTerms(coveredShareBasisPoints: share, paidOnEnrollment: Money(fen: paidByPolicy))
        return assessClaim(fixture.claim, facts: fixture.facts, policy: fixture.policy, riskShare: terms)
    }

    @Test func aClaimAboveTheShareIsCutToIt() {
        let assessment = Self.assess(claimed: 270_000, share: 6_000)
        #expect(assessment.approvable == Money(fen: 162_000))
        #expect(assessment.decision == .approve(Money(fen: 162_000)))
        #expect(assessment.checks.first { $0.check == .amount }?.code == .claimExceedsCoveredShare)
    }

    @Test func aClaimWithinTheShareIsPaidAsClaimed() {
        let assessment = Self.assess(claimed: 100_000, share: 6_000)
        #expect(assessment.decision == .approve(Money(fen: 100_000)))
        #expect(assessment.checks.allSatisfy { $0.outcome == .passed })
    }

    @Test func whatThePolicyPaidBeforeCountsAgainstTheShare() {
        // 162,000 is the share; 100,000 of it already went back: 62,000 is left, though 170,000 is still owed.
        let assessment = Self.assess(claimed: 170_000, share: 6_000, paidByPolicy: 100_000)
        #expect(assessment.entitlement == Money(fen: 170_000))
        #expect(assessment.decision == .approve(Money(fen: 62_000)))
        // Above the entitlement too, the share is the lower bound and names the cut.
        let above = Self.assess(claimed: 270_000, share: 6_000, paidByPolicy: 100_000)
        #expect(above.checks.first { $0.check == .amount }?.code == .claimExceedsCoveredShare)
        #expect(above.decision == .approve(Money(fen: 62_000)))
    }

    @Test func anotherPolicysPayoutDoesNotShrinkTheShareButTheEntitlementStillBounds() {
        // A tuition policy repaid 200,000: the share (162,000) is untouched, the 70,000 still owed is the bound.
        let assessment = Self.assess(claimed: 270_000, share: 6_000, otherPayouts: 200_000)
        #expect(assessment.decision == .approve(Money(fen: 70_000)))
        #expect(assessment.checks.first { $0.check == .amount }?.code == .claimExceedsEntitlement)
    }

    @Test func aPolicyThatPaidItsWholeShareIsRefusedForTheEnrollment() {
        let assessment = Self.assess(claimed: 50_000, share: 6_000, paidByPolicy: 162_000)
        #expect(assessment.decision == .reject(.coveredShareUsed))
    }

    @Test func aReferredClaimMayHaveContestedLessonsAddedBackOnlyUpToTheShare() {
        // 10 disputed lessons (100,000 fen) before the event: unconsumed 170,000 counted, 270,000 with them added back;
        // the share of that is 162,000 against 102,000 approvable, so a person may add 60,000, not 100,000.
        let assessment = Self.assess(claimed: 270_000, share: 6_000) {
            $0.addLessons(10, at: F.defunct - 3 * F.day, status: .disputed)
        }
        #expect(assessment.approvable == Money(fen: 102_000))
        #expect(assessment.contested == Money(fen: 60_000))
        #expect(assessment.decision == .refer([.disputedLessons]))
    }

    @Test(arguments: [1, 3_333, 5_000, 9_999, 10_000])
    func claimAfterClaimNeverTakesThePolicyPastItsShare(share: Int) {
        var paid: Int64 = 0
        for _ in 0..<5 {
            let assessment = Self.assess(claimed: 270_000, share: share, paidByPolicy: paid)
            guard case .approve(let amount) = assessment.decision else { break }
            paid += amount.fen
        }
        #expect(paid == 270_000 * Int64(share) / 10_000)
    }

    @Test func unconsumedTuitionIgnoresClaimPayoutsButNotRefunds() {
        var fixture = ClaimFixture()
        fixture.facts.claimPayouts = Money(fen: 50_000)
        fixture.facts.refunded = Money(fen: 20_000)
        #expect(unconsumedTuition(of: fixture.facts, asOf: F.defunct) == Money(fen: 250_000))
        #expect(entitlement(of: fixture.facts, asOf: F.defunct) == Money(fen: 200_000))
    }
}

@Suite struct ClaimPayoutLayerTests {
    /// The escrow pays first, up to what it holds, but never an add-back (contested lessons found not given: their
    /// value was released, the escrow holds nothing for them); the insurer the rest; the layers always add up to the
    /// payout, and what it returns of what was owed is the payout less the add-back.
    @Test(
        arguments: [
            (approved: 100_000, approvable: 100_000, held: 240_000, escrow: 100_000, insurer: 0, addedBack: 0),
            (approved: 80_000, approvable: 80_000, held: 60_000, escrow: 60_000, insurer: 20_000, addedBack: 0),
            (approved: 50_000, approvable: 50_000, held: 0, escrow: 0, insurer: 50_000, addedBack: 0),
            (approved: 50_000, approvable: 50_000, held: -1, escrow: 0, insurer: 50_000, addedBack: 0),
            (approved: 30_000, approvable: 10_000, held: 50_000, escrow: 10_000, insurer: 20_000, addedBack: 20_000),
            (approved: 70_000, approvable: 50_000, held: 30_000, escrow: 30_000, insurer: 40_000, addedBack: 20_000),
            (approved: 20_000, approvable: 0, held: 50_000, escrow: 0, insurer: 20_000, addedBack: 20_000),
        ] as [(approved: Int64, approvable: Int64, held: Int64, escrow: Int64, insurer: Int64, addedBack: Int64)])
    func theEscrowPaysFirstAndTheInsurerTheRest(
        _ row: (approved: Int64, approvable: Int64, held: Int64, escrow: Int64, insurer: Int64, addedBack: Int64)
    ) {
        let layers = ClaimPayoutLayers(
            paying: Money(fen: row.approved), approvable: Money(fen: row.approvable), escrowHeld: Money(fen: row.held))
        #expect(layers.escrow == Money(fen: row.escrow) && layers.insurer == Money(fen: row.insurer))
        #expect(layers.addedBack == Money(fen: row.addedBack))
        #expect(layers.escrow.fen + layers.insurer.fen == row.approved)
        #expect(layers.owedPart.fen == row.approved - row.addedBack)
    }

    /// What earlier claims added back is contested no longer: two lessons disputed and repaid once cannot be repaid again.
    @Test func anAddBackIsContestedOnlyOnce() {
        let day = Date(timeIntervalSince1970: 1_780_000_000)
        let eventTime = day.addingTimeInterval(40 * 86_400)
        var facts = EnrollmentLedgerFacts(
            enrollment: ClaimFixture.enrollment, institution: ClaimFixture.institution, guardian: ClaimFixture.guardian,
            pricePerLesson: Money(fen: 10_000), lessonsBought: 10, lessonsPerWeek: 2, paid: Money(fen: 100_000),
            paidAt: day.addingTimeInterval(-86_400),
            lessons: [
                LessonEntry(lessons: 3, recordedAt: day, status: .confirmed),
                LessonEntry(lessons: 2, recordedAt: day, status: .disputed),
            ])
        #expect(contestedValue(of: facts, asOf: eventTime) == Money(fen: 20_000))
        // A claim returned 10,000 of what was owed and added back 15,000 of the two disputed lessons.
        facts.claimPayouts = Money(fen: 10_000)
        facts.addedBack = Money(fen: 15_000)
        #expect(entitlement(of: facts, asOf: eventTime) == Money(fen: 40_000))
        #expect(contestedValue(of: facts, asOf: eventTime) == Money(fen: 5_000))
        facts.addedBack = Money(fen: 20_000)
        #expect(contestedValue(of: facts, asOf: eventTime) == .zero)
    }
}
