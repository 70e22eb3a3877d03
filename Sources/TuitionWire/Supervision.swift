import Foundation
import TuitionCore

/// What a district's regulator says about the district itself: the approving authority (审批机关) that contracts
/// name for 甲方.
public struct DistrictProfile: Codable, Sendable, Hashable {
    public var code: String
    public var approvingAuthority: String?

    public init(code: String, approvingAuthority: String? = nil) {
        self.code = code
        self.approvingAuthority = approvingAuthority
    }

    public struct Update: Codable, Sendable {
        public var approvingAuthority: String

        public init(approvingAuthority: String) {
            self.approvingAuthority = approvingAuthority
        }
    }
}

public struct InspectionRecord: Codable, Sendable, Hashable {
    public var institutionId: Institution.ID
    public var year: Int
    public var result: InspectionResult
    public var starRating: Int
    public var note: String
    public var recordedAt: Date

    public init(institutionId: Institution.ID, year: Int, result: InspectionResult, starRating: Int, note: String, recordedAt: Date) {
        self.institutionId = institutionId
        self.year = year
        self.result = result
        self.starRating = starRating
        self.note = note
        self.recordedAt = recordedAt
    }
}

public struct NewInspection: Codable, Sendable {
    public var year: Int
    public var result: InspectionResult
    public var starRating: Int
    public var note: String?

    public init(year: Int, result: InspectionResult, starRating: Int, note: String? = nil) {
        self.year = year
        self.result = result
        self.starRating = starRating
        self.note = note
    }
}

public struct CreditRecord: Codable, Sendable, Hashable {
    public var institutionId: Institution.ID
    public var grade: CreditGrade
    public var points: Int
    public var components: [CreditComponent]
    public var computedAt: Date

    public init(institutionId: Institution.ID, grade: CreditGrade, points: Int, components: [CreditComponent], computedAt: Date) {
        self.institutionId = institutionId
        self.grade = grade
        self.points = points
        self.components = components
        self.computedAt = computedAt
    }
}

public enum SanctionAction: String, Codable, Sendable, CaseIterable {
    case suspend, reinstate, blacklist
}

public struct SanctionRecord: Codable, Sendable, Hashable {
    @LowercaseUUID public var id: UUID
    public var institutionId: Institution.ID
    public var action: SanctionAction
    public var note: String
    public var status: InstitutionStatus
    public var createdAt: Date

    public init(id: UUID, institutionId: Institution.ID, action: SanctionAction, note: String, status: InstitutionStatus, createdAt: Date) {
        self.id = id
        self.institutionId = institutionId
        self.action = action
        self.note = note
        self.status = status
        self.createdAt = createdAt
    }
}

public enum Complaint { public typealias ID = Identifier<Complaint> }

public enum Review { public typealias ID = Identifier<Review> }

public struct NewReview: Codable, Sendable {
    public var teaching: Int
    public var environment: Int
    public var curriculum: Int
    public var text: String?

    public init(teaching: Int, environment: Int, curriculum: Int, text: String? = nil) {
        self.teaching = teaching
        self.environment = environment
        self.curriculum = curriculum
        self.text = text
    }
}

public struct ReviewRecord: Codable, Sendable, Hashable {
    public var id: Review.ID
    public var enrollmentId: Enrollment.ID
    public var institutionId: Institution.ID
    public var courseId: Course.ID
    public var teaching: Int
    public var environment: Int
    public var curriculum: Int
    public var text: String
    public var createdAt: Date

    public init(
        id: Review.ID, enrollmentId: Enrollment.ID, institutionId: Institution.ID, courseId: Course.ID, teaching: Int, environment: Int,
        curriculum: Int, text: String, createdAt: Date
    ) {
        self.id = id
        self.enrollmentId = enrollmentId
        self.institutionId = institutionId
        self.courseId = courseId
        self.teaching = teaching
        self.environment = environment
        self.curriculum = curriculum
        self.text = text
        self.createdAt = createdAt
    }
}

/// Average ratings (two decimals) over `reviews` reviews; all zero when there are none.
public struct RatingAverages: Codable, Sendable, Hashable {
    public var reviews: Int
    public var teaching: Double
    public var environment: Double
    public var curriculum: Double
    public var overall: Double

