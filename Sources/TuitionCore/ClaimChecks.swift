import Foundation

// Time convention for every check: an event at or after the claim's event time (the defunct time) is "after" it.
// The institution is frozen from that instant on, so nothing done at that instant counts for the guardian's money.

/// Lessons the institution recorded on one enrollment, as the `lessons` table has them.
public struct LessonEntry: Hashable, Sendable {
    public var lessons: Int
    /// When the institution recorded them; this, not the date it says they were taken, decides what counts,
    /// because draining shows as a burst of recording just before a collapse, whatever dates are written down.
    public var recordedAt: Date
    public var status: LessonStatus

    public init(lessons: Int, recordedAt: Date, status: LessonStatus) {
        self.lessons = lessons
        self.recordedAt = recordedAt
        self.status = status
    }
}

/// Everything the claim checks need to know about one enrollment, as plain values the store reads with SQL.
public struct EnrollmentLedgerFacts: Hashable, Sendable {
    public var enrollment: Enrollment.ID
    public var institution: Institution.ID
    public var guardian: Guardian.ID
    /// The price per lesson frozen at purchase; a lesson entry is worth `lessons × pricePerLesson`.
    public var pricePerLesson: Money
    public var lessonsBought: Int
    /// The course's schedule, 1–21 lessons a week (`courses.lessons_per_week`).
    public var lessonsPerWeek: Int
    /// What the guardian paid, and when (`nil`: not paid).
    public var paid: Money
    public var paidAt: Date?
    /// Everything ever refunded to the guardian on this enrollment, whenever it happened.
    public var refunded: Money
    /// Everything already paid back to the guardian on this enrollment's claims and settlements out of what it was owed,
    /// across all layers and policies (the enrollment's `returned_fen`).
    public var claimPayouts: Money
    /// What claims paid on top, for contested lessons a person found not given (`ClaimPayoutLayers.addedBack`): their
    /// value was consumed, so it never reduced what the enrollment is owed, but no lesson is added back twice.
    public var addedBack: Money
    public var lessons: [LessonEntry]

    public init(
        enrollment: Enrollment.ID, institution: Institution.ID, guardian: Guardian.ID, pricePerLesson: Money, lessonsBought: Int,
        lessonsPerWeek: Int, paid: Money, paidAt: Date?, refunded: Money = .zero, claimPayouts: Money = .zero,
        addedBack: Money = .zero, lessons: [LessonEntry] = []
    ) {
        self.enrollment = enrollment
        self.institution = institution
        self.guardian = guardian
        self.pricePerLesson = pricePerLesson
        self.lessonsBought = lessonsBought
        self.lessonsPerWeek = lessonsPerWeek
        self.paid = paid
        self.paidAt = paidAt
        self.refunded = refunded
        self.claimPayouts = claimPayouts
        self.addedBack = addedBack
        self.lessons = lessons
    }
}

/// What a guardian owes no longer and is owed instead, as of `eventTime`:
/// paid (only if paid before the event) − value of lessons recorded before the event − refunded − already paid on claims,
/// never below zero. Lessons recorded at or after the event are excluded, the institution being frozen then.
/// Refunds and claim payouts count whenever they happened: that money is already back with the guardian,
/// so counting it keeps the guardian from being paid twice. Disputed lessons count as consumed here (the ledger
/// released their value); the dispute refers the claim to a person, who may add them back.
public func entitlement(of facts: EnrollmentLedgerFacts, asOf eventTime: Date) -> Money {
    Money(fen: max(0, unconsumedTuition(of: facts, asOf: eventTime).fen - facts.claimPayouts.fen))
}

/// The enrollment's unconsumed tuition as of `eventTime`: paid (only if paid before the event) − value of lessons recorded
/// before the event − refunded, never below zero. Unlike the entitlement, claim payouts do not reduce it: repaying a
/// guardian does not make tuition consumed, so it is what a risk-control policy's covered share is a share of.
public func unconsumedTuition(of facts: EnrollmentLedgerFacts, asOf eventTime: Date) -> Money {
    guard let paidAt = facts.paidAt, paidAt < eventTime else { return .zero }
    let lessonsBefore = facts.lessons.reduce(0) { $1.recordedAt < eventTime ? $0 + $1.lessons : $0 }
    return Money(fen: max(0, facts.paid.fen - facts.pricePerLesson.fen * Int64(lessonsBefore) - facts.refunded.fen))
}

