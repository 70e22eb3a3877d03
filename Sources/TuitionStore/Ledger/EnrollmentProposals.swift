import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension EnrollmentProposalRecord {
    static let columns = """
        ep.id, ep.institution_id, ep.guardian_id, ep.course_id, ep.lessons, ep.price_per_lesson_fen, ep.amount_fen, ep.term_start::text,
        ep.term_end::text, ep.status, ep.created_at, ep.answered_at
        """

    init(row: PostgresRow) throws {
        let (id, institution, guardian, course, lessons, price, amount, start, end, status, created, answered) = try row.decode(
            (UUID, UUID, UUID, UUID, Int, Int64, Int64, String, String, String, Date, Date?).self)
        try self.init(
            id: .init(id),
            institutionId: .init(institution),
            guardianId: .init(guardian),
            courseId: .init(course),
            lessons: lessons,
            pricePerLessonFen: Money(fen: price),
            amountFen: Money(fen: amount),
            termStart: decodeDate(start),
            termEnd: decodeDate(end),
            status: decodeEnum(status),
            createdAt: created,
            answeredAt: answered)
    }
}

/// Consent to orders. An enrollment exists only once its guardian has agreed to it: the guardian places it (from the
/// public catalog), or accepts an institution's proposal. Until then the institution holds a proposal that names no
/// student and nothing about the guardian but the reference it was given; no contract can be generated for it, and
/// nothing about it counts as an order. Proposing to any reference answers alike, so it reveals no one's existence.
extension EnrollmentRepository {
    /// Today in Asia/Shanghai, the business date licences are judged on.
    private var today: BusinessDate { BusinessDate(shanghaiDateOf: store.dependencies.now()) }

    /// The institution proposes an order for one of its courses to the guardian behind `guardianId`; the prepayment
    /// rule is checked now and again when the guardian accepts.
    public func propose(_ new: NewEnrollmentProposal, institution: Institution.ID) async throws -> EnrollmentProposalRecord {
        try await store.transaction { connection in
            let terms = try await orderTerms(course: new.courseId, institution: institution, on: connection)
            if let closed = newOrderRefusal(terms.status, licenceValidUntil: terms.licenceValidUntil, today: today) { throw closed }
            let order = ChargeOrder(lessons: new.lessons, pricePerLesson: terms.price, termStart: new.termStart, termEnd: new.termEnd)
            let amount = try checkCharge(order, caps: terms.caps).get()
            let rows = try await connection.query(
                """
                INSERT INTO enrollment_proposals AS ep (id, institution_id, guardian_id, course_id, lessons, price_per_lesson_fen,
                    amount_fen, term_start, term_end, created_at)
                VALUES (\(store.dependencies.newID()), \(institution.uuid), \(new.guardianId.uuid), \(new.courseId.uuid), \(new.lessons), \(terms.price.fen),
                    \(amount.fen), \(new.termStart.description)::date, \(new.termEnd.description)::date, \(store.dependencies.now()))
                RETURNING \(unescaped: EnrollmentProposalRecord.columns)
                """, logger: logger)
            for try await row in rows { return try EnrollmentProposalRecord(row: row) }
            throw CorruptRow(value: "proposal insert returned nothing")
        }
    }

