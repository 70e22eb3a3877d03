import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// The ledger's rows read into the wire records (`TuitionWire`) the API shows: the columns each query selects and the
/// decoding of one row, kept here, inside storage.
extension InstitutionRecord {
    static let columns = """
        i.id, i.district_code, i.licence_number, i.name, i.address, i.credit_code, i.licence_valid_until::text,
        i.supervision_mode, i.reserve_ratio_bp, i.supervised_bank, i.supervised_account_number, i.status, i.created_at
        """

    init(row: PostgresRow) throws {
        let (id, district, licence, name, address, credit, validUntil, mode, ratio, bank, account, status, created) =
            try row.decode((UUID, String, String, String, String, String, String?, String, Int, String, String, String, Date).self)
        try self.init(
            id: .init(id),
            districtCode: district,
            licenceNumber: licence,
            name: name,
            address: address,
            creditCode: credit,
            licenceValidUntil: validUntil.flatMap(BusinessDate.init),
            supervisionMode: decodeEnum(mode),
            reserveRatioBasisPoints: ratio,
            supervisedBank: bank,
            supervisedAccountNumber: account,
            status: decodeEnum(status),
            createdAt: created)
    }
}

extension CourseRecord {
    static let columns =
        "c.id, c.institution_id, c.title, c.category, c.price_per_lesson_fen, c.lesson_minutes, c.lessons_per_week, c.teacher, c.created_at"

    init(row: PostgresRow) throws {
        let (id, institution, title, category, price, minutes, perWeek, teacher, created) =
            try row.decode((UUID, UUID, String, String, Int64, Int, Int, String, Date).self)
        try self.init(
            id: .init(id),
            institutionId: .init(institution),
            title: title,
            category: decodeEnum(category),
            pricePerLessonFen: Money(fen: price),
            lessonMinutes: minutes,
            lessonsPerWeek: perWeek,
            teacher: teacher,
            createdAt: created)
    }
}

extension StudentRecord {
    static let columns = "s.id, s.guardian_id, s.name, s.relationship, s.school, s.grade, s.created_at"

    init(row: PostgresRow) throws {
        let (id, guardian, name, relationship, school, grade, created) =
            try row.decode((UUID, UUID, String, String, String, String, Date).self)
        self.init(
            id: .init(id),
            guardianId: .init(guardian),
            name: name,
            relationship: relationship,
            school: school,
            grade: grade,
            createdAt: created)
    }
}