/// How much of one enrollment an institution's risk-control policy still covers. The product covers a share of the
/// enrollment's unconsumed tuition (DESIGN §2); what this policy already paid on the enrollment, by any claim or by the
/// fast-track, counts against that share, so claim after claim never takes the policy past it.
public struct RiskShareTerms: Hashable, Sendable {
    /// The product's covered share, 1–10,000 basis points.
    public var coveredShareBasisPoints: Int
    /// What this policy has paid on this enrollment so far.
    public var paidOnEnrollment: Money

    public init(coveredShareBasisPoints: Int, paidOnEnrollment: Money) {
        precondition((1...10_000).contains(coveredShareBasisPoints), "covered share out of range")
        self.coveredShareBasisPoints = coveredShareBasisPoints
        self.paidOnEnrollment = paidOnEnrollment
    }

    /// The most a payout on this policy may be: ⌊(unconsumed + added back before + addedBack) × share / 10,000⌋ − already
    /// paid, and never more than the entitlement plus `addedBack` (contested lessons a person found not given), never
    /// below zero. What earlier claims added back (`facts.addedBack`, by any policy) stays in the base the share is of, as
    /// what this policy paid of it stays in what it already paid.
    public func cap(of facts: EnrollmentLedgerFacts, asOf eventTime: Date, addedBack: Money = .zero) -> Money {
        let base = unconsumedTuition(of: facts, asOf: eventTime).fen + facts.addedBack.fen + addedBack.fen
        let share = Int64(10_000).dividingFullWidth(base.multipliedFullWidth(by: Int64(coveredShareBasisPoints))).quotient
        let left = share - paidOnEnrollment.fen
        return Money(fen: max(0, min(left, entitlement(of: facts, asOf: eventTime).fen + addedBack.fen)))
    }

    /// Whether the policy has nothing left to pay on an enrollment that is still owed: its share is paid already
    /// (or rounds down to nothing).
    func shareUsed(of facts: EnrollmentLedgerFacts, asOf eventTime: Date) -> Bool {
        entitlement(of: facts, asOf: eventTime).isPositive && !cap(of: facts, asOf: eventTime).isPositive
    }
}

/// Who pays a guardian's approved claim (DESIGN §2, "payout on a claim: escrow / reserve / insurer → outside, one
/// transfer per layer"): the supervised account first, with what it holds for the enrollment — the guardian's own
/// prepaid tuition, still there when an institution refuses a refund — and the insurer the rest. Were the insurer to
/// pay while the escrow kept the guardian's money, the escrow would hold more than the enrollment is still owed, and
/// nobody's money would stay there for ever. A defunct case's claims are insurance layers of its waterfall, whose
/// escrow layer the fast-track itself paid: they are paid with no escrow held (`escrowHeld: .zero`).
///
/// What an approval grants above the approvable amount is added back: the value of contested lessons a person found not
/// given. Those lessons were consumed and their value released to the institution, so the escrow holds nothing for them
/// and what the enrollment is still owed does not go down by it (the guardian keeps the lessons left); the insurer pays it.
public struct ClaimPayoutLayers: Hashable, Sendable {
    public var escrow: Money
    public var insurer: Money
    /// The part of the payout above `approvable`, paid by the insurer within `insurer`.
    public var addedBack: Money

    public init(paying amount: Money, approvable: Money, escrowHeld: Money) {
        addedBack = Money(fen: max(0, amount.fen - approvable.fen))
        escrow = Money(fen: max(0, min(amount.fen - addedBack.fen, escrowHeld.fen)))
        insurer = Money(fen: amount.fen - escrow.fen)
    }

    /// What the payout returns of what the enrollment was owed: everything but the add-back.
    public var owedPart: Money { Money(fen: escrow.fen + insurer.fen - addedBack.fen) }
}

/// The look-back window for draining: the 30 days before the event, `[eventTime − 30 days, eventTime)`.
public let consumptionSpikeWindow: TimeInterval = 30 * 86_400

/// Draining: lessons recorded in the 30 days before the event exceed twice what the course's schedule expects
/// in 30 days, i.e. `lessons > 2 × lessonsPerWeek × 30 / 7`, compared exactly as `7 × lessons > 60 × lessonsPerWeek`.
/// (A threshold of "half the lessons bought" was considered and not used: it flags an ordinary pace on a small package.)
public func isConsumptionSpike(lessonsInWindow: Int, lessonsPerWeek: Int) -> Bool {
    7 * lessonsInWindow > 60 * lessonsPerWeek
}