    public init(reviews: Int, teaching: Double, environment: Double, curriculum: Double, overall: Double) {
        self.reviews = reviews
        self.teaching = teaching
        self.environment = environment
        self.curriculum = curriculum
        self.overall = overall
    }

    public static let none = RatingAverages(reviews: 0, teaching: 0, environment: 0, curriculum: 0, overall: 0)
}

public struct CourseRatings: Codable, Sendable, Hashable {
    public var courseId: Course.ID
    public var averages: RatingAverages

    public init(courseId: Course.ID, averages: RatingAverages) {
        self.courseId = courseId
        self.averages = averages
    }
}

public struct InstitutionRatings: Codable, Sendable, Hashable {
    public var institutionId: Institution.ID
    public var averages: RatingAverages
    public var courses: [CourseRatings]

    public init(institutionId: Institution.ID, averages: RatingAverages, courses: [CourseRatings]) {
        self.institutionId = institutionId
        self.averages = averages
        self.courses = courses
    }
}

public enum ComplaintStatus: String, Codable, Sendable, CaseIterable {
    case open, answered, upheld
    case notUpheld = "not_upheld"
}

public struct NewComplaint: Codable, Sendable {
    public var enrollmentId: Enrollment.ID
    public var text: String

    public init(enrollmentId: Enrollment.ID, text: String) {
        self.enrollmentId = enrollmentId
        self.text = text
    }
}

public struct ComplaintRecord: Codable, Sendable, Hashable {
    public var id: Complaint.ID
    public var enrollmentId: Enrollment.ID
    public var institutionId: Institution.ID
    public var text: String
    public var answer: String?
    public var answeredAt: Date?
    public var status: ComplaintStatus
    public var closingNote: String?
    public var closedAt: Date?
    public var createdAt: Date

    public init(
        id: Complaint.ID, enrollmentId: Enrollment.ID, institutionId: Institution.ID, text: String, answer: String? = nil,
        answeredAt: Date? = nil, status: ComplaintStatus, closingNote: String? = nil, closedAt: Date? = nil, createdAt: Date
    ) {
        self.id = id
        self.enrollmentId = enrollmentId
        self.institutionId = institutionId
        self.text = text
        self.answer = answer
        self.answeredAt = answeredAt
        self.status = status
        self.closingNote = closingNote
        self.closedAt = closedAt
        self.createdAt = createdAt
    }
}

/// A warning as the API shows it.
public struct WarningRecord: Codable, Sendable, Hashable {
    @LowercaseUUID public var id: UUID
    public var institutionId: Institution.ID
    public var districtCode: String
    public var rule: WarningRule
    public var severity: WarningSeverity
    public var status: WarningStatus
    /// The figures that opened the warning, and the latest ones while it stays unresolved.
    public var figures: [String: WarningFigure]
    public var latestFigures: [String: WarningFigure]
    public var deadline: BusinessDate
    public var openedAt: Date
    public var evaluatedAt: Date
    public var resolvedAt: Date?
    public var resolvedBy: String?
    public var resolutionNote: String?
    public var escalatedAt: Date?

    public init(
        id: UUID, institutionId: Institution.ID, districtCode: String, rule: WarningRule, severity: WarningSeverity, status: WarningStatus,
        figures: [String: WarningFigure], latestFigures: [String: WarningFigure], deadline: BusinessDate, openedAt: Date, evaluatedAt: Date,
        resolvedAt: Date? = nil, resolvedBy: String? = nil, resolutionNote: String? = nil, escalatedAt: Date? = nil
    ) {
        self.id = id
        self.institutionId = institutionId
        self.districtCode = districtCode
        self.rule = rule
        self.severity = severity
        self.status = status
        self.figures = figures
        self.latestFigures = latestFigures
        self.deadline = deadline
        self.openedAt = openedAt
        self.evaluatedAt = evaluatedAt
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.resolutionNote = resolutionNote
        self.escalatedAt = escalatedAt
    }
}

