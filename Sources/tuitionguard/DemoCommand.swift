import ArgumentParser
import Foundation
import TuitionAPI
import TuitionCore
import TuitionStore
import TuitionWire

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Builds a small district through the public API of a running service, marks one institution defunct, and prints the
/// fast-track's result. Only the regulator's and the insurer's tokens are made directly in the database (an operator's
/// job, as `principals create`); everything else goes over HTTP as the apps would send it.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a demo district through the API of a running service and fast-track one defunct institution.",
        discussion: "Run `tools/run` first; DATABASE_URL must name the same database (for the regulator's and insurer's tokens).")

    @Option(help: "The running service.") var url = "http://127.0.0.1:8080"
    @Option(help: "Students to enrol across the district.") var students = 300
    @Option(help: "The district code to build (six digits).") var district = "330203"

    func run() async throws {
        guard DistrictCode(district) != nil else { throw ValidationError("a district code has six digits") }
        let configuration = try AppConfiguration.fromEnvironment()
        let logger = makeLogger("tuitionguard.demo", level: configuration.logLevel)
        let (regulatorToken, insurerToken) = try await withStore(databaseURL: configuration.databaseURL, logger: logger) {
            [district] store in
            let principals = PrincipalRepository(store: store)
            let code = DistrictCode(district)!
            try await PartyRepository(store: store).ensureDistrict(code, name: "演示区")
            let regulator = try await principals.create(for: .regulator(code), label: "demo").token
            let insurer = try await PartyRepository(store: store).createInsurer(name: "演示财产保险公司")
            return (regulator, try await principals.create(for: .insurer(insurer), label: "demo").token)
        }
        let api = DemoClient(base: url)
        var district = DemoDistrict(api: api, regulator: regulatorToken, insurer: insurerToken, students: students)
        try await district.build()
        try await district.collapse()
    }
}

/// JSON over HTTP with a bearer token, in the API's own wire types; any non-2xx answer stops the demo with the problem
/// it returned.
struct DemoClient: Sendable {
    let base: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let encoder = JSONEncoder()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// The answer's body decoded as `answer`.
    func call<Answer: Decodable>(
        _ method: String, _ path: String, token: String?, body: (any Encodable)? = nil, key: String? = nil, as answer: Answer.Type
    ) async throws -> Answer {
        let data = try await send(method, path, token: token, body: body, key: key)
        do {
            return try Self.decoder.decode(Answer.self, from: data)
        } catch {
            throw Failure(description: "\(method) \(path) answered what is not a \(Answer.self): \(error)")
        }
    }

    /// A call whose answer the demo does not read.
    func call(_ method: String, _ path: String, token: String?, body: (any Encodable)? = nil, key: String? = nil) async throws {
        _ = try await send(method, path, token: token, body: body, key: key)
    }

