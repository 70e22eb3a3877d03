import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension ClassSessionRefusal {
    /// The stable code an item carries: an unknown or foreign enrollment is `not_found`, as the single route's 404.
    public var code: String {
        switch self {
        case .enrollmentNotFound: "not_found"
        case .rejected(let rejection): rejection.rawValue
        }
    }
}

extension EnrollmentRepository {
    /// Records a class session in the caller's transaction, set-based: one statement locks the listed enrollments,
    /// the core decides each (`decideClassSession`), one statement writes every lesson, counter, release transfer
    /// and evidence event. `releaseKeyPrefix` (derived from the session's idempotency key) prefixes each release
    /// transfer's key, completed by the enrollment's id.
    func recordClassSession(
        _ session: NewClassSession, institution: Institution.ID, releaseKeyPrefix: String, on connection: PostgresConnection
    ) async throws -> ClassSessionRecord {
        try checkClassSessionSize(session.enrollmentIds.count)
        let status = try await lockInstitution(institution, course: session.courseId, on: connection)
        var candidates: [Enrollment.ID: EnrollmentRecord] = [:]
        let rows = try await connection.execute(
            LockSessionEnrollmentsStatement(ids: session.enrollmentIds.map(\.uuid), institution: institution.uuid), logger: logger)
        for try await enrollment in rows { candidates[enrollment.id] = enrollment }
        // One instant, as the database keeps it, for the lessons' `recorded_at` and their events (the reconciliation
        // compares them to the millisecond): PostgresNIO truncates a `Date` to the microsecond, the event rounds it.
        let now = try storedInstant(store.dependencies.now())
        let decisions = try decideClassSession(
            listed: session.enrollmentIds,
            candidates: candidates.mapValues { ClassSessionCandidate(course: $0.courseId, position: $0.position) },
            course: session.courseId, institution: status, takenOn: session.takenOn, today: BusinessDate(shanghaiDateOf: now))
        var writes: [LessonWrite] = []
        for (id, decision) in zip(session.enrollmentIds, decisions) {
            guard case .success(let release) = decision, let enrollment = candidates[id] else { continue }
            writes.append(
                LessonWrite(
                    enrollment: enrollment, lessonID: store.dependencies.newID(), lessons: 1, release: release,
                    releaseKey: "\(releaseKeyPrefix):\(id)"))
        }
        // A session's rows reference only the enrollments and institution locked above and the institution's own
        // accounts, so their foreign keys are checked once for the session instead of once per row.
        let recorded = try await ReferenceCheckedInserts(logger: logger).run(on: connection) {
            let recorded = try await writeLessons(writes, institution: institution, takenOn: session.takenOn, at: now, on: connection)
            return (recorded, Self.referenceChecks(lessons: writes.map(\.lessonID), releaseKeys: writes.map(\.releaseKey)))
        }
        let lessons = Dictionary(uniqueKeysWithValues: recorded.map { ($0.enrollmentId, $0) })
        let items = zip(session.enrollmentIds, decisions).map { id, decision in
            switch decision {
            case .failure(let refusal):
                return ClassSessionRecord.Item(enrollmentId: id, status: .refused, code: refusal.code)
            case .success:
                let lesson = lessons[id]
                return ClassSessionRecord.Item(enrollmentId: id, status: .recorded, lessonId: lesson?.id, valueFen: lesson?.valueFen)
            }
        }
        return ClassSessionRecord(
            courseId: session.courseId, takenOn: session.takenOn, recordedAt: now, recorded: recorded.count,
            refused: items.count - recorded.count, items: items)
    }