extension EnrollmentRecord {
    static let columns = """
        e.id, e.institution_id, e.course_id, e.student_id, e.guardian_id, e.supervision_mode, e.lessons_bought,
        e.lessons_consumed, e.lessons_refunded, e.price_per_lesson_fen, e.term_start::text, e.term_end::text,
        e.paid_fen, e.released_fen, e.refunded_fen, e.created_at, e.paid_at, e.returned_fen, e.escrow_returned_fen,
        e.lessons_after_defunct, (SELECT dc.effective_at FROM defunct_cases dc WHERE dc.institution_id = e.institution_id)
        """
    static let columnCount = 21

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        let mode: SupervisionMode = try decodeEnum(try cell(5, String.self))
        let position = EnrollmentPosition(
            mode: mode, lessonsBought: try cell(6), lessonsConsumed: try cell(7), lessonsRefunded: try cell(8),
            pricePerLesson: Money(fen: try cell(9)), paid: Money(fen: try cell(12)), paidAt: try cell(16, Date?.self),
            released: Money(fen: try cell(13)), refunded: Money(fen: try cell(14)), returned: Money(fen: try cell(17)),
            escrowReturned: Money(fen: try cell(18)), lessonsAfterDefunct: try cell(19), defunctEffectiveAt: try cell(20, Date?.self),
            termStart: try decodeDate(try cell(10)))
        self.init(
            id: .init(try cell(0, UUID.self)), institutionId: .init(try cell(1, UUID.self)), courseId: .init(try cell(2, UUID.self)),
            studentId: .init(try cell(3, UUID.self)), guardianId: .init(try cell(4, UUID.self)), termEnd: try decodeDate(try cell(11)),
            createdAt: try cell(15), position: position)
    }

    /// The record of an enrollment at `position`, its derived figures (status, unconsumed, escrow held) computed as a
    /// read of its row computes them.
    init(
        id: Enrollment.ID, institutionId: Institution.ID, courseId: Course.ID, studentId: Student.ID, guardianId: Guardian.ID,
        termEnd: BusinessDate, createdAt: Date, position: EnrollmentPosition
    ) {
        self.init(
            id: id,
            institutionId: institutionId,
            courseId: courseId,
            studentId: studentId,
            guardianId: guardianId,
            status: !position.isPaid ? .awaitingPayment : position.isSettled ? .closed : .active,
            supervisionMode: position.mode,
            lessonsBought: position.lessonsBought,
            lessonsConsumed: position.lessonsConsumed,
            lessonsRefunded: position.lessonsRefunded,
            pricePerLessonFen: position.pricePerLesson,
            amountFen: position.amount,
            termStart: position.termStart,
            termEnd: termEnd,
            paidFen: position.paid,
            releasedFen: position.released,
            refundedFen: position.refunded,
            returnedFen: position.returned,
            unconsumedFen: position.outstanding,
            escrowHeldFen: position.escrowHeld,
            paidAt: position.paidAt,
            createdAt: createdAt,
            escrowReturnedFen: position.escrowReturned,
            lessonsAfterDefunct: position.lessonsAfterDefunct,
            defunctEffectiveAt: position.defunctEffectiveAt)
    }

    /// This enrollment as a write that moves it to `position` returns it.
    func moved(to position: EnrollmentPosition) -> EnrollmentRecord {
        EnrollmentRecord(
            id: id, institutionId: institutionId, courseId: courseId, studentId: studentId, guardianId: guardianId, termEnd: termEnd,
            createdAt: createdAt, position: position)
    }
}

extension LessonRecord {
    static let columns =
        "l.id, l.enrollment_id, l.lessons, l.taken_on::text, l.value_fen, l.recorded_at, l.status, l.answered_at, l.dispute_reason"

    init(row: PostgresRow) throws {
        let (id, enrollment, lessons, takenOn, value, recorded, status, answered, reason) =
            try row.decode((UUID, UUID, Int, String, Int64, Date, String, Date?, String?).self)
        try self.init(
            id: .init(id),
            enrollmentId: .init(enrollment),
            lessons: lessons,
            takenOn: decodeDate(takenOn),
            valueFen: Money(fen: value),
            recordedAt: recorded,
            status: decodeEnum(status),
            answeredAt: answered,
            disputeReason: reason)
    }
}

extension TransferRecord {
    static let columns = "t.id, t.kind, d.kind, c.kind, t.amount_fen, t.enrollment_id, t.created_at"
    static let joins = "JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id"

    init(row: PostgresRow) throws {
        let (id, kind, from, to, amount, enrollment, created) =
            try row.decode((Int64, String, String, String, Int64, UUID?, Date).self)
        try self.init(
            id: id,
            kind: decodeEnum(kind),
            from: decodeEnum(from),
            to: decodeEnum(to),
            amountFen: Money(fen: amount),
            enrollmentId: enrollment.map(Enrollment.ID.init),
            createdAt: created)
    }
}

struct CorruptRow: Error, CustomStringConvertible {
    let value: String
    var description: String { "unexpected value in a row: \(value)" }
}

func decodeEnum<T: RawRepresentable>(_ raw: String) throws -> T where T.RawValue == String {
    guard let value = T(rawValue: raw) else { throw CorruptRow(value: raw) }
    return value
}

func decodeDate(_ text: String) throws -> BusinessDate {
    guard let date = BusinessDate(text) else { throw CorruptRow(value: text) }
    return date
}
