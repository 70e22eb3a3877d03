import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// What the catalog is searched by; every field is optional.
public struct CatalogFilter: Sendable, Hashable {
    public var district: DistrictCode?
    public var category: CourseCategory?
    public var minPrice: Money?
    public var maxPrice: Money?
    /// Institution credit grades ("A"…"D"); institutions not graded yet are left out when this is given.
    public var grades: [String]?
    /// Words in the course title, the teacher's or the institution's name.
    public var text: String?

    public init(
        district: DistrictCode? = nil, category: CourseCategory? = nil, minPrice: Money? = nil, maxPrice: Money? = nil,
        grades: [String]? = nil, text: String? = nil
    ) {
        self.district = district
        self.category = category
        self.minPrice = minPrice
        self.maxPrice = maxPrice
        self.grades = grades
        self.text = text
    }
}

/// Where a catalog page starts: after this price and course id (the catalog is ordered cheapest first).
public struct CatalogCursor: Sendable, Hashable, CustomStringConvertible {
    public var pricePerLessonFen: Int64
    public var course: UUID

    public init(pricePerLessonFen: Int64, course: UUID) {
        self.pricePerLessonFen = pricePerLessonFen
        self.course = course
    }

    /// Parses `"<price>.<uuid>"`, the form `description` writes.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, (1...18).contains(parts[0].count), parts[0].isASCIIDigits, let price = Int64(parts[0]),
            let id = UUID(uuidString: String(parts[1]))
        else { return nil }
        self.init(pricePerLessonFen: price, course: id)
    }

    public var description: String { "\(pricePerLessonFen).\(course.uuidString.lowercased())" }
}

