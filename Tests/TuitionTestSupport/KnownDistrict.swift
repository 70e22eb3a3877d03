import Foundation
import PostgresNIO
import TuitionCore
import TuitionStore
import TuitionWire

/// A district whose dashboard figures are known in advance, for the dashboard's API and browser tests.
///
/// - A (escrow, active, grade A): 40 lessons × ¥80 paid, 10 consumed → ¥2,400 unconsumed, all in escrow; a guardian's
///   tuition policy and a claim on it; one review (5, 4, 4).
/// - B (reserve 20 %, warned, grade C): 50 lessons × ¥100 paid → ¥5,000 unconsumed; ¥500 reserve; a risk policy
///   (80 % share, ¥2,000 insured) covers ¥2,000 → ¥2,500 uncovered. Open warnings: a critical one overdue, a serious
///   one due in 2 days.
/// - C (escrow, suspended, ungraded): an open notice due in 10 days.
/// - D (blacklisted, grade D): an escalated warning; a course it published before (小学数学冲刺, ¥50 a lesson).
/// - E (defunct): a running defunct case, 3 of 4 enrollments done, ¥123 uncovered.
///
/// District: ¥7,400 unconsumed, covered ¥2,400 by escrow + ¥500 by reserve + ¥2,000 by insurance = ¥4,900 (66.2 %).
public struct KnownDistrict: Sendable {
    public static let code = DistrictCode("330299")!
    public static let name = "测试区"
    public static let unconsumed = Money.yuan(7_400)
    public static let covered = Money.yuan(4_900)
    public static let uncovered = Money.yuan(2_500)

    public let a: World
    public let b: World
    public let c: InstitutionRecord
    public let d: InstitutionRecord
    /// D's course, published before its blacklisting: kept, but in no public list.
    public let dCourse: CourseRecord
    public let e: InstitutionRecord
    public let claim: ClaimRecord

