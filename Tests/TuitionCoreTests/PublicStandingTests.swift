import Foundation
import Testing
import TuitionCore

@Suite struct PublicStandingTests {
    static let today = BusinessDate("2026-11-23")!

    @Test(arguments: [
        ("2026-11-22", LicenceValidity.expired), ("2026-11-23", .expiringSoon), ("2026-12-23", .expiringSoon),
        ("2026-12-24", .valid), ("2028-01-01", .valid),
    ])
    func licenceValidityCountsThirtyDaysOfNotice(validUntil: String, expected: LicenceValidity) {
        #expect(LicenceValidity(validUntil: BusinessDate(validUntil)!, today: Self.today) == expected)
    }

    /// The public page says "expiring soon" exactly when the licence warning (default notice days) is open.
    @Test func thePublicPageAgreesWithTheLicenceWarning() {
        for daysLeft in -3...40 {
            let until = Self.today.addingDays(daysLeft)
            let figures = InstitutionFigures(institution: Institution.ID(UUID()), mode: .escrow, licenceValidUntil: until)
            let warned = licenceExpiring(figures, thresholds: WarningThresholds(), today: Self.today) != nil
            let flagged = LicenceValidity(validUntil: until, today: Self.today) != .valid
            #expect(warned == flagged, "\(daysLeft) days left")
        }
    }

    @Test func aLicenceWithoutEndDateIsUnknown() {
        #expect(LicenceValidity(validUntil: nil, today: Self.today) == .unknown)
    }

    @Test(arguments: [
        (InstitutionStatus.active, LicenceValidity.valid, PublicList.white), (.warned, .expiringSoon, .white), (.active, .unknown, .white),
        (.active, .expired, .neither), (.suspended, .valid, .neither), (.defunct, .valid, .neither), (.blacklisted, .valid, .black),
        (.blacklisted, .expired, .black),
    ])
    func blacklistWinsAndTheWhiteListNeedsAnOperatingLicensedInstitution(
        status: InstitutionStatus, licence: LicenceValidity, expected: PublicList
    ) {
        #expect(PublicList(status: status, licence: licence) == expected)
    }

    @Test func aBlacklistedInstitutionMarkedDefunctStaysOnTheBlackList() {
        #expect(PublicList(status: .defunct, licence: .valid, everBlacklisted: true) == .black)
        #expect(PublicList(status: .defunct, licence: .valid, everBlacklisted: false) == .neither)
    }

    @Test func reviewAveragesRoundHalfUpInTenths() {
        // 4 reviews: teaching 5,5,4,4 → 4.5; environment 4,4,4,3 → 3.75 → 3.8; curriculum 3,3,3,3 → 3.0.
        let summary = ReviewSummary(count: 4, teachingSum: 18, environmentSum: 15, curriculumSum: 12)
        #expect(summary.teachingTenths == 45 && summary.environmentTenths == 38 && summary.curriculumTenths == 30)
        #expect(summary.overallTenths == 38)  // 45 / 12 = 3.75
        #expect(ReviewSummary.text(summary.environmentTenths) == "3.8")
        let none = ReviewSummary(count: 0, teachingSum: 0, environmentSum: 0, curriculumSum: 0)
        #expect(none.overallTenths == nil && ReviewSummary.text(none.overallTenths) == "—")
    }

    @Test func coverageNeverCountsMoreThanIsOwed() {
        let partly = TuitionCoverage(unconsumed: .yuan(1_000), escrow: .yuan(300), reserve: .yuan(200), insurance: .yuan(100))
        #expect(partly.covered == .yuan(600) && partly.uncovered == .yuan(400) && partly.coverageBasisPoints == 6_000)
        #expect(partly.escrowApplied == .yuan(300) && partly.reserveApplied == .yuan(200) && partly.insuranceApplied == .yuan(100))
        let over = TuitionCoverage(unconsumed: .yuan(1_000), escrow: .yuan(900), reserve: .yuan(900), insurance: .zero)
        #expect(over.covered == .yuan(1_000) && over.uncovered == .zero && over.coverageBasisPoints == 10_000)
        #expect(over.escrowApplied == .yuan(900) && over.reserveApplied == .yuan(100) && over.insuranceApplied == .zero)
        let nothingOwed = TuitionCoverage(unconsumed: .zero, escrow: .zero, reserve: .yuan(5), insurance: .zero)
        #expect(nothingOwed.covered == .zero && nothingOwed.coverageBasisPoints == 10_000)
        let huge = TuitionCoverage(unconsumed: Money(fen: .max), escrow: Money(fen: .max), reserve: Money(fen: .max), insurance: .zero)
        #expect(huge.uncovered == .zero && huge.coverageBasisPoints == 10_000)
    }

    @Test(arguments: [
        ("2026-11-22", DeadlineBucket.overdue), ("2026-11-23", .within3Days), ("2026-11-26", .within3Days), ("2026-11-27", .within7Days),
        ("2026-11-30", .within7Days), ("2026-12-01", .later),
    ])
    func deadlinesFallIntoTheDashboardsBuckets(deadline: String, expected: DeadlineBucket) {
        #expect(DeadlineBucket(deadline: BusinessDate(deadline)!, today: Self.today) == expected)
        let days = BusinessDate(deadline)!.daysSinceEpoch - Self.today.daysSinceEpoch
        let (from, through) = expected.daysFromToday
        #expect((from.map { days >= $0 } ?? true) && (through.map { days <= $0 } ?? true))
    }
}
