import Foundation

/// The early-warning rules. Each looks at one institution's figures (gathered set-based by the store) and the
/// district's thresholds, and says whether a warning is due, how serious it is, and with which figures.
public enum WarningRule: String, Sendable, Codable, CaseIterable {
    /// Escrow mode: the supervised account holds less than `escrowCoverageMinBasisPoints` of the unconsumed tuition.
    case escrowShortfall = "escrow_shortfall"
    /// Reserve mode: the reserve is below `reserve_ratio` × unconsumed tuition and no risk-control policy is in force.
    case reserveShortfall = "reserve_shortfall"
    /// Prepaid sales in the last 7 days far above the weekly average of the 8 weeks before them.
    case salesSpike = "sales_spike"
    /// Lessons recorded in the last 7 days far above the schedule of the enrollments they were recorded on.
    case lessonsOverSchedule = "lessons_over_schedule"
    /// Paid enrollments whose term ended more than `refundGraceDays` ago with unconsumed tuition not refunded.
    case refundsOverdue = "refunds_overdue"
    /// The operating licence has expired or expires within `expiryNoticeDays`.
    case licenceExpiring = "licence_expiring"
    /// The latest risk-control policy expires within `expiryNoticeDays`, or expired within the last `expiryNoticeDays`.
    case riskPolicyExpiring = "risk_policy_expiring"
}

public enum WarningSeverity: String, Sendable, Codable, CaseIterable, Comparable {
    case notice, serious, critical

    var rank: Int {
        switch self {
        case .notice: 0
        case .serious: 1
        case .critical: 2
        }
    }

    public static func < (lhs: WarningSeverity, rhs: WarningSeverity) -> Bool { lhs.rank < rhs.rank }
}

/// `open → resolved` (the condition cleared, or the regulator resolved it with a note), `open → escalated`
/// past the deadline, and `escalated → resolved`.
public enum WarningStatus: String, Sendable, Codable, CaseIterable {
    case open, resolved, escalated
}

/// A district's thresholds. Ratios are in basis points (10,000 = 1×).
public struct WarningThresholds: Sendable, Codable, Hashable {
    /// Escrow must hold at least this share of unconsumed tuition. Default 10,000 (all of it).
    public var escrowCoverageMinBasisPoints: Int
    /// Sales of the last 7 days above this multiple of the trailing weekly average are a spike. Default 30,000 (3×).
    public var salesSpikeRatioBasisPoints: Int
    /// …and only when they reach this amount, so small figures are not a spike. Default ¥10,000.
    public var salesSpikeMinimum: Money
    /// Lessons recorded in the last 7 days above this multiple of their schedule. Default 15,000 (1.5×).
    public var lessonsOverScheduleRatioBasisPoints: Int
    /// …and at least this many lessons over the schedule. Default 10.
    public var lessonsOverScheduleMinimum: Int
    /// A paid enrollment's unconsumed tuition is overdue for refund this many days after its term ended. Default 30.
    public var refundGraceDays: Int
    /// Licence and risk-policy end dates warn this many days ahead. Default 30.
    public var expiryNoticeDays: Int
    /// A new warning's deadline, in days after it opened (Asia/Shanghai dates). Default 15.
    public var deadlineDays: Int

    public init(
        escrowCoverageMinBasisPoints: Int = 10_000, salesSpikeRatioBasisPoints: Int = 30_000, salesSpikeMinimum: Money = .yuan(10_000),
        lessonsOverScheduleRatioBasisPoints: Int = 15_000, lessonsOverScheduleMinimum: Int = 10, refundGraceDays: Int = 30,
        expiryNoticeDays: Int = 30, deadlineDays: Int = 15
    ) {
        self.escrowCoverageMinBasisPoints = escrowCoverageMinBasisPoints
        self.salesSpikeRatioBasisPoints = salesSpikeRatioBasisPoints
        self.salesSpikeMinimum = salesSpikeMinimum
        self.lessonsOverScheduleRatioBasisPoints = lessonsOverScheduleRatioBasisPoints
        self.lessonsOverScheduleMinimum = lessonsOverScheduleMinimum
        self.refundGraceDays = refundGraceDays
        self.expiryNoticeDays = expiryNoticeDays
        self.deadlineDays = deadlineDays
    }

    public static let defaults = WarningThresholds()

