import Foundation
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

    public init(
        id: Institution.ID, districtCode: String, licenceNumber: String, name: String, address: String, creditCode: String,
        licenceValidUntil: BusinessDate? = nil, supervisionMode: SupervisionMode, reserveRatioBasisPoints: Int, supervisedBank: String,
        supervisedAccountNumber: String, status: InstitutionStatus, createdAt: Date
    ) {
        self.id = id
        self.districtCode = districtCode
        self.licenceNumber = licenceNumber
        self.name = name
        self.address = address
        self.creditCode = creditCode
        self.licenceValidUntil = licenceValidUntil
        self.supervisionMode = supervisionMode
        self.reserveRatioBasisPoints = reserveRatioBasisPoints
        self.supervisedBank = supervisedBank
        self.supervisedAccountNumber = supervisedAccountNumber
        self.status = status
        self.createdAt = createdAt
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

    public init(
        id: Course.ID, institutionId: Institution.ID, title: String, category: CourseCategory, pricePerLessonFen: Money, lessonMinutes: Int,
        lessonsPerWeek: Int, teacher: String, createdAt: Date
    ) {
        self.id = id
        self.institutionId = institutionId
        self.title = title
        self.category = category
        self.pricePerLessonFen = pricePerLessonFen
        self.lessonMinutes = lessonMinutes
        self.lessonsPerWeek = lessonsPerWeek
        self.teacher = teacher
        self.createdAt = createdAt
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

    public init(
        id: Student.ID, guardianId: Guardian.ID, name: String, relationship: String, school: String, grade: String, createdAt: Date
    ) {
        self.id = id
        self.guardianId = guardianId
        self.name = name
        self.relationship = relationship
        self.school = school
        self.grade = grade
        self.createdAt = createdAt
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
    /// Paid back on claims and defunct settlements out of what was owed, every layer (claims' add-backs not counted).
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
    /// Lessons that may still be recorded or refunded (`EnrollmentPosition.lessonsRemaining`): neither consumed nor
    /// refunded, and no more than what is still owed pays for.
    public var lessonsRemaining: Int

    public init(
        id: Enrollment.ID, institutionId: Institution.ID, courseId: Course.ID, studentId: Student.ID, guardianId: Guardian.ID,
        status: EnrollmentStatus, supervisionMode: SupervisionMode, lessonsBought: Int, lessonsConsumed: Int, lessonsRefunded: Int,
        pricePerLessonFen: Money, amountFen: Money, termStart: BusinessDate, termEnd: BusinessDate, paidFen: Money, releasedFen: Money,
        refundedFen: Money, returnedFen: Money, unconsumedFen: Money, escrowHeldFen: Money, paidAt: Date? = nil, createdAt: Date,
        escrowReturnedFen: Money, lessonsAfterDefunct: Int, defunctEffectiveAt: Date? = nil
    ) {
        self.id = id
        self.institutionId = institutionId
        self.courseId = courseId
        self.studentId = studentId
        self.guardianId = guardianId
        self.status = status
        self.supervisionMode = supervisionMode
        self.lessonsBought = lessonsBought
        self.lessonsConsumed = lessonsConsumed
        self.lessonsRefunded = lessonsRefunded
        self.pricePerLessonFen = pricePerLessonFen
        self.amountFen = amountFen
        self.termStart = termStart
        self.termEnd = termEnd
        self.paidFen = paidFen
        self.releasedFen = releasedFen
        self.refundedFen = refundedFen
        self.returnedFen = returnedFen
        self.unconsumedFen = unconsumedFen
        self.escrowHeldFen = escrowHeldFen
        self.paidAt = paidAt
        self.createdAt = createdAt
        self.escrowReturnedFen = escrowReturnedFen
        self.lessonsAfterDefunct = lessonsAfterDefunct
        self.defunctEffectiveAt = defunctEffectiveAt
        lessonsRemaining = 0
        lessonsRemaining = position.lessonsRemaining
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

    public init(
        id: Lesson.ID, enrollmentId: Enrollment.ID, lessons: Int, takenOn: BusinessDate, valueFen: Money, recordedAt: Date,
        status: LessonStatus, answeredAt: Date? = nil, disputeReason: String? = nil
    ) {
        self.id = id
        self.enrollmentId = enrollmentId
        self.lessons = lessons
        self.takenOn = takenOn
        self.valueFen = valueFen
        self.recordedAt = recordedAt
        self.status = status
        self.answeredAt = answeredAt
        self.disputeReason = disputeReason
    }
}

public struct RefundRecord: Codable, Sendable, Hashable {
    public var id: Refund.ID
    public var enrollmentId: Enrollment.ID
    public var lessons: Int
    public var amountFen: Money
    public var reason: String
    public var createdAt: Date

    public init(id: Refund.ID, enrollmentId: Enrollment.ID, lessons: Int, amountFen: Money, reason: String, createdAt: Date) {
        self.id = id
        self.enrollmentId = enrollmentId
        self.lessons = lessons
        self.amountFen = amountFen
        self.reason = reason
        self.createdAt = createdAt
    }
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
}

public struct EnrollmentStatement: Codable, Sendable {
    public var enrollment: EnrollmentRecord
    public var transfers: [TransferRecord]
    public var refunds: [RefundRecord]

    public init(enrollment: EnrollmentRecord, transfers: [TransferRecord], refunds: [RefundRecord]) {
        self.enrollment = enrollment
        self.transfers = transfers
        self.refunds = refunds
    }
}

public struct InstitutionStatement: Codable, Sendable {
    public var institutionId: Institution.ID
    public var supervisionMode: SupervisionMode
    public var escrowFen: Money
    public var operatingFen: Money
    public var reserveFen: Money
    public var paidFen: Money
    public var consumedFen: Money
    public var refundedFen: Money
    /// Paid back on claims and defunct settlements.
    public var returnedFen: Money
    /// Σ of the enrollments' positions: paid − consumed − refunded − returned.
    public var unconsumedFen: Money
    public var reserveRequiredFen: Money
    public var enrollments: Int

    public init(
        institutionId: Institution.ID, supervisionMode: SupervisionMode, escrowFen: Money, operatingFen: Money, reserveFen: Money,
        paidFen: Money, consumedFen: Money, refundedFen: Money, returnedFen: Money, unconsumedFen: Money, reserveRequiredFen: Money,
        enrollments: Int
    ) {
        self.institutionId = institutionId
        self.supervisionMode = supervisionMode
        self.escrowFen = escrowFen
        self.operatingFen = operatingFen
        self.reserveFen = reserveFen
        self.paidFen = paidFen
        self.consumedFen = consumedFen
        self.refundedFen = refundedFen
        self.returnedFen = returnedFen
        self.unconsumedFen = unconsumedFen
        self.reserveRequiredFen = reserveRequiredFen
        self.enrollments = enrollments
    }
}

/// A class session as the institution sends it: one lesson each for the listed enrollments of one course, taken on
/// one date.
public struct NewClassSession: Codable, Sendable {
    public var courseId: Course.ID
    public var takenOn: BusinessDate
    public var enrollmentIds: [Enrollment.ID]

    public init(courseId: Course.ID, takenOn: BusinessDate, enrollmentIds: [Enrollment.ID]) {
        self.courseId = courseId
        self.takenOn = takenOn
        self.enrollmentIds = enrollmentIds
    }
}

/// What a class session did, item by item in the order listed.
public struct ClassSessionRecord: Codable, Sendable, Hashable {
    public struct Item: Codable, Sendable, Hashable {
        public enum Status: String, Codable, Sendable { case recorded, refused }
        public var enrollmentId: Enrollment.ID
        public var status: Status
        /// The lesson recorded (status `recorded`); the guardian confirms or disputes it as any other.
        public var lessonId: Lesson.ID?
        public var valueFen: Money?
        /// The refusal's stable code (status `refused`), the one the single-lesson route would answer.
        public var code: String?

        public init(enrollmentId: Enrollment.ID, status: Status, lessonId: Lesson.ID? = nil, valueFen: Money? = nil, code: String? = nil) {
            self.enrollmentId = enrollmentId
            self.status = status
            self.lessonId = lessonId
            self.valueFen = valueFen
            self.code = code
        }
    }

    public var courseId: Course.ID
    public var takenOn: BusinessDate
    public var recordedAt: Date
    public var recorded: Int
    public var refused: Int
    public var items: [Item]

    public init(courseId: Course.ID, takenOn: BusinessDate, recordedAt: Date, recorded: Int, refused: Int, items: [Item]) {
        self.courseId = courseId
        self.takenOn = takenOn
        self.recordedAt = recordedAt
        self.recorded = recorded
        self.refused = refused
        self.items = items
    }
}

/// An order a guardian places itself for one of its students.
public struct NewEnrollment: Codable, Sendable {
    public var studentId: Student.ID
    public var courseId: Course.ID
    public var lessons: Int
    public var termStart: BusinessDate
    public var termEnd: BusinessDate

    public init(studentId: Student.ID, courseId: Course.ID, lessons: Int, termStart: BusinessDate, termEnd: BusinessDate) {
        self.studentId = studentId
        self.courseId = courseId
        self.lessons = lessons
        self.termStart = termStart
        self.termEnd = termEnd
    }
}

/// An order an institution offers a guardian: a course, lessons and a term, at the course's price frozen now.
/// `guardianId` is the reference the parent gave the institution (its id, shown in the parent's app); the proposal
/// names no student: the guardian names its own on accepting.
public struct NewEnrollmentProposal: Codable, Sendable {
    public var guardianId: Guardian.ID
    public var courseId: Course.ID
    public var lessons: Int
    public var termStart: BusinessDate
    public var termEnd: BusinessDate

    public init(guardianId: Guardian.ID, courseId: Course.ID, lessons: Int, termStart: BusinessDate, termEnd: BusinessDate) {
        self.guardianId = guardianId
        self.courseId = courseId
        self.lessons = lessons
        self.termStart = termStart
        self.termEnd = termEnd
    }
}

/// The guardian accepts a proposal for one of its students.
public struct EnrollmentAcceptance: Codable, Sendable {
    public var studentId: Student.ID

    public init(studentId: Student.ID) { self.studentId = studentId }
}

/// A proposed order. Its id becomes the enrollment's id when a guardian accepts it.
public struct EnrollmentProposalRecord: Codable, Sendable, Hashable {
    public var id: Enrollment.ID
    public var institutionId: Institution.ID
    /// The reference the institution proposed to: nothing about the guardian beyond what the parent handed over.
    public var guardianId: Guardian.ID
    public var courseId: Course.ID
    public var lessons: Int
    public var pricePerLessonFen: Money
    public var amountFen: Money
    public var termStart: BusinessDate
    public var termEnd: BusinessDate
    public var status: ProposalStatus
    public var createdAt: Date
    public var answeredAt: Date?

    public init(
        id: Enrollment.ID, institutionId: Institution.ID, guardianId: Guardian.ID, courseId: Course.ID, lessons: Int,
        pricePerLessonFen: Money, amountFen: Money, termStart: BusinessDate, termEnd: BusinessDate, status: ProposalStatus, createdAt: Date,
        answeredAt: Date? = nil
    ) {
        self.id = id
        self.institutionId = institutionId
        self.guardianId = guardianId
        self.courseId = courseId
        self.lessons = lessons
        self.pricePerLessonFen = pricePerLessonFen
        self.amountFen = amountFen
        self.termStart = termStart
        self.termEnd = termEnd
        self.status = status
        self.createdAt = createdAt
        self.answeredAt = answeredAt
    }
}

/// A guardian's payment for an enrollment.
public struct PaymentBody: Codable, Sendable {
    public let amountFen: Money

    public init(amountFen: Money) { self.amountFen = amountFen }
}

/// Lessons an institution records as taken.
public struct LessonsBody: Codable, Sendable {
    public let lessons: Int
    public let takenOn: BusinessDate

    public init(lessons: Int, takenOn: BusinessDate) {
        self.lessons = lessons
        self.takenOn = takenOn
    }
}

/// A refund: of `lessons` lessons, or of every lesson left when absent.
public struct RefundBody: Codable, Sendable {
    public let lessons: Int?
    public let reason: String?

    public init(lessons: Int? = nil, reason: String? = nil) {
        self.lessons = lessons
        self.reason = reason
    }
}

/// An institution's reserve top-up.
public struct TopUpBody: Codable, Sendable {
    public let amountFen: Money

    public init(amountFen: Money) { self.amountFen = amountFen }
}

/// A guardian disputing recorded lessons.
public struct DisputeBody: Codable, Sendable {
    public let reason: String

    public init(reason: String) { self.reason = reason }
}
