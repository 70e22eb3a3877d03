import Foundation

/// Credit grades, best first.
public enum CreditGrade: String, Sendable, Codable, CaseIterable {
    case a = "A"
    case b = "B"
    case c = "C"
    case d = "D"

    /// A from 85 points, B from 70, C from 55, D below.
    public init(points: Int) {
        switch points {
        case 85...: self = .a
        case 70..<85: self = .b
        case 55..<70: self = .c
        default: self = .d
        }
    }
}

/// The annual inspection's result (年检结论).
public enum InspectionResult: String, Sendable, Codable, CaseIterable {
    case qualified
    case basicallyQualified = "basically_qualified"
    case unqualified
}

/// Everything the credit grade reads about one institution.
public struct CreditInputs: Sendable, Hashable {
    public var mode: SupervisionMode
    public var status: InstitutionStatus
    /// Reserve mode: a risk-control policy in force whose cover reaches the reserve requirement
    /// (`riskCoverExcusesReserve`), and whether the reserve covers its requirement.
    public var riskPolicyInForce: Bool
    public var reserveCoversRequirement: Bool
    /// The latest annual inspection, if any.
    public var inspection: InspectionResult?
    public var starRating: Int?
    /// Warnings opened in the last 365 days, and how many of them escalated.
    public var warningsLastYear: Int
    public var escalatedLastYear: Int
    /// Complaints closed as upheld in the last 365 days.
    public var upheldComplaintsLastYear: Int
    /// Reviews received and their average overall score (mean of the three ratings) in hundredths, 100–500.
    public var reviews: Int
    public var averageReviewHundredths: Int

    public init(
        mode: SupervisionMode, status: InstitutionStatus = .active, riskPolicyInForce: Bool = false, reserveCoversRequirement: Bool = true,
        inspection: InspectionResult? = nil, starRating: Int? = nil, warningsLastYear: Int = 0, escalatedLastYear: Int = 0,
        upheldComplaintsLastYear: Int = 0, reviews: Int = 0, averageReviewHundredths: Int = 0
    ) {
        self.mode = mode
        self.status = status
        self.riskPolicyInForce = riskPolicyInForce
        self.reserveCoversRequirement = reserveCoversRequirement
        self.inspection = inspection
        self.starRating = starRating
        self.warningsLastYear = warningsLastYear
        self.escalatedLastYear = escalatedLastYear
        self.upheldComplaintsLastYear = upheldComplaintsLastYear
        self.reviews = reviews
        self.averageReviewHundredths = averageReviewHundredths
    }
}

/// One line of the explanation: what was looked at, the points it gave out of its maximum, and why.
public struct CreditComponent: Sendable, Hashable, Codable {
    public var component: String
    public var points: Int
    public var maxPoints: Int
    public var detail: String

    public init(component: String, points: Int, maxPoints: Int, detail: String) {
        self.component = component
        self.points = points
        self.maxPoints = maxPoints
        self.detail = detail
    }
}

public struct CreditScore: Sendable, Hashable, Codable {
    public var grade: CreditGrade
    public var points: Int
    public var components: [CreditComponent]
}