    /// The ranges the database also enforces (district_warning_settings); the first value out of range is refused.
    public func check() -> Rejection? {
        guard (1...10_000).contains(escrowCoverageMinBasisPoints), (10_000...1_000_000).contains(salesSpikeRatioBasisPoints),
            salesSpikeMinimum.fen >= 0, salesSpikeMinimum.fen <= 100_000_000_000,
            (10_000...1_000_000).contains(lessonsOverScheduleRatioBasisPoints), (1...10_000).contains(lessonsOverScheduleMinimum),
            (0...365).contains(refundGraceDays), (0...365).contains(expiryNoticeDays), (1...365).contains(deadlineDays)
        else { return .warningThresholdInvalid }
        return nil
    }
}

/// What the rules read about one institution, as of `today` (Asia/Shanghai). The store gathers these for every
/// institution of a district in one query.
public struct InstitutionFigures: Sendable, Hashable {
    public var institution: Institution.ID
    public var mode: SupervisionMode
    public var reserveRatioBasisPoints: Int
    /// Σ over its enrollments of paid − value of lessons consumed − refunded.
    public var unconsumed: Money
    public var escrowHeld: Money
    public var reserveHeld: Money
    /// A risk-control policy in force whose cover reaches the reserve requirement (`riskCoverExcusesReserve`).
    public var riskPolicyInForce: Bool
    /// Payments received in the last 7 days, and in the 8 weeks (56 days) before those.
    public var salesLast7Days: Money
    public var salesPrior8Weeks: Money
    /// Lessons recorded in the last 7 days, and Σ `lessons_per_week` of the enrollments they were recorded on.
    public var lessonsLast7Days: Int
    public var lessonsScheduledLast7Days: Int
    /// Paid enrollments whose term ended before `today − refundGraceDays` with unconsumed tuition left.
    public var overdueRefunds: Int
    public var overdueRefundAmount: Money
    public var oldestOverdueTermEnd: BusinessDate?
    public var licenceValidUntil: BusinessDate?
    /// The latest end date (Asia/Shanghai) of the institution's uncancelled risk-control policies; nil if it never held one.
    public var riskPolicyEnds: BusinessDate?

    public init(
        institution: Institution.ID, mode: SupervisionMode, reserveRatioBasisPoints: Int = 0, unconsumed: Money = .zero,
        escrowHeld: Money = .zero, reserveHeld: Money = .zero, riskPolicyInForce: Bool = false, salesLast7Days: Money = .zero,
        salesPrior8Weeks: Money = .zero, lessonsLast7Days: Int = 0, lessonsScheduledLast7Days: Int = 0, overdueRefunds: Int = 0,
        overdueRefundAmount: Money = .zero, oldestOverdueTermEnd: BusinessDate? = nil, licenceValidUntil: BusinessDate? = nil,
        riskPolicyEnds: BusinessDate? = nil
    ) {
        self.institution = institution
        self.mode = mode
        self.reserveRatioBasisPoints = reserveRatioBasisPoints
        self.unconsumed = unconsumed
        self.escrowHeld = escrowHeld
        self.reserveHeld = reserveHeld
        self.riskPolicyInForce = riskPolicyInForce
        self.salesLast7Days = salesLast7Days
        self.salesPrior8Weeks = salesPrior8Weeks
        self.lessonsLast7Days = lessonsLast7Days
        self.lessonsScheduledLast7Days = lessonsScheduledLast7Days
        self.overdueRefunds = overdueRefunds
        self.overdueRefundAmount = overdueRefundAmount
        self.oldestOverdueTermEnd = oldestOverdueTermEnd
        self.licenceValidUntil = licenceValidUntil
        self.riskPolicyEnds = riskPolicyEnds
    }
}

/// A figure a warning shows: an amount or count, or a date.
public enum WarningFigure: Sendable, Hashable, Codable {
    case number(Int64)
    case date(BusinessDate)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            self = .number(number)
        } else {
            self = .date(try container.decode(BusinessDate.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .date(let date): try container.encode(date)
        }
    }
}

/// A rule that fires for an institution: its severity and the figures that triggered it (snake_case keys, money in fen).
public struct WarningFinding: Sendable, Hashable {
    public var rule: WarningRule
    public var severity: WarningSeverity
    public var figures: [String: WarningFigure]

    public init(rule: WarningRule, severity: WarningSeverity, figures: [String: WarningFigure]) {
        self.rule = rule
        self.severity = severity
        self.figures = figures
    }
}

/// `amount × basisPoints / 10,000`, rounded up, so a requirement is never understated; nil on overflow.
func share(_ amount: Money, basisPoints: Int) -> Int64? {
    let (product, overflow) = amount.fen.multipliedReportingOverflow(by: Int64(basisPoints))
    guard !overflow else { return nil }
    return product <= 0 ? 0 : (product + 9_999) / 10_000
}