/// The public lookup and the course catalog: no principal, so no scope; only what an institution publishes.
public struct PublicRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// What an institution publishes: its registration, licence, list, credit grade, reviews, and the risk-control
    /// policies in force now.
    public func institution(licenceNumber: String) async throws -> PublicInstitution? {
        guard (1...64).contains(licenceNumber.count) else { return nil }
        let now = store.dependencies.now()
        guard let (id, listed) = try await listing(licenceNumber: licenceNumber, today: BusinessDate(shanghaiDateOf: now)) else {
            return nil
        }
        var institution = listed
        institution.insuranceInForce = try await riskPoliciesInForce(of: id, at: now)
        return institution
    }

    /// The institution's row, district, grade and review sums, with its id.
    private func listing(licenceNumber: String, today: BusinessDate) async throws -> (UUID, PublicInstitution)? {
        let rows = try await store.query(
            """
            SELECT i.id, i.licence_number, i.name, i.district_code, d.name, i.address, i.licence_valid_until::text,
                   i.status, i.supervision_mode, i.supervised_bank, g.grade, g.points, g.computed_at,
                   r.n, r.teaching, r.environment, r.curriculum,
                   EXISTS (SELECT 1 FROM institution_sanctions s WHERE s.institution_id = i.id AND s.action = 'blacklist')
            FROM institutions i
            JOIN districts d ON d.code = i.district_code
            LEFT JOIN credit_grades g ON g.institution_id = i.id
            CROSS JOIN LATERAL (\(unescaped: Self.reviewSums) WHERE institution_id = i.id) r
            WHERE i.licence_number = \(licenceNumber)
            """)
        var found: (UUID, PublicInstitution)?
        for try await row in rows {
            let (
                id, licence, name, district, districtName, address, validUntilText, status, mode, bank, grade, points, computedAt, count,
                teaching, environment, curriculum, everBlacklisted
            ) = try row.decode(
                (
                    UUID, String, String, String, String, String, String?, String, String, String, String?, Int?, Date?, Int, Int, Int,
                    Int, Bool
                ).self)
            let validUntil = try validUntilText.map(decodeDate)
            let validity = LicenceValidity(validUntil: validUntil, today: today)
            let institutionStatus: InstitutionStatus = try decodeEnum(status)
            found = (
                id,
                PublicInstitution(
                    licenceNumber: licence, name: name, districtCode: district, districtName: districtName, address: address,
                    licenceValidUntil: validUntil, licenceValidity: validity, status: institutionStatus,
                    list: PublicList(status: institutionStatus, licence: validity, everBlacklisted: everBlacklisted),
                    creditGrade: zip3(grade, points, computedAt).map { PublicInstitution.Grade(grade: $0, points: $1, computedAt: $2) },
                    supervisionMode: try decodeEnum(mode), supervisedBank: bank, insuranceInForce: [],
                    reviews: ReviewSummary(count: count, teachingSum: teaching, environmentSum: environment, curriculumSum: curriculum))
            )
        }
        return found
    }

    /// Risk-control policies in force at `now` with cover left, soonest ending first.
    private func riskPoliciesInForce(of institution: UUID, at now: Date) async throws -> [PublicInstitution.InsuranceInForce] {
        let policies = try await store.query(
            """
            SELECT p.number, s.name, p.period_start, p.period_end, p.sum_insured_fen, p.remaining_fen
            FROM policies p JOIN insurers s ON s.id = p.insurer_id
            WHERE p.institution_id = \(institution) AND p.kind = 'institution_risk'
              AND policy_in_force(p.period_start, p.period_end, p.cancelled_at, \(now)::timestamptz) AND p.remaining_fen > 0
            ORDER BY p.period_end, p.number
            """)
        var inForce: [PublicInstitution.InsuranceInForce] = []
        for try await (number, insurer, start, end, sum, remaining) in policies.decode((String, String, Date, Date, Int64, Int64).self) {
            inForce.append(
                .init(
                    policyNumber: number, insurer: insurer, periodStart: start, periodEnd: end, sumInsuredFen: Money(fen: sum),
                    remainingFen: Money(fen: remaining)))
        }
        return inForce
    }

    /// Courses of institutions on the white list (operating, licence in force), cheapest first.
    public func catalog(_ filter: CatalogFilter, after cursor: CatalogCursor?, limit: Int) async throws -> Page<CatalogCourse> {
        let limit = min(max(limit, 1), 200)
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now()).description
        let text = filter.text.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        let rows = try await store.query(
            """
            SELECT \(unescaped: Self.courseColumns)
            \(unescaped: Self.courseJoins)
            WHERE i.status IN ('active', 'warned')
              AND (i.licence_valid_until IS NULL OR i.licence_valid_until >= \(today)::date)
              AND (\(filter.district?.value)::text IS NULL OR i.district_code = \(filter.district?.value))
              AND (\(filter.category?.rawValue)::text IS NULL OR c.category = \(filter.category?.rawValue))
              AND (\(filter.minPrice?.fen)::bigint IS NULL OR c.price_per_lesson_fen >= \(filter.minPrice?.fen))
              AND (\(filter.maxPrice?.fen)::bigint IS NULL OR c.price_per_lesson_fen <= \(filter.maxPrice?.fen))
              AND (\(filter.grades)::text[] IS NULL OR g.grade = ANY(\(filter.grades)::text[]))
              AND (\(text)::text IS NULL OR strpos(lower(c.title), \(text)) > 0 OR strpos(lower(c.teacher), \(text)) > 0
                   OR strpos(lower(i.name), \(text)) > 0)
              AND (c.price_per_lesson_fen, c.id) > (\(cursor?.pricePerLessonFen ?? -1), \(cursor?.course ?? uuidFloor))
            ORDER BY c.price_per_lesson_fen, c.id
            LIMIT \(limit + 1)
            """)
        var items: [CatalogCourse] = []
        for try await row in rows { items.append(try Self.course(row)) }
        guard items.count > limit else { return Page(items: items, next: nil) }
        items.removeLast(items.count - limit)
        let last = items[items.count - 1]
        return Page(
            items: items, next: CatalogCursor(pricePerLessonFen: last.pricePerLessonFen.fen, course: last.courseId.uuid).description)
    }

    /// The named courses side by side, in the order asked; nil when any of them is not in the catalog.
    public func compare(_ ids: [Course.ID]) async throws -> [CatalogCourse]? {
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now()).description
        let rows = try await store.query(
            """
            SELECT \(unescaped: Self.courseColumns)
            \(unescaped: Self.courseJoins)
            WHERE c.id = ANY(\(ids.map(\.uuid))::uuid[]) AND i.status IN ('active', 'warned')
              AND (i.licence_valid_until IS NULL OR i.licence_valid_until >= \(today)::date)
            """)
        var found: [Course.ID: CatalogCourse] = [:]
        for try await row in rows {
            let course = try Self.course(row)
            found[course.courseId] = course
        }
        let ordered = ids.compactMap { found[$0] }
        return ordered.count == ids.count ? ordered : nil
    }

    static let courseColumns = """
        c.id, c.title, c.category, c.teacher, c.price_per_lesson_fen, c.lesson_minutes, c.lessons_per_week,
        i.licence_number, i.name, i.district_code, g.grade, r.n, r.teaching, r.environment, r.curriculum
        """
    static let courseJoins = """
        FROM courses c
        JOIN institutions i ON i.id = c.institution_id
        LEFT JOIN credit_grades g ON g.institution_id = i.id
        CROSS JOIN LATERAL (\(reviewSums) WHERE course_id = c.id) r
        """
    /// Parents' reviews summed for `ReviewSummary`; the caller adds the WHERE.
    static let reviewSums = """
        SELECT count(*)::int AS n, coalesce(sum(teaching), 0)::int AS teaching,
               coalesce(sum(environment), 0)::int AS environment, coalesce(sum(curriculum), 0)::int AS curriculum
        FROM reviews
        """

    static func course(_ row: PostgresRow) throws -> CatalogCourse {
        let (
            id, title, category, teacher, price, minutes, perWeek, licence, name, district, grade, count, teaching, environment, curriculum
        ) =
            try row.decode((UUID, String, String, String, Int64, Int, Int, String, String, String, String?, Int, Int, Int, Int).self)
        return CatalogCourse(
            courseId: .init(id), title: title, category: try decodeEnum(category), teacher: teacher, pricePerLessonFen: Money(fen: price),
            lessonMinutes: minutes, lessonsPerWeek: perWeek,
            institution: .init(licenceNumber: licence, name: name, districtCode: district, creditGrade: grade),
            reviews: ReviewSummary(count: count, teachingSum: teaching, environmentSum: environment, curriculumSum: curriculum))
    }
}

/// Sorts before every UUID: the start of a keyset page.
let uuidFloor = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

private func zip3<A, B, C>(_ a: A?, _ b: B?, _ c: C?) -> (A, B, C)? {
    guard let a, let b, let c else { return nil }
    return (a, b, c)
}
