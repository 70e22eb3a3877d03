import EvidenceLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TuitionAPI
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionUseCases
import TuitionWire

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// One log key for the API tests; the sequencer signs with it and `/v1/log/public-key` serves its public half.
let testLogSigner = LogSigner()
let openAPIDocument = (try? String(contentsOf: repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)) ?? ""

/// A JSON response as the tests read it.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let contentType: String?
    let body: String
    var headers = HTTPFields()

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    var code: String? { json["code"] as? String }
    func string(_ key: String) -> String { json[key] as? String ?? "" }
    func int(_ key: String) -> Int64 { (json[key] as? NSNumber)?.int64Value ?? -1 }
}

/// A route the router knows, as OpenAPI writes it: `POST /v1/enrollments/{id}/payments`.
struct RouteKey: Hashable, Sendable, CustomStringConvertible {
    let method: String
    let path: String
    var description: String { "\(method) \(path)" }
}

/// The tests' configuration: the default address as the public one, the metrics scrape token, and a request deadline
/// generous enough for a loaded machine (the deadline itself has its own tests).
extension AppConfiguration {
    static var testing: AppConfiguration {
        var configuration = AppConfiguration(databaseURL: "", openAPIPath: "docs/openapi.yaml")
        configuration.publicBaseURL = API.origin
        configuration.web = WebSettings(metricsToken: API.metricsToken)
        configuration.requestDeadline = .seconds(120)
        return configuration
    }
}

extension AppDependencies {
    /// `store` for requests and background work alike (the test runs its pool), the test log key, the test contract
    /// setup, a log cache as `serve` has (filled only by a test that refreshes it) and no periodic services.
    static func testing(_ store: Store) -> AppDependencies {
        var dependencies = AppDependencies(store: store, logSigner: testLogSigner, contracts: TestContracts.setup)
        dependencies.logCache = LogNodeCache(capacity: 1 << 21, verifier: testLogSigner.verifier)
        dependencies.openAPIDocument = TuitionAPITests.openAPIDocument
        return dependencies
    }
}

/// The service as `serve` builds it (`buildApplication`), on a fresh database, called through Hummingbird's router test
/// client.
struct API: Sendable {
    let store: Store
    let client: any TestClientProtocol
    /// The background work the requests started (a defunct case's fast-track, warnings gathered in the trigger's gap).
    let background: BackgroundTasks
    /// The scrape token `/metrics` takes in tests.
    static let metricsToken = "test-metrics-scrape-token"
    /// The service's own origin as the router sees it (the default public address), for dashboard form posts.
    static let origin = "http://127.0.0.1:8080"

    /// The application on `store`, with the tests' configuration and dependencies as `configure` leaves them.
    static func application(
        _ store: Store, configure: (inout AppConfiguration, inout AppDependencies) -> Void = { _, _ in }
    ) -> TuitionApplication {
        var configuration = AppConfiguration.testing
        var dependencies = AppDependencies.testing(store)
        configure(&configuration, &dependencies)
        return buildApplication(configuration: configuration, dependencies: dependencies)
    }

    /// Runs `body` against the application on a fresh database whose platform CA is initialised unless
    /// `initialiseAuthority` is false.
    static func run(
        _ suite: String, clock: TestClock? = nil, initialiseAuthority: Bool = true,
        configure: @Sendable @escaping (inout AppConfiguration, inout AppDependencies) -> Void = { _, _ in },
        _ body: @Sendable @escaping (API, [RouteKey]) async throws -> Void
    ) async throws {
        try await TestDatabase.withStore(suite, clock: clock) { store in
            if initialiseAuthority {
                _ = try await Certificates(store: store).initializeAuthority(kek: TestContracts.keyEncryptionKey)
            }
            let app = application(store, configure: configure)
            let routes = app.routes.map { RouteKey(method: $0.method.rawValue, path: $0.path) }
            try await app.test(.router) { client in
                try await body(API(store: store, client: client, background: app.background), routes)
            }
        }
    }