/// Every rule that fires for `figures`, in `WarningRule` order.
public func evaluateWarnings(_ figures: InstitutionFigures, thresholds: WarningThresholds, today: BusinessDate) -> [WarningFinding] {
    [
        escrowShortfall(figures, thresholds: thresholds), reserveShortfall(figures), salesSpike(figures, thresholds: thresholds),
        lessonsOverSchedule(figures, thresholds: thresholds), refundsOverdue(figures),
        licenceExpiring(figures, thresholds: thresholds, today: today),
        riskPolicyExpiring(figures, thresholds: thresholds, today: today),
    ].compactMap { $0 }
}

/// Escrow below the required share of unconsumed tuition. Critical below half the requirement.
public func escrowShortfall(_ figures: InstitutionFigures, thresholds: WarningThresholds) -> WarningFinding? {
    guard figures.mode == .escrow, let required = share(figures.unconsumed, basisPoints: thresholds.escrowCoverageMinBasisPoints),
        figures.escrowHeld.fen < required
    else { return nil }
    return WarningFinding(
        rule: .escrowShortfall, severity: figures.escrowHeld.fen * 2 < required ? .critical : .serious,
        figures: [
            "unconsumed_fen": .number(figures.unconsumed.fen), "escrow_fen": .number(figures.escrowHeld.fen),
            "required_fen": .number(required), "shortfall_fen": .number(required - figures.escrowHeld.fen),
        ])
}

/// Reserve below `reserve_ratio` × unconsumed tuition with no risk-control policy in force. Critical below half.
public func reserveShortfall(_ figures: InstitutionFigures) -> WarningFinding? {
    guard figures.mode == .reserve, !figures.riskPolicyInForce,
        let required = share(figures.unconsumed, basisPoints: figures.reserveRatioBasisPoints), figures.reserveHeld.fen < required
    else { return nil }
    return WarningFinding(
        rule: .reserveShortfall, severity: figures.reserveHeld.fen * 2 < required ? .critical : .serious,
        figures: [
            "unconsumed_fen": .number(figures.unconsumed.fen), "reserve_fen": .number(figures.reserveHeld.fen),
            "reserve_ratio_bp": .number(Int64(figures.reserveRatioBasisPoints)), "required_fen": .number(required),
            "shortfall_fen": .number(required - figures.reserveHeld.fen),
        ])
}

/// Sales of the last 7 days above `ratio` × the trailing weekly average (the prior 8 weeks ÷ 8) and at least the minimum.
/// With no sales at all in the prior 8 weeks there is no average to be far above: a new institution's first sales
/// are not a spike. Critical at twice the ratio.
public func salesSpike(_ figures: InstitutionFigures, thresholds: WarningThresholds) -> WarningFinding? {
    let recent = figures.salesLast7Days.fen
    let prior = figures.salesPrior8Weeks.fen
    guard prior > 0, recent >= thresholds.salesSpikeMinimum.fen, recent > 0 else { return nil }
    // recent / (prior / 8) > ratio / 10,000  ⇔  recent × 8 × 10,000 > ratio × prior, in exact integers.
    let (left, overflowLeft) = recent.multipliedReportingOverflow(by: 80_000)
    let (right, overflowRight) = prior.multipliedReportingOverflow(by: Int64(thresholds.salesSpikeRatioBasisPoints))
    guard !overflowLeft, !overflowRight, left > right else { return nil }
    let multipleBasisPoints = left / prior
    return WarningFinding(
        rule: .salesSpike, severity: left > right * 2 ? .critical : .serious,
        figures: [
            "sales_last_7_days_fen": .number(recent), "sales_prior_8_weeks_fen": .number(prior),
            "weekly_average_fen": .number(prior / 8), "multiple_bp": .number(multipleBasisPoints),
        ])
}

/// Lessons recorded in the last 7 days above `ratio` × their schedule, and at least `minimum` lessons over it.
/// Critical at twice the ratio.
public func lessonsOverSchedule(_ figures: InstitutionFigures, thresholds: WarningThresholds) -> WarningFinding? {
    let recorded = Int64(figures.lessonsLast7Days)
    let scheduled = Int64(figures.lessonsScheduledLast7Days)
    let limit = scheduled * Int64(thresholds.lessonsOverScheduleRatioBasisPoints)
    guard recorded * 10_000 > limit, recorded - scheduled >= Int64(thresholds.lessonsOverScheduleMinimum) else { return nil }
    return WarningFinding(
        rule: .lessonsOverSchedule, severity: recorded * 10_000 > limit * 2 ? .critical : .serious,
        figures: ["lessons_last_7_days": .number(recorded), "lessons_scheduled": .number(scheduled)])
}

