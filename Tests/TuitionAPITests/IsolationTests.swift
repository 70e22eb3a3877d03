import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct IsolationTests {
    /// Public routes answer anyone; they are checked only for carrying no one's data.
    static let publicRoutes: Set<String> = [
        "GET /health", "GET /openapi.yaml", "POST /v1/guardians", "GET /v1/log/head", "GET /v1/log/public-key", "GET /v1/log/entries",
        "GET /v1/log/entries/{index}", "GET /v1/log/proofs/inclusion", "GET /v1/log/proofs/consistency",
        // Issue #6, part 2: operations, public lookup and catalog, the dashboard's sign-in.
        "GET /metrics", "GET /v1/public/institutions/{licenceNumber}", "GET /public/institutions/{licenceNumber}",
        "GET /public/institutions/{licenceNumber}/qr.png", "GET /v1/public/courses", "GET /v1/public/courses/compare",
        "GET /dashboard/sign-in", "POST /dashboard/sign-in", "POST /dashboard/sign-out",
        "POST /v1/contract-verifications", "GET /v1/ca/certificate",
    ]

    /// Routes that publish courses to anyone: a course's id is public there, everything else stays private.
    static let catalogRoutes: Set<String> = ["GET /v1/public/courses", "GET /v1/public/courses/compare"]

    /// A request body for each route that takes one, aimed at the other world's resources where it names any.
    static func body(for route: RouteKey, other: Cast) -> String? {
        let today = BusinessDate(shanghaiDateOf: Date())
        switch route.description {
        case "POST /v1/guardians": return #"{"name":"新家长"}"#
        case "PUT /v1/district/charge-caps": return #"{"lessonsMax":60,"termMonthsMax":3,"amountMaxFen":500000}"#
        case "PUT /v1/district": return #"{"approvingAuthority":"宁波市海曙区教育局"}"#
        case "POST /v1/institutions":
            return
                #"{"licenceNumber":"LEAK-\#(UUID())","name":"新机构","supervisionMode":"escrow","address":"宁波","creditCode":"52330203MJ0000000X","licenceValidUntil":"2030-01-01"}"#
        case "POST /v1/institutions/{id}/reserve-topups": return #"{"amountFen":100}"#
        case "PATCH /v1/institutions/{id}": return #"{"licenceValidUntil":"2031-01-01"}"#
        case "POST /v1/students": return #"{"name":"新学生"}"#
        case "POST /v1/courses": return #"{"title":"新课程","category":"academic","pricePerLessonFen":100,"lessonMinutes":45}"#
        case "POST /v1/enrollments":
            return """
                {"studentId":"\(other.world.student.id)","courseId":"\(other.world.course.id)","lessons":5,
                 "termStart":"\(today)","termEnd":"\(today.addingMonths(1))"}
                """
        case "POST /v1/enrollment-proposals":
            return """
                {"guardianId":"\(other.world.guardian)","courseId":"\(other.world.course.id)","lessons":5,
                 "termStart":"\(today)","termEnd":"\(today.addingMonths(1))"}
                """
        case "POST /v1/enrollment-proposals/{id}/acceptance": return #"{"studentId":"\#(other.world.student.id)"}"#
        case "POST /v1/enrollment-proposals/{id}/rejection", "POST /v1/policy-proposals/{id}/acceptance",
            "POST /v1/policy-proposals/{id}/rejection", "POST /v1/tokens/{id}/rotation", "DELETE /v1/tokens/{id}":
            return ""
        case "POST /v1/enrollments/{id}/payments": return "{\"amountFen\":\(other.world.enrollment.amountFen.fen)}"
        case "POST /v1/enrollments/{id}/lessons": return #"{"lessons":1,"takenOn":"\#(today)"}"#
        case "POST /v1/class-sessions":
            return #"{"courseId":"\#(other.world.course.id)","takenOn":"\#(today)","enrollmentIds":["\#(other.world.enrollment.id)"]}"#
        case "POST /v1/enrollments/{id}/refunds": return #"{"lessons":1}"#
        case "POST /v1/lessons/{id}/dispute": return #"{"reason":"不是我们的课"}"#
        case "POST /v1/insurance-products": return #"{"kind":"student_tuition","premiumRateBasisPoints":100}"#
        case "POST /v1/policy-proposals":
            return """
                {"productId":"\(other.riskProduct)","institutionId":"\(other.world.institution.id)","sumInsuredFen":100000,
                 "periodStart":"\(today)","periodEnd":"\(today.addingMonths(12))"}
                """
        case "POST /v1/enrollments/{id}/tuition-policies":
            return """
                {"productId":"\(other.tuitionProduct)","sumInsuredFen":1000,"periodStart":"\(today)","periodEnd":"\(today.addingMonths(3))"}
                """
        case "POST /v1/claims":
            return """
                {"enrollmentId":"\(other.world.enrollment.id)","policyId":"\(other.policy)","reason":"refund_refused","claimedFen":1000}
                """
        case "POST /v1/claims/{id}/approval": return #"{"amountFen":1000}"#
        case "POST /v1/claims/{id}/rejection": return #"{"reason":"不是我们的理赔"}"#
        case "POST /v1/institutions/{id}/defunct": return #"{"reason":"不是我们辖区的机构"}"#
        // Supervision (issue #6)
        case "POST /v1/warnings/{id}/resolution", "POST /v1/institutions/{id}/suspension", "POST /v1/institutions/{id}/reinstatement",
            "POST /v1/institutions/{id}/blacklisting":
            return #"{"note":"不是我的辖区"}"#
        case "POST /v1/warnings/evaluation": return ""
        case "PUT /v1/district/warning-settings":
            return """
                {"escrowCoverageMinBasisPoints":10000,"salesSpikeRatioBasisPoints":30000,"salesSpikeMinimumFen":1000000,
                 "lessonsOverScheduleRatioBasisPoints":15000,"lessonsOverScheduleMinimum":10,"refundGraceDays":30,
                 "expiryNoticeDays":30,"deadlineDays":15}
                """
        case "POST /v1/institutions/{id}/inspections": return #"{"year":2026,"result":"qualified","starRating":5}"#
        case "POST /v1/enrollments/{id}/review": return #"{"teaching":1,"environment":1,"curriculum":1}"#
        case "POST /v1/complaints": return #"{"enrollmentId":"\#(other.world.enrollment.id)","text":"冒名投诉"}"#
        case "POST /v1/complaints/{id}/answer": return #"{"answer":"不是我们的"}"#
        case "POST /v1/complaints/{id}/closing": return #"{"upheld":true,"note":"越权"}"#
        case "POST /v1/institutions/{id}/tokens", "POST /v1/lessons/{id}/confirmation", "POST /v1/claims/{id}/payment": return ""
        case "POST /dashboard/sign-in": return "token=tg_not-a-token"
        case "POST /dashboard/sign-out": return ""
        // Contracts: generating another's enrollment's contract, signing another's contract, verifying a document.
        case "POST /v1/enrollments/{id}/contract": return #"{"classNumber":"泄露班"}"#
        case "POST /v1/contracts/{id}/institution-signature", "POST /v1/contracts/{id}/guardian-signature": return ""
        case "POST /v1/contract-verifications": return #"<tg:contract xmlns:tg="urn:tuitionguard:contract:1"/>"#
        default: return nil
        }
    }

    /// The other world's resource for the `{id}` of `path`.
    static func path(_ path: String, aimedAt other: Cast) -> String {
        let resource: String =
            switch path.split(separator: "/").dropFirst().first {
            case "institutions": other.world.institution.id.description
            case "courses": other.world.course.id.description
            case "students": other.world.student.id.description
            case "enrollments": other.world.enrollment.id.description
            case "lessons": other.lesson.description
            case "policies": other.policy.description
            case "claims": other.claim.description
            case "defunct-cases": other.defunctCase.description
            case "complaints": other.complaint.description
            case "warnings": other.warning.uuidString.lowercased()
            case "contracts": other.world.contract.id.description
            case "enrollment-proposals": other.enrollmentProposal.description
            case "policy-proposals": other.policyProposal.description
            case "tokens": other.institutionPrincipal.uuidString.lowercased()
            default: "unknown"
            }
        return path.replacingOccurrences(of: "{id}", with: resource)
            .replacingOccurrences(of: "{licenceNumber}", with: pathSegment(other.world.institution.licenceNumber))
    }

    @Test func noRoleEverSeesAnotherPrincipalsResource() async throws {
        try await API.run("isolation") { api, routes in
            let mine = try await Cast.make(api, district: "330203")
            let other = try await Cast.make(api, district: "330205")
            let before = try await EnrollmentRepository(store: api.store).enrollment(
                other.world.enrollment.id, scope: scopeOf(.guardian(other.world.guardian)))
            var checked = 0
            for route in routes {
                let method = HTTPRequest.Method(route.method)!
                let body = Self.body(for: route, other: other)
                if method != .get && body == nil {
                    Issue.record("\(route) is not covered by the isolation test: give it a body")
                    continue
                }
                let target = Self.path(route.path, aimedAt: other)
                for (role, token) in mine.tokens {
                    let reply = try await api.call(method, target, token: token, json: body, idempotencyKey: "leak-\(checked)")
                    checked += 1
                    for id in other.ids where !(Self.catalogRoutes.contains(route.description) && id == other.world.course.id.description) {
                        #expect(!reply.body.contains(id), "\(role) \(route) leaked \(id): \(reply.body)")
                    }
                    #expect(reply.status != .internalServerError, "\(role) \(route): \(reply.body)")
                    if route.path.contains("{id}") && !Self.publicRoutes.contains(route.description) {
                        #expect([.notFound, .forbidden].contains(reply.status), "\(role) \(route) answered \(reply.status)")
                    }
                }
            }
            #expect(checked == routes.count * 4)
            // The other world's data is as it was.
            let after = try await EnrollmentRepository(store: api.store).enrollment(
                other.world.enrollment.id, scope: scopeOf(.guardian(other.world.guardian)))
            #expect(after == before)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func ownersDoSeeTheirOwnResources() async throws {
        // The positive control: the same requests the isolation test refuses succeed for the owners.
        try await API.run("ownership") { api, routes in
            let cast = try await Cast.make(api)
            let owners: [String: [String]] = [
                "/v1/institutions/{id}": [cast.regulator, cast.institution],
                "/v1/institutions/{id}/statement": [cast.regulator, cast.institution],
                "/v1/institutions/{id}/transfers": [cast.regulator, cast.institution],
                "/v1/courses/{id}": [cast.regulator, cast.institution, cast.guardian],
                "/v1/students/{id}": [cast.guardian],
                "/v1/enrollments/{id}": [cast.regulator, cast.institution, cast.guardian],
                "/v1/enrollments/{id}/statement": [cast.regulator, cast.institution, cast.guardian],
                "/v1/enrollments/{id}/lessons": [cast.regulator, cast.institution, cast.guardian],
                // The cast's policy is the guardian's tuition policy: not the institution's business.
                "/v1/policies/{id}": [cast.regulator, cast.guardian, cast.insurer],
                // Institutions read the claims on their enrollments; they do not decide them.
                "/v1/claims/{id}": [cast.regulator, cast.institution, cast.guardian, cast.insurer],
                // The cast's defunct case is another institution's, where the guardian had paid for a course: the
                // guardian follows the case its own settlement is in.
                "/v1/defunct-cases/{id}": [cast.regulator, cast.guardian],
                "/v1/defunct-cases/{id}/settlements": [cast.regulator, cast.guardian],
                // Supervision: the grade and ratings are the regulator's and the institution's; the review and the complaint
                // belong to the guardian, the institution and the regulator.
                "/v1/institutions/{id}/credit": [cast.regulator, cast.institution],
                "/v1/institutions/{id}/ratings": [cast.regulator, cast.institution],
                "/v1/enrollments/{id}/review": [cast.regulator, cast.institution, cast.guardian],
                "/v1/complaints/{id}": [cast.regulator, cast.institution, cast.guardian],
                // A contract is its institution's, its guardian's and their district regulator's.
                "/v1/enrollments/{id}/contract": [cast.regulator, cast.institution, cast.guardian],
                "/v1/contracts/{id}": [cast.regulator, cast.institution, cast.guardian],
                "/v1/contracts/{id}/document": [cast.regulator, cast.institution, cast.guardian],
                "/v1/contracts/{id}/html": [cast.regulator, cast.institution, cast.guardian],
                // Proposals: the proposer, the party proposed to, the district's regulator.
                "/v1/enrollment-proposals/{id}": [cast.regulator, cast.institution, cast.guardian],
                "/v1/policy-proposals/{id}": [cast.regulator, cast.institution, cast.insurer],
            ]
            let readable = routes.filter { $0.method == "GET" && $0.path.contains("{id}") }
            #expect(Set(readable.map(\.path)) == Set(owners.keys), "every readable resource route has its owners listed")
            for route in readable {
                for token in owners[route.path] ?? [] {
                    let reply = try await api.call(.get, IsolationTests.path(route.path, aimedAt: cast), token: token)
                    #expect(reply.status == .ok, "\(route): \(reply.body)")
                }
            }
        }
    }

    @Test func everyRouteIsInTheOpenAPIDocumentAndNothingElse() async throws {
        try await API.run("openapi") { api, routes in
            var documented: Set<String> = []
            var path = ""
            for line in openAPIDocument.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("  /") && line.hasSuffix(":") {
                    path = String(line.dropFirst(2).dropLast())
                } else if !line.hasPrefix("  ") && !line.isEmpty {
                    path = ""
                }
                for method in ["get", "post", "put", "patch", "delete"] where line == "    \(method):" && !path.isEmpty {
                    documented.insert("\(method.uppercased()) \(path)")
                }
            }
            let known = Set(routes.map(\.description))
            #expect(
                known.subtracting(documented).isEmpty, "routes missing from docs/openapi.yaml: \(known.subtracting(documented).sorted())")
            #expect(
                documented.subtracting(known).isEmpty,
                "documented routes the router does not have: \(documented.subtracting(known).sorted())")
            let served = try await api.call(.get, "/openapi.yaml")
            #expect(served.status == .ok && served.body == openAPIDocument && served.body.hasPrefix("openapi: 3.1"))
        }
    }
}
