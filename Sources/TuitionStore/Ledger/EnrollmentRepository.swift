import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// Enrollments (orders) and the money that moves on them: payment, lessons consumed, refunds, reserve top-ups.
/// Each operation locks the enrollment row, asks the core rules for a decision, and writes the transfer and the
/// enrollment's counters in the caller's transaction; the transfer's INSERT notes what it moves and the totals of the
/// institution's accounts, shared by all its enrollments, are posted at COMMIT (sql/0024), so their rows are locked only
/// through the commit itself.
public struct EnrollmentRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    // MARK: Orders (placed or accepted by the guardian: EnrollmentProposals.swift)

    public func enrollment(_ id: Enrollment.ID, scope: Scope) async throws -> EnrollmentRecord? {
        try await store.withConnection { connection in try await fetch(id, scope: scope, on: connection) }
    }

    /// The enrollment if `scope` may see it; `lock` takes the row for update.
    func fetch(_ id: Enrollment.ID, scope: Scope, lock: Bool = false, on connection: PostgresConnection) async throws -> EnrollmentRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: EnrollmentRecord.columns) FROM enrollments e JOIN institutions i ON i.id = e.institution_id
            WHERE e.id = \(id.uuid) AND (e.institution_id = \(scope.institution) OR e.guardian_id = \(scope.guardian)
                OR i.district_code = \(scope.district))
            \(unescaped: lock ? "FOR UPDATE OF e" : "")
            """, logger: logger)
        for try await row in rows { return try EnrollmentRecord(row: row) }
        return nil
    }

    /// The enrollment locked for a money movement, with its institution's status (held for share, so a suspension
    /// cannot slip in between the check and the commit), in one round trip.
    func lockForMoney(_ id: Enrollment.ID, scope: Scope, on connection: PostgresConnection) async throws -> (
        EnrollmentRecord, InstitutionStatus
    ) {
        let (enrollment, status, _) = try await lockForPayment(id, scope: scope, on: connection)
        return (enrollment, status)
    }

    /// As `lockForMoney`, also saying whether the enrollment's contract is signed by both parties.
    func lockForPayment(_ id: Enrollment.ID, scope: Scope, on connection: PostgresConnection) async throws -> (
        EnrollmentRecord, InstitutionStatus, contractSigned: Bool
    ) {
        let rows = try await connection.execute(
            LockForMoneyStatement(id: id.uuid, institution: scope.institution, guardian: scope.guardian, district: scope.district),
            logger: logger)
        for try await found in rows { return found }
        throw NotFound()
    }

    public func enrollments(scope: Scope, page: PageRequest) async throws -> Page<EnrollmentRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: EnrollmentRecord.columns) FROM enrollments e JOIN institutions i ON i.id = e.institution_id
            WHERE (e.institution_id = \(scope.institution) OR e.guardian_id = \(scope.guardian)
                OR i.district_code = \(scope.district)) AND e.id > \(page.afterOrFloor)
            ORDER BY e.id LIMIT \(page.limit + 1)
            """)
        var items: [EnrollmentRecord] = []
        for try await row in rows { items.append(try EnrollmentRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    // MARK: Money

    /// The guardian pays the order in full; the money goes to escrow (or operating, in reserve mode).
    public func pay(_ id: Enrollment.ID, guardian: Guardian.ID, amount: Money, on transaction: StoreTransaction) async throws
        -> EnrollmentRecord
    {
        let connection = transaction.connection
        let locked = try await lockForPayment(id, scope: Scope(guardian: guardian.uuid), on: connection)
        return try await writePayment(locked, amount: amount, claim: nil, respond: { _ in nil }, on: connection).0
    }

    /// The institution records lessons taken; their value leaves escrow for operating in the same transaction. The
    /// write is a class session's (`writeLessons`) with one item, so both routes share one path.
    public func recordLessons(
        _ id: Enrollment.ID, institution: Institution.ID, lessons: Int, takenOn: BusinessDate, on transaction: StoreTransaction
    ) async throws -> LessonRecord {
        let connection = transaction.connection
        let locked = try await lockForPayment(id, scope: Scope(institution: institution.uuid), on: connection)
        return try await writeLesson(
            locked, institution: institution, lessons: lessons, takenOn: takenOn, claim: nil, respond: { _ in nil }, on: connection
        ).0
    }

    /// Refunds unconsumed lessons (all of them when `lessons` is nil) to the guardian at the frozen price, never more
    /// than the enrollment's position still owes (claims and settlements paid back count like refunds).
    public func refund(
        _ id: Enrollment.ID, institution: Institution.ID, lessons: Int?, reason: String, on transaction: StoreTransaction
    ) async throws -> RefundRecord {
        let connection = transaction.connection
        // The institution is held for share, as every money path holds it: a defunct mark waits for this refund to
        // commit (and its plan counts it), or this refund waits for the mark and is refused.
        let (enrollment, status) = try await lockForMoney(id, scope: Scope(institution: institution.uuid), on: connection)
        let (refunded, transfer) = try decideRefund(enrollment.position, institution: status, lessons: lessons).get()
        let refund = RefundRecord(
            id: .init(store.dependencies.newID()), enrollmentId: id, lessons: refunded, amountFen: transfer.amount,
            reason: reason, createdAt: store.dependencies.now())
        try await connection.query(
            """
            WITH counted AS (
                UPDATE enrollments SET lessons_refunded = lessons_refunded + \(refunded),
                    refunded_fen = refunded_fen + \(transfer.amount.fen)
                WHERE id = \(id.uuid))
            INSERT INTO refunds (id, enrollment_id, institution_id, lessons, amount_fen, reason, created_at)
            VALUES (\(refund.id.uuid), \(id.uuid), \(institution.uuid), \(refunded), \(transfer.amount.fen), \(reason), \(refund.createdAt))
            """, logger: logger)
        try await EvidenceQueue(store: store).enqueue(
            EvidenceEvent(
                kind: .refund, occurredAt: refund.createdAt, institution: institution, enrollment: id, amount: refund.amountFen,
                lessons: refunded, reference: "refund:\(refund.id)"),
            on: connection)
        try await post(transfer, key: "refund:\(refund.id)", enrollment: enrollment, on: connection)
        return refund
    }

    /// The institution tops up its risk reserve from its own bank; `key` makes the transfer idempotent.
    public func topUpReserve(institution: Institution.ID, amount: Money, key: String, on transaction: StoreTransaction) async throws
        -> TransferRecord
    {
        let connection = transaction.connection
        let status = try await institutionStatus(institution, on: connection)
        let transfer = try decideReserveTopUp(amount: amount, institution: status).get()
        let now = store.dependencies.now()
        let id = try await post(transfer, key: key, institution: institution, guardian: nil, enrollment: nil, at: now, on: connection)
        try await EvidenceQueue(store: store).enqueue(
            EvidenceEvent(kind: .reserveTopUp, occurredAt: now, institution: institution, amount: amount, reference: "transfer:\(id)"),
            on: connection)
        return TransferRecord(
            id: id, kind: transfer.kind, from: transfer.from, to: transfer.to, amountFen: transfer.amount, enrollmentId: nil,
            createdAt: now)
    }

    func institutionStatus(_ id: Institution.ID, on connection: PostgresConnection) async throws -> InstitutionStatus {
        let rows = try await connection.query("SELECT status FROM institutions WHERE id = \(id.uuid) FOR SHARE", logger: logger)
        for try await status in rows.decode(String.self) { return try decodeEnum(status) }
        throw NotFound()
    }

    @discardableResult
    func post(_ transfer: PlannedTransfer, key: String, enrollment: EnrollmentRecord, on connection: PostgresConnection) async throws
        -> Int64
    {
        try await post(
            transfer, key: key, institution: enrollment.institutionId, guardian: enrollment.guardianId, enrollment: enrollment.id,
            at: store.dependencies.now(), on: connection)
    }

    /// Writes one balanced transfer. The totals of the restricted accounts it touches are posted at COMMIT, their rows
    /// locked in id order (`transfers_post_totals`, sql/0020 and sql/0024, the one poster); the database refuses a
    /// restricted account going negative, at the INSERT when its transaction alone would, at COMMIT when concurrent
    /// ones together would, and the refusal becomes `accountWouldGoNegative` (`Store.transaction` maps the COMMIT's).
    ///
    /// The accounts are resolved among the parties named (each account kind belongs to one kind of party);
    /// `institution` is also the institution the transfer row is filed under, and may be nil only for a transfer
    /// between unrestricted accounts of other parties (a guardian's premium to an insurer). Insurer accounts are
    /// unrestricted, so a transfer to or from one never locks or updates its row.
    func post(
        _ transfer: PlannedTransfer, key: String, institution: Institution.ID?, guardian: Guardian.ID?, insurer: Insurer.ID? = nil,
        enrollment: Enrollment.ID?, at now: Date, on connection: PostgresConnection
    ) async throws -> Int64 {
        precondition(
            institution != nil || !(transfer.from.isRestricted || transfer.to.isRestricted),
            "a transfer touching restricted accounts names their institution")
        let statement = TransferStatement(
            institution: institution?.uuid, guardian: guardian?.uuid, insurer: insurer?.uuid, from: transfer.from.rawValue,
            to: transfer.to.rawValue, amount: transfer.amount.fen, key: key, kind: transfer.kind.rawValue, enrollment: enrollment?.uuid,
            now: now)
        let id = try await mappingRejections {
            for try await id in try await connection.execute(statement, logger: logger) { return Optional(id) }
            return nil
        }
        if let id { return id }
        throw CorruptRow(value: "transfer \(key) found no accounts")
    }

    // MARK: Lessons

    public func lessons(of id: Enrollment.ID, scope: Scope, page: PageRequest) async throws -> Page<LessonRecord>? {
        guard try await enrollment(id, scope: scope) != nil else { return nil }
        let rows = try await store.query(
            """
            SELECT \(unescaped: LessonRecord.columns) FROM lessons l
            WHERE l.enrollment_id = \(id.uuid) AND l.id > \(page.afterOrFloor) ORDER BY l.id LIMIT \(page.limit + 1)
            """)
        var items: [LessonRecord] = []
        for try await row in rows { items.append(try LessonRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    /// The guardian confirms or disputes lessons within seven days of their recording.
    public func answerLesson(_ id: Lesson.ID, guardian: Guardian.ID, dispute reason: String?) async throws -> LessonRecord {
        try await store.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT l.status, l.recorded_at FROM lessons l JOIN enrollments e ON e.id = l.enrollment_id
                WHERE l.id = \(id.uuid) AND e.guardian_id = \(guardian.uuid) FOR UPDATE OF l
                """, logger: logger)
            var found: (String, Date)?
            for try await row in rows.decode((String, Date).self) { found = row }
            guard let (status, recordedAt) = found else { throw NotFound() }
            let now = store.dependencies.now()
            if let rejection = checkLessonAnswer(status: try decodeEnum(status), recordedAt: recordedAt, now: now) { throw rejection }
            let newStatus: LessonStatus = reason == nil ? .confirmed : .disputed
            let updated = try await connection.query(
                """
                UPDATE lessons l SET status = \(newStatus.rawValue), answered_at = \(now), dispute_reason = \(reason)
                WHERE l.id = \(id.uuid) RETURNING \(unescaped: LessonRecord.columns)
                """, logger: logger)
            for try await row in updated { return try LessonRecord(row: row) }
            throw NotFound()
        }
    }
}

/// The row does not exist or the principal may not see it; the API answers 404 either way.
public struct NotFound: Error, Sendable {
    public init() {}
}

// MARK: Prepared statements of the money path
//
// Each is parsed and planned once per connection (`PostgresConnection.execute` prepares it on first use).
// Binds that may be NULL carry an explicit cast, so their type never depends on the first execution's values.

/// Joined into the enrollment lock every single-enrollment money write takes (payments, lessons, refunds, claims,
/// tuition policies), it makes the rest of that transaction run on generic plans, without a round trip of its own.
/// Those statements are point reads and writes keyed by the locked rows, whose generic plans are the right ones; but
/// PostgreSQL kept re-planning the lesson write for every request (its custom plan looks cheaper, since the arrays'
/// lengths are known when planning), inlining `evidence_entry` each time: about 0.7 ms of database CPU per lesson
/// request, a third of all the database did for it (issue #15, `tools/bench api`). The setting is local: it ends with
/// the transaction.
let genericPlansForTheTransaction = "(SELECT set_config('plan_cache_mode', 'force_generic_plan', true)) AS generic_plans"

/// `lockForMoney`: the enrollment for update and its institution for share, and whether its contract is signed; the
/// rest of the transaction runs on generic plans (`genericPlansForTheTransaction`).
struct LockForMoneyStatement: PostgresPreparedStatement {
    static let sql = lock(firstBind: 1, onlyIf: "true")

    /// The lock with its binds from `$n` on (enrollment, institution, guardian, district), taken only if `condition`
    /// holds: a keyed money write takes it in the statement that claims its key (`ClaimKeyAndLockStatement`).
    static func lock(firstBind n: Int, onlyIf condition: String) -> String {
        """
        SELECT \(EnrollmentRecord.columns), i.status,
            EXISTS (SELECT 1 FROM contracts c WHERE c.enrollment_id = e.id AND c.status = 'signed')
        FROM enrollments e JOIN institutions i ON i.id = e.institution_id CROSS JOIN \(genericPlansForTheTransaction)
        WHERE e.id = $\(n) AND (e.institution_id = $\(n + 1)::uuid OR e.guardian_id = $\(n + 2)::uuid OR i.district_code = $\(n + 3)::text)
            AND \(condition)
        FOR UPDATE OF e FOR SHARE OF i
        """
    }
    typealias Row = (EnrollmentRecord, InstitutionStatus, contractSigned: Bool)

    var id: UUID
    var institution: UUID?
    var guardian: UUID?
    var district: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(id)
        bindings.append(institution)
        bindings.append(guardian)
        bindings.append(district)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let cells = row.makeRandomAccess()
        let status: InstitutionStatus = try decodeEnum(try cells[EnrollmentRecord.columnCount].decode(String.self))
        return (try EnrollmentRecord(row: row), status, try cells[EnrollmentRecord.columnCount + 1].decode(Bool.self))
    }
}

/// `pay`: records the payment on the (locked) enrollment.
struct PayStatement: PostgresPreparedStatement {
    static let sql = "UPDATE enrollments AS e SET paid_fen = $1, paid_at = $3 WHERE e.id = $2 RETURNING \(EnrollmentRecord.columns)"
    typealias Row = EnrollmentRecord

    var id: UUID
    var amount: Int64
    var now: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(amount)
        bindings.append(id)
        bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try EnrollmentRecord(row: row) }
}

/// `post`: one balanced transfer between the named parties' accounts of the two kinds; inserting it posts the
/// restricted accounts' totals (sql/0020).
struct TransferStatement: PostgresPreparedStatement {
    static let sql = """
        WITH \(accounts)
        \(insert)
        RETURNING id
        """
    /// The two accounts as common table expressions (`parties`, `debit`, `credit`), and the INSERT reading them: a
    /// payment folds both into its one write (`PaymentWriteStatement`), with the same binds $1–$10.
    static let accounts = """
        parties AS (
            SELECT id, kind FROM accounts
            WHERE institution_id = $1::uuid OR guardian_id = $2::uuid OR insurer_id = $3::uuid),
        debit AS (SELECT id FROM parties WHERE kind = $4),
        credit AS (SELECT id FROM parties WHERE kind = $5)
        """
    static let insert = """
        INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen,
            institution_id, enrollment_id, created_at)
        SELECT $7, $8, debit.id, credit.id, $6,
            $1::uuid, $9::uuid, $10
        FROM debit, credit
        """
    typealias Row = Int64

    var institution: UUID?
    var guardian: UUID?
    var insurer: UUID?
    var from: String
    var to: String
    var amount: Int64
    var key: String
    var kind: String
    var enrollment: UUID?
    var now: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 10)
        bindings.append(institution)
        bindings.append(guardian)
        bindings.append(insurer)
        bindings.append(from)
        bindings.append(to)
        bindings.append(amount)
        bindings.append(key)
        bindings.append(kind)
        bindings.append(enrollment)
        bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
}