/// Paid enrollments whose term ended more than the grace period ago with tuition still unconsumed and not refunded:
/// the guardian is owed that money back. Critical from 10 enrollments on.
public func refundsOverdue(_ figures: InstitutionFigures) -> WarningFinding? {
    guard figures.overdueRefunds > 0 else { return nil }
    var shown: [String: WarningFigure] = [
        "enrollments": .number(Int64(figures.overdueRefunds)), "amount_fen": .number(figures.overdueRefundAmount.fen),
    ]
    if let oldest = figures.oldestOverdueTermEnd { shown["oldest_term_end"] = .date(oldest) }
    return WarningFinding(rule: .refundsOverdue, severity: figures.overdueRefunds >= 10 ? .critical : .serious, figures: shown)
}

/// The licence expires within the notice period (notice) or has expired (critical). No licence date, no warning.
public func licenceExpiring(_ figures: InstitutionFigures, thresholds: WarningThresholds, today: BusinessDate) -> WarningFinding? {
    guard let until = figures.licenceValidUntil else { return nil }
    let daysLeft = until.daysSinceEpoch - today.daysSinceEpoch
    guard daysLeft <= thresholds.expiryNoticeDays else { return nil }
    return WarningFinding(
        rule: .licenceExpiring, severity: daysLeft < 0 ? .critical : .notice,
        figures: ["valid_until": .date(until), "days_left": .number(Int64(daysLeft))])
}

/// The latest risk-control policy ends within the notice period (notice) or ended within the last notice period
/// (serious). Longer after it ended the reserve rule speaks for reserve-mode institutions, and an escrow-mode
/// institution that let its policy go is not warned forever. A policy's end is exclusive (00:00 Shanghai of that day,
/// `policy_in_force`): on its end date it covers nothing any more, so that day counts as ended.
public func riskPolicyExpiring(_ figures: InstitutionFigures, thresholds: WarningThresholds, today: BusinessDate) -> WarningFinding? {
    guard let ends = figures.riskPolicyEnds else { return nil }
    let daysLeft = ends.daysSinceEpoch - today.daysSinceEpoch
    guard daysLeft <= thresholds.expiryNoticeDays, daysLeft >= -thresholds.expiryNoticeDays else { return nil }
    return WarningFinding(
        rule: .riskPolicyExpiring, severity: daysLeft <= 0 ? .serious : .notice,
        figures: ["policy_ends": .date(ends), "days_left": .number(Int64(daysLeft))])
}

/// A warning's deadline: the day it opened plus the district's deadline days.
public func warningDeadline(openedOn day: BusinessDate, thresholds: WarningThresholds) -> BusinessDate {
    day.addingDays(thresholds.deadlineDays)
}

/// Whether a warning escalates on `today` (Asia/Shanghai): it is open and its deadline has passed, so it escalates the
/// day after the deadline, not on it; an escalated or resolved warning does not escalate again. The evaluation applies
/// the same rule set-based through the SQL function `warning_escalates` (sql/0021); `WarningLifecycleStoreTests`
/// holds the two to the same answers.
public func warningEscalates(status: WarningStatus, deadline: BusinessDate, today: BusinessDate) -> Bool {
    status == .open && today > deadline
}

/// How a warning was resolved: its condition cleared on evaluation, or a regulator resolved it with a note.
public enum WarningResolver: String, Sendable, Codable, CaseIterable {
    case cleared, regulator
}

/// Whether an earlier warning of the same institution and rule holds off a new one at `instant`: a regulator resolved
/// it (accepting an explanation) less than `deadlineDays` days of 24 hours ago, so the condition gets that long to
/// clear. A warning resolved because its condition cleared, or not resolved, holds nothing off. The evaluation applies
/// the same rule set-based through the SQL function `resolution_holds_off` (sql/0021); `WarningLifecycleStoreTests`
/// holds the two to the same answers.
public func resolutionHoldsOff(resolvedBy: WarningResolver?, resolvedAt: Date?, deadlineDays: Int, at instant: Date) -> Bool {
    guard resolvedBy == .regulator, let resolvedAt else { return false }
    return resolvedAt > instant.addingTimeInterval(-Double(deadlineDays) * 86_400)
}
