import Foundation
import Testing
import TuitionCore

@Suite struct WarningRuleTests {
    let today = BusinessDate("2026-11-20")!
    let defaults = WarningThresholds.defaults

    func figures(_ mode: SupervisionMode = .escrow, _ change: (inout InstitutionFigures) -> Void = { _ in }) -> InstitutionFigures {
        var figures = InstitutionFigures(
            institution: Institution.ID(UUID()), mode: mode, reserveRatioBasisPoints: mode == .reserve ? 2_000 : 0,
            licenceValidUntil: today.addingMonths(24))
        change(&figures)
        return figures
    }

    func rules(_ figures: InstitutionFigures, _ thresholds: WarningThresholds? = nil) -> [WarningRule: WarningSeverity] {
        Dictionary(
            uniqueKeysWithValues: evaluateWarnings(figures, thresholds: thresholds ?? defaults, today: today).map { ($0.rule, $0.severity) }
        )
    }

    @Test func aHealthyInstitutionHasNoWarnings() {
        #expect(
            rules(
                figures {
                    $0.unconsumed = .yuan(100_000)
                    $0.escrowHeld = .yuan(100_000)
                }
            ).isEmpty)
        #expect(
            rules(
                figures(.reserve) {
                    $0.unconsumed = .yuan(100_000)
                    $0.reserveHeld = .yuan(20_000)
                }
            ).isEmpty)
    }

    // MARK: escrow_shortfall

    @Test func escrowBelowUnconsumedTuitionWarns() throws {
        let short = figures {
            $0.unconsumed = .yuan(100_000)
            $0.escrowHeld = .yuan(99_999)
        }
        let finding = try #require(escrowShortfall(short, thresholds: defaults))
        #expect(finding.severity == .serious)
        #expect(finding.figures["shortfall_fen"] == .number(100))
        #expect(finding.figures["required_fen"] == .number(10_000_000))
        // Below half the requirement it is critical.
        #expect(
            rules(
                figures {
                    $0.unconsumed = .yuan(100_000)
                    $0.escrowHeld = .yuan(49_999)
                })[.escrowShortfall] == .critical)
        // A district that accepts 90 % coverage is not warned at 95 %.
        var lenient = defaults
        lenient.escrowCoverageMinBasisPoints = 9_000
        #expect(
            rules(
                figures {
                    $0.unconsumed = .yuan(100_000)
                    $0.escrowHeld = .yuan(95_000)
                }, lenient)[.escrowShortfall] == nil)
        // Reserve mode keeps nothing in escrow by design.
        #expect(escrowShortfall(figures(.reserve) { $0.unconsumed = .yuan(100_000) }, thresholds: defaults) == nil)
    }

    // MARK: reserve_shortfall

    @Test func reserveBelowRatioWithoutRiskPolicyWarns() throws {
        let short = figures(.reserve) {
            $0.unconsumed = .yuan(100_000)
            $0.reserveHeld = .yuan(19_999)
        }
        let finding = try #require(reserveShortfall(short))
        #expect(finding.severity == .serious)
        #expect(finding.figures["required_fen"] == .number(2_000_000))
        #expect(finding.figures["shortfall_fen"] == .number(100))
        // A risk-control policy in force stands in for the reserve.
        #expect(
            reserveShortfall(
                figures(.reserve) {
                    $0.unconsumed = .yuan(100_000)
                    $0.riskPolicyInForce = true
                }) == nil)
        #expect(
            reserveShortfall(
                figures(.reserve) {
                    $0.unconsumed = .yuan(100_000)
                    $0.reserveHeld = .yuan(5_000)
                })?.severity == .critical)
        // The requirement rounds up: 1 fen unconsumed at 20 % needs 1 fen.
        #expect(reserveShortfall(figures(.reserve) { $0.unconsumed = Money(fen: 1) }) != nil)
        #expect(reserveShortfall(figures(.escrow) { $0.unconsumed = .yuan(100_000) }) == nil)
    }

    // MARK: sales_spike

    @Test func salesFarAboveTheTrailingWeeklyAverageWarn() throws {
        // Prior 8 weeks: ¥80,000, a weekly average of ¥10,000. 3× is ¥30,000: ¥30,000 is not above it, ¥30,001 is.
        #expect(
            salesSpike(
                figures {
                    $0.salesPrior8Weeks = .yuan(80_000)
                    $0.salesLast7Days = .yuan(30_000)
                }, thresholds: defaults) == nil)
        let spike = try #require(
            salesSpike(
                figures {
                    $0.salesPrior8Weeks = .yuan(80_000)
                    $0.salesLast7Days = Money(fen: 3_000_001)
                }, thresholds: defaults))
        #expect(spike.severity == .serious)
        #expect(spike.figures["weekly_average_fen"] == .number(1_000_000))
        #expect(
            salesSpike(
                figures {
                    $0.salesPrior8Weeks = .yuan(80_000)
                    $0.salesLast7Days = .yuan(60_001)
                }, thresholds: defaults)?.severity
                == .critical)
    }

    @Test func salesSpikeNeedsABaselineAndTheMinimum() {
        // No sales in the prior 8 weeks: a new institution's first week is not a spike.
        #expect(salesSpike(figures { $0.salesLast7Days = .yuan(200_000) }, thresholds: defaults) == nil)
        // Ten times a tiny average but under the ¥10,000 minimum.
        #expect(
            salesSpike(
                figures {
                    $0.salesPrior8Weeks = .yuan(800)
                    $0.salesLast7Days = .yuan(9_999)
                }, thresholds: defaults) == nil)
        var lower = defaults
        lower.salesSpikeMinimum = .yuan(1_000)
        #expect(
            salesSpike(
                figures {
                    $0.salesPrior8Weeks = .yuan(800)
                    $0.salesLast7Days = .yuan(9_999)
                }, thresholds: lower) != nil)
    }

    // MARK: lessons_over_schedule

    @Test func lessonsFarAboveTheScheduleWarn() throws {
        // 20 scheduled: 1.5× is 30. 30 recorded is not above it; 31 is, and 11 over the schedule is past the minimum of 10.
        #expect(
            lessonsOverSchedule(
                figures {
                    $0.lessonsScheduledLast7Days = 20
                    $0.lessonsLast7Days = 30
                }, thresholds: defaults) == nil)
        let over = try #require(
            lessonsOverSchedule(
                figures {
                    $0.lessonsScheduledLast7Days = 20
                    $0.lessonsLast7Days = 31
                }, thresholds: defaults))
        #expect(over.severity == .serious)
        #expect(over.figures == ["lessons_last_7_days": .number(31), "lessons_scheduled": .number(20)])
        #expect(
            lessonsOverSchedule(
                figures {
                    $0.lessonsScheduledLast7Days = 20
                    $0.lessonsLast7Days = 61
                }, thresholds: defaults)?.severity
                == .critical)
        // Twice the schedule but only 2 lessons over: too small to warn.
        #expect(
            lessonsOverSchedule(
                figures {
                    $0.lessonsScheduledLast7Days = 2
                    $0.lessonsLast7Days = 4
                }, thresholds: defaults) == nil)
        #expect(lessonsOverSchedule(figures(), thresholds: defaults) == nil)
    }

    // MARK: refunds_overdue

    @Test func unrefundedTuitionAfterTheTermWarns() throws {
        #expect(refundsOverdue(figures()) == nil)
        let overdue = try #require(
            refundsOverdue(
                figures {
                    $0.overdueRefunds = 2
                    $0.overdueRefundAmount = .yuan(3_000)
                    $0.oldestOverdueTermEnd = BusinessDate("2026-09-01")
                }))
        #expect(overdue.severity == .serious)
        #expect(overdue.figures["oldest_term_end"] == .date(BusinessDate("2026-09-01")!))
        #expect(refundsOverdue(figures { $0.overdueRefunds = 10 })?.severity == .critical)
    }

    // MARK: licence_expiring and risk_policy_expiring

    @Test func licenceExpiringOrExpiredWarns() {
        #expect(licenceExpiring(figures { $0.licenceValidUntil = today.addingDays(31) }, thresholds: defaults, today: today) == nil)
        #expect(
            licenceExpiring(figures { $0.licenceValidUntil = today.addingDays(30) }, thresholds: defaults, today: today)?.severity
                == .notice)
        #expect(licenceExpiring(figures { $0.licenceValidUntil = today }, thresholds: defaults, today: today)?.severity == .notice)
        let expired = licenceExpiring(figures { $0.licenceValidUntil = today.addingDays(-1) }, thresholds: defaults, today: today)
        #expect(expired?.severity == .critical)
        #expect(expired?.figures["days_left"] == .number(-1))
        #expect(licenceExpiring(figures { $0.licenceValidUntil = nil }, thresholds: defaults, today: today) == nil)
    }

    @Test func riskPolicyExpiringWarnsAroundItsEnd() {
        #expect(riskPolicyExpiring(figures(), thresholds: defaults, today: today) == nil)
        #expect(riskPolicyExpiring(figures { $0.riskPolicyEnds = today.addingDays(31) }, thresholds: defaults, today: today) == nil)
        #expect(
            riskPolicyExpiring(figures { $0.riskPolicyEnds = today.addingDays(10) }, thresholds: defaults, today: today)?.severity
                == .notice)
        #expect(
            riskPolicyExpiring(figures { $0.riskPolicyEnds = today.addingDays(-30) }, thresholds: defaults, today: today)?.severity
                == .serious)
        // Long after it ended, the reserve rule speaks instead.
        #expect(riskPolicyExpiring(figures { $0.riskPolicyEnds = today.addingDays(-31) }, thresholds: defaults, today: today) == nil)
        // The end is exclusive: on its end date the policy covers nothing, so it has ended; the day before, it has not.
        #expect(riskPolicyExpiring(figures { $0.riskPolicyEnds = today }, thresholds: defaults, today: today)?.severity == .serious)
        #expect(
            riskPolicyExpiring(figures { $0.riskPolicyEnds = today.addingDays(1) }, thresholds: defaults, today: today)?.severity
                == .notice)
    }

    // MARK: Deadlines and thresholds

    @Test func deadlineIsOpenedDayPlusDistrictDaysAndEscalatesTheDayAfter() {
        let deadline = warningDeadline(openedOn: today, thresholds: defaults)
        #expect(deadline == BusinessDate("2026-12-05")!)
        #expect(!warningEscalates(status: .open, deadline: deadline, today: deadline))
        #expect(warningEscalates(status: .open, deadline: deadline, today: deadline.addingDays(1)))
        #expect(!warningEscalates(status: .escalated, deadline: deadline, today: deadline.addingDays(1)), "escalates once")
        #expect(!warningEscalates(status: .resolved, deadline: deadline, today: deadline.addingDays(1)))
    }

    @Test func onlyARegulatorsResolutionHoldsOffTheRuleForTheDeadlineDays() {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let days = defaults.deadlineDays
        let exactly = now.addingTimeInterval(-Double(days) * 86_400)
        #expect(resolutionHoldsOff(resolvedBy: .regulator, resolvedAt: exactly.addingTimeInterval(1), deadlineDays: days, at: now))
        #expect(!resolutionHoldsOff(resolvedBy: .regulator, resolvedAt: exactly, deadlineDays: days, at: now), "exactly the days ago: over")
        #expect(!resolutionHoldsOff(resolvedBy: .cleared, resolvedAt: now, deadlineDays: days, at: now))
        #expect(!resolutionHoldsOff(resolvedBy: nil, resolvedAt: nil, deadlineDays: days, at: now))
    }

    @Test func thresholdsOutsideTheirRangesAreRefused() {
        #expect(WarningThresholds.defaults.check() == nil)
        let broken: [(inout WarningThresholds) -> Void] = [
            { $0.escrowCoverageMinBasisPoints = 0 }, { $0.escrowCoverageMinBasisPoints = 10_001 },
            { $0.salesSpikeRatioBasisPoints = 9_999 },
            { $0.salesSpikeMinimum = Money(fen: -1) }, { $0.lessonsOverScheduleRatioBasisPoints = 5_000 },
            { $0.lessonsOverScheduleMinimum = 0 }, { $0.refundGraceDays = -1 }, { $0.expiryNoticeDays = 366 }, { $0.deadlineDays = 0 },
        ]
        for change in broken {
            var thresholds = WarningThresholds.defaults
            change(&thresholds)
            #expect(thresholds.check() == .warningThresholdInvalid)
        }
    }

    @Test func hugeFiguresDoNotOverflow() {
        let huge = figures {
            $0.unconsumed = Money(fen: .max / 2)
            $0.salesLast7Days = Money(fen: .max / 2)
            $0.salesPrior8Weeks = Money(fen: 1)
        }
        // An overflowing product is not a finding; it must not trap.
        _ = evaluateWarnings(huge, thresholds: defaults, today: today)
    }
}