    /// The set-based reference checks of a session's written rows (`assert_references`, sql/0019): its lessons by the
    /// range of their ids, its release transfers (a key that named none is passed over) by the range of their ids.
    static func referenceChecks(lessons: [UUID], releaseKeys: [String]) -> [PostgresQuery] {
        // uuid has no min/max before PostgreSQL 16; its text form sorts as its bytes do.
        return [
            """
            SELECT assert_references('lessons'::regclass, 'id'::name, min(id::text)::uuid, max(id::text)::uuid)
            FROM unnest(\(lessons)::uuid[]) AS l (id) HAVING count(*) > 0
            """,
            """
            SELECT assert_references('transfers'::regclass, 'id'::name, min(id), max(id))
            FROM transfers WHERE idempotency_key = ANY(\(releaseKeys)::text[]) HAVING count(*) > 0
            """,
        ]
    }

    /// The institution held for share (as every money path holds it, so a defunct mark waits for this session or the
    /// session for the mark), and whether `course` is its own: another's course is 404, like an unknown one.
    func lockInstitution(_ institution: Institution.ID, course: Course.ID, on connection: PostgresConnection) async throws
        -> InstitutionStatus
    {
        let rows = try await connection.query(
            """
            SELECT i.status, EXISTS (SELECT 1 FROM courses c WHERE c.id = \(course.uuid) AND c.institution_id = i.id)
            FROM institutions i WHERE i.id = \(institution.uuid) FOR SHARE OF i
            """, logger: logger)
        for try await (status, ownCourse) in rows.decode((String, Bool).self) {
            guard ownCourse else { throw NotFound() }
            return try decodeEnum(status)
        }
        throw NotFound()
    }

    /// Writes lessons already decided by `decideLessons` — a class session's, or the single route's one — in one
    /// statement: the lesson rows, the enrollments' counters, one release transfer per lesson (escrow → operating) and
    /// one `lessons_consumed` evidence event per lesson (built by `evidence_entry`, sql/0019). Inserting the releases
    /// posts the escrow and operating totals once for the whole batch (sql/0020), as the statement's last work: every
    /// session of an institution queues on those two rows until it commits.
    /// `keeping`, for a keyed single record, is the response the same statement keeps under the claimed key.
    func writeLessons(
        _ writes: [LessonWrite], institution: Institution.ID, takenOn: BusinessDate, at now: Date,
        keeping: (KeyClaim, StoredResponse)? = nil, on connection: PostgresConnection
    ) async throws -> [LessonRecord] {
        guard !writes.isEmpty else { return [] }
        var statement = WriteLessonsStatement(
            institution: institution.uuid, takenOn: takenOn.description, now: now,
            nowMilliseconds: EvidenceEvent(kind: .lessonsConsumed, occurredAt: now, institution: institution).occurredAtMilliseconds)
        statement.keeping = keeping
        for write in writes {
            let value = try write.enrollment.pricePerLessonFen.multiplied(by: write.lessons)
            statement.enrollments.append(write.enrollment.id.uuid)
            statement.lessonIDs.append(write.lessonID)
            statement.lessons.append(write.lessons)
            statement.values.append(value.fen)
            statement.released.append((write.release?.amount ?? .zero).fen)
            statement.releaseKeys.append(write.releaseKey)
        }
        return try await mappingRejections {
            var recorded: [LessonRecord] = []
            recorded.reserveCapacity(writes.count)
            for try await row in try await connection.execute(statement, logger: logger) { recorded.append(row) }
            guard recorded.count == writes.count else { throw CorruptRow(value: "\(recorded.count) of \(writes.count) lessons written") }
            CommitTimeoutLift.noteLifted()
            return recorded
        }
    }
}

/// One lesson record to write: the locked enrollment, the decided release (nil in reserve mode) and its key.
struct LessonWrite: Sendable {
    var enrollment: EnrollmentRecord
    var lessonID: UUID
    var lessons: Int
    var release: PlannedTransfer?
    var releaseKey: String
}

