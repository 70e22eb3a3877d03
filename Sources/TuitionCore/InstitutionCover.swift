import Foundation

/// One of an institution's policies as its cover reads it.
public struct CoverPolicy: Hashable, Sendable {
    public var kind: InsuranceProductKind
    public var periodStart: Date
    public var periodEnd: Date
    public var cancelledAt: Date?
    /// What is left of the sum insured.
    public var remaining: Money
    /// `institution_risk`: the product's share of the unconsumed tuition it pays; 0 for a tuition policy.
    public var coveredShareBasisPoints: Int
    /// `student_tuition`: the insured enrollment's position (its outstanding tuition is what the policy covers).
    public var insured: EnrollmentPosition?

    public init(
        kind: InsuranceProductKind, periodStart: Date, periodEnd: Date, cancelledAt: Date? = nil, remaining: Money,
        coveredShareBasisPoints: Int = 0, insured: EnrollmentPosition? = nil
    ) {
        self.kind = kind
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.cancelledAt = cancelledAt
        self.remaining = remaining
        self.coveredShareBasisPoints = coveredShareBasisPoints
        self.insured = insured
    }

    public func isInForce(at instant: Date) -> Bool {
        policyInForce(periodStart: periodStart, periodEnd: periodEnd, cancelledAt: cancelledAt, at: instant)
    }
}

/// An institution's unconsumed tuition and what stands behind it, as the warnings, the credit grade and the dashboard
/// read it. The SQL function `institution_figures` (sql/0017) computes the same; the store tests check both agree.
public struct InstitutionCover: Hashable, Sendable {
    /// Σ of its enrollments' outstanding positions.
    public var unconsumed: Money
    public var escrowHeld: Money
    public var reserveHeld: Money
    /// Σ `riskCover` of its risk-control policies in force.
    public var riskCover: Money
    /// Σ over its tuition policies in force of what is left of each, at most its enrollment's outstanding tuition.
    public var tuitionCover: Money
    /// A risk-control policy in force with something left stands in for the reserve (`riskCoverExcusesReserve`).
    public var riskPolicyExcusesReserve: Bool
    /// The latest end date (Asia/Shanghai) of its uncancelled risk-control policies; nil if it never held one.
    public var riskPolicyEnds: BusinessDate?

    public init(
        unconsumed: Money, escrowHeld: Money, reserveHeld: Money, riskCover: Money, tuitionCover: Money,
        riskPolicyExcusesReserve: Bool, riskPolicyEnds: BusinessDate?
    ) {
        self.unconsumed = unconsumed
        self.escrowHeld = escrowHeld
        self.reserveHeld = reserveHeld
        self.riskCover = riskCover
        self.tuitionCover = tuitionCover
        self.riskPolicyExcusesReserve = riskPolicyExcusesReserve
        self.riskPolicyEnds = riskPolicyEnds
    }

    /// The layers as the dashboard shows them: insurance is the risk and tuition cover together, negatives as zero.
    public var coverage: TuitionCoverage {
        TuitionCoverage(
            unconsumed: max(.zero, unconsumed), escrow: max(.zero, escrowHeld), reserve: max(.zero, reserveHeld),
            insurance: Money(fen: max(0, riskCover.fen) &+ max(0, tuitionCover.fen)))
    }
}

/// An institution's cover at `instant`, from its enrollments' positions, its escrow and reserve balances and its
/// policies (`reserveRatioBasisPoints` is its reserve ratio, 0 in escrow mode).
public func institutionCover(
    positions: [EnrollmentPosition], escrowHeld: Money, reserveHeld: Money, reserveRatioBasisPoints: Int, policies: [CoverPolicy],
    at instant: Date
) -> InstitutionCover {
    let unconsumed = Money(fen: positions.reduce(Int64(0)) { $0 + $1.outstanding.fen })
    let risk = policies.filter { $0.kind == .institutionRisk }
    let riskInForce = risk.filter { $0.isInForce(at: instant) }
    let tuitionInForce = policies.filter { $0.kind == .studentTuition && $0.isInForce(at: instant) }
    let riskCovers = riskInForce.map {
        riskCover(remaining: $0.remaining, coveredShareBasisPoints: $0.coveredShareBasisPoints, unconsumed: unconsumed).fen
    }
    let tuitionCovers = tuitionInForce.map { min($0.remaining.fen, max(0, $0.insured?.outstanding.fen ?? 0)) }
    let excuses = riskInForce.contains {
        $0.remaining.isPositive
            && riskCoverExcusesReserve(
                remaining: $0.remaining, coveredShareBasisPoints: $0.coveredShareBasisPoints, unconsumed: unconsumed,
                reserveRatioBasisPoints: reserveRatioBasisPoints)
    }
    let latestEnd = risk.filter { $0.cancelledAt == nil }.map(\.periodEnd).max()
    return InstitutionCover(
        unconsumed: unconsumed, escrowHeld: escrowHeld, reserveHeld: reserveHeld, riskCover: Money(fen: riskCovers.reduce(0, +)),
        tuitionCover: Money(fen: tuitionCovers.reduce(0, +)), riskPolicyExcusesReserve: excuses,
        riskPolicyEnds: latestEnd.map { BusinessDate(shanghaiDateOf: $0) })
}