    public static func make(_ store: Store) async throws -> KnownDistrict {
        let parties = PartyRepository(store: store)
        try await parties.ensureDistrict(code, name: name)
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
        let enrollments = EnrollmentRepository(store: store)
        let insurance = InsuranceRepository(store: store)

        let a = try await World.make(store, district: code.value, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
        _ = try await store.transaction {
            try await enrollments.pay(a.enrollment.id, guardian: a.guardian, amount: a.enrollment.amountFen, on: $0)
        }
        _ = try await store.transaction {
            try await enrollments.recordLessons(a.enrollment.id, institution: a.institution.id, lessons: 10, takenOn: today, on: $0)
        }
        let b = try await World.make(store, district: code.value, mode: .reserve, pricePerLessonFen: 10_000, lessons: 50)
        _ = try await store.transaction {
            try await enrollments.pay(b.enrollment.id, guardian: b.guardian, amount: b.enrollment.amountFen, on: $0)
        }
        _ = try await store.transaction {
            try await enrollments.topUpReserve(institution: b.institution.id, amount: .yuan(500), key: "known:reserve", on: $0)
        }
        try await parties.setInstitutionStatus(b.institution.id, status: .warned)

        let insurer = try await parties.createInsurer(name: "测试财险")
        let risk = try await insurance.createProduct(
            NewInsuranceProduct(
                kind: .institutionRisk, premiumRateBasisPoints: 100, coveredShareBasisPoints: 8_000, limitFen: .yuan(100_000)),
            insurer: insurer)
        _ = try await store.transaction {
            try await insurance.issueRiskPolicy(
                NewRiskPolicy(
                    productId: risk.id, institutionId: b.institution.id, sumInsuredFen: .yuan(2_000), periodStart: today,
                    periodEnd: today.addingMonths(12)),
                insurer: insurer, key: "known:risk", on: $0)
        }
        let tuition = try await insurance.createProduct(
            NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 200), insurer: insurer)
        let policy = try await store.transaction {
            try await insurance.buyTuitionPolicy(
                NewTuitionPolicy(productId: tuition.id, sumInsuredFen: .yuan(1_000), periodStart: today, periodEnd: today.addingMonths(3)),
                enrollment: a.enrollment.id, guardian: a.guardian, key: "known:tuition", on: $0)
        }
        let claim = try await store.transaction {
            try await ClaimRepository(store: store).file(
                NewClaim(enrollmentId: a.enrollment.id, policyId: policy.id, reason: .refundRefused, claimedFen: .yuan(500)),
                guardian: a.guardian, on: $0)
        }

        func register(_ name: String, status: InstitutionStatus, publishing course: NewCourse? = nil) async throws
            -> (InstitutionRecord, CourseRecord?)
        {
            let institution = try await parties.registerInstitution(
                NewInstitution(
                    licenceNumber: "教民1330299\(UInt32.random(in: .min ... .max))", name: name, address: "宁波市海曙区",
                    creditCode: "52330203MJ0000002X", licenceValidUntil: today.addingMonths(12),
                    supervisionMode: .escrow, supervisedBank: "宁波银行"),
                district: code)
            var published: CourseRecord?
            if let course { published = try await parties.createCourse(course, institution: institution.id) }
            try await parties.setInstitutionStatus(institution.id, status: status)
            return (institution, published)
        }
        let (c, _) = try await register("丙培训学校", status: .suspended)
        let (d, dCourse) = try await register(
            "丁培训学校", status: .blacklisted,
            publishing: NewCourse(title: "小学数学冲刺", category: .academic, pricePerLessonFen: .yuan(50), lessonMinutes: 45))
        let (e, _) = try await register("戊培训学校", status: .defunct)

        let now = store.dependencies.now()
        for (institution, grade, points) in [(a.institution.id, "A", 92), (b.institution.id, "C", 65), (d.id, "D", 30)] {
            try await store.query(
                """
                INSERT INTO credit_grades (institution_id, grade, points, components, computed_at)
                VALUES (\(institution.uuid), \(grade), \(points), '[]'::jsonb, \(now))
                """)
        }
        try await store.query(
            """
            INSERT INTO reviews (id, enrollment_id, institution_id, course_id, guardian_id, teaching, environment, curriculum, text, created_at)
            VALUES (\(UUID()), \(a.enrollment.id.uuid), \(a.institution.id.uuid), \(a.course.id.uuid), \(a.guardian.uuid), 5, 4, 4, '老师很好', \(now))
            """)
        let warnings: [(Institution.ID, String, String, String, Int)] = [
            (b.institution.id, "sales_spike", "critical", "open", -1), (b.institution.id, "reserve_shortfall", "serious", "open", 2),
            (c.id, "licence_expiring", "notice", "open", 10), (d.id, "refunds_overdue", "critical", "escalated", -20),
        ]
        for (institution, rule, severity, status, days) in warnings {
            try await store.query(
                """
                INSERT INTO warnings (id, institution_id, district_code, rule, severity, status, figures, latest_figures, deadline,
                                      opened_at, evaluated_at, escalated_at)
                VALUES (\(UUID()), \(institution.uuid), \(code.value), \(rule), \(severity), \(status), '{}'::jsonb, '{}'::jsonb,
                        \(today.addingDays(days).description)::date, \(now), \(now), \(status == "escalated" ? now : nil))
                """)
        }
        try await store.query(
            """
            INSERT INTO defunct_cases (id, institution_id, district_code, effective_at, reason, marked_at, status, enrollments_total,
                enrollments_done, entitled_fen, paid_escrow_fen, paid_reserve_fen, paid_risk_policy_fen, paid_tuition_policy_fen,
                referred_count, uncovered_fen)
            VALUES (\(UUID()), \(e.id.uuid), \(code.value), \(now), '停业跑路', \(now), 'running', 4, 3, 100000, 60000, 10000, 15000,
                    2700, 1, 12300)
            """)
        return KnownDistrict(a: a, b: b, c: c, d: d, dCourse: dCourse!, e: e, claim: claim)
    }
}