/// `recordClassSession`: the listed enrollments the institution owns, locked in id order (so concurrent sessions and
/// single records on overlapping enrollments queue instead of deadlocking). Others' and unknown ids find no row.
/// A session keeps custom plans (unlike the single-enrollment writes, `genericPlansForTheTransaction`): its planning is
/// shared by hundreds of items, so generic plans gain nothing measurable there (`tools/bench attendance`: 8,022 to
/// 8,674 lesson records/s either way).
struct LockSessionEnrollmentsStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT \(EnrollmentRecord.columns) FROM enrollments e
        WHERE e.id = ANY ($1::uuid[]) AND e.institution_id = $2
        ORDER BY e.id FOR UPDATE OF e
        """
    typealias Row = EnrollmentRecord

    var ids: [UUID]
    var institution: UUID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(ids)
        bindings.append(institution)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try EnrollmentRecord(row: row) }
}

/// `writeLessons`: every lesson of a batch in one statement; the release transfers' INSERT posts the accounts' totals
/// (sql/0020). PostgreSQL runs every data-modifying CTE to completion.
struct WriteLessonsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH items AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::bigint[], $5::bigint[], $6::text[]) WITH ORDINALITY
                AS i (enrollment_id, lesson_id, lessons, value_fen, released_fen, release_key, n)),
        counted AS (
            UPDATE enrollments e SET lessons_consumed = e.lessons_consumed + i.lessons,
                released_fen = e.released_fen + i.released_fen
            FROM items i WHERE e.id = i.enrollment_id),
        queued AS (
            INSERT INTO evidence_queue (entry, queued_at)
            SELECT evidence_entry('lessons_consumed', $7, $8, enrollment_id, value_fen, lessons, 'lesson:' || lesson_id), $10
            FROM items ORDER BY n),
        finished AS (\(FinishKeyStatement.update(firstBind: 11))),
        escrow AS (SELECT id FROM accounts WHERE institution_id = $8 AND kind = 'escrow'),
        operating AS (SELECT id FROM accounts WHERE institution_id = $8 AND kind = 'operating'),
        released AS (
            INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen,
                institution_id, enrollment_id, created_at)
            SELECT i.release_key, 'release', (SELECT id FROM escrow), (SELECT id FROM operating), i.released_fen, $8, i.enrollment_id, $10
            FROM items i WHERE i.released_fen > 0),
        lifted AS (SELECT \(CommitTimeoutLift.expression))
        INSERT INTO lessons AS l (id, enrollment_id, institution_id, lessons, taken_on, value_fen, recorded_at)
        SELECT lesson_id, enrollment_id, $8, lessons, $9::date, value_fen, $10 FROM items CROSS JOIN lifted ORDER BY n
        RETURNING \(LessonRecord.columns)
        """
    typealias Row = LessonRecord

    var enrollments: [UUID] = []
    var lessonIDs: [UUID] = []
    var lessons: [Int] = []
    var values: [Int64] = []
    var released: [Int64] = []
    var releaseKeys: [String] = []
    var institution: UUID
    var takenOn: String
    var now: Date
    /// `now` as the events carry it (`EvidenceEvent.occurredAtMilliseconds`).
    var nowMilliseconds: Int64
    /// The key and the response to keep under it (binds $11–$14; NULL keeps none).
    var keeping: (KeyClaim, StoredResponse)?

    init(institution: UUID, takenOn: String, now: Date, nowMilliseconds: Int64) {
        self.institution = institution
        self.takenOn = takenOn
        self.now = now
        self.nowMilliseconds = nowMilliseconds
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 14)
        bindings.append(enrollments)
        bindings.append(lessonIDs)
        bindings.append(lessons)
        bindings.append(values)
        bindings.append(released)
        bindings.append(releaseKeys)
        bindings.append(nowMilliseconds)
        bindings.append(institution)
        bindings.append(takenOn)
        bindings.append(now)
        bindings.append(keeping?.1.status)
        try bindings.append(keeping?.1.body)
        bindings.append(keeping?.0.owner)
        bindings.append(keeping?.0.key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try LessonRecord(row: row) }
}
