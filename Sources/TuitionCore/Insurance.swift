import Foundation

/// What an insurance product covers.
public enum InsuranceProductKind: String, Sendable, Codable, CaseIterable {
    /// Covers a share of an institution's unconsumed tuition up to a limit; in reserve mode it stands in for the reserve.
    case institutionRisk = "institution_risk"
    /// Covers one enrollment's prepaid tuition up to what was paid; a guardian buys it for the enrollment.
    case studentTuition = "student_tuition"
}

/// An insurer's product. `coveredShareBasisPoints` and `limit` belong to `institution_risk` products only
/// and are `nil` for `student_tuition`, whose cover is bounded by what the guardian paid.
public struct InsuranceProduct: Hashable, Sendable {
    public typealias ID = Identifier<InsuranceProduct>

    public var id: ID
    public var insurer: Insurer.ID
    public var kind: InsuranceProductKind
    /// The premium as a share of the sum insured, 1–10,000 basis points.
    public var premiumRateBasisPoints: Int
    /// `institution_risk`: the share of each enrollment's unconsumed tuition the policy pays, 1–10,000 basis points.
    public var coveredShareBasisPoints: Int?
    /// `institution_risk`: the most one policy of this product may insure.
    public var limit: Money?

    public init(
        id: ID, insurer: Insurer.ID, kind: InsuranceProductKind, premiumRateBasisPoints: Int,
        coveredShareBasisPoints: Int? = nil, limit: Money? = nil
    ) {
        self.id = id
        self.insurer = insurer
        self.kind = kind
        self.premiumRateBasisPoints = premiumRateBasisPoints
        self.coveredShareBasisPoints = coveredShareBasisPoints
        self.limit = limit
    }
}

/// Validates a product's terms, first failure wins: the premium rate, then the cover that matches the kind.
public func checkProductTerms(
    kind: InsuranceProductKind, premiumRateBasisPoints: Int, coveredShareBasisPoints: Int?, limit: Money?
) -> Rejection? {
    guard (1...10_000).contains(premiumRateBasisPoints) else { return .premiumRateInvalid }
    if let limit, limit > PlatformLimits.sumInsuredMaximum { return .amountTooLarge }
    switch kind {
    case .institutionRisk:
        guard let coveredShareBasisPoints, (1...10_000).contains(coveredShareBasisPoints), let limit, limit.isPositive else {
            return .coverageTermsInvalid
        }
    case .studentTuition:
        guard coveredShareBasisPoints == nil, limit == nil else { return .coverageTermsInvalid }
    }
    return nil
}

/// The premium for insuring `sumInsured` under `product`: `sumInsured × rate / 10,000`, rounded **up** to the fen,
/// so the insurer is never short a fraction of a fen (the same direction as `reserveRequirement`).
/// In SQL: `(sum_insured_fen * rate_bp + 9999) / 10000` over non-negative integers.
public func premium(for product: InsuranceProduct, sumInsured: Money) -> Money {
    precondition((0...10_000).contains(product.premiumRateBasisPoints), "premium rate out of range")
    guard sumInsured.isPositive, product.premiumRateBasisPoints > 0 else { return .zero }
    // 128-bit intermediate; with the rate ≤ 10,000 the quotient never exceeds `sumInsured`.
    let product128 = sumInsured.fen.multipliedFullWidth(by: Int64(product.premiumRateBasisPoints))
    let (quotient, remainder) = Int64(10_000).dividingFullWidth(product128)
    return Money(fen: remainder > 0 ? quotient + 1 : quotient)
}

/// Who a policy insures.
public enum InsuredParty: Hashable, Sendable {
    /// An `institution_risk` policy insures an institution's unconsumed tuition.
    case institution(Institution.ID)
    /// A `student_tuition` policy insures one enrollment, bought by its guardian.
    case enrollment(Enrollment.ID, guardian: Guardian.ID)

    /// The product kind that insures this kind of party.
    public var productKind: InsuranceProductKind {
        switch self {
        case .institution: .institutionRisk
        case .enrollment: .studentTuition
        }
    }
}

/// A policy's status, as the API and the database spell it.
public enum PolicyStatus: String, Sendable, Codable, CaseIterable {
    case active, expired, cancelled, exhausted
}

/// An issued policy. Its status is not stored state to keep in step: it follows from the period,
/// the cancellation time and what is left of the sum insured (`policyStatus(at:)`).
public struct Policy: Hashable, Sendable {
    public typealias ID = Identifier<Policy>

    public var id: ID
    public var number: String
    public var product: InsuranceProduct.ID
    public var kind: InsuranceProductKind
    public var insured: InsuredParty
    public var sumInsured: Money
    /// What is left of the sum insured; paying a claim reduces it, never below zero.
    public var remaining: Money
    public var premium: Money
    /// The period is half-open: the policy covers events at `periodStart` up to, not including, `periodEnd`.
    public var periodStart: Date
    public var periodEnd: Date
    /// When the policy was cancelled, if it was; it covers nothing from that instant on.
    public var cancelledAt: Date?

    public init(
        id: ID, number: String, product: InsuranceProduct.ID, kind: InsuranceProductKind, insured: InsuredParty,
        sumInsured: Money, remaining: Money, premium: Money, periodStart: Date, periodEnd: Date, cancelledAt: Date? = nil
    ) {
        self.id = id
        self.number = number
        self.product = product
        self.kind = kind
        self.insured = insured
        self.sumInsured = sumInsured
        self.remaining = remaining
        self.premium = premium
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.cancelledAt = cancelledAt
    }

