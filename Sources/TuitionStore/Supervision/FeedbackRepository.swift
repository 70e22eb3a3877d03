import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension ComplaintRecord {
    static let columns = """
        c.id, c.enrollment_id, c.institution_id, c.text, c.answer, c.answered_at, c.status, c.closing_note, c.closed_at, c.created_at
        """

    init(row: PostgresRow) throws {
        let (id, enrollment, institution, text, answer, answered, status, note, closed, created) = try row.decode(
            (UUID, UUID, UUID, String, String?, Date?, String, String?, Date?, Date).self)
        try self.init(
            id: .init(id),
            enrollmentId: .init(enrollment),
            institutionId: .init(institution),
            text: text,
            answer: answer,
            answeredAt: answered,
            status: decodeEnum(status),
            closingNote: note,
            closedAt: closed,
            createdAt: created)
    }
}

/// Parents' reviews and complaints. Both feed the credit grade, which is regraded in the same transaction.
public struct FeedbackRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    // MARK: Reviews

    /// The guardian rates one of its paid enrollments, once.
    public func review(_ enrollment: Enrollment.ID, guardian: Guardian.ID, _ new: NewReview) async throws -> ReviewRecord {
        if let rejection = checkRatings(teaching: new.teaching, environment: new.environment, curriculum: new.curriculum) {
            throw rejection
        }
        let text = try validOptionalText(new.text, maxScalars: 2_000)
        return try await store.transaction { connection in
            let rows = try await connection.query(
                "SELECT institution_id, course_id, paid_fen FROM enrollments WHERE id = \(enrollment.uuid) AND guardian_id = \(guardian.uuid)",
                logger: logger)
            var found: (UUID, UUID, Int64)?
            for try await row in rows.decode((UUID, UUID, Int64).self) { found = row }
            guard let (institution, course, paid) = found else { throw NotFound() }
            guard paid > 0 else { throw Rejection.enrollmentNotPaid }
            let record = ReviewRecord(
                id: .init(store.dependencies.newID()), enrollmentId: enrollment, institutionId: .init(institution), courseId: .init(course),
                teaching: new.teaching, environment: new.environment, curriculum: new.curriculum, text: text,
                createdAt: store.dependencies.now())
            _ = try await mappingRejections {
                try await connection.query(
                    """
                    INSERT INTO reviews (id, enrollment_id, institution_id, course_id, guardian_id, teaching, environment, curriculum,
                        text, created_at)
                    VALUES (\(record.id.uuid), \(enrollment.uuid), \(institution), \(course), \(guardian.uuid), \(new.teaching),
                        \(new.environment), \(new.curriculum), \(text), \(record.createdAt))
                    """, logger: logger)
            }
            try await SupervisionRepository(store: store).recomputeCredit(institutions: [institution], on: connection)
            return record
        }
    }

    /// The review of an enrollment, if `scope` may see the enrollment and it has one.
    public func reviewOf(_ enrollment: Enrollment.ID, scope: Scope) async throws -> ReviewRecord? {
        let rows = try await store.query(
            """
            SELECT r.id, r.enrollment_id, r.institution_id, r.course_id, r.teaching, r.environment, r.curriculum, r.text, r.created_at
            FROM reviews r JOIN institutions i ON i.id = r.institution_id
            WHERE r.enrollment_id = \(enrollment.uuid)
                AND (r.institution_id = \(scope.institution) OR r.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district))
            """)
        for try await (id, enrollment, institution, course, teaching, environment, curriculum, text, created) in rows.decode(
            (UUID, UUID, UUID, UUID, Int, Int, Int, String, Date).self)
        {
            return ReviewRecord(
                id: .init(id), enrollmentId: .init(enrollment), institutionId: .init(institution), courseId: .init(course),
                teaching: teaching, environment: environment, curriculum: curriculum, text: text, createdAt: created)
        }
        return nil
    }

    /// An institution's average ratings and each of its courses' (from the `*_review_averages` views). Not scoped:
    /// averages name no parent; the caller decides who may ask.
    public func ratings(of institution: Institution.ID) async throws -> InstitutionRatings {
        let rows = try await store.query(
            """
            SELECT NULL::uuid, reviews, teaching::float8, environment::float8, curriculum::float8, overall::float8
            FROM institution_review_averages WHERE institution_id = \(institution.uuid)
            UNION ALL
            SELECT course_id, reviews, teaching::float8, environment::float8, curriculum::float8, overall::float8
            FROM course_review_averages WHERE institution_id = \(institution.uuid)
            ORDER BY 1 NULLS FIRST
            """)
        var ratings = InstitutionRatings(institutionId: institution, averages: .none, courses: [])
        for try await (course, reviews, teaching, environment, curriculum, overall) in rows.decode(
            (UUID?, Int, Double, Double, Double, Double).self)
        {
            let averages = RatingAverages(
                reviews: reviews, teaching: teaching, environment: environment, curriculum: curriculum, overall: overall)
            if let course {
                ratings.courses.append(CourseRatings(courseId: .init(course), averages: averages))
            } else {
                ratings.averages = averages
            }
        }
        return ratings
    }

    // MARK: Complaints

    /// The guardian complains about one of its enrollments.
    public func file(_ new: NewComplaint, guardian: Guardian.ID) async throws -> ComplaintRecord {
        let text = try validFreeText(new.text, maxScalars: 4_000)
        let id = store.dependencies.newID()
        let complaint = try await store.firstRow(
            ofWrite: """
                INSERT INTO complaints AS c (id, enrollment_id, institution_id, guardian_id, text, created_at)
                SELECT \(id), e.id, e.institution_id, e.guardian_id, \(text), \(store.dependencies.now())
                FROM enrollments e WHERE e.id = \(new.enrollmentId.uuid) AND e.guardian_id = \(guardian.uuid)
                RETURNING \(unescaped: ComplaintRecord.columns)
                """, ComplaintRecord.init(row:))
        guard let complaint else { throw NotFound() }
        return complaint
    }

    public func complaints(scope: Scope, status: ComplaintStatus?, page: PageRequest) async throws -> Page<ComplaintRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: ComplaintRecord.columns) FROM complaints c JOIN institutions i ON i.id = c.institution_id
            WHERE (c.institution_id = \(scope.institution) OR c.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district))
                AND (\(status?.rawValue)::text IS NULL OR c.status = \(status?.rawValue)) AND c.id > \(page.afterOrFloor)
            ORDER BY c.id LIMIT \(page.limit + 1)
            """)
        var items: [ComplaintRecord] = []
        for try await row in rows { items.append(try ComplaintRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    public func complaint(_ id: Complaint.ID, scope: Scope) async throws -> ComplaintRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: ComplaintRecord.columns) FROM complaints c JOIN institutions i ON i.id = c.institution_id
            WHERE c.id = \(id.uuid)
                AND (c.institution_id = \(scope.institution) OR c.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district))
            """)
        for try await row in rows { return try ComplaintRecord(row: row) }
        return nil
    }

    /// The institution answers an open complaint about one of its enrollments.
    public func answer(_ id: Complaint.ID, institution: Institution.ID, answer text: String) async throws -> ComplaintRecord {
        let answer = try validFreeText(text, maxScalars: 4_000)
        return try await store.transaction { connection in
            let status = try await lockedStatus(id, scope: Scope(institution: institution.uuid), on: connection)
            guard status == .open else { throw Rejection.complaintNotAwaitingAnswer }
            return try await returning(
                try await connection.query(
                    """
                    UPDATE complaints c SET answer = \(answer), answered_at = \(store.dependencies.now()), status = 'answered'
                    WHERE c.id = \(id.uuid) RETURNING \(unescaped: ComplaintRecord.columns)
                    """, logger: logger))
        }
    }

    /// The regulator closes a complaint of its district as upheld or not, with a note; an upheld one lowers the grade.
    public func close(_ id: Complaint.ID, district: DistrictCode, upheld: Bool, note text: String) async throws -> ComplaintRecord {
        let note = try validFreeText(text, maxScalars: 2_000)
        return try await store.transaction { connection in
            let status = try await lockedStatus(id, scope: Scope(district: district.value), on: connection)
            guard status == .open || status == .answered else { throw Rejection.complaintAlreadyClosed }
            let closing: ComplaintStatus = upheld ? .upheld : .notUpheld
            let record = try await returning(
                try await connection.query(
                    """
                    UPDATE complaints c SET status = \(closing.rawValue), closing_note = \(note), closed_at = \(store.dependencies.now())
                    WHERE c.id = \(id.uuid) RETURNING \(unescaped: ComplaintRecord.columns)
                    """, logger: logger))
            try await SupervisionRepository(store: store).recomputeCredit(institutions: [record.institutionId.uuid], on: connection)
            return record
        }
    }

    func lockedStatus(_ id: Complaint.ID, scope: Scope, on connection: PostgresConnection) async throws -> ComplaintStatus {
        let rows = try await connection.query(
            """
            SELECT c.status FROM complaints c JOIN institutions i ON i.id = c.institution_id
            WHERE c.id = \(id.uuid) AND (c.institution_id = \(scope.institution) OR i.district_code = \(scope.district))
            FOR UPDATE OF c
            """, logger: logger)
        for try await status in rows.decode(String.self) { return try decodeEnum(status) }
        throw NotFound()
    }

    func returning(_ rows: PostgresRowSequence) async throws -> ComplaintRecord {
        for try await row in rows { return try ComplaintRecord(row: row) }
        throw NotFound()
    }
}