/// What one evaluation did.
public struct WarningEvaluation: Codable, Sendable, Hashable {
    public var institutions: Int
    public var opened: Int
    /// Unresolved warnings whose condition still holds: their latest figures and severity were refreshed.
    public var stillOpen: Int
    public var escalated: Int
    public var resolved: Int
    /// Institutions that went `active → warned` or `warned → active`.
    public var statusChanges: Int

    public init(institutions: Int, opened: Int, stillOpen: Int, escalated: Int, resolved: Int, statusChanges: Int) {
        self.institutions = institutions
        self.opened = opened
        self.stillOpen = stillOpen
        self.escalated = escalated
        self.resolved = resolved
        self.statusChanges = statusChanges
    }
}

/// A note: a warning's resolution, a sanction's reason.
public struct NoteBody: Codable, Sendable {
    public let note: String

    public init(note: String) { self.note = note }
}

/// An institution's answer to a complaint.
public struct AnswerBody: Codable, Sendable {
    public let answer: String

    public init(answer: String) { self.answer = answer }
}

/// The regulator closing a complaint.
public struct ClosingBody: Codable, Sendable {
    public let upheld: Bool
    public let note: String

    public init(upheld: Bool, note: String) {
        self.upheld = upheld
        self.note = note
    }
}

extension WarningThresholds {
    /// The thresholds as `PUT /v1/district/warning-settings` takes and returns them.
    public struct Body: Codable, Sendable {
        public let escrowCoverageMinBasisPoints: Int
        public let salesSpikeRatioBasisPoints: Int
        public let salesSpikeMinimumFen: Money
        public let lessonsOverScheduleRatioBasisPoints: Int
        public let lessonsOverScheduleMinimum: Int
        public let refundGraceDays: Int
        public let expiryNoticeDays: Int
        public let deadlineDays: Int

        public init(
            escrowCoverageMinBasisPoints: Int, salesSpikeRatioBasisPoints: Int, salesSpikeMinimumFen: Money,
            lessonsOverScheduleRatioBasisPoints: Int, lessonsOverScheduleMinimum: Int, refundGraceDays: Int, expiryNoticeDays: Int,
            deadlineDays: Int
        ) {
            self.escrowCoverageMinBasisPoints = escrowCoverageMinBasisPoints
            self.salesSpikeRatioBasisPoints = salesSpikeRatioBasisPoints
            self.salesSpikeMinimumFen = salesSpikeMinimumFen
            self.lessonsOverScheduleRatioBasisPoints = lessonsOverScheduleRatioBasisPoints
            self.lessonsOverScheduleMinimum = lessonsOverScheduleMinimum
            self.refundGraceDays = refundGraceDays
            self.expiryNoticeDays = expiryNoticeDays
            self.deadlineDays = deadlineDays
        }
    }

    public var body: Body {
        Body(
            escrowCoverageMinBasisPoints: escrowCoverageMinBasisPoints, salesSpikeRatioBasisPoints: salesSpikeRatioBasisPoints,
            salesSpikeMinimumFen: salesSpikeMinimum, lessonsOverScheduleRatioBasisPoints: lessonsOverScheduleRatioBasisPoints,
            lessonsOverScheduleMinimum: lessonsOverScheduleMinimum, refundGraceDays: refundGraceDays, expiryNoticeDays: expiryNoticeDays,
            deadlineDays: deadlineDays)
    }

    public init(_ body: Body) {
        self.init(
            escrowCoverageMinBasisPoints: body.escrowCoverageMinBasisPoints, salesSpikeRatioBasisPoints: body.salesSpikeRatioBasisPoints,
            salesSpikeMinimum: body.salesSpikeMinimumFen, lessonsOverScheduleRatioBasisPoints: body.lessonsOverScheduleRatioBasisPoints,
            lessonsOverScheduleMinimum: body.lessonsOverScheduleMinimum, refundGraceDays: body.refundGraceDays,
            expiryNoticeDays: body.expiryNoticeDays, deadlineDays: body.deadlineDays)
    }
}

/// The dashboard's sign-in form (`application/x-www-form-urlencoded`).
public struct SignInForm: Decodable, Sendable {
    public let token: String

    public init(token: String) { self.token = token }
}
