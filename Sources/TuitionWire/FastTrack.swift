import Foundation
import TuitionCore

/// A defunct case with its fast-track progress, as the API shows it.
public struct DefunctCaseRecord: Codable, Sendable, Hashable {
    public var id: DefunctCase.ID
    public var institutionId: Institution.ID
    public var districtCode: String
    public var effectiveAt: Date
    public var reason: String
    public var markedAt: Date
    public var status: DefunctCaseStatus
    public var plannedAt: Date?
    public var enrollmentsTotal: Int
    public var enrollmentsDone: Int
    public var entitledFen: Money
    public var paidEscrowFen: Money
    public var paidReserveFen: Money
    public var paidRiskPolicyFen: Money
    public var paidTuitionPolicyFen: Money
    public var referredCount: Int
    /// Insurance layers of referred enrollments, waiting for their insurers' decisions.
    public var referredFen: Money
    public var uncoveredFen: Money
    public var completedAt: Date?
    /// Why the job stopped, when `status` is `blocked`: a chunk the ledger refused, named.
    public var blockedReason: String?
    public var blockedAt: Date?
    /// Payments made at or after the effective time, owed back in full (the `return` layer): due, paid, not covered.
    public var returnDueFen: Money
    public var paidReturnFen: Money
    public var returnUncoveredFen: Money
    /// The plan's inputs, read when it was made (absent until then): the institution's reserve and operating balances
    /// it shared out, and the risk-control policy it drew on (absent when none was in force with something left).
    public var plannedReserveFen: Money?
    public var plannedOperatingFen: Money?
    public var riskPolicyId: Policy.ID?

    public init(
        id: DefunctCase.ID, institutionId: Institution.ID, districtCode: String, effectiveAt: Date, reason: String, markedAt: Date,
        status: DefunctCaseStatus, plannedAt: Date? = nil, enrollmentsTotal: Int, enrollmentsDone: Int, entitledFen: Money,
        paidEscrowFen: Money, paidReserveFen: Money, paidRiskPolicyFen: Money, paidTuitionPolicyFen: Money, referredCount: Int,
        referredFen: Money, uncoveredFen: Money, completedAt: Date? = nil, blockedReason: String? = nil, blockedAt: Date? = nil,
        returnDueFen: Money, paidReturnFen: Money, returnUncoveredFen: Money, plannedReserveFen: Money? = nil,
        plannedOperatingFen: Money? = nil, riskPolicyId: Policy.ID? = nil
    ) {
        self.id = id
        self.institutionId = institutionId
        self.districtCode = districtCode
        self.effectiveAt = effectiveAt
        self.reason = reason
        self.markedAt = markedAt
        self.status = status
        self.plannedAt = plannedAt
        self.enrollmentsTotal = enrollmentsTotal
        self.enrollmentsDone = enrollmentsDone
        self.entitledFen = entitledFen
        self.paidEscrowFen = paidEscrowFen
        self.paidReserveFen = paidReserveFen
        self.paidRiskPolicyFen = paidRiskPolicyFen
        self.paidTuitionPolicyFen = paidTuitionPolicyFen
        self.referredCount = referredCount
        self.referredFen = referredFen
        self.uncoveredFen = uncoveredFen
        self.completedAt = completedAt
        self.blockedReason = blockedReason
        self.blockedAt = blockedAt
        self.returnDueFen = returnDueFen
        self.paidReturnFen = paidReturnFen
        self.returnUncoveredFen = returnUncoveredFen
        self.plannedReserveFen = plannedReserveFen
        self.plannedOperatingFen = plannedOperatingFen
        self.riskPolicyId = riskPolicyId
    }

    /// Paid so far across all layers, the return of post-effective payments included.
    public var paidFen: Money {
        Money(fen: paidEscrowFen.fen + paidReserveFen.fen + paidRiskPolicyFen.fen + paidTuitionPolicyFen.fen + paidReturnFen.fen)
    }
}

/// One enrollment's waterfall in a defunct case: the plan and what became of it.
public struct SettlementRecord: Codable, Sendable, Hashable {
    public var caseId: DefunctCase.ID
    public var enrollmentId: Enrollment.ID
    public var guardianId: Guardian.ID
    public var entitlementFen: Money
    public var escrowFen: Money
    public var reserveFen: Money
    public var riskPolicyFen: Money
    public var tuitionPolicyFen: Money
    public var uncoveredFen: Money
    public var tuitionPolicyId: Policy.ID?
    public var checks: [ClaimCheckRecord]
    public var status: SettlementStatus
    public var settledAt: Date?
    /// What a person may add back to the referred claims: disputed and burst lessons' value.
    public var contestedFen: Money
    /// A payment made at or after the effective time, returned in full: from escrow, from operating, not covered.
    public var returnDueFen: Money
    public var returnEscrowFen: Money
    public var returnOperatingFen: Money
    public var returnUncoveredFen: Money

    public init(
        caseId: DefunctCase.ID, enrollmentId: Enrollment.ID, guardianId: Guardian.ID, entitlementFen: Money, escrowFen: Money,
        reserveFen: Money, riskPolicyFen: Money, tuitionPolicyFen: Money, uncoveredFen: Money, tuitionPolicyId: Policy.ID? = nil,
        checks: [ClaimCheckRecord], status: SettlementStatus, settledAt: Date? = nil, contestedFen: Money, returnDueFen: Money,
        returnEscrowFen: Money, returnOperatingFen: Money, returnUncoveredFen: Money
    ) {
        self.caseId = caseId
        self.enrollmentId = enrollmentId
        self.guardianId = guardianId
        self.entitlementFen = entitlementFen
        self.escrowFen = escrowFen
        self.reserveFen = reserveFen
        self.riskPolicyFen = riskPolicyFen
        self.tuitionPolicyFen = tuitionPolicyFen
        self.uncoveredFen = uncoveredFen
        self.tuitionPolicyId = tuitionPolicyId
        self.checks = checks
        self.status = status
        self.settledAt = settledAt
        self.contestedFen = contestedFen
        self.returnDueFen = returnDueFen
        self.returnEscrowFen = returnEscrowFen
        self.returnOperatingFen = returnOperatingFen
        self.returnUncoveredFen = returnUncoveredFen
    }
}

/// The regulator's defunct mark.
public struct DefunctMarkBody: Codable, Sendable {
    /// When the institution stopped serving; now when absent. RFC 3339.
    public let effectiveAt: Date?
    public let reason: String

    public init(effectiveAt: Date? = nil, reason: String) {
        self.effectiveAt = effectiveAt
        self.reason = reason
    }
}
