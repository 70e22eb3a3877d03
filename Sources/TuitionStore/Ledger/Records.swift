import Foundation
import PostgresNIO
import TuitionCore

/// Rows as the API shows them. Money fields carry `Fen` in their names; dates are `YYYY-MM-DD` in Asia/Shanghai.
public struct InstitutionRecord: Codable, Sendable, Hashable {
    public var id: Institution.ID
    public var districtCode: String
    public var licenceNumber: String
    public var name: String
    public var address: String
    public var creditCode: String
    public var licenceValidUntil: BusinessDate?
    public var supervisionMode: SupervisionMode
    public var reserveRatioBasisPoints: Int
    public var supervisedBank: String
    public var supervisedAccountNumber: String
    public var status: InstitutionStatus
    public var createdAt: Date

    static let columns = """
        i.id, i.district_code, i.licence_number, i.name, i.address, i.credit_code, i.licence_valid_until::text,
        i.supervision_mode, i.reserve_ratio_bp, i.supervised_bank, i.supervised_account_number, i.status, i.created_at
        """

    init(row: PostgresRow) throws {
        let (id, district, licence, name, address, credit, validUntil, mode, ratio, bank, account, status, created) =
            try row.decode((UUID, String, String, String, String, String, String?, String, Int, String, String, String, Date).self)
        self.id = .init(id)
        self.districtCode = district
        self.licenceNumber = licence
        self.name = name
        self.address = address
        self.creditCode = credit
        self.licenceValidUntil = validUntil.flatMap(BusinessDate.init)
        self.supervisionMode = try decodeEnum(mode)
        self.reserveRatioBasisPoints = ratio
        self.supervisedBank = bank
        self.supervisedAccountNumber = account
        self.status = try decodeEnum(status)
        self.createdAt = created
    }
}

public struct CourseRecord: Codable, Sendable, Hashable {
    public var id: Course.ID
    public var institutionId: Institution.ID
    public var title: String
    public var category: CourseCategory
    public var pricePerLessonFen: Money
    public var lessonMinutes: Int
    public var lessonsPerWeek: Int
    public var teacher: String
    public var createdAt: Date

    static let columns =
        "c.id, c.institution_id, c.title, c.category, c.price_per_lesson_fen, c.lesson_minutes, c.lessons_per_week, c.teacher, c.created_at"

    init(row: PostgresRow) throws {
        let (id, institution, title, category, price, minutes, perWeek, teacher, created) =
            try row.decode((UUID, UUID, String, String, Int64, Int, Int, String, Date).self)
        self.id = .init(id)
        self.institutionId = .init(institution)
        self.title = title
        self.category = try decodeEnum(category)
        self.pricePerLessonFen = Money(fen: price)
        self.lessonMinutes = minutes
        self.lessonsPerWeek = perWeek
        self.teacher = teacher
        self.createdAt = created
    }
}

public struct StudentRecord: Codable, Sendable, Hashable {
    public var id: Student.ID
    public var guardianId: Guardian.ID
    public var name: String
    public var relationship: String
    public var school: String
    public var grade: String
    public var createdAt: Date

    static let columns = "s.id, s.guardian_id, s.name, s.relationship, s.school, s.grade, s.created_at"

    init(row: PostgresRow) throws {
        let (id, guardian, name, relationship, school, grade, created) =
            try row.decode((UUID, UUID, String, String, String, String, Date).self)
        self.id = .init(id)
        self.guardianId = .init(guardian)
        self.name = name
        self.relationship = relationship
        self.school = school
        self.grade = grade
        self.createdAt = created
    }
}

public enum EnrollmentStatus: String, Codable, Sendable {
    case awaitingPayment = "awaiting_payment"
    case active
    /// Every lesson bought is consumed or refunded.
    case closed
}

