import Foundation
import TuitionCore

/// A guardian's claim as the API takes it.
public struct NewClaim: Codable, Sendable {
    public var enrollmentId: Enrollment.ID
    public var policyId: Policy.ID
    public var reason: ClaimReason
    public var claimedFen: Money

    public init(enrollmentId: Enrollment.ID, policyId: Policy.ID, reason: ClaimReason, claimedFen: Money) {
        self.enrollmentId = enrollmentId
        self.policyId = policyId
        self.reason = reason
        self.claimedFen = claimedFen
    }
}

/// One automatic check's outcome, as stored with the claim and shown by the API.
public struct ClaimCheckRecord: Codable, Sendable, Hashable {
    public var check: ClaimCheck
    public var outcome: ClaimCheckOutcome
    public var code: ClaimCheckCode

    public init(check: ClaimCheck, outcome: ClaimCheckOutcome, code: ClaimCheckCode) {
        self.check = check
        self.outcome = outcome
        self.code = code
    }
}

public struct ClaimRecord: Codable, Sendable, Hashable {
    public var id: Claim.ID
    public var number: String
    public var guardianId: Guardian.ID
    public var enrollmentId: Enrollment.ID
    public var institutionId: Institution.ID
    public var policyId: Policy.ID
    public var insurerId: Insurer.ID
    public var reason: ClaimReason
    public var claimedFen: Money
    public var entitlementFen: Money
    /// The most an approval may grant: `min(claimed, entitlement)` as the checks computed it.
    public var approvableFen: Money
    public var approvedFen: Money
    public var paidFen: Money
    public var status: ClaimStatus
    public var checks: [ClaimCheckRecord]
    /// A rejection's reason (the failed check's code, or the insurer's words), or a referral's codes.
    public var decisionReason: String?
    public var eventTime: Date
    public var createdAt: Date
    public var decidedAt: Date?
    public var paidAt: Date?
    /// What a person may add back above `approvableFen`, with a reason: disputed and burst lessons' value.
    public var contestedFen: Money
    /// The defunct case that filed this claim (filed by the platform), and which of its layers it stands for.
    public var defunctCaseId: DefunctCase.ID?
    public var layer: String?
    /// A closed claim's successor: the fast-track's claim on the same policy that settles the enrollment.
    public var supersededBy: Claim.ID?
    /// The part of `paidFen` the escrow held for the enrollment paid (the first layer); the insurer paid the rest.
    public var paidFromEscrowFen: Money
    /// The part of `paidFen` above `approvableFen`: contested lessons a person found not given, paid by the insurer. It
    /// does not reduce what the enrollment is still owed.
    public var addedBackFen: Money

    public init(
        id: Claim.ID, number: String, guardianId: Guardian.ID, enrollmentId: Enrollment.ID, institutionId: Institution.ID,
        policyId: Policy.ID, insurerId: Insurer.ID, reason: ClaimReason, claimedFen: Money, entitlementFen: Money, approvableFen: Money,
        approvedFen: Money, paidFen: Money, status: ClaimStatus, checks: [ClaimCheckRecord], decisionReason: String? = nil, eventTime: Date,
        createdAt: Date, decidedAt: Date? = nil, paidAt: Date? = nil, contestedFen: Money, defunctCaseId: DefunctCase.ID? = nil,
        layer: String? = nil, supersededBy: Claim.ID? = nil, paidFromEscrowFen: Money = .zero, addedBackFen: Money = .zero
    ) {
        self.id = id
        self.number = number
        self.guardianId = guardianId
        self.enrollmentId = enrollmentId
        self.institutionId = institutionId
        self.policyId = policyId
        self.insurerId = insurerId
        self.reason = reason
        self.claimedFen = claimedFen
        self.entitlementFen = entitlementFen
        self.approvableFen = approvableFen
        self.approvedFen = approvedFen
        self.paidFen = paidFen
        self.status = status
        self.checks = checks
        self.decisionReason = decisionReason
        self.eventTime = eventTime
        self.createdAt = createdAt
        self.decidedAt = decidedAt
        self.paidAt = paidAt
        self.contestedFen = contestedFen
        self.defunctCaseId = defunctCaseId
        self.layer = layer
        self.supersededBy = supersededBy
        self.paidFromEscrowFen = paidFromEscrowFen
        self.addedBackFen = addedBackFen
    }
}

/// A risk-control policy an insurer offers an institution, as proposed: no premium is charged and nothing counts
/// (warnings, credit, the public page, the fast-track) until the institution accepts it.
public struct RiskPolicyProposalRecord: Codable, Sendable, Hashable {
    /// Becomes the policy's id on acceptance.
    public var id: Policy.ID
    public var productId: InsuranceProduct.ID
    public var insurerId: Insurer.ID
    public var institutionId: Institution.ID
    public var sumInsuredFen: Money
    public var premiumFen: Money
    public var periodStart: BusinessDate
    public var periodEnd: BusinessDate
    public var status: ProposalStatus
    public var createdAt: Date
    public var answeredAt: Date?

    public init(
        id: Policy.ID, productId: InsuranceProduct.ID, insurerId: Insurer.ID, institutionId: Institution.ID, sumInsuredFen: Money,
        premiumFen: Money, periodStart: BusinessDate, periodEnd: BusinessDate, status: ProposalStatus, createdAt: Date,
        answeredAt: Date? = nil
    ) {
        self.id = id
        self.productId = productId
        self.insurerId = insurerId
        self.institutionId = institutionId
        self.sumInsuredFen = sumInsuredFen
        self.premiumFen = premiumFen
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.status = status
        self.createdAt = createdAt
        self.answeredAt = answeredAt
    }
}

