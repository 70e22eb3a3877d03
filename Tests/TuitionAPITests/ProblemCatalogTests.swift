import ContractKit
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionUseCases

@testable import TuitionAPI

/// Every problem the API answers with comes from one catalog: the business `Rejection`s and the API's own
/// `APIFailure`s, onto which the other layers' errors map.
@Suite struct ProblemCatalogTests {
    static var catalog: [any ProblemConvertible] { Rejection.allCases + APIFailure.allCases }

    @Test func everyCodeIsUniqueAndTheSpecListsExactlyTheCatalog() {
        let codes = Self.catalog.map(\.code)
        let repeated = Dictionary(grouping: codes, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(repeated.isEmpty, "codes used twice: \(repeated)")
        let listed = EdgeTests.problemCodesInSpec()
        #expect(listed.count > 60, "the Problem code enum was found")
        #expect(
            Set(listed) == Set(codes), "only in the spec: \(Set(listed).subtracting(codes)); only sent: \(Set(codes).subtracting(listed))")
    }

    @Test func everyRejectionIsAClientErrorWithACodeAndATitle() {
        for rejection in Rejection.allCases {
            let problem = Problem(rejection)
            #expect(problem.status.kind == .clientError && !problem.code.isEmpty && !problem.title.isEmpty, "\(rejection)")
        }
        for failure in APIFailure.allCases {
            #expect([.clientError, .serverError].contains(failure.status.kind) && !failure.title.isEmpty, "\(failure)")
        }
    }

    static var belowTheAPI: [(error: any Error, status: HTTPResponse.Status, code: String)] {
        [
            (NotFound(), .notFound, "not_found"),
            (KeyedRequestRefusal.keyReusedForAnotherRequest, .conflict, "idempotency_key_reused"),
            (KeyedRequestRefusal.tokenNoLongerLive, .unauthorized, "unauthenticated"),
            (LogQueryError.beyondTree, .unprocessableContent, "beyond_tree"),
            (DashboardQueryError.badCursor, .badRequest, "invalid_parameter"),
            (ContractsNotConfigured(), .serviceUnavailable, "contracts_not_configured"),
            (CertificateAuthorityNotInitialised(), .serviceUnavailable, "ca_not_initialised"),
            (ContractRenderError.fieldMissing("乙方.地址"), .unprocessableContent, "contract_field_missing"),
            (ContractRenderError.fieldUnknown("x"), .unprocessableContent, "contract_field_unknown"),
            (ContractRenderError.fieldInvalid(field: "x", reason: "y"), .unprocessableContent, "contract_field_invalid"),
            (ContractRenderError.templateNotFound(id: "x", version: 2), .unprocessableContent, "contract_template_not_found"),
            (ContractRenderError.templateInvalid("x"), .internalServerError, "internal_error"),
            (XMLParseError.documentExceedsSizeLimit(byteCount: 2, maxBytes: 1), .contentTooLarge, "body_too_large"),
            (XMLParseError.documentHasDoctype, .unprocessableContent, "document_not_accepted"),
            (XMLParseError.documentExceedsAttributeLimit(line: 1, maxAttributes: 64), .unprocessableContent, "document_too_complex"),
            (XMLParseError.documentExceedsElementLimit(maxElements: 4_096), .unprocessableContent, "document_too_complex"),
            (HTTPError(.contentTooLarge), .contentTooLarge, "body_too_large"),
            (CommitOutcomeUnknown(cause: CancellationError()), .gatewayTimeout, "retry_with_same_idempotency_key"),
            (DeadlineExceeded(limit: .seconds(1)), .serviceUnavailable, "service_unavailable"),
            (Rejection.enrollmentAlreadyPaid, .conflict, "enrollment_already_paid"),
        ]
    }

    /// The store's, use cases' and contract kit's errors answer with their codes wherever a route lets them through.
    @Test(arguments: 0..<belowTheAPI.count)
    func anErrorOfALayerBelowMapsOntoItsCode(_ index: Int) {
        let (error, status, code) = Self.belowTheAPI[index]
        let problem = ProblemMiddleware<AppRequestContext>.problem(for: error, logger: Logger(label: "catalog"))
        #expect(problem.status == status && problem.code == code, "\(error)")
        #expect((problem.retryAfterSeconds != nil) == ["service_unavailable", "retry_with_same_idempotency_key"].contains(code))
    }

    /// No problem is made from a status and a code written on the spot: each code is spelled once, in the catalog.
    @Test func eachCodeIsSpelledOnceInTheSources() {
        let sources = CompositionTests.sources("Sources")
        let spelled = sources.map { $0.text.components(separatedBy: "\"body_too_large\"").count - 1 }.reduce(0, +)
        #expect(spelled == 1, "body_too_large is built in \(spelled) places")
        for (name, text) in sources where name != "Problem.swift" {
            #expect(!text.contains("Problem(."), "\(name) makes a problem from a bare status")
        }
    }

    /// Before `tuitionguard ca init` the CA's certificate and CRL are 503 `ca_not_initialised`, as problem+json.
    @Test func theCAsDocumentsBeforeItIsInitialisedAre503() async throws {
        try await API.run("catalog_no_ca", initialiseAuthority: false) { api, _ in
            for path in ["/v1/ca/certificate", "/v1/ca/crl"] {
                let reply = try await api.call(.get, path)
                #expect(reply.status == .serviceUnavailable && reply.code == "ca_not_initialised", "\(path): \(reply.body)")
                #expect(reply.contentType == "application/problem+json", "\(path)")
            }
        }
    }
}