    private func send(_ method: String, _ path: String, token: String?, body: (any Encodable)?, key: String?) async throws -> Data {
        guard let url = URL(string: base + path) else { throw Failure(description: "bad URL \(base + path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let key { request.setValue(key, forHTTPHeaderField: "Idempotency-Key") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try Self.encoder.encode(body)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw Failure(description: "\(method) \(path) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }
}

struct DemoDistrict {
    let api: DemoClient
    let regulator: String
    let insurer: String
    let students: Int

    struct School {
        let id: Institution.ID
        let token: String
        let course: Course.ID
        let name: String
        let price: Money
    }

    var schools: [School] = []
    var random = SystemRandomNumberGenerator()
    let today = BusinessDate(shanghaiDateOf: Date())

    mutating func build() async throws {
        let riskProduct = try await api.call(
            "POST", "/v1/insurance-products", token: insurer,
            body: NewInsuranceProduct(
                kind: .institutionRisk, premiumRateBasisPoints: 120, coveredShareBasisPoints: 8_000, limitFen: Money(fen: 100_000_000)),
            as: InsuranceProductRecord.self)
        let tuitionProduct = try await api.call(
            "POST", "/v1/insurance-products", token: insurer, body: NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 200),
            as: InsuranceProductRecord.self)
        let plans: [(String, SupervisionMode, Money)] = [
            ("星火教育培训学校", .escrow, Money(fen: 6_000)), ("启明艺术培训中心", .escrow, Money(fen: 12_000)),
            ("博学学科培训学校", .reserve, Money(fen: 9_000)),
        ]
        for (index, (name, mode, price)) in plans.enumerated() {
            schools.append(try await register(name, mode: mode, price: price, index: index))
        }
        // The reserve-mode school keeps a small reserve and a risk-control policy in lieu of the rest.
        let reserveSchool = schools[2]
        try await api.call(
            "POST", "/v1/institutions/\(reserveSchool.id)/reserve-topups", token: reserveSchool.token,
            body: TopUpBody(amountFen: Money(fen: 2_000_000)), key: "demo-reserve-\(reserveSchool.id)")
        // The insurer proposes the policy; it is charged and counts only once the institution accepts it.
        let proposal = try await api.call(
            "POST", "/v1/policy-proposals", token: insurer,
            body: NewRiskPolicy(
                productId: riskProduct.id, institutionId: reserveSchool.id, sumInsuredFen: Money(fen: 5_000_000), periodStart: today,
                periodEnd: today.addingMonths(12)),
            as: RiskPolicyProposalRecord.self)
        try await api.call(
            "POST", "/v1/policy-proposals/\(proposal.id)/acceptance", token: reserveSchool.token, key: "demo-risk-\(reserveSchool.id)")
        print("district: \(schools.count) institutions, courses and policies registered")

        for index in 0..<students {
            try await enrol(index, tuitionProduct: tuitionProduct.id)
            if (index + 1) % 50 == 0 { print("  \(index + 1)/\(students) students enrolled, paid and taught") }
        }
    }

    mutating func register(_ name: String, mode: SupervisionMode, price: Money, index: Int) async throws -> School {
        let new = NewInstitution(
            licenceNumber: "教民DEMO\(UInt32.random(in: 0 ... .max, using: &random))", name: name, address: "宁波市海曙区中山西路 \(100 + index) 号",
            creditCode: "52330203MJ00000\(10 + index)X", licenceValidUntil: today.addingMonths(24), supervisionMode: mode,
            reserveRatioBasisPoints: mode == .reserve ? 2_000 : nil, supervisedBank: "宁波银行",
            supervisedAccountNumber: "8601 2000 \(1000 + index)")
        let institution = try await api.call("POST", "/v1/institutions", token: regulator, body: new, as: InstitutionRecord.self)
        let token = try await api.call("POST", "/v1/institutions/\(institution.id)/tokens", token: regulator, as: TokenIssued.self).token
        let course = try await api.call(
            "POST", "/v1/courses", token: token,
            body: NewCourse(title: "\(name)·精品课", category: .nonAcademic, pricePerLessonFen: price, lessonMinutes: 60, lessonsPerWeek: 2),
            as: CourseRecord.self)
        return School(id: institution.id, token: token, course: course.id, name: name, price: price)
    }

    /// A parent signs up, registers a child, is enrolled, signs the contract, pays, sometimes insures it; lessons follow,
    /// sometimes disputed.
    mutating func enrol(_ index: Int, tuitionProduct: InsuranceProduct.ID) async throws {
        let school = schools[index % schools.count]
        let signUp = try await api.call(
            "POST", "/v1/guardians", token: nil, body: GuardianSignUp(name: "家长\(index)"), as: TokenIssued.self)
        let parent = signUp.token
        let student = try await api.call(
            "POST", "/v1/students", token: parent, body: NewStudent(name: "学生\(index)", grade: "三年级"), as: StudentRecord.self)
        // Within the prepayment rule: at most 60 lessons and ¥5,000 in one charge. The parent shows the school its
        // reference (the guardian id in its app); the school proposes the order to it, and the parent accepts it for
        // its child. Until then the school knows no student.
        let lessons = min(Int.random(in: 20...60, using: &random), Int(500_000 / school.price.fen))
        guard let guardian = Guardian.ID(signUp.entityId) else { throw DemoClient.Failure(description: "sign-up named no guardian") }
        let proposal = try await api.call(
            "POST", "/v1/enrollment-proposals", token: school.token,
            body: NewEnrollmentProposal(
                guardianId: guardian, courseId: school.course, lessons: lessons, termStart: today, termEnd: today.addingMonths(3)),
            as: EnrollmentProposalRecord.self)
        let enrollment = try await api.call(
            "POST", "/v1/enrollment-proposals/\(proposal.id)/acceptance", token: parent, body: EnrollmentAcceptance(studentId: student.id),
            as: EnrollmentRecord.self)
        let id = enrollment.id
        let amount = enrollment.amountFen
        // The standard contract: the institution generates and signs it, the parent countersigns; only then may it be paid.
        let contract = try await api.call("POST", "/v1/enrollments/\(id)/contract", token: school.token, as: ContractRecord.self).id
        try await api.call("POST", "/v1/contracts/\(contract)/institution-signature", token: school.token)
        try await api.call("POST", "/v1/contracts/\(contract)/guardian-signature", token: parent)
        try await api.call(
            "POST", "/v1/enrollments/\(id)/payments", token: parent, body: PaymentBody(amountFen: amount), key: "demo-pay-\(id)")
        if Int.random(in: 0..<3, using: &random) == 0 {
            try await api.call(
                "POST", "/v1/enrollments/\(id)/tuition-policies", token: parent,
                body: NewTuitionPolicy(
                    productId: tuitionProduct, sumInsuredFen: amount, periodStart: today, periodEnd: today.addingMonths(3)),
                key: "demo-policy-\(id)")
        }
        // A few schools drain their escrow with a burst of lessons before collapsing: those settlements get referred.
        let taught = index % 25 == 0 ? min(lessons, 20) : Int.random(in: 0...min(lessons, 8), using: &random)
        guard taught > 0 else { return }
        let lesson = try await api.call(
            "POST", "/v1/enrollments/\(id)/lessons", token: school.token, body: LessonsBody(lessons: taught, takenOn: today),
            key: "demo-lesson-\(id)", as: LessonRecord.self)
        if index % 40 == 1 {
            try await api.call("POST", "/v1/lessons/\(lesson.id)/dispute", token: parent, body: DisputeBody(reason: "孩子没有上这节课"))
        }
    }

    /// The regulator marks the reserve-mode school defunct (every layer of the waterfall has a part there) and follows
    /// the fast-track until it completes.
    func collapse() async throws {
        let school = schools[2]
        let marked = try await api.call(
            "POST", "/v1/institutions/\(school.id)/defunct", token: regulator, body: DefunctMarkBody(reason: "负责人失联，校区停业（演示）"),
            as: DefunctCaseRecord.self)
        let id = marked.id
        print("\(school.name) marked defunct; case \(id)")
        var found = marked
        for _ in 0..<600 where found.status != .completed {
            try await Task.sleep(for: .milliseconds(100))
            found = try await api.call("GET", "/v1/defunct-cases/\(id)", token: regulator, as: DefunctCaseRecord.self)
        }
        print(
            """
            fast-track \(found.status.rawValue): \(found.enrollmentsDone)/\(found.enrollmentsTotal) enrollments settled
              entitled (unconsumed tuition at the defunct time): \(found.entitledFen)
              paid by escrow:            \(found.paidEscrowFen)
              paid by reserve:           \(found.paidReserveFen)
              paid by risk policy:       \(found.paidRiskPolicyFen)
              paid by tuition policies:  \(found.paidTuitionPolicyFen)
              referred to a person:      \(found.referredCount) settlements, \(found.referredFen) of insurance waiting
              uncovered loss:            \(found.uncoveredFen)
            see GET \(api.base)/v1/defunct-cases/\(id)/settlements with the regulator's token
            """)
    }
}