public struct NewInsuranceProduct: Codable, Sendable {
    public var kind: InsuranceProductKind
    public var premiumRateBasisPoints: Int
    public var coveredShareBasisPoints: Int?
    public var limitFen: Money?

    public init(kind: InsuranceProductKind, premiumRateBasisPoints: Int, coveredShareBasisPoints: Int? = nil, limitFen: Money? = nil) {
        self.kind = kind
        self.premiumRateBasisPoints = premiumRateBasisPoints
        self.coveredShareBasisPoints = coveredShareBasisPoints
        self.limitFen = limitFen
    }
}

/// An insurer insures an institution's unconsumed tuition. The period runs from 00:00 Shanghai time on
/// `periodStart` (or from its issue, when that is later: cover is never backdated) up to, not including, 00:00 on
/// `periodEnd`.
public struct NewRiskPolicy: Codable, Sendable {
    public var productId: InsuranceProduct.ID
    public var institutionId: Institution.ID
    public var sumInsuredFen: Money
    public var periodStart: BusinessDate
    public var periodEnd: BusinessDate

    public init(
        productId: InsuranceProduct.ID, institutionId: Institution.ID, sumInsuredFen: Money, periodStart: BusinessDate,
        periodEnd: BusinessDate
    ) {
        self.productId = productId
        self.institutionId = institutionId
        self.sumInsuredFen = sumInsuredFen
        self.periodStart = periodStart
        self.periodEnd = periodEnd
    }
}

/// A guardian insures one of its paid enrollments; the period is read as for `NewRiskPolicy`.
public struct NewTuitionPolicy: Codable, Sendable {
    public var productId: InsuranceProduct.ID
    public var sumInsuredFen: Money
    public var periodStart: BusinessDate
    public var periodEnd: BusinessDate

    public init(productId: InsuranceProduct.ID, sumInsuredFen: Money, periodStart: BusinessDate, periodEnd: BusinessDate) {
        self.productId = productId
        self.sumInsuredFen = sumInsuredFen
        self.periodStart = periodStart
        self.periodEnd = periodEnd
    }
}

public struct InsuranceProductRecord: Codable, Sendable, Hashable {
    public var id: InsuranceProduct.ID
    public var insurerId: Insurer.ID
    public var kind: InsuranceProductKind
    public var premiumRateBasisPoints: Int
    public var coveredShareBasisPoints: Int?
    public var limitFen: Money?
    public var createdAt: Date

    public init(
        id: InsuranceProduct.ID, insurerId: Insurer.ID, kind: InsuranceProductKind, premiumRateBasisPoints: Int,
        coveredShareBasisPoints: Int? = nil, limitFen: Money? = nil, createdAt: Date
    ) {
        self.id = id
        self.insurerId = insurerId
        self.kind = kind
        self.premiumRateBasisPoints = premiumRateBasisPoints
        self.coveredShareBasisPoints = coveredShareBasisPoints
        self.limitFen = limitFen
        self.createdAt = createdAt
    }

    public var product: InsuranceProduct {
        InsuranceProduct(
            id: id, insurer: insurerId, kind: kind, premiumRateBasisPoints: premiumRateBasisPoints,
            coveredShareBasisPoints: coveredShareBasisPoints, limit: limitFen)
    }
}

/// A policy as the API shows it; `status` is derived by the core's `policyStatus(at:)` when the row is read.
public struct PolicyRecord: Codable, Sendable, Hashable {
    public var id: Policy.ID
    public var number: String
    public var productId: InsuranceProduct.ID
    public var insurerId: Insurer.ID
    public var kind: InsuranceProductKind
    /// The insured institution, or the insured enrollment's institution.
    public var institutionId: Institution.ID
    public var enrollmentId: Enrollment.ID?
    public var guardianId: Guardian.ID?
    public var sumInsuredFen: Money
    public var remainingFen: Money
    public var premiumFen: Money
    public var periodStart: Date
    public var periodEnd: Date
    public var cancelledAt: Date?
    public var status: PolicyStatus
    public var createdAt: Date

    public init(
        id: Policy.ID, number: String, productId: InsuranceProduct.ID, insurerId: Insurer.ID, kind: InsuranceProductKind,
        institutionId: Institution.ID, enrollmentId: Enrollment.ID? = nil, guardianId: Guardian.ID? = nil, sumInsuredFen: Money,
        remainingFen: Money, premiumFen: Money, periodStart: Date, periodEnd: Date, cancelledAt: Date? = nil, status: PolicyStatus,
        createdAt: Date
    ) {
        self.id = id
        self.number = number
        self.productId = productId
        self.insurerId = insurerId
        self.kind = kind
        self.institutionId = institutionId
        self.enrollmentId = enrollmentId
        self.guardianId = guardianId
        self.sumInsuredFen = sumInsuredFen
        self.remainingFen = remainingFen
        self.premiumFen = premiumFen
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.cancelledAt = cancelledAt
        self.status = status
        self.createdAt = createdAt
    }
}

/// An insurer approving a claim.
public struct ApprovalBody: Codable, Sendable {
    public let amountFen: Money
    /// Required when approving more than the approvable amount (adding back contested lessons).
    public let reason: String?

    public init(amountFen: Money, reason: String? = nil) {
        self.amountFen = amountFen
        self.reason = reason
    }
}

/// An insurer rejecting a claim.
public struct ClaimRejectionBody: Codable, Sendable {
    public let reason: String

    public init(reason: String) { self.reason = reason }
}