    /// The status at `instant`, first match wins: `cancelled` once cancelled, `expired` from `periodEnd` on,
    /// `exhausted` when nothing is left of the sum insured, else `active`. A policy whose period has not begun
    /// is `active` (issued and in good standing) but not yet in force: ask `isInForce(at:)` whether it covers an event.
    public func policyStatus(at instant: Date) -> PolicyStatus {
        if let cancelledAt, cancelledAt <= instant { return .cancelled }
        if instant >= periodEnd { return .expired }
        if !remaining.isPositive { return .exhausted }
        return .active
    }

    /// Whether the policy covers an event at `instant`: inside the period and not cancelled at or before it.
    /// What is left of the sum insured is a separate question (`remaining`), since it changes after the event.
    public func isInForce(at instant: Date) -> Bool {
        policyInForce(periodStart: periodStart, periodEnd: periodEnd, cancelledAt: cancelledAt, at: instant)
    }

    /// Whether this policy is the kind that covers `enrollment`: a tuition policy on that very enrollment,
    /// or a risk-control policy on the enrollment's institution.
    public func covers(enrollment: Enrollment.ID, institution: Institution.ID) -> Bool {
        switch insured {
        case .institution(let insuredInstitution): kind == .institutionRisk && insuredInstitution == institution
        case .enrollment(let insuredEnrollment, _): kind == .studentTuition && insuredEnrollment == enrollment
        }
    }
}

/// Whether a policy with this period and cancellation time covers an event at `instant`: inside the half-open period
/// and not cancelled at or before it. The one definition, mirrored by the SQL function `policy_in_force` (sql/0017).
public func policyInForce(periodStart: Date, periodEnd: Date, cancelledAt: Date?, at instant: Date) -> Bool {
    if let cancelledAt, cancelledAt <= instant { return false }
    return periodStart <= instant && instant < periodEnd
}

/// Validates a policy about to be issued, first failure wins. `tuitionPaid` is what the guardian paid for the insured
/// enrollment (`student_tuition` cover may not exceed it); an `institution_risk` policy may not exceed the product's limit.
public func checkPolicyTerms(
    product: InsuranceProduct, insured: InsuredParty, sumInsured: Money, periodStart: Date, periodEnd: Date, tuitionPaid: Money
) -> Rejection? {
    guard sumInsured.isPositive else { return .amountMustBePositive }
    guard sumInsured <= PlatformLimits.sumInsuredMaximum else { return .amountTooLarge }
    guard periodEnd > periodStart else { return .policyPeriodInvalid }
    guard insured.productKind == product.kind else { return .insuredDoesNotMatchProduct }
    switch product.kind {
    case .institutionRisk:
        guard let limit = product.limit, sumInsured <= limit else { return .sumInsuredExceedsCover }
    case .studentTuition:
        guard sumInsured <= tuitionPaid else { return .sumInsuredExceedsCover }
    }
    return nil
}

/// Why a guardian claims.
public enum ClaimReason: String, Sendable, Codable, CaseIterable {
    case institutionDefunct = "institution_defunct"
    case refundRefused = "refund_refused"
}

/// A claim's status: `filed → verified → approved → paid`, or `referred` (needs a person) or `rejected`.
public enum ClaimStatus: String, Sendable, Codable, CaseIterable {
    case filed, verified, approved, paid, referred, rejected
    /// Never to be paid: merged into the fast-track's own claim (`supersededBy`) or left on an exhausted policy.
    case closed
}

/// Namespace for a claim's typed id.
public enum Claim { public typealias ID = Identifier<Claim> }

/// Whether a risk-control policy in force stands in for the reserve: what it would pay, its covered share of the
/// unconsumed tuition but at most what is left of it, must reach the reserve requirement (the reserve ratio of the
/// unconsumed tuition). A token policy does not excuse a missing reserve. Mirrored by the SQL function
/// `risk_cover_excuses_reserve` (sql/0010); products are computed full-width, so no input can overflow.
public func riskCoverExcusesReserve(
    remaining: Money, coveredShareBasisPoints: Int, unconsumed: Money, reserveRatioBasisPoints: Int
) -> Bool {
    let owed = max(unconsumed.fen, 0)
    let cap = remaining.fen.multipliedFullWidth(by: 10_000)
    let share = owed.multipliedFullWidth(by: Int64(coveredShareBasisPoints))
    let required = owed.multipliedFullWidth(by: Int64(reserveRatioBasisPoints))
    func isLess(_ a: (high: Int64, low: UInt64), _ b: (high: Int64, low: UInt64)) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }
    let cover = isLess(cap, share) ? cap : share
    return !isLess(cover, required)
}

/// What a risk-control policy would pay for an institution: its covered share of the unconsumed tuition, rounded
/// down to the fen as the waterfall pays it, at most what is left of the policy. Mirrored by the SQL function
/// `risk_cover_fen` (sql/0017); the product is computed full-width, so no input can overflow.
public func riskCover(remaining: Money, coveredShareBasisPoints: Int, unconsumed: Money) -> Money {
    let owed = max(unconsumed.fen, 0)
    let share = Int64(10_000).dividingFullWidth(owed.multipliedFullWidth(by: Int64(coveredShareBasisPoints))).quotient
    return Money(fen: min(remaining.fen, share))
}

/// What a proposal (an order an institution offers, a risk-control policy an insurer offers) has come to.
/// Nothing a proposal says counts, charges or reveals anyone's data until the other party accepts it.
public enum ProposalStatus: String, Sendable, Codable, CaseIterable {
    case proposed, accepted, rejected
}