/// A guardian's claim as filed.
public struct ClaimRequest: Hashable, Sendable {
    public var claimant: Guardian.ID
    public var enrollment: Enrollment.ID
    public var reason: ClaimReason
    public var claimed: Money
    /// The event the claim is about: the defunct time (or when the refund was refused).
    public var eventTime: Date

    public init(claimant: Guardian.ID, enrollment: Enrollment.ID, reason: ClaimReason, claimed: Money, eventTime: Date) {
        self.claimant = claimant
        self.enrollment = enrollment
        self.reason = reason
        self.claimed = claimed
        self.eventTime = eventTime
    }
}

/// The automatic checks, in the order they run. The raw value is what the store records.
public enum ClaimCheck: String, Sendable, Codable, CaseIterable {
    case claimant, policy, payment, entitlement, amount, consumption, disputes
}

/// How one check came out.
public enum ClaimCheckOutcome: String, Sendable, Codable, CaseIterable {
    /// Nothing wrong.
    case passed
    /// Passed with the amount cut to the entitlement.
    case adjusted
    /// A person must look: the claim is referred unless another check rejects it.
    case referred
    /// The claim is rejected.
    case failed
    /// The check does not apply (no policy claimed against: the fast-track's claim on the institution's own funds).
    case notApplicable = "not_applicable"
}

/// The stable reason code of each check's outcome; the raw value is what the API and the store report.
public enum ClaimCheckCode: String, Sendable, Codable, CaseIterable {
    // claimant
    case claimantIsGuardian = "claimant_is_guardian"
    case claimantIsNotGuardian = "claimant_is_not_guardian"
    // policy
    case policyCoversEnrollment = "policy_covers_enrollment"
    case noPolicyClaimedAgainst = "no_policy_claimed_against"
    case policyNotActiveAtEvent = "policy_not_active_at_event"
    case policyDoesNotCoverEnrollment = "policy_does_not_cover_enrollment"
    case policyExhausted = "policy_exhausted"
    case coveredShareUsed = "covered_share_used"
    // payment
    case paymentBeforeDefunct = "payment_before_defunct"
    case enrollmentNotPaid = "enrollment_not_paid"
    case paymentAfterDefunct = "payment_after_defunct"
    // entitlement
    case unconsumedTuitionRemains = "unconsumed_tuition_remains"
    case noUnconsumedTuition = "no_unconsumed_tuition"
    // amount
    case claimWithinEntitlement = "claim_within_entitlement"
    case claimExceedsEntitlement = "claim_exceeds_entitlement"
    case claimExceedsCoveredShare = "claim_exceeds_covered_share"
    case claimAmountNotPositive = "claim_amount_not_positive"
    // consumption
    case consumptionWithinSchedule = "consumption_within_schedule"
    case consumptionSpikeBeforeCollapse = "consumption_spike_before_collapse"
    // disputes
    case noDisputedLessons = "no_disputed_lessons"
    case disputedLessons = "disputed_lessons"
}

/// One check's result, as stored with the claim.
public struct ClaimCheckResult: Hashable, Sendable {
    public var check: ClaimCheck
    public var outcome: ClaimCheckOutcome
    public var code: ClaimCheckCode

    public init(check: ClaimCheck, outcome: ClaimCheckOutcome, code: ClaimCheckCode) {
        self.check = check
        self.outcome = outcome
        self.code = code
    }
}

/// What the checks decide.
public enum ClaimDecision: Hashable, Sendable {
    /// Every check passed: approve this amount (the claim, cut to the entitlement if it asked for more).
    case approve(Money)
    /// No check failed but some need a person; their codes in check order.
    case refer([ClaimCheckCode])
    /// The first failed check's code.
    case reject(ClaimCheckCode)
}

/// The result of running every check on a claim.
public struct ClaimAssessment: Hashable, Sendable {
    /// One result per `ClaimCheck`, in check order.
    public var checks: [ClaimCheckResult]
    /// The entitlement as of the event time (`entitlement(of:asOf:)`).
    public var entitlement: Money
    /// `min(claimed, entitlement)`, never negative: what approval would pay, including for a referred claim.
    public var approvable: Money
    /// What a person may add back to a referred claim, with a reason: the value of the disputed lessons and of the
    /// burst's lessons recorded before the event (`contestedValue`). Zero unless the claim is referred.
    public var contested: Money
    public var decision: ClaimDecision

