import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// A money request's Idempotency-Key as storage claims it: whose key, which token, the digest of the request, and
/// the status its response answers with.
public struct KeyClaim: Sendable {
    /// The entity the key belongs to (`PrincipalEntity.idempotencyOwner`).
    public var owner: String
    public var principal: UUID
    public var key: String
    public var digest: Data
    public var status: Int

    public init(owner: String, principal: UUID, key: String, digest: Data, status: Int) {
        self.owner = owner
        self.principal = principal
        self.key = key
        self.digest = digest
        self.status = status
    }
}

/// What a keyed money write did: ran now (its result and the response kept for replays), or did not run — the key
/// was used before (`replay`, `conflict`) or the token is no longer live.
public enum KeyedWrite<Result: Sendable>: Sendable {
    case ran(Result, StoredResponse)
    case answered(IdempotencyOutcome)
}

/// The enrollment a money write holds: locked for update, its institution's status held for share, and whether its
/// contract is signed by both parties.
typealias LockedEnrollment = (enrollment: EnrollmentRecord, institution: InstitutionStatus, contractSigned: Bool)

/// The single-enrollment money routes (payment, lessons) in two statements besides BEGIN and COMMIT: the first claims
/// the Idempotency-Key and locks the enrollment (`ClaimKeyAndLockStatement`); the core decides; the second writes
/// everything — the enrollment's counters, the transfer, the evidence event and the response kept for replays.
/// The response is made before the write from the record the write will return (every field of it follows from the
/// locked row, the decision and the instant), and the record the write returns is checked against it, so the kept
/// response is exactly what a read after the write would give.
extension EnrollmentRepository {
    /// The guardian pays the order in full, under `claim`; `encode` makes the response body.
    public func pay(
        _ id: Enrollment.ID, guardian: Guardian.ID, amount: Money, claim: KeyClaim, encode: (EnrollmentRecord) throws -> Data,
        on transaction: StoreTransaction
    ) async throws -> KeyedWrite<EnrollmentRecord> {
        let connection = transaction.connection
        switch try await claimAndLock(id, scope: Scope(guardian: guardian.uuid), claim: claim, on: connection) {
        case .answered(let outcome): return .answered(outcome)
        case .locked(let locked):
            let (paid, response) = try await writePayment(
                locked, amount: amount, claim: claim, respond: { StoredResponse(status: claim.status, body: try encode($0)) },
                on: connection)
            guard let response else { throw CorruptRow(value: "payment kept no response") }
            return .ran(paid, response)
        }
    }

    /// The institution records lessons taken, under `claim`; `encode` makes the response body.
    public func recordLessons(
        _ id: Enrollment.ID, institution: Institution.ID, lessons: Int, takenOn: BusinessDate, claim: KeyClaim,
        encode: (LessonRecord) throws -> Data, on transaction: StoreTransaction
    ) async throws -> KeyedWrite<LessonRecord> {
        let connection = transaction.connection
        switch try await claimAndLock(id, scope: Scope(institution: institution.uuid), claim: claim, on: connection) {
        case .answered(let outcome): return .answered(outcome)
        case .locked(let locked):
            let (recorded, response) = try await writeLesson(
                locked, institution: institution, lessons: lessons, takenOn: takenOn, claim: claim,
                respond: { StoredResponse(status: claim.status, body: try encode($0)) }, on: connection)
            guard let response else { throw CorruptRow(value: "lesson record kept no response") }
            return .ran(recorded, response)
        }
    }

    enum ClaimedLock {
        case locked(LockedEnrollment)
        case answered(IdempotencyOutcome)
    }