    /// Who sees a proposal: its institution, its district's regulator, and the guardian it is made to.
    public func proposal(_ id: Enrollment.ID, scope: Scope) async throws -> EnrollmentProposalRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: EnrollmentProposalRecord.columns) FROM enrollment_proposals ep
                JOIN institutions i ON i.id = ep.institution_id
            WHERE ep.id = \(id.uuid) AND (ep.institution_id = \(scope.institution) OR i.district_code = \(scope.district)
                OR ep.guardian_id = \(scope.guardian))
            """)
        for try await row in rows { return try EnrollmentProposalRecord(row: row) }
        return nil
    }

    /// An institution's proposals, a district's for its regulator, a guardian's (the orders waiting for its answer).
    public func proposals(scope: Scope, page: PageRequest) async throws -> Page<EnrollmentProposalRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: EnrollmentProposalRecord.columns) FROM enrollment_proposals ep
                JOIN institutions i ON i.id = ep.institution_id
            WHERE (ep.institution_id = \(scope.institution) OR i.district_code = \(scope.district) OR ep.guardian_id = \(scope.guardian))
              AND ep.id > \(page.afterOrFloor)
            ORDER BY ep.id LIMIT \(page.limit + 1)
            """)
        var items: [EnrollmentProposalRecord] = []
        for try await row in rows { items.append(try EnrollmentProposalRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    /// The guardian accepts an open proposal made to it, for one of its own students: the enrollment is created with
    /// the proposal's id, price and term. Another guardian's proposal or student is not found, as if it did not exist.
    public func accept(_ id: Enrollment.ID, studentId: Student.ID, guardian: Guardian.ID) async throws -> EnrollmentRecord {
        try await store.transaction { connection in
            let proposals = ProposalAnswers<EnrollmentProposalRecord>(connection: connection, logger: logger)
            let proposal = try await proposals.lockOpen(id.uuid, addressee: guardian.uuid)
            try await requireOwnStudent(studentId, guardian: guardian, on: connection)
            let enrollment = try await insertEnrollment(
                id: id, course: proposal.courseId, institution: proposal.institutionId, student: studentId, guardian: guardian,
                lessons: proposal.lessons, termStart: proposal.termStart, termEnd: proposal.termEnd,
                frozenPrice: proposal.pricePerLessonFen,
                on: connection)
            try await proposals.answer(id.uuid, status: .accepted, at: store.dependencies.now())
            return enrollment
        }
    }

    /// The guardian turns an open proposal made to it down; nothing else changes.
    public func rejectProposal(_ id: Enrollment.ID, guardian: Guardian.ID) async throws -> EnrollmentProposalRecord {
        try await store.transaction { connection in
            let proposals = ProposalAnswers<EnrollmentProposalRecord>(connection: connection, logger: logger)
            _ = try await proposals.lockOpen(id.uuid, addressee: guardian.uuid)
            return try await proposals.answer(id.uuid, status: .rejected, at: store.dependencies.now())
        }
    }

    /// The guardian places an order itself, for one of its students, from a course it found in the catalog: its
    /// own order needs no further consent.
    public func place(_ new: NewEnrollment, guardian: Guardian.ID) async throws -> EnrollmentRecord {
        try await store.transaction { (transaction: StoreTransaction) in try await place(new, guardian: guardian, on: transaction) }
    }

    /// As `place(_:guardian:)`, in the caller's transaction (a keyed request's).
    public func place(_ new: NewEnrollment, guardian: Guardian.ID, on transaction: StoreTransaction) async throws -> EnrollmentRecord {
        let connection = transaction.connection
        try await requireOwnStudent(new.studentId, guardian: guardian, on: connection)
        return try await insertEnrollment(
            id: .init(store.dependencies.newID()), course: new.courseId, institution: nil, student: new.studentId, guardian: guardian,
            lessons: new.lessons, termStart: new.termStart, termEnd: new.termEnd, frozenPrice: nil, on: connection)
    }

    /// Whether an institution's id names a proposal of its own that no guardian has accepted (the contract route
    /// says so rather than 404).
    public func isOpenProposal(_ id: Enrollment.ID, institution: Institution.ID) async throws -> Bool {
        let rows = try await store.query(
            """
            SELECT 1 FROM enrollment_proposals ep
            WHERE ep.id = \(id.uuid) AND ep.institution_id = \(institution.uuid) AND ep.status <> 'accepted'
            """)
        for try await _ in rows { return true }
        return false
    }

    // MARK: Steps

    private func requireOwnStudent(_ student: Student.ID, guardian: Guardian.ID, on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            "SELECT 1 FROM students WHERE id = \(student.uuid) AND guardian_id = \(guardian.uuid)", logger: logger)
        for try await _ in rows { return }
        throw NotFound()
    }

    /// The institution's status and licence, the course's price and the district's caps, the institution and the district
    /// held for share so neither a sanction nor a lowered cap can slip in before the commit. `institution`, when given, must own the course.
    private func orderTerms(course: Course.ID, institution: Institution.ID?, on connection: PostgresConnection) async throws -> (
        institution: Institution.ID, status: InstitutionStatus, licenceValidUntil: BusinessDate?, mode: SupervisionMode, price: Money,
        caps: ChargeCaps
    ) {
        let rows = try await connection.query(
            """
            SELECT i.id, i.status, i.licence_valid_until::text, i.supervision_mode, c.price_per_lesson_fen,
                d.charge_lessons_max, d.charge_term_months_max, d.charge_amount_max_fen
            FROM courses c JOIN institutions i ON i.id = c.institution_id JOIN districts d ON d.code = i.district_code
            WHERE c.id = \(course.uuid) AND (\(institution?.uuid)::uuid IS NULL OR c.institution_id = \(institution?.uuid))
            FOR SHARE OF i, d
            """, logger: logger)
        for try await (id, status, licence, mode, price, lessonsMax, monthsMax, amountMax) in rows.decode(
            (UUID, String, String?, String, Int64, Int, Int, Int64).self)
        {
            return (
                .init(id), try decodeEnum(status), licence.flatMap(BusinessDate.init), try decodeEnum(mode), Money(fen: price),
                ChargeCaps(lessonsMax: lessonsMax, termMonthsMax: monthsMax, amountMax: Money(fen: amountMax))
            )
        }
        throw NotFound()
    }

    /// Creates the enrollment the guardian agreed to, after the institution's status and the prepayment rule (at
    /// `frozenPrice` when a proposal fixed it, else the course's price).
    private func insertEnrollment(
        id: Enrollment.ID, course: Course.ID, institution: Institution.ID?, student: Student.ID, guardian: Guardian.ID, lessons: Int,
        termStart: BusinessDate, termEnd: BusinessDate, frozenPrice: Money?, on connection: PostgresConnection
    ) async throws -> EnrollmentRecord {
        let terms = try await orderTerms(course: course, institution: institution, on: connection)
        if let closed = newOrderRefusal(terms.status, licenceValidUntil: terms.licenceValidUntil, today: today) { throw closed }
        let price = frozenPrice ?? terms.price
        let amount = try checkCharge(
            ChargeOrder(lessons: lessons, pricePerLesson: price, termStart: termStart, termEnd: termEnd), caps: terms.caps
        )
        .get()
        try await connection.query(
            """
            INSERT INTO enrollments (id, institution_id, course_id, student_id, guardian_id, supervision_mode,
                lessons_bought, price_per_lesson_fen, amount_fen, term_start, term_end, created_at)
            VALUES (\(id.uuid), \(terms.institution.uuid), \(course.uuid), \(student.uuid), \(guardian.uuid), \(terms.mode.rawValue),
                \(lessons), \(price.fen), \(amount.fen), \(termStart.description)::date, \(termEnd.description)::date,
                \(store.dependencies.now()))
            """, logger: logger)
        guard let created = try await fetch(id, scope: Scope(guardian: guardian.uuid), on: connection) else {
            throw CorruptRow(value: "enrollment \(id) not found after insert")
        }
        return created
    }
}
