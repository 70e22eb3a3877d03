import Foundation
import TuitionCore

/// An institution as anyone may see it, by licence number. No internal ids: the licence number is the public key.
public struct PublicInstitution: Codable, Sendable, Hashable {
    public struct Grade: Codable, Sendable, Hashable {
        public var grade: String
        public var points: Int
        public var computedAt: Date

        public init(grade: String, points: Int, computedAt: Date) {
            self.grade = grade
            self.points = points
            self.computedAt = computedAt
        }
    }

    public struct InsuranceInForce: Codable, Sendable, Hashable {
        public var policyNumber: String
        public var insurer: String
        public var periodStart: Date
        public var periodEnd: Date
        public var sumInsuredFen: Money
        public var remainingFen: Money

        public init(policyNumber: String, insurer: String, periodStart: Date, periodEnd: Date, sumInsuredFen: Money, remainingFen: Money) {
            self.policyNumber = policyNumber
            self.insurer = insurer
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            self.sumInsuredFen = sumInsuredFen
            self.remainingFen = remainingFen
        }
    }

    public var licenceNumber: String
    public var name: String
    public var districtCode: String
    public var districtName: String
    public var address: String
    public var licenceValidUntil: BusinessDate?
    public var licenceValidity: LicenceValidity
    public var status: InstitutionStatus
    public var list: PublicList
    public var creditGrade: Grade?
    public var supervisionMode: SupervisionMode
    public var supervisedBank: String
    public var insuranceInForce: [InsuranceInForce]
    public var reviews: ReviewSummary

    public init(
        licenceNumber: String, name: String, districtCode: String, districtName: String, address: String,
        licenceValidUntil: BusinessDate? = nil, licenceValidity: LicenceValidity, status: InstitutionStatus, list: PublicList,
        creditGrade: Grade? = nil, supervisionMode: SupervisionMode, supervisedBank: String, insuranceInForce: [InsuranceInForce],
        reviews: ReviewSummary
    ) {
        self.licenceNumber = licenceNumber
        self.name = name
        self.districtCode = districtCode
        self.districtName = districtName
        self.address = address
        self.licenceValidUntil = licenceValidUntil
        self.licenceValidity = licenceValidity
        self.status = status
        self.list = list
        self.creditGrade = creditGrade
        self.supervisionMode = supervisionMode
        self.supervisedBank = supervisedBank
        self.insuranceInForce = insuranceInForce
        self.reviews = reviews
    }
}

/// One course as the catalog lists it, with its institution's public standing and parents' reviews.
public struct CatalogCourse: Codable, Sendable, Hashable {
    public struct Provider: Codable, Sendable, Hashable {
        public var licenceNumber: String
        public var name: String
        public var districtCode: String
        public var creditGrade: String?

        public init(licenceNumber: String, name: String, districtCode: String, creditGrade: String? = nil) {
            self.licenceNumber = licenceNumber
            self.name = name
            self.districtCode = districtCode
            self.creditGrade = creditGrade
        }
    }

    public var courseId: Course.ID
    public var title: String
    public var category: CourseCategory
    public var teacher: String
    public var pricePerLessonFen: Money
    public var lessonMinutes: Int
    public var lessonsPerWeek: Int
    public var institution: Provider
    public var reviews: ReviewSummary

    public init(
        courseId: Course.ID, title: String, category: CourseCategory, teacher: String, pricePerLessonFen: Money, lessonMinutes: Int,
        lessonsPerWeek: Int, institution: Provider, reviews: ReviewSummary
    ) {
        self.courseId = courseId
        self.title = title
        self.category = category
        self.teacher = teacher
        self.pricePerLessonFen = pricePerLessonFen
        self.lessonMinutes = lessonMinutes
        self.lessonsPerWeek = lessonsPerWeek
        self.institution = institution
        self.reviews = reviews
    }
}

/// The public institution page's JSON: what the store reads, plus the page's address and its QR code's.
public struct PublicInstitutionBody: Encodable, Sendable {
    public let institution: PublicInstitution
    public let pageURL: String
    public let qrCodeURL: String

    public init(institution: PublicInstitution, pageURL: String, qrCodeURL: String) {
        self.institution = institution
        self.pageURL = pageURL
        self.qrCodeURL = qrCodeURL
    }

    public func encode(to encoder: Encoder) throws {
        try institution.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(pageURL, forKey: .pageURL)
        try container.encode(qrCodeURL, forKey: .qrCodeURL)
    }

    enum CodingKeys: String, CodingKey {
        case pageURL = "pageUrl"
        case qrCodeURL = "qrCodeUrl"
    }
}
