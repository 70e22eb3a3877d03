import Foundation
import Testing
import TuitionCore
import TuitionWire

/// The wire types and `docs/openapi.yaml` describe one contract: a value of each type below, every optional field set,
/// encodes exactly the properties the document lists for its schema. A field added, renamed or dropped on one side
/// only fails here.
@Suite struct WireShapeTests {
    static let day = BusinessDate(year: 2026, month: 3, day: 2)!
    static let now = Date(timeIntervalSince1970: 1_772_400_000)
    static func id<Entity>(_ number: Int = 1) -> Identifier<Entity> {
        Identifier(UUID(uuidString: String(format: "00000000-0000-7000-8000-%012d", number))!)
    }

    /// Schema name in the document, and a value of the type that is its body.
    static let bodies: [(schema: String, value: any Encodable & Sendable)] = [
        (
            "InstitutionRecord",
            InstitutionRecord(
                id: id(), districtCode: "330203", licenceNumber: "L-1", name: "n", address: "a", creditCode: "c",
                licenceValidUntil: day, supervisionMode: .escrow, reserveRatioBasisPoints: 0, supervisedBank: "b",
                supervisedAccountNumber: "1", status: .active, createdAt: now)
        ),
        (
            "EnrollmentRecord",
            EnrollmentRecord(
                id: id(), institutionId: id(), courseId: id(), studentId: id(), guardianId: id(), status: .active,
                supervisionMode: .escrow, lessonsBought: 10, lessonsConsumed: 1, lessonsRefunded: 0,
                pricePerLessonFen: Money(fen: 100), amountFen: Money(fen: 1000), termStart: day, termEnd: day,
                paidFen: Money(fen: 1000), releasedFen: Money(fen: 100), refundedFen: .zero, returnedFen: .zero,
                unconsumedFen: Money(fen: 900), escrowHeldFen: Money(fen: 900), paidAt: now, createdAt: now,
                escrowReturnedFen: .zero, lessonsAfterDefunct: 0, defunctEffectiveAt: now)
        ),
        (
            "TransferRecord",
            TransferRecord(
                id: 1, kind: .payment, from: .guardianBank, to: .escrow, amountFen: Money(fen: 1), enrollmentId: id(), createdAt: now)
        ),
        ("NewEnrollment", NewEnrollment(studentId: id(), courseId: id(), lessons: 10, termStart: day, termEnd: day)),
        ("PaymentBody", PaymentBody(amountFen: Money(fen: 1))),
        ("RefundBody", RefundBody(lessons: 1, reason: "r")),
        ("LessonsBody", LessonsBody(lessons: 1, takenOn: day)),
        ("NewClaim", NewClaim(enrollmentId: id(), policyId: id(), reason: .institutionDefunct, claimedFen: Money(fen: 1))),
        ("DefunctMark", DefunctMarkBody(effectiveAt: now, reason: "r")),
        (
            "DefunctCase",
            DefunctCaseRecord(
                id: id(), institutionId: id(), districtCode: "330203", effectiveAt: now, reason: "r", markedAt: now,
                status: .running, plannedAt: now, enrollmentsTotal: 1, enrollmentsDone: 0, entitledFen: .zero, paidEscrowFen: .zero,
                paidReserveFen: .zero, paidRiskPolicyFen: .zero, paidTuitionPolicyFen: .zero, referredCount: 0, referredFen: .zero,
                uncoveredFen: .zero, completedAt: now, blockedReason: "b", blockedAt: now, returnDueFen: .zero, paidReturnFen: .zero,
                returnUncoveredFen: .zero, plannedReserveFen: .zero, plannedOperatingFen: .zero, riskPolicyId: id())
        ),
        ("Me", Me(principalId: "p", role: .guardian, entityId: "e")),
        ("TokenIssued", TokenIssued(principalId: "p", role: .guardian, entityId: "e", token: "t", expiresAt: now)),
        ("ChargeCaps", ChargeCaps.national.body),
        ("SignatureBody", SignatureBody(algorithm: "P-256")),
        (
            "Readiness",
            ReadinessBody(
                ready: true, database: "ok", queueDepth: 0, oldestQueuedAgeSeconds: 0, headAgeSeconds: 0, stalledServices: [])
        ),
        ("InstitutionPage", PageBody<InstitutionRecord>(items: [], nextCursor: nil)),
    ]

    @Test(arguments: bodies.indices)
    func encodesTheDocumentedProperties(index: Int) throws {
        let (schema, value) = Self.bodies[index]
        let documented = try #require(try Self.schemaProperties()[schema], "no schema \(schema) in docs/openapi.yaml")
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
        let keys = Set(try #require(object as? [String: Any]).keys)
        #expect(
            keys == documented,
            "\(schema): only encoded \(keys.subtracting(documented).sorted()), only documented \(documented.subtracting(keys).sorted())")
    }

    /// The reader below finds what it must: a schema's properties in both of the document's styles.
    @Test func readsTheDocumentsSchemas() throws {
        let schemas = try Self.schemaProperties()
        #expect(schemas["PaymentBody"] == ["amountFen"])
        #expect(schemas["TokenRecord"] == ["principalId", "role", "entityId", "label", "createdAt", "expiresAt", "revokedAt"])
        #expect(schemas.count > 100)
    }

    static var document: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
    }

    /// `components.schemas` of the OpenAPI document: each schema's property names. A tiny reader for the document's own
    /// layout (two-space indents: a schema at 4, its `properties:` at 6, each property at 8), not a YAML parser.
    static func schemaProperties() throws -> [String: Set<String>] {
        let lines = try String(contentsOf: document, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "  schemas:") else { return [:] }
        var schemas: [String: Set<String>] = [:]
        var schema: String?
        var inProperties = false
        for line in lines[(start + 1)...] {
            let indent = line.prefix { $0 == " " }.count
            let text = line.dropFirst(indent)
            if text.isEmpty || text.hasPrefix("#") { continue }
            if indent < 4 { break }
            if indent == 4, text.hasSuffix(":") {
                schema = String(text.dropLast())
                schemas[schema!] = []
                inProperties = false
            } else if indent == 6 {
                inProperties = text == "properties:"
            } else if indent == 8, inProperties, let schema, let colon = text.firstIndex(of: ":") {
                schemas[schema]!.insert(String(text[..<colon]))
            }
        }
        return schemas
    }
}