    public init(checks: [ClaimCheckResult], entitlement: Money, approvable: Money, contested: Money = .zero, decision: ClaimDecision) {
        self.checks = checks
        self.entitlement = entitlement
        self.approvable = approvable
        self.contested = contested
        self.decision = decision
    }
}

/// Runs every automatic check on `claim`, in the fixed order of `ClaimCheck`, and decides:
/// the first `failed` check rejects; otherwise any `referred` check refers (all their codes, in order);
/// otherwise approve `min(claimed, entitlement)`. Every check runs and is recorded even after a failure,
/// so the insurer sees the whole picture and a set-based SQL version computes each column independently.
///
/// - claimant: the claimant is the enrollment's guardian.
/// - policy: `nil` means no policy is claimed against (`notApplicable`); otherwise, first failure wins: in force at the
///   event time (`isInForce(at:)`), covers this enrollment (`covers(enrollment:institution:)`), something left of it.
/// - payment: the enrollment was paid, strictly before the event time.
/// - entitlement: positive as of the event time.
/// - amount: positive; above the entitlement it is `adjusted` down to it (`claimExceedsEntitlement`), not rejected; on a
///   risk-control policy (`riskShare` given), above what the policy's covered share leaves it is adjusted down to that
///   (`claimExceedsCoveredShare`), and the policy check fails (`coveredShareUsed`) when that is nothing.
/// - consumption: lessons recorded in `[eventTime − 30 days, eventTime)` are not a spike (`isConsumptionSpike`), else referred.
/// - disputes: no lesson recorded before the event time is disputed, else referred.
public func assessClaim(
    _ claim: ClaimRequest, facts: EnrollmentLedgerFacts, policy: Policy?, riskShare: RiskShareTerms? = nil
) -> ClaimAssessment {
    precondition(claim.enrollment == facts.enrollment, "the facts must be the claimed enrollment's")
    let eventTime = claim.eventTime
    let entitled = entitlement(of: facts, asOf: eventTime)
    let shareCap = riskShare?.cap(of: facts, asOf: eventTime)
    let checks = [
        claimantCheck(claim, facts), policyCheck(policy, facts, at: eventTime, riskShare: riskShare),
        paymentCheck(facts, before: eventTime), entitlementCheck(entitled),
        amountCheck(claim.claimed, entitled: entitled, shareCap: shareCap), consumptionCheck(facts, before: eventTime),
        disputesCheck(facts, before: eventTime),
    ]
    let approvable = Money(fen: max(0, min(claim.claimed.fen, entitled.fen, shareCap?.fen ?? .max)))
    if let failure = checks.first(where: { $0.outcome == .failed }) {
        return ClaimAssessment(checks: checks, entitlement: entitled, approvable: approvable, decision: .reject(failure.code))
    }
    let referrals = checks.filter { $0.outcome == .referred }.map(\.code)
    guard !referrals.isEmpty else {
        return ClaimAssessment(checks: checks, entitlement: entitled, approvable: approvable, decision: .approve(approvable))
    }
    return ClaimAssessment(
        checks: checks, entitlement: entitled, approvable: approvable,
        contested: addable(contestedValue(of: facts, asOf: eventTime), above: approvable, riskShare: riskShare, facts, eventTime),
        decision: .refer(referrals))
}

/// What a person may add to `approvable` for contested lessons: all of them, except that a risk-control policy pays at
/// most its covered share with them added back.
private func addable(
    _ contested: Money, above approvable: Money, riskShare: RiskShareTerms?, _ facts: EnrollmentLedgerFacts, _ eventTime: Date
) -> Money {
    guard let riskShare else { return contested }
    let ceiling = riskShare.cap(of: facts, asOf: eventTime, addedBack: contested)
    return Money(fen: max(0, min(contested.fen, ceiling.fen - approvable.fen)))
}

private func result(_ check: ClaimCheck, _ outcome: ClaimCheckOutcome, _ code: ClaimCheckCode) -> ClaimCheckResult {
    ClaimCheckResult(check: check, outcome: outcome, code: code)
}

private func claimantCheck(_ claim: ClaimRequest, _ facts: EnrollmentLedgerFacts) -> ClaimCheckResult {
    claim.claimant == facts.guardian
        ? result(.claimant, .passed, .claimantIsGuardian) : result(.claimant, .failed, .claimantIsNotGuardian)
}

