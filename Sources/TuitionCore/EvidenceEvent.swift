import Foundation

/// The key events that go into the public evidence log.
public enum EvidenceKind: String, Codable, Sendable, CaseIterable {
    case institutionRegistered = "institution_registered"
    case institutionStatusChanged = "institution_status_changed"
    case payment
    case lessonsConsumed = "lessons_consumed"
    case refund
    case reserveTopUp = "reserve_topup"
    case contractSigned = "contract_signed"
    /// A policy was issued: its sum insured (what it covers).
    case policyIssued = "policy_issued"
    /// Its premium moved to the insurer: the money, logged as every other movement is (`policy:<id>`).
    case premiumPaid = "premium_paid"
    case claimFiled = "claim_filed"
    case claimDecided = "claim_decided"
    case claimPaid = "claim_paid"
    case institutionDefunct = "institution_defunct"
    /// The fast-track paid a guardian from the institution's own accounts (escrow, reserve, or the return of a payment
    /// made after the effective time); the reference names the case, the enrollment and the layer.
    case fundsReturned = "funds_returned"
    /// A defunct case's job could not pay a chunk; the reference carries the reason.
    case defunctCaseBlocked = "defunct_case_blocked"
}

/// One log entry. The log is public, so an entry names institutions and enrollments by id and carries figures,
/// never a person's name, phone or guardian id: a guardian finds its own events by its enrollment id.
public struct EvidenceEvent: Codable, Sendable, Hashable {
    /// The encoding's version; a new field means a new version.
    public var version: Int
    public var kind: EvidenceKind
    public var occurredAtMilliseconds: Int64
    public var institutionId: Institution.ID
    public var enrollmentId: Enrollment.ID?
    public var amountFen: Money?
    public var lessons: Int?
    /// What the event refers to: a transfer key, a lesson id, a new status, a contract hash.
    public var reference: String?

    public init(
        kind: EvidenceKind, occurredAt: Date, institution: Institution.ID, enrollment: Enrollment.ID? = nil, amount: Money? = nil,
        lessons: Int? = nil, reference: String? = nil
    ) {
        self.version = 1
        self.kind = kind
        self.occurredAtMilliseconds = wholeMilliseconds(since1970: occurredAt)
        self.institutionId = institution
        self.enrollmentId = enrollment
        self.amountFen = amount
        self.lessons = lessons
        self.reference = reference
    }

    /// The canonical bytes: JSON with keys sorted, no insignificant white space, absent fields left out,
    /// ids as lowercase UUIDs, money as integer fen, time as integer milliseconds since 1970 (UTC).
    public func canonicalBytes() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain fields cannot fail.
        return [UInt8](try! encoder.encode(self))
    }

    public static func decode(canonical bytes: [UInt8]) throws -> EvidenceEvent {
        try JSONDecoder().decode(EvidenceEvent.self, from: Data(bytes))
    }
}

/// The instant's nearest whole microsecond since 1970 (the precision PostgreSQL keeps), clamped to what Int64 holds.
/// Exact for an instant PostgreSQL kept until 2038, while a `Date`'s Double resolves a quarter of a microsecond.
public func wholeMicroseconds(since1970 date: Date) -> Int64 {
    let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
    guard microseconds.isFinite else { return 0 }
    return Int64(max(-9e18, min(9e18, microseconds)))
}

/// The whole millisecond an instant falls in, since 1970, read from its nearest microsecond: an instant PostgreSQL
/// kept at `….002000` comes back as a `Date` a hair under it, whose milliseconds taken from the `Double` would be
/// `…001`.
public func wholeMilliseconds(since1970 date: Date) -> Int64 {
    let microseconds = wholeMicroseconds(since1970: date)
    return microseconds >= 0 ? microseconds / 1000 : (microseconds - 999) / 1000
}