    /// Returns once the background work the requests so far started has finished.
    func settled() async { await background.settled() }

    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: String? = nil, idempotencyKey: String? = nil
    ) async throws -> Reply {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        let response = try await client.executeRequest(
            uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        return Reply(
            status: response.status, contentType: response.headers[.contentType], body: String(buffer: response.body),
            headers: response.headers)
    }

    func token(for entity: PrincipalEntity) async throws -> String {
        try await PrincipalRepository(store: store).create(for: entity).token
    }

    /// The consent flow through the API: the institution proposes the order, the guardian accepts it for its student.
    /// Returns the acceptance (the enrollment), or the proposal's refusal.
    func enroll(
        institution: String, guardian: String, student: String, course: String, lessons: Int, termStart: BusinessDate,
        termEnd: BusinessDate
    ) async throws -> Reply {
        // The parent shows the institution its reference (its guardian id, as /v1/me gives it).
        let reference = try await call(.get, "/v1/me", token: guardian).string("entityId")
        let proposal = try await call(
            .post, "/v1/enrollment-proposals", token: institution,
            json: """
                {"guardianId":"\(reference)","courseId":"\(course)","lessons":\(lessons),"termStart":"\(termStart)",
                 "termEnd":"\(termEnd)"}
                """)
        guard proposal.status == .created else { return proposal }
        return try await call(
            .post, "/v1/enrollment-proposals/\(proposal.string("id"))/acceptance", token: guardian, json: #"{"studentId":"\#(student)"}"#)
    }
}

/// A world and a token for each of its four roles.
struct Cast: Sendable {
    let world: World
    let regulator: String
    let institution: String
    let guardian: String
    let insurer: String
    let lesson: Lesson.ID
    /// The insurer's products, one of each kind, and the tuition policy the guardian bought on the enrollment.
    let riskProduct: InsuranceProduct.ID
    let tuitionProduct: InsuranceProduct.ID
    let policy: Policy.ID
    /// A claim the guardian filed on the tuition policy: verified, waiting for the insurer.
    let claim: Claim.ID
    /// A second institution of the district, marked defunct, whose case settled the guardian's enrollment there.
    let defunctCase: DefunctCase.ID
    /// Supervision: the guardian's review of the enrollment and an open complaint about it, and an open warning
    /// (licence expiring) on the institution.
    let complaint: Complaint.ID
    let warning: UUID
    /// Consent: an order the institution proposed to the guardian and a risk-control policy the insurer proposed to the
    /// institution, both still open; and the id of the institution's token (for the token routes).
    let enrollmentProposal: Enrollment.ID
    let policyProposal: Policy.ID
    let institutionPrincipal: UUID

    static func make(_ api: API, district: String = "330203") async throws -> Cast {
        let world = try await World.make(api.store, district: district)
        let insurer = try await PartyRepository(store: api.store).createInsurer(name: "人保财险宁波分公司")
        let enrollments = EnrollmentRepository(store: api.store)
        _ = try await api.store.transaction {
            try await enrollments.pay(world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: $0)
        }
        let lesson = try await api.store.transaction {
            try await enrollments.recordLessons(
                world.enrollment.id, institution: world.institution.id, lessons: 1, takenOn: BusinessDate(shanghaiDateOf: Date()), on: $0)
        }
        let insurance = InsuranceRepository(store: api.store)
        let riskProduct = try await insurance.createProduct(
            NewInsuranceProduct(
                kind: .institutionRisk, premiumRateBasisPoints: 150, coveredShareBasisPoints: 8_000, limitFen: .yuan(1_000_000)),
            insurer: insurer)
        let tuitionProduct = try await insurance.createProduct(
            NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 200), insurer: insurer)
        let today = BusinessDate(shanghaiDateOf: Date())
        let policy = try await api.store.transaction {
            try await insurance.buyTuitionPolicy(
                NewTuitionPolicy(
                    productId: tuitionProduct.id, sumInsuredFen: world.enrollment.amountFen, periodStart: today,
                    periodEnd: today.addingMonths(3)),
                enrollment: world.enrollment.id, guardian: world.guardian, key: "premium:cast:\(world.enrollment.id)", on: $0)
        }
        let claim = try await api.store.transaction {
            try await ClaimRepository(store: api.store).file(
                NewClaim(enrollmentId: world.enrollment.id, policyId: policy.id, reason: .refundRefused, claimedFen: Money(fen: 100_000)),
                guardian: world.guardian, on: $0)
        }
        let defunctCase = try await collapsedInstitution(api, world: world)
        _ = try await FeedbackRepository(store: api.store).review(
            world.enrollment.id, guardian: world.guardian, NewReview(teaching: 5, environment: 4, curriculum: 4, text: "老师很负责"))
        let complaint = try await FeedbackRepository(store: api.store).file(
            NewComplaint(enrollmentId: world.enrollment.id, text: "课程时间多次变动"), guardian: world.guardian)
        try await api.store.query(
            "UPDATE institutions SET licence_valid_until = \(today.addingDays(10).description)::date WHERE id = \(world.institution.id.uuid)"
        )
        _ = try await WarningRepository(store: api.store).evaluate(.institution(world.institution.id))
        let warning = try await WarningRepository(store: api.store).warnings(
            scope: scopeOf(.institution(world.institution.id)), status: .open, rule: .licenceExpiring, page: PageRequest()
        ).items[0].id
        let enrollmentProposal = try await enrollments.propose(
            NewEnrollmentProposal(
                guardianId: world.guardian, courseId: world.course.id, lessons: 4, termStart: today, termEnd: today.addingMonths(1)),
            institution: world.institution.id)
        let policyProposal = try await insurance.proposeRiskPolicy(
            NewRiskPolicy(
                productId: riskProduct.id, institutionId: world.institution.id, sumInsuredFen: .yuan(10_000), periodStart: today,
                periodEnd: today.addingMonths(12)),
            insurer: insurer)
        let institutionToken = try await PrincipalRepository(store: api.store).create(for: .institution(world.institution.id))
        return Cast(
            world: world,
            regulator: try await api.token(for: .regulator(world.district)),
            institution: institutionToken.token,
            guardian: try await api.token(for: .guardian(world.guardian)),
            insurer: try await api.token(for: .insurer(insurer)),
            lesson: lesson.id, riskProduct: riskProduct.id, tuitionProduct: tuitionProduct.id, policy: policy.id, claim: claim.id,
            defunctCase: defunctCase, complaint: complaint.id, warning: warning, enrollmentProposal: enrollmentProposal.id,
            policyProposal: policyProposal.id, institutionPrincipal: institutionToken.principal.id)
    }

    /// Another institution of `world`'s district where the guardian paid for a course, marked defunct and settled.
    static func collapsedInstitution(_ api: API, world: World) async throws -> DefunctCase.ID {
        let parties = PartyRepository(store: api.store)
        let institution = try await parties.registerInstitution(
            NewInstitution(
                licenceNumber: "倒闭-\(UUID().uuidString.lowercased())", name: "已停业培训学校", address: "宁波市海曙区中山西路 1 号",
                creditCode: "52330203MJ0000001X",
                licenceValidUntil: BusinessDate(shanghaiDateOf: Date()).addingMonths(12), supervisionMode: .escrow),
            district: world.district)
        let course = try await parties.createCourse(
            NewCourse(title: "少儿美术", category: .nonAcademic, pricePerLessonFen: .yuan(100), lessonMinutes: 60), institution: institution.id)
        let today = BusinessDate(shanghaiDateOf: Date())
        let enrollments = EnrollmentRepository(store: api.store)
        let enrollment = try await enrollments.create(
            NewEnrollment(studentId: world.student.id, courseId: course.id, lessons: 10, termStart: today, termEnd: today.addingMonths(2)),
            institution: institution.id, guardian: world.guardian)
        try await TestContracts.sign(api.store, enrollment)
        _ = try await api.store.transaction {
            try await enrollments.pay(enrollment.id, guardian: world.guardian, amount: enrollment.amountFen, on: $0)
        }
        let marked = try await DefunctRepository(store: api.store).mark(
            institution.id, district: world.district.value, effectiveAt: nil, reason: "停业")
        return try await FastTrackJob(store: api.store).run(marked.id).id
    }

    var tokens: [(Role, String)] { [(.regulator, regulator), (.institution, institution), (.guardian, guardian), (.insurer, insurer)] }

    /// Every id of this world that must never appear in another principal's response.
    var ids: [String] {
        [
            world.institution.id.description, world.course.id.description, world.student.id.description,
            world.enrollment.id.description, world.guardian.description, lesson.description, policy.description, claim.description,
            defunctCase.description,
            complaint.description, warning.uuidString.lowercased(),
            world.contract.id.description, enrollmentProposal.description, policyProposal.description,
            institutionPrincipal.uuidString.lowercased(),
        ]
    }
}