    /// Claims the key and, only when it was new, locks the enrollment, in one statement. The outcomes and their order
    /// are `IdempotencyRepository.begin`'s, then `lockForPayment`'s (an enrollment the principal may not see is
    /// `NotFound`).
    func claimAndLock(_ id: Enrollment.ID, scope: Scope, claim: KeyClaim, on connection: PostgresConnection) async throws
        -> ClaimedLock
    {
        let keys = IdempotencyRepository(store: store)
        let statement = ClaimKeyAndLockStatement(
            claim: ClaimKeyStatement(
                owner: claim.owner, principal: claim.principal, key: claim.key, digest: claim.digest, now: store.dependencies.now()),
            lock: LockForMoneyStatement(id: id.uuid, institution: scope.institution, guardian: scope.guardian, district: scope.district))
        var outcome: ClaimKeyAndLockStatement.Row?
        for try await row in try await connection.execute(statement, logger: logger) { outcome = row }
        guard let (locked, live, institutionStatus, inserted) = outcome else { throw CorruptRow(value: "key claim returned no row") }
        if let refused = keys.refusal(live: live, institutionStatus: institutionStatus) { return .answered(refused) }
        if inserted {
            guard let locked else { throw NotFound() }
            return .locked(locked)
        }
        return .answered(
            try await keys.earlierUse(
                owner: claim.owner, key: claim.key, requestDigest: claim.digest,
                defunct: institutionStatus == InstitutionStatus.defunct.rawValue, on: connection))
    }

    /// The payment decided by the core and written in one statement; with a `claim`, the same statement keeps the
    /// response `respond` makes of the paid record.
    func writePayment(
        _ locked: LockedEnrollment, amount: Money, claim: KeyClaim?, respond: (EnrollmentRecord) throws -> StoredResponse?,
        on connection: PostgresConnection
    ) async throws -> (EnrollmentRecord, StoredResponse?) {
        let enrollment = locked.enrollment
        let transfer = try decidePayment(
            enrollment.position, institution: locked.institution, contractSigned: locked.contractSigned, offered: amount
        ).get()
        // One instant for the enrollment's `paid_at`, the payment transfer and its event (the audit compares them).
        let now = try storedInstant(store.dependencies.now())
        var position = enrollment.position
        position.paid = amount
        position.paidAt = now
        let expected = enrollment.moved(to: position)
        let response = try respond(expected)
        let event = EvidenceEvent(
            kind: .payment, occurredAt: now, institution: enrollment.institutionId, enrollment: enrollment.id, amount: amount,
            lessons: enrollment.lessonsBought, reference: "payment:\(enrollment.id)")
        let statement = PaymentWriteStatement(
            transfer: TransferStatement(
                institution: enrollment.institutionId.uuid, guardian: enrollment.guardianId.uuid, insurer: nil,
                from: transfer.from.rawValue, to: transfer.to.rawValue, amount: transfer.amount.fen, key: "payment:\(enrollment.id)",
                kind: transfer.kind.rawValue, enrollment: enrollment.id.uuid, now: now),
            entry: Data(event.canonicalBytes()), response: response, claim: claim)
        let written = try await mappingRejections {
            for try await row in try await connection.execute(statement, logger: logger) { return Optional(row) }
            return nil
        }
        guard let (paid, transfers) = written, transfers == 1 else { throw CorruptRow(value: "payment wrote no transfer") }
        CommitTimeoutLift.noteLifted()
        guard paid == expected else { throw CorruptRow(value: "payment returned \(paid), expected \(expected)") }
        return (paid, response)
    }

    /// Lessons decided by the core and written by `writeLessons`; with a `claim`, the same statement keeps the response
    /// `respond` makes of the lesson record.
    func writeLesson(
        _ locked: LockedEnrollment, institution: Institution.ID, lessons: Int, takenOn: BusinessDate, claim: KeyClaim?,
        respond: (LessonRecord) throws -> StoredResponse?, on connection: PostgresConnection
    ) async throws -> (LessonRecord, StoredResponse?) {
        let enrollment = locked.enrollment
        let now = try storedInstant(store.dependencies.now())
        let today = BusinessDate(shanghaiDateOf: now)
        let release = try decideLessons(
            enrollment.position, institution: locked.institution, lessons: lessons, takenOn: takenOn, today: today
        )
        .get()
        let lessonID = store.dependencies.newID()
        let write = LessonWrite(
            enrollment: enrollment, lessonID: lessonID, lessons: lessons, release: release,
            releaseKey: "release:\(lessonID.uuidString.lowercased())")
        let expected = LessonRecord(
            id: .init(lessonID), enrollmentId: enrollment.id, lessons: lessons, takenOn: takenOn,
            valueFen: try enrollment.pricePerLessonFen.multiplied(by: lessons), recordedAt: now, status: .recorded)
        let response = try respond(expected)
        let keeping = claim.flatMap { claim in response.map { (claim, $0) } }
        guard
            let recorded = try await writeLessons(
                [write], institution: institution, takenOn: takenOn, at: now, keeping: keeping, on: connection
            ).first
        else { throw CorruptRow(value: "lesson insert returned nothing") }
        guard recorded == expected else { throw CorruptRow(value: "lesson write returned \(recorded), expected \(expected)") }
        return (recorded, response)
    }
}