@Suite struct CreditScoreTests {
    func component(_ score: CreditScore, _ name: String) -> Int? { score.components.first { $0.component == name }?.points }

    @Test func aCleanEscrowInstitutionWithGoodInspectionIsA() {
        let score = creditScore(
            CreditInputs(mode: .escrow, inspection: .qualified, starRating: 5, reviews: 10, averageReviewHundredths: 500))
        #expect(score.points == 100)
        #expect(score.grade == .a)
        #expect(
            score.components.map(\.component) == [
                "guarantee_form", "annual_inspection", "star_rating", "warnings", "upheld_complaints", "reviews",
            ])
        #expect(score.components.reduce(0) { $0 + $1.points } == score.points)
        #expect(score.components.reduce(0) { $0 + $1.maxPoints } == 100)
    }

    @Test func aNewInstitutionWithNothingOnRecordIsB() {
        let score = creditScore(CreditInputs(mode: .escrow))
        // 25 + 8 + 4 + 20 + 15 + 8
        #expect(score.points == 80)
        #expect(score.grade == .b)
    }

    @Test func guaranteeFormPoints() {
        #expect(component(creditScore(CreditInputs(mode: .reserve, riskPolicyInForce: true)), "guarantee_form") == 20)
        #expect(component(creditScore(CreditInputs(mode: .reserve, reserveCoversRequirement: true)), "guarantee_form") == 15)
        #expect(component(creditScore(CreditInputs(mode: .reserve, reserveCoversRequirement: false)), "guarantee_form") == 0)
    }

    @Test func warningsComplaintsAndReviewsLowerThePoints() {
        let score = creditScore(
            CreditInputs(
                mode: .escrow, inspection: .unqualified, starRating: 1, warningsLastYear: 3, escalatedLastYear: 1,
                upheldComplaintsLastYear: 2, reviews: 4, averageReviewHundredths: 200))
        #expect(component(score, "annual_inspection") == 0)
        #expect(component(score, "star_rating") == 2)
        #expect(component(score, "warnings") == 6)  // 20 − 9 − 5
        #expect(component(score, "upheld_complaints") == 5)
        #expect(component(score, "reviews") == 3)  // (200 − 100) × 15 / 400
        #expect(score.points == 41)
        #expect(score.grade == .d)
        // The floors hold: no component goes negative.
        let worst = creditScore(CreditInputs(mode: .escrow, warningsLastYear: 50, escalatedLastYear: 50, upheldComplaintsLastYear: 50))
        #expect(worst.components.allSatisfy { $0.points >= 0 })
    }

    @Test(arguments: [(85, CreditGrade.a), (84, .b), (70, .b), (69, .c), (55, .c), (54, .d), (0, .d)])
    func gradeBoundaries(points: Int, grade: CreditGrade) {
        #expect(CreditGrade(points: points) == grade)
    }

    @Test func statusCapsTheGrade() {
        let full = CreditInputs(mode: .escrow, inspection: .qualified, starRating: 5)
        var blacklisted = full
        blacklisted.status = .blacklisted
        #expect(creditScore(blacklisted).grade == .d)
        var suspended = full
        suspended.status = .suspended
        #expect(creditScore(suspended).grade == .c)
        #expect(creditScore(full).grade == .a)
    }

    @Test func ratingsAreOneToFive() {
        #expect(checkRatings(teaching: 1, environment: 5, curriculum: 3) == nil)
        #expect(checkRatings(teaching: 0, environment: 5, curriculum: 3) == .ratingOutOfRange)
        #expect(checkRatings(teaching: 1, environment: 6, curriculum: 3) == .ratingOutOfRange)
    }
}
