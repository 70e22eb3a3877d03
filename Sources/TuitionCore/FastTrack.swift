import Foundation

// The defunct fast-track's rules that are not the waterfall itself: which policies it draws on and how each
// enrollment's settlement is checked. The store runs the same rules as set-based SQL; tests compare the two.

/// The risk-control policy the fast-track draws on: among `policies`, the institution's `institution_risk` policies in
/// force at `effectiveAt` with something left, the one with the most left, ties to the lower id (PostgreSQL's order).
public func riskPolicyInForce(_ policies: [Policy], institution: Institution.ID, at effectiveAt: Date) -> Policy? {
    policies
        .filter { $0.kind == .institutionRisk && $0.insured == .institution(institution) }
        .filter { $0.isInForce(at: effectiveAt) && $0.remaining.isPositive }
        .min { left, right in
            left.remaining != right.remaining ? left.remaining > right.remaining : left.id.precedes(right.id)
        }
}

/// What the enrollment's own tuition policy can pay in the waterfall: what is left of it when it was in force at
/// `effectiveAt`, else zero.
public func tuitionPolicyCover(_ policy: Policy?, at effectiveAt: Date) -> Money {
    guard let policy, policy.kind == .studentTuition, policy.isInForce(at: effectiveAt) else { return .zero }
    return policy.remaining
}

/// The fast-track's checks of one enrollment: the guardian's claim for its whole entitlement as of the effective time,
/// with no policy claimed against (the waterfall decides which layers pay). An enrollment with nothing owed is not
/// settled at all; one whose checks refer it has its insurance layers referred to a person.
public func assessSettlement(_ facts: EnrollmentLedgerFacts, effectiveAt: Date) -> ClaimAssessment? {
    let owed = entitlement(of: facts, asOf: effectiveAt)
    guard owed.isPositive else { return nil }
    let request = ClaimRequest(
        claimant: facts.guardian, enrollment: facts.enrollment, reason: .institutionDefunct, claimed: owed, eventTime: effectiveAt)
    return assessClaim(request, facts: facts, policy: nil)
}

/// A regulator's defunct mark on one institution and the fast-track that settles it.
public enum DefunctCase { public typealias ID = Identifier<DefunctCase> }

/// Where a defunct case's job stands: `blocked` when a chunk could not pay (the case says why and waits for a person;
/// running it again resumes it).
public enum DefunctCaseStatus: String, Sendable, Codable, CaseIterable {
    case running, blocked, completed
}

/// What happened to one enrollment's settlement: `pending` until its chunk is paid; then `paid` (every layer paid)
/// or `referred` (the institution's funds paid, the insurance layers filed as referred claims for a person).
public enum SettlementStatus: String, Sendable, Codable, CaseIterable {
    case pending, paid, referred
}
