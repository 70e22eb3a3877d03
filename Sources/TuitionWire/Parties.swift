import Foundation
import TuitionCore

/// What a regulator may change of a registered institution: its licence's validity (a renewal) and, in reserve mode, its
/// reserve ratio. At least one; the supervision mode stays what it was registered with (each enrollment froze it).
public struct InstitutionChanges: Codable, Sendable {
    public var licenceValidUntil: BusinessDate?
    public var reserveRatioBasisPoints: Int?

    public init(licenceValidUntil: BusinessDate? = nil, reserveRatioBasisPoints: Int? = nil) {
        self.licenceValidUntil = licenceValidUntil
        self.reserveRatioBasisPoints = reserveRatioBasisPoints
    }

    public var isEmpty: Bool { licenceValidUntil == nil && reserveRatioBasisPoints == nil }
}

public struct NewInstitution: Codable, Sendable {
    public var licenceNumber: String
    public var name: String
    public var address: String?
    public var creditCode: String?
    public var licenceValidUntil: BusinessDate?
    public var supervisionMode: SupervisionMode
    public var reserveRatioBasisPoints: Int?
    public var supervisedBank: String?
    public var supervisedAccountNumber: String?

    public init(
        licenceNumber: String, name: String, address: String? = nil, creditCode: String? = nil, licenceValidUntil: BusinessDate? = nil,
        supervisionMode: SupervisionMode, reserveRatioBasisPoints: Int? = nil, supervisedBank: String? = nil,
        supervisedAccountNumber: String? = nil
    ) {
        self.licenceNumber = licenceNumber
        self.name = name
        self.address = address
        self.creditCode = creditCode
        self.licenceValidUntil = licenceValidUntil
        self.supervisionMode = supervisionMode
        self.reserveRatioBasisPoints = reserveRatioBasisPoints
        self.supervisedBank = supervisedBank
        self.supervisedAccountNumber = supervisedAccountNumber
    }
}

public struct NewStudent: Codable, Sendable {
    public var name: String
    public var relationship: String?
    public var school: String?
    public var grade: String?

    public init(name: String, relationship: String? = nil, school: String? = nil, grade: String? = nil) {
        self.name = name
        self.relationship = relationship
        self.school = school
        self.grade = grade
    }
}

public struct NewCourse: Codable, Sendable {
    public var title: String
    public var category: CourseCategory
    public var pricePerLessonFen: Money
    public var lessonMinutes: Int
    public var lessonsPerWeek: Int?
    public var teacher: String?

    public init(
        title: String, category: CourseCategory, pricePerLessonFen: Money, lessonMinutes: Int, lessonsPerWeek: Int? = nil,
        teacher: String? = nil
    ) {
        self.title = title
        self.category = category
        self.pricePerLessonFen = pricePerLessonFen
        self.lessonMinutes = lessonMinutes
        self.lessonsPerWeek = lessonsPerWeek
        self.teacher = teacher
    }
}

/// A token as its holder and the regulator see it; never the token itself.
public struct TokenRecord: Codable, Sendable, Hashable {
    public var principalId: UUID
    public var role: Role
    public var entityId: String
    public var label: String
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?

    public init(principalId: UUID, role: Role, entityId: String, label: String, createdAt: Date, expiresAt: Date, revokedAt: Date? = nil) {
        self.principalId = principalId
        self.role = role
        self.entityId = entityId
        self.label = label
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey { case principalId, role, entityId, label, createdAt, expiresAt, revokedAt }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(principalId.uuidString.lowercased(), forKey: .principalId)
        try container.encode(role, forKey: .role)
        try container.encode(entityId, forKey: .entityId)
        try container.encode(label, forKey: .label)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(revokedAt, forKey: .revokedAt)
    }
}

/// `GET /v1/me`: who the bearer token speaks for.
public struct Me: Codable, Sendable {
    public let principalId: String
    public let role: Role
    public let entityId: String

    public init(principalId: String, role: Role, entityId: String) {
        self.principalId = principalId
        self.role = role
        self.entityId = entityId
    }
}

/// A parent signing up in the app.
public struct GuardianSignUp: Codable, Sendable {
    public let name: String
    public let phone: String?

    public init(name: String, phone: String? = nil) {
        self.name = name
        self.phone = phone
    }
}

/// A token just issued: shown once, never cached.
public struct TokenIssued: Codable, Sendable {
    public let principalId: String
    public let role: Role
    public let entityId: String
    public let token: String
    public let expiresAt: Date

    public init(principalId: String, role: Role, entityId: String, token: String, expiresAt: Date) {
        self.principalId = principalId
        self.role = role
        self.entityId = entityId
        self.token = token
        self.expiresAt = expiresAt
    }
}

extension ChargeCaps {
    /// The district's charge caps as `GET`/`PUT /v1/district/charge-caps` show and take them.
    public struct Body: Codable, Sendable {
        public let lessonsMax: Int
        public let termMonthsMax: Int
        public let amountMaxFen: Money

        public init(lessonsMax: Int, termMonthsMax: Int, amountMaxFen: Money) {
            self.lessonsMax = lessonsMax
            self.termMonthsMax = termMonthsMax
            self.amountMaxFen = amountMaxFen
        }
    }

    public var body: Body { Body(lessonsMax: lessonsMax, termMonthsMax: termMonthsMax, amountMaxFen: amountMax) }
}
