import Foundation
import TuitionCore
import TuitionStore
import TuitionWire

/// What a use case schedules once a change to an institution's figures has committed (warning re-evaluation).
public protocol FollowUps: Sendable {
    func figuresChanged(of institution: Institution.ID) async
}

/// The money use cases: each runs under its request's key (`KeyedRequests`), lets the store lock, ask the core and
/// write in that one transaction, and once it has committed schedules the institution's warning re-evaluation
/// itself, so no route can forget it. A replay moved nothing and schedules nothing.
public struct MoneyMovements: Sendable {
    let keyed: KeyedRequests
    let enrollments: EnrollmentRepository
    let insurance: InsuranceRepository
    let claims: ClaimRepository
    let followUps: any FollowUps

    public init(store: Store, followUps: any FollowUps) {
        self.keyed = KeyedRequests(store: store)
        self.enrollments = EnrollmentRepository(store: store)
        self.insurance = InsuranceRepository(store: store)
        self.claims = ClaimRepository(store: store)
        self.followUps = followUps
    }

    /// The guardian pays the order in full.
    public func pay(
        _ id: Enrollment.ID, guardian: Guardian.ID, amount: Money, request: KeyedRequest, encode: (EnrollmentRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await runWrite(request, changes: { $0.institutionId }) {
            try await enrollments.pay(id, guardian: guardian, amount: amount, claim: $0, encode: encode, on: $1)
        }
    }

    /// The institution records lessons taken; their value leaves escrow.
    public func recordLessons(
        _ id: Enrollment.ID, institution: Institution.ID, lessons: Int, takenOn: BusinessDate, request: KeyedRequest,
        encode: (LessonRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await runWrite(request, changes: { _ in institution }) {
            try await enrollments.recordLessons(
                id, institution: institution, lessons: lessons, takenOn: takenOn, claim: $0, encode: encode, on: $1)
        }
    }

    /// The institution records one lesson each for the enrollments of a class session.
    public func recordClassSession(
        _ session: NewClassSession, institution: Institution.ID, releaseKeyPrefix: String, request: KeyedRequest,
        encode: (ClassSessionRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await run(request, encode: encode, changes: { _ in institution }) {
            try await enrollments.recordClassSession(session, institution: institution, releaseKeyPrefix: releaseKeyPrefix, on: $0)
        }
    }

    /// The institution refunds the unconsumed tuition (or `lessons` of it) to the guardian. `reason` is read once the
    /// key is claimed, so a key reused for another request is refused as such whatever its reason says.
    public func refund(
        _ id: Enrollment.ID, institution: Institution.ID, lessons: Int?, reason: () throws -> String, request: KeyedRequest,
        encode: (RefundRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await run(request, encode: encode, changes: { _ in institution }) {
            try await enrollments.refund(id, institution: institution, lessons: lessons, reason: try reason(), on: $0)
        }
    }

    /// The institution tops up its reserve.
    public func topUpReserve(
        institution: Institution.ID, amount: Money, transferKey: String, request: KeyedRequest, encode: (TransferRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await run(request, encode: encode, changes: { _ in institution }) {
            try await enrollments.topUpReserve(institution: institution, amount: amount, key: transferKey, on: $0)
        }
    }

    /// The institution accepts a risk-control policy, paying its premium; the policy may stand in for the reserve.
    public func acceptRiskPolicy(
        _ id: Policy.ID, institution: Institution.ID, premiumKey: String, request: KeyedRequest, encode: (PolicyRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await run(request, encode: encode, changes: { _ in institution }) {
            try await insurance.acceptRiskPolicy(id, institution: institution, key: premiumKey, on: $0)
        }
    }

    /// The guardian buys a tuition policy for its paid enrollment, paying the premium from its bank; the policy is
    /// part of the institution's cover.
    public func buyTuitionPolicy(
        _ new: NewTuitionPolicy, enrollment: Enrollment.ID, guardian: Guardian.ID, premiumKey: String, request: KeyedRequest,
        encode: (PolicyRecord) throws -> Data
    ) async throws -> StoredResponse {
        try await run(request, encode: encode, changes: \.institutionId) {
            try await insurance.buyTuitionPolicy(new, enrollment: enrollment, guardian: guardian, key: premiumKey, on: $0)
        }
    }

    /// The guardian files a claim; the automatic checks run in the same transaction and their outcome is stored with
    /// it. Filing moves no money, so nothing follows up.
    public func fileClaim(_ new: NewClaim, guardian: Guardian.ID, request: KeyedRequest, encode: (ClaimRecord) throws -> Data)
        async throws -> StoredResponse
    {
        try await keyed.run(request, encode: encode) { try await claims.file(new, guardian: guardian, on: $0) }.response
    }

    /// The guardian places an order under an Idempotency-Key: moving no money it needs none, but a phone app that
    /// retries after a lost answer gets its first order back rather than a second one to pay.
    public func placeOrder(_ new: NewEnrollment, guardian: Guardian.ID, request: KeyedRequest, encode: (EnrollmentRecord) throws -> Data)
        async throws -> StoredResponse
    {
        try await keyed.run(request, encode: encode) { try await enrollments.place(new, guardian: guardian, on: $0) }.response
    }

    /// The insurer pays an approved claim to the guardian.
    public func payClaim(_ id: Claim.ID, insurer: Insurer.ID, request: KeyedRequest, encode: (ClaimRecord) throws -> Data) async throws
        -> StoredResponse
    {
        try await run(request, encode: encode, changes: { $0.institutionId }) { try await claims.pay(id, insurer: insurer, on: $0) }
    }

    /// Runs `operation` under the request's key; once it committed, schedules the follow-ups of the institution
    /// whose figures it changed.
    func run<Result: Sendable>(
        _ request: KeyedRequest, encode: (Result) throws -> Data, changes institution: (Result) -> Institution.ID,
        _ operation: (StoreTransaction) async throws -> Result
    ) async throws -> StoredResponse {
        let outcome = try await keyed.run(request, encode: encode, operation)
        if let ran = outcome.ran { await followUps.figuresChanged(of: institution(ran)) }
        return outcome.response
    }

    /// As `run`, for a write that claims the key and keeps its response in its own statements.
    func runWrite<Result: Sendable>(
        _ request: KeyedRequest, changes institution: (Result) -> Institution.ID,
        _ write: (KeyClaim, StoreTransaction) async throws -> KeyedWrite<Result>
    ) async throws -> StoredResponse {
        let outcome = try await keyed.runWrite(request, write)
        if let ran = outcome.ran { await followUps.figuresChanged(of: institution(ran)) }
        return outcome.response
    }
}
