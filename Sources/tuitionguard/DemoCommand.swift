import ArgumentParser
import Foundation
import TuitionAPI
import TuitionCore
import TuitionStore

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

/// JSON over HTTP with a bearer token; any non-2xx answer stops the demo with the problem it returned.
struct DemoClient: Sendable {
    let base: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    @discardableResult
    func call(_ method: String, _ path: String, token: String?, body: [String: Any]? = nil, key: String? = nil) async throws
        -> [String: Any]
    {
        guard let url = URL(string: base + path) else { throw Failure(description: "bad URL \(base + path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let key { request.setValue(key, forHTTPHeaderField: "Idempotency-Key") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw Failure(description: "\(method) \(path) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
}

struct DemoDistrict {
    let api: DemoClient
    let regulator: String
    let insurer: String
    let students: Int

    struct School {
        let id: String
        let token: String
        let course: String
        let name: String
        let price: Int
    }

    var schools: [School] = []
    var random = SystemRandomNumberGenerator()
    let today = BusinessDate(shanghaiDateOf: Date())

    mutating func build() async throws {
        let riskProduct = try await api.call(
            "POST", "/v1/insurance-products", token: insurer,
            body: ["kind": "institution_risk", "premiumRateBasisPoints": 120, "coveredShareBasisPoints": 8_000, "limitFen": 100_000_000])
        let tuitionProduct = try await api.call(
            "POST", "/v1/insurance-products", token: insurer, body: ["kind": "student_tuition", "premiumRateBasisPoints": 200])
        let plans: [(String, SupervisionMode, Int)] = [
            ("星火教育培训学校", .escrow, 6_000), ("启明艺术培训中心", .escrow, 12_000), ("博学学科培训学校", .reserve, 9_000),
        ]
        for (index, (name, mode, price)) in plans.enumerated() {
            schools.append(try await register(name, mode: mode, price: price, index: index))
        }
        // The reserve-mode school keeps a small reserve and a risk-control policy in lieu of the rest.
        let reserveSchool = schools[2]
        try await api.call(
            "POST", "/v1/institutions/\(reserveSchool.id)/reserve-topups", token: reserveSchool.token, body: ["amountFen": 2_000_000],
            key: "demo-reserve-\(reserveSchool.id)")
        // The insurer proposes the policy; it is charged and counts only once the institution accepts it.
        let proposal = try await api.call(
            "POST", "/v1/policy-proposals", token: insurer,
            body: [
                "productId": riskProduct["id"] as! String, "institutionId": reserveSchool.id, "sumInsuredFen": 5_000_000,
                "periodStart": "\(today)", "periodEnd": "\(today.addingMonths(12))",
            ])
        try await api.call(
            "POST", "/v1/policy-proposals/\(proposal["id"] as! String)/acceptance", token: reserveSchool.token,
            key: "demo-risk-\(reserveSchool.id)")
        print("district: \(schools.count) institutions, courses and policies registered")

        for index in 0..<students {
            try await enrol(index, tuitionProduct: tuitionProduct["id"] as! String)
            if (index + 1) % 50 == 0 { print("  \(index + 1)/\(students) students enrolled, paid and taught") }
        }
    }

    mutating func register(_ name: String, mode: SupervisionMode, price: Int, index: Int) async throws -> School {
        var body: [String: Any] = [
            "licenceNumber": "教民DEMO\(UInt32.random(in: 0 ... .max, using: &random))", "name": name, "supervisionMode": mode.rawValue,
            "address": "宁波市海曙区中山西路 \(100 + index) 号", "creditCode": "52330203MJ00000\(10 + index)X",
            "licenceValidUntil": "\(today.addingMonths(24))", "supervisedBank": "宁波银行",
            "supervisedAccountNumber": "8601 2000 \(1000 + index)",
        ]
        if mode == .reserve { body["reserveRatioBasisPoints"] = 2_000 }
        let institution = try await api.call("POST", "/v1/institutions", token: regulator, body: body)
        let id = institution["id"] as! String
        let token = try await api.call("POST", "/v1/institutions/\(id)/tokens", token: regulator)["token"] as! String
        let course = try await api.call(
            "POST", "/v1/courses", token: token,
            body: [
                "title": "\(name)·精品课", "category": "non_academic", "pricePerLessonFen": price, "lessonMinutes": 60, "lessonsPerWeek": 2,
            ])
        return School(id: id, token: token, course: course["id"] as! String, name: name, price: price)
    }

    /// A parent signs up, registers a child, is enrolled, signs the contract, pays, sometimes insures it; lessons follow,
    /// sometimes disputed.
    mutating func enrol(_ index: Int, tuitionProduct: String) async throws {
        let school = schools[index % schools.count]
        let signUp = try await api.call("POST", "/v1/guardians", token: nil, body: ["name": "家长\(index)"])
        let parent = signUp["token"] as! String
        let student = try await api.call("POST", "/v1/students", token: parent, body: ["name": "学生\(index)", "grade": "三年级"])
        // Within the prepayment rule: at most 60 lessons and ¥5,000 in one charge. The parent shows the school its
        // reference (the guardian id in its app); the school proposes the order to it, and the parent accepts it for
        // its child. Until then the school knows no student.
        let lessons = min(Int.random(in: 20...60, using: &random), 500_000 / school.price)
        let proposal = try await api.call(
            "POST", "/v1/enrollment-proposals", token: school.token,
            body: [
                "guardianId": signUp["entityId"] as! String, "courseId": school.course, "lessons": lessons, "termStart": "\(today)",
                "termEnd": "\(today.addingMonths(3))",
            ])
        let enrollment = try await api.call(
            "POST", "/v1/enrollment-proposals/\(proposal["id"] as! String)/acceptance", token: parent,
            body: ["studentId": student["id"] as! String])
        let id = enrollment["id"] as! String
        let amount = enrollment["amountFen"] as! Int
        // The standard contract: the institution generates and signs it, the parent countersigns; only then may it be paid.
        let contract = try await api.call("POST", "/v1/enrollments/\(id)/contract", token: school.token)["id"] as! String
        try await api.call("POST", "/v1/contracts/\(contract)/institution-signature", token: school.token)
        try await api.call("POST", "/v1/contracts/\(contract)/guardian-signature", token: parent)
        try await api.call("POST", "/v1/enrollments/\(id)/payments", token: parent, body: ["amountFen": amount], key: "demo-pay-\(id)")
        if Int.random(in: 0..<3, using: &random) == 0 {
            try await api.call(
                "POST", "/v1/enrollments/\(id)/tuition-policies", token: parent,
                body: [
                    "productId": tuitionProduct, "sumInsuredFen": amount, "periodStart": "\(today)",
                    "periodEnd": "\(today.addingMonths(3))",
                ], key: "demo-policy-\(id)")
        }
        // A few schools drain their escrow with a burst of lessons before collapsing: those settlements get referred.
        let taught = index % 25 == 0 ? min(lessons, 20) : Int.random(in: 0...min(lessons, 8), using: &random)
        guard taught > 0 else { return }
        let lesson = try await api.call(
            "POST", "/v1/enrollments/\(id)/lessons", token: school.token, body: ["lessons": taught, "takenOn": "\(today)"],
            key: "demo-lesson-\(id)")
        if index % 40 == 1 {
            try await api.call("POST", "/v1/lessons/\(lesson["id"] as! String)/dispute", token: parent, body: ["reason": "孩子没有上这节课"])
        }
    }

    /// The regulator marks the reserve-mode school defunct (every layer of the waterfall has a part there) and follows
    /// the fast-track until it completes.
    func collapse() async throws {
        let school = schools[2]
        let marked = try await api.call(
            "POST", "/v1/institutions/\(school.id)/defunct", token: regulator, body: ["reason": "负责人失联，校区停业（演示）"])
        let id = marked["id"] as! String
        print("\(school.name) marked defunct; case \(id)")
        var found = marked
        for _ in 0..<600 where found["status"] as? String != "completed" {
            try await Task.sleep(for: .milliseconds(100))
            found = try await api.call("GET", "/v1/defunct-cases/\(id)", token: regulator)
        }
        func yuan(_ key: String) -> String { "\(Money(fen: Int64(found[key] as? Int ?? 0)))" }
        print(
            """
            fast-track \(found["status"] as? String ?? "?"): \(found["enrollmentsDone"] ?? 0)/\(found["enrollmentsTotal"] ?? 0) enrollments settled
              entitled (unconsumed tuition at the defunct time): \(yuan("entitledFen"))
              paid by escrow:            \(yuan("paidEscrowFen"))
              paid by reserve:           \(yuan("paidReserveFen"))
              paid by risk policy:       \(yuan("paidRiskPolicyFen"))
              paid by tuition policies:  \(yuan("paidTuitionPolicyFen"))
              referred to a person:      \(found["referredCount"] ?? 0) settlements, \(yuan("referredFen")) of insurance waiting
              uncovered loss:            \(yuan("uncoveredFen"))
            see GET \(api.base)/v1/defunct-cases/\(id)/settlements with the regulator's token
            """)
    }
}