/// The points model (100 points at most):
/// - guarantee form, 25: escrow 25; reserve mode with a risk-control policy in force 20, with a reserve covering its
///   requirement 15, otherwise 0;
/// - annual inspection, 15: qualified 15, basically qualified 8, unqualified 0, none on record 8;
/// - star rating, 10: 2 per star, none on record 4;
/// - warnings, 20: 20 − 3 per warning opened in the last year − 5 more per escalated one, at least 0;
/// - upheld complaints, 15: 15 − 5 per complaint upheld in the last year, at least 0;
/// - parents' reviews, 15: the average overall score mapped from 1–5 onto 0–15 (rounded down), no reviews 8.
/// A blacklisted or defunct institution is graded D whatever its points; a suspended one at most C.
public func creditScore(_ inputs: CreditInputs) -> CreditScore {
    var components = [
        guaranteeComponent(inputs.mode, riskPolicyInForce: inputs.riskPolicyInForce, reserveCovers: inputs.reserveCoversRequirement),
        inspectionComponent(inputs.inspection), starComponent(inputs.starRating),
        warningsComponent(opened: inputs.warningsLastYear, escalated: inputs.escalatedLastYear),
        complaintsComponent(upheld: inputs.upheldComplaintsLastYear),
        reviewsComponent(count: inputs.reviews, averageHundredths: inputs.averageReviewHundredths),
    ]
    let points = components.reduce(0) { $0 + $1.points }
    var grade = CreditGrade(points: points)
    switch inputs.status {
    case .blacklisted, .defunct:
        grade = .d
        components.append(CreditComponent(component: "status", points: 0, maxPoints: 0, detail: "\(inputs.status.rawValue): graded D"))
    case .suspended where grade == .a || grade == .b:
        grade = .c
        components.append(CreditComponent(component: "status", points: 0, maxPoints: 0, detail: "suspended: graded at most C"))
    default: break
    }
    return CreditScore(grade: grade, points: points, components: components)
}

private func guaranteeComponent(_ mode: SupervisionMode, riskPolicyInForce: Bool, reserveCovers: Bool) -> CreditComponent {
    let (points, detail): (Int, String) =
        switch mode {
        case .escrow: (25, "escrow: every prepaid fen in the supervised account")
        case .reserve where riskPolicyInForce: (20, "reserve mode with a risk-control policy in force")
        case .reserve where reserveCovers: (15, "reserve mode, reserve covers its requirement")
        case .reserve: (0, "reserve mode, reserve below its requirement and no risk-control policy")
        }
    return CreditComponent(component: "guarantee_form", points: points, maxPoints: 25, detail: detail)
}

private func inspectionComponent(_ inspection: InspectionResult?) -> CreditComponent {
    let (points, detail): (Int, String) =
        switch inspection {
        case .qualified: (15, "latest annual inspection: qualified")
        case .basicallyQualified: (8, "latest annual inspection: basically qualified")
        case .unqualified: (0, "latest annual inspection: unqualified")
        case nil: (8, "no annual inspection on record")
        }
    return CreditComponent(component: "annual_inspection", points: points, maxPoints: 15, detail: detail)
}

private func starComponent(_ rating: Int?) -> CreditComponent {
    let stars = rating.map { min(max($0, 1), 5) }
    return CreditComponent(
        component: "star_rating", points: stars.map { $0 * 2 } ?? 4, maxPoints: 10,
        detail: stars.map { "\($0) stars" } ?? "no star rating on record")
}

private func warningsComponent(opened: Int, escalated: Int) -> CreditComponent {
    CreditComponent(
        component: "warnings", points: max(0, 20 - 3 * opened - 5 * escalated), maxPoints: 20,
        detail: "\(opened) warnings in the last year, \(escalated) escalated")
}

private func complaintsComponent(upheld: Int) -> CreditComponent {
    CreditComponent(
        component: "upheld_complaints", points: max(0, 15 - 5 * upheld), maxPoints: 15,
        detail: "\(upheld) complaints upheld in the last year")
}

/// The average overall score mapped from 1–5 onto 0–15 (rounded down); no reviews 8.
private func reviewsComponent(count: Int, averageHundredths: Int) -> CreditComponent {
    guard count > 0 else { return CreditComponent(component: "reviews", points: 8, maxPoints: 15, detail: "no reviews yet") }
    let average = min(max(averageHundredths, 100), 500)
    return CreditComponent(
        component: "reviews", points: (average - 100) * 15 / 400, maxPoints: 15,
        detail: "\(count) reviews, average \(average / 100).\(String(format: "%02d", average % 100)) of 5")
}

/// A review's three ratings, each 1–5.
public func checkRatings(teaching: Int, environment: Int, curriculum: Int) -> Rejection? {
    [teaching, environment, curriculum].allSatisfy { (1...5).contains($0) } ? nil : .ratingOutOfRange
}