/// `instant` as the database keeps it (whole microseconds) and gives it back, so a record made before a write
/// equals the one the write returns.
func storedInstant(_ instant: Date) throws -> Date {
    var buffer = ByteBuffer()
    instant.encode(into: &buffer, context: .default)
    return try Date(from: &buffer, type: .timestamptz, format: .binary, context: .default)
}

/// `claimAndLock`: the key's claim (`ClaimKeyStatement`, binds $1–$5) and, only when it claimed the key, the
/// enrollment's lock (`LockForMoneyStatement`, binds $6–$9; the rest of the transaction runs on generic plans).
struct ClaimKeyAndLockStatement: PostgresPreparedStatement {
    static let sql = """
        WITH \(ClaimKeyStatement.claim)
        SELECT locked.*, \(ClaimKeyStatement.outcome)
        FROM (SELECT) AS one LEFT JOIN LATERAL (
            \(LockForMoneyStatement.lock(firstBind: 6, onlyIf: "EXISTS (SELECT 1 FROM claimed)"))) AS locked ON true
        """
    typealias Row = (LockedEnrollment?, Bool, String?, Bool)

    var claim: ClaimKeyStatement
    var lock: LockForMoneyStatement

    func makeBindings() throws -> PostgresBindings {
        var bindings = try claim.makeBindings()
        bindings.append(lock.id)
        bindings.append(lock.institution)
        bindings.append(lock.guardian)
        bindings.append(lock.district)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let cells = row.makeRandomAccess()
        let claimAt = EnrollmentRecord.columnCount + 2
        let (live, status, inserted) = (
            try cells[claimAt].decode(Bool.self), try cells[claimAt + 1].decode(String?.self), try cells[claimAt + 2].decode(Bool.self)
        )
        guard try cells[0].decode(UUID?.self) != nil else { return (nil, live, status, inserted) }
        return (try lock.decodeRow(row), live, status, inserted)
    }
}

/// `writePayment`: the enrollment's payment, its evidence event, the transfer (whose INSERT posts the accounts'
/// totals, sql/0020) and, for a keyed request, the response kept for replays, in one statement. Binds $1–$10 are
/// `TransferStatement`'s; NULL owner and key keep no response.
struct PaymentWriteStatement: PostgresPreparedStatement {
    static let sql = """
        WITH paid AS (
            UPDATE enrollments AS e SET paid_fen = $6, paid_at = $10 WHERE e.id = $9::uuid RETURNING \(EnrollmentRecord.columns)),
        queued AS (INSERT INTO evidence_queue (entry, queued_at) VALUES ($11, $10)),
        finished AS (\(FinishKeyStatement.update(firstBind: 12))),
        \(TransferStatement.accounts),
        posted AS (\(TransferStatement.insert) RETURNING id),
        lifted AS (SELECT \(CommitTimeoutLift.expression))
        SELECT paid.*, (SELECT count(*) FROM posted) FROM paid CROSS JOIN lifted
        """
    typealias Row = (EnrollmentRecord, Int64)

    var transfer: TransferStatement
    var entry: Data
    var response: StoredResponse?
    var claim: KeyClaim?

    func makeBindings() throws -> PostgresBindings {
        var bindings = try transfer.makeBindings()
        try bindings.append(entry)
        bindings.append(response?.status)
        try bindings.append(response?.body)
        bindings.append(claim?.owner)
        bindings.append(claim?.key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let cells = row.makeRandomAccess()
        return (try EnrollmentRecord(row: row), try cells[EnrollmentRecord.columnCount].decode(Int64.self))
    }
}