private func policyCheck(
    _ policy: Policy?, _ facts: EnrollmentLedgerFacts, at eventTime: Date, riskShare: RiskShareTerms?
) -> ClaimCheckResult {
    guard let policy else { return result(.policy, .notApplicable, .noPolicyClaimedAgainst) }
    if !policy.isInForce(at: eventTime) { return result(.policy, .failed, .policyNotActiveAtEvent) }
    if !policy.covers(enrollment: facts.enrollment, institution: facts.institution) {
        return result(.policy, .failed, .policyDoesNotCoverEnrollment)
    }
    if !policy.remaining.isPositive { return result(.policy, .failed, .policyExhausted) }
    if riskShare?.shareUsed(of: facts, asOf: eventTime) == true { return result(.policy, .failed, .coveredShareUsed) }
    return result(.policy, .passed, .policyCoversEnrollment)
}

private func paymentCheck(_ facts: EnrollmentLedgerFacts, before eventTime: Date) -> ClaimCheckResult {
    guard let paidAt = facts.paidAt, facts.paid.isPositive else { return result(.payment, .failed, .enrollmentNotPaid) }
    return paidAt < eventTime ? result(.payment, .passed, .paymentBeforeDefunct) : result(.payment, .failed, .paymentAfterDefunct)
}

private func entitlementCheck(_ entitled: Money) -> ClaimCheckResult {
    entitled.isPositive
        ? result(.entitlement, .passed, .unconsumedTuitionRemains) : result(.entitlement, .failed, .noUnconsumedTuition)
}

private func amountCheck(_ claimed: Money, entitled: Money, shareCap: Money?) -> ClaimCheckResult {
    if !claimed.isPositive { return result(.amount, .failed, .claimAmountNotPositive) }
    // The lower bound names the cut: the covered share when it is below the entitlement.
    if let shareCap, shareCap < entitled, claimed > shareCap { return result(.amount, .adjusted, .claimExceedsCoveredShare) }
    if claimed > entitled { return result(.amount, .adjusted, .claimExceedsEntitlement) }
    return result(.amount, .passed, .claimWithinEntitlement)
}

private func consumptionCheck(_ facts: EnrollmentLedgerFacts, before eventTime: Date) -> ClaimCheckResult {
    let windowStart = eventTime - consumptionSpikeWindow
    let lessonsInWindow = facts.lessons.reduce(0) { ($1.recordedAt >= windowStart && $1.recordedAt < eventTime) ? $0 + $1.lessons : $0 }
    return isConsumptionSpike(lessonsInWindow: lessonsInWindow, lessonsPerWeek: facts.lessonsPerWeek)
        ? result(.consumption, .referred, .consumptionSpikeBeforeCollapse) : result(.consumption, .passed, .consumptionWithinSchedule)
}

private func disputesCheck(_ facts: EnrollmentLedgerFacts, before eventTime: Date) -> ClaimCheckResult {
    facts.lessons.contains(where: { $0.status == .disputed && $0.recordedAt < eventTime })
        ? result(.disputes, .referred, .disputedLessons) : result(.disputes, .passed, .noDisputedLessons)
}

/// The value a person may add back to a referred claim: lessons recorded before the event that the guardian disputed,
/// and, when the 30 days before it show a burst, every lesson recorded in that window. The entitlement counts these
/// as consumed (the ledger released their value); a person who finds them not given may return them too. Being part
/// of what was consumed, the entitlement plus this never exceeds paid − refunded − already paid back; what earlier claims
/// added back (`facts.addedBack`) is contested no longer.
public func contestedValue(of facts: EnrollmentLedgerFacts, asOf eventTime: Date) -> Money {
    let windowStart = eventTime - consumptionSpikeWindow
    let before = facts.lessons.filter { $0.recordedAt < eventTime }
    let inWindow = before.filter { $0.recordedAt >= windowStart }
    let burst = isConsumptionSpike(lessonsInWindow: inWindow.reduce(0) { $0 + $1.lessons }, lessonsPerWeek: facts.lessonsPerWeek)
    let lessons = before.reduce(0) { sum, entry in
        entry.status == .disputed || (burst && entry.recordedAt >= windowStart) ? sum + entry.lessons : sum
    }
    guard facts.paidAt.map({ $0 < eventTime }) == true else { return .zero }
    let owedWithContested =
        facts.paid.fen - facts.refunded.fen - facts.claimPayouts.fen - facts.addedBack.fen
        - facts.pricePerLesson.fen * Int64(before.reduce(0) { $0 + $1.lessons } - lessons)
    let contested = min(facts.pricePerLesson.fen * Int64(lessons), owedWithContested - entitlement(of: facts, asOf: eventTime).fen)
    return Money(fen: max(0, contested))
}