public struct EnrollmentRecord: Codable, Sendable, Hashable {
    public var id: Enrollment.ID
    public var institutionId: Institution.ID
    public var courseId: Course.ID
    public var studentId: Student.ID
    public var guardianId: Guardian.ID
    public var status: EnrollmentStatus
    public var supervisionMode: SupervisionMode
    public var lessonsBought: Int
    public var lessonsConsumed: Int
    public var lessonsRefunded: Int
    public var pricePerLessonFen: Money
    public var amountFen: Money
    public var termStart: BusinessDate
    public var termEnd: BusinessDate
    public var paidFen: Money
    public var releasedFen: Money
    public var refundedFen: Money
    /// Paid back on claims and defunct settlements, every layer.
    public var returnedFen: Money
    /// Paid − consumed (before the defunct effective time, if any) − refunded − returned: the enrollment's position.
    public var unconsumedFen: Money
    public var escrowHeldFen: Money
    public var paidAt: Date?
    public var createdAt: Date
    public var escrowReturnedFen: Money
    /// Lessons recorded at or after the defunct effective time: they do not count against the guardian.
    public var lessonsAfterDefunct: Int
    public var defunctEffectiveAt: Date?

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
        self.id = .init(try cell(0, UUID.self))
        self.institutionId = .init(try cell(1, UUID.self))
        self.courseId = .init(try cell(2, UUID.self))
        self.studentId = .init(try cell(3, UUID.self))
        self.guardianId = .init(try cell(4, UUID.self))
        self.supervisionMode = mode
        self.lessonsBought = position.lessonsBought
        self.lessonsConsumed = position.lessonsConsumed
        self.lessonsRefunded = position.lessonsRefunded
        self.pricePerLessonFen = position.pricePerLesson
        self.amountFen = position.amount
        self.termStart = position.termStart
        self.termEnd = try decodeDate(try cell(11))
        self.paidFen = position.paid
        self.releasedFen = position.released
        self.refundedFen = position.refunded
        self.returnedFen = position.returned
        self.unconsumedFen = position.outstanding
        self.escrowHeldFen = position.escrowHeld
        self.paidAt = position.paidAt
        self.escrowReturnedFen = position.escrowReturned
        self.lessonsAfterDefunct = position.lessonsAfterDefunct
        self.defunctEffectiveAt = position.defunctEffectiveAt
        self.status = !position.isPaid ? .awaitingPayment : position.lessonsRemaining == 0 ? .closed : .active
        self.createdAt = try cell(15)
    }

    public var position: EnrollmentPosition {
        EnrollmentPosition(
            mode: supervisionMode, lessonsBought: lessonsBought, lessonsConsumed: lessonsConsumed,
            lessonsRefunded: lessonsRefunded, pricePerLesson: pricePerLessonFen, paid: paidFen, paidAt: paidAt,
            released: releasedFen, refunded: refundedFen, returned: returnedFen, escrowReturned: escrowReturnedFen,
            lessonsAfterDefunct: lessonsAfterDefunct, defunctEffectiveAt: defunctEffectiveAt, termStart: termStart)
    }
}

public struct LessonRecord: Codable, Sendable, Hashable {
    public var id: Lesson.ID
    public var enrollmentId: Enrollment.ID
    public var lessons: Int
    public var takenOn: BusinessDate
    public var valueFen: Money
    public var recordedAt: Date
    public var status: LessonStatus
    public var answeredAt: Date?
    public var disputeReason: String?

    static let columns =
        "l.id, l.enrollment_id, l.lessons, l.taken_on::text, l.value_fen, l.recorded_at, l.status, l.answered_at, l.dispute_reason"

    init(row: PostgresRow) throws {
        let (id, enrollment, lessons, takenOn, value, recorded, status, answered, reason) =
            try row.decode((UUID, UUID, Int, String, Int64, Date, String, Date?, String?).self)
        self.id = .init(id)
        self.enrollmentId = .init(enrollment)
        self.lessons = lessons
        self.takenOn = try decodeDate(takenOn)
        self.valueFen = Money(fen: value)
        self.recordedAt = recorded
        self.status = try decodeEnum(status)
        self.answeredAt = answered
        self.disputeReason = reason
    }
}

public struct RefundRecord: Codable, Sendable, Hashable {
    public var id: Refund.ID
    public var enrollmentId: Enrollment.ID
    public var lessons: Int
    public var amountFen: Money
    public var reason: String
    public var createdAt: Date
}

public struct TransferRecord: Codable, Sendable, Hashable {
    public var id: Int64
    public var kind: TransferKind
    public var from: AccountKind
    public var to: AccountKind
    public var amountFen: Money
    public var enrollmentId: Enrollment.ID?
    public var createdAt: Date

    public init(
        id: Int64, kind: TransferKind, from: AccountKind, to: AccountKind, amountFen: Money, enrollmentId: Enrollment.ID?,
        createdAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.from = from
        self.to = to
        self.amountFen = amountFen
        self.enrollmentId = enrollmentId
        self.createdAt = createdAt
    }

    static let columns = "t.id, t.kind, d.kind, c.kind, t.amount_fen, t.enrollment_id, t.created_at"
    static let joins = "JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id"

    init(row: PostgresRow) throws {
        let (id, kind, from, to, amount, enrollment, created) =
            try row.decode((Int64, String, String, String, Int64, UUID?, Date).self)
        self.id = id
        self.kind = try decodeEnum(kind)
        self.from = try decodeEnum(from)
        self.to = try decodeEnum(to)
        self.amountFen = Money(fen: amount)
        self.enrollmentId = enrollment.map(Enrollment.ID.init)
        self.createdAt = created
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
