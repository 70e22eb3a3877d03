import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TuitionCore
import TuitionStore

/// An RFC 9457 problem: every error the API returns, with a stable `code`.
public struct Problem: HTTPResponseError, Encodable, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let title: String
    public let detail: String?
    /// Seconds after which a retry may succeed (`Retry-After`), on answers that say "try again".
    public var retryAfterSeconds: Int?

    /// Private: every problem comes from a `ProblemConvertible`, so each code has one status and one title.
    private init(_ status: HTTPResponse.Status, code: String, title: String, detail: String? = nil) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey { case type, title, status, detail, code }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("https://tuitionguard.cn/problems/\(code)", forKey: .type)
        try container.encode(title, forKey: .title)
        try container.encode(status.code, forKey: .status)
        try container.encodeIfPresent(detail, forKey: .detail)
        try container.encode(code, forKey: .code)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { httpResponse() }

    /// The problem+json response; it needs no request context, so answers made outside the router use it too.
    func httpResponse() -> Response {
        let body = (try? JSONEncoder().encode(self)) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    init(_ failure: some ProblemConvertible, detail: String? = nil) {
        self.init(failure.status, code: failure.code, title: failure.title, detail: detail ?? failure.detail)
        self.retryAfterSeconds = failure.retryAfterSeconds
    }

    static let notFound = Problem(APIFailure.notFound)
    static let unauthenticated = Problem(APIFailure.unauthenticated)
    static let roleNotPermitted = Problem(APIFailure.roleNotPermitted)
    static let institutionDefunct = Problem(Rejection.institutionDefunct)
    static let tooManyFailedAuthentications = Problem(APIFailure.tooManyFailedAuthentications)
    static let idempotencyKeyRequired = Problem(APIFailure.idempotencyKeyRequired)
    static func malformedBody(_ detail: String) -> Problem { Problem(APIFailure.malformedBody, detail: detail) }
    static func invalidParameter(_ detail: String) -> Problem { Problem(APIFailure.invalidParameter, detail: detail) }
    static let serviceUnavailable = Problem(APIFailure.serviceUnavailable)
    static let outcomeUnknown = Problem(APIFailure.outcomeUnknown)

    /// The answer to a request cut short by its deadline or an unavailable database: 503 "nothing was written" while
    /// no transaction of the request has begun its COMMIT (claiming the answer keeps any later one from committing), 504
    /// "outcome unknown" once one may have. Without a tracker (a router outside the deadline responder), 503.
    static func cutShort(_ tracker: CommitTracker?) -> Problem {
        switch tracker?.answer() ?? .nothingWritten {
        case .nothingWritten: .serviceUnavailable
        case .outcomeUnknown: .outcomeUnknown
        }
    }
}

/// An error the API can answer with: one fixed status, a stable code and a title per case, and the case's detail.
/// Every error type the API surfaces adopts it (business `Rejection`s, the API's own `APIFailure`s, and the store's,
/// use cases' and contract kit's errors through `APIFailureConvertible`), each mapping its cases with an exhaustive
/// switch and no `default:`, so a new case does not compile until it has a status and a code.
protocol ProblemConvertible: Error {
    var status: HTTPResponse.Status { get }
    var code: String { get }
    var title: String { get }
    /// What in this request went wrong, for people; nil when the title says it all.
    var detail: String? { get }
    /// Seconds after which a retry may succeed (`Retry-After`), on answers that say "try again".
    var retryAfterSeconds: Int? { get }
}

extension ProblemConvertible {
    var detail: String? { nil }
    var retryAfterSeconds: Int? { nil }
}

/// An error of another layer that the API reports as one of its own failures.
protocol APIFailureConvertible: ProblemConvertible {
    var failure: APIFailure { get }
}

extension APIFailureConvertible {
    var status: HTTPResponse.Status { failure.status }
    var code: String { failure.code }
    var title: String { failure.title }
    var retryAfterSeconds: Int? { failure.retryAfterSeconds }
}

/// Every failure the API itself reports (as opposed to a business `Rejection`). Its raw value is the stable `code`.
enum APIFailure: String, CaseIterable, ProblemConvertible {
    case malformedBody = "malformed_body"
    case invalidParameter = "invalid_parameter"
    case unknownField = "unknown_field"
    case idempotencyKeyRequired = "idempotency_key_required"
    case requestRefused = "request_refused"
    case unauthenticated
    case roleNotPermitted = "role_not_permitted"
    case crossSiteRequest = "cross_site_request"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case idempotencyKeyReused = "idempotency_key_reused"
    case tooManyFailedAuthentications = "too_many_failed_authentications"
    case bodyTooLarge = "body_too_large"
    case beyondTree = "beyond_tree"
    case contractFieldMissing = "contract_field_missing"
    case contractFieldInvalid = "contract_field_invalid"
    case contractFieldUnknown = "contract_field_unknown"
    case contractTemplateNotFound = "contract_template_not_found"
    case documentNotAccepted = "document_not_accepted"
    case documentTooComplex = "document_too_complex"
    case internalError = "internal_error"
    case caNotInitialised = "ca_not_initialised"
    case caExpired = "ca_expired"
    case contractsNotConfigured = "contracts_not_configured"
    case serviceUnavailable = "service_unavailable"
    case outcomeUnknown = "retry_with_same_idempotency_key"

    var code: String { rawValue }

    /// Nothing was written (`service_unavailable`) or only a retry with the same key tells (`retry_with_same_…`).
    var retryAfterSeconds: Int? { [.serviceUnavailable, .outcomeUnknown].contains(self) ? 1 : nil }

    var status: HTTPResponse.Status {
        switch self {
        case .malformedBody, .invalidParameter, .unknownField, .idempotencyKeyRequired, .requestRefused: .badRequest
        case .unauthenticated: .unauthorized
        case .roleNotPermitted, .crossSiteRequest: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .idempotencyKeyReused: .conflict
        case .tooManyFailedAuthentications: .tooManyRequests
        case .bodyTooLarge: .contentTooLarge
        case .beyondTree, .contractFieldMissing, .contractFieldInvalid, .contractFieldUnknown, .contractTemplateNotFound,
            .documentNotAccepted, .documentTooComplex:
            .unprocessableContent
        case .internalError: .internalServerError
        case .caNotInitialised, .caExpired, .contractsNotConfigured, .serviceUnavailable: .serviceUnavailable
        case .outcomeUnknown: .gatewayTimeout
        }
    }

    var title: String {
        switch self {
        case .malformedBody: "The request body is not the JSON this route takes"
        case .invalidParameter: "A path or query parameter is invalid"
        case .unknownField: "The request body has a field this route does not take"
        case .idempotencyKeyRequired: "This request moves money and needs an Idempotency-Key header"
        case .requestRefused: "The request is not one this service accepts"
        case .unauthenticated: "A valid bearer token is required"
        case .roleNotPermitted: "This role may not do this"
        case .crossSiteRequest: "The form was not sent from this service's own pages"
        case .notFound: "No such resource"
        case .methodNotAllowed: "This route does not take this method"
        case .idempotencyKeyReused: "This Idempotency-Key was used with a different request"
        case .tooManyFailedAuthentications: "Too many failed authentications from this address"
        case .bodyTooLarge: "The request body is too large"
        case .beyondTree: "The index or tree size is beyond the latest signed tree head"
        case .contractFieldMissing: "A field the contract template needs has no value"
        case .contractFieldInvalid: "A contract field does not fit the template's schema"
        case .contractFieldUnknown: "The contract template has no such field"
        case .contractTemplateNotFound: "No such contract template is installed"
        case .documentNotAccepted: "The document is not XML this service accepts"
        case .documentTooComplex: "The document has more elements, or more attributes on one element, than a contract has"
        case .internalError: "Something went wrong on our side"
        case .caNotInitialised: "The platform CA is not initialised (tuitionguard ca init)"
        case .caExpired: "The platform CA has expired: it certifies no new signer"
        case .contractsNotConfigured: "This server has no contract templates or key-encryption key"
        case .serviceUnavailable:
            "The service cannot answer right now; nothing was written. Retry after the Retry-After seconds"
        case .outcomeUnknown:
            "The outcome is unknown: a retry with the same Idempotency-Key gets the original answer (a request sent without one: read what exists before sending it again)"
        }
    }
}

extension Rejection: ProblemConvertible {
    var code: String { rawValue }

    /// 409 where the resource's state conflicts with the request, 422 where the request itself breaks a rule.
    var status: HTTPResponse.Status {
        switch self {
        case .licenceNumberTaken, .enrollmentAlreadyPaid, .lessonAlreadyAnswered, .enrollmentAlreadyInsured, .claimAlreadyOpen,
            .claimNotAwaitingDecision, .claimNotApproved, .institutionAlreadyDefunct, .institutionDefunct, .fastTrackInProgress,
            .warningAlreadyResolved,
            .institutionIsBlacklisted, .institutionNotSuspended, .institutionAlreadySuspended, .enrollmentAlreadyReviewed,
            .complaintNotAwaitingAnswer, .complaintAlreadyClosed, .contractNotAwaitingSignature, .contractAlreadySigned, .proposalNotOpen,
            .enrollmentNotAccepted:
            .conflict
        case .amountMustBePositive, .amountTooLarge, .lessonsMustBePositive, .priceMustBePositive, .lessonMinutesMustBePositive,
            .textFieldInvalid, .textHasForbiddenCharacters, .valueOutOfRange, .chargeCoversTooManyLessons, .chargeTermTooLong,
            .chargeAmountTooLarge, .termEndsBeforeItStarts, .districtCapAboveNationalCap, .reserveRatioInvalid,
            .institutionNotOperating, .institutionDetailsMissing, .creditCodeInvalid, .enrollmentNotPaid,
            .paymentDoesNotMatchOrder, .lessonsExceedRemaining, .lessonDateInFuture, .lessonDateBeforeTerm, .classSessionSizeOutOfRange,
            .enrollmentListedTwice, .enrollmentNotInCourse, .nothingToRefund,
            .refundExceedsUnconsumed, .accountWouldGoNegative, .lessonAnswerWindowClosed, .premiumRateInvalid,
            .coverageTermsInvalid, .policyPeriodInvalid, .insuredDoesNotMatchProduct, .sumInsuredExceedsCover,
            .policyStartsInThePast, .approvalExceedsApprovable, .payoutExceedsPolicyRemaining, .payoutExceedsEntitlement,
            .effectiveTimeInFuture, .institutionNotDefunct, .warningThresholdInvalid, .inspectionInvalid, .ratingOutOfRange,
            .contractNotSigned, .signingCertificateRevoked, .identityNumberInvalid, .additionNeedsReason, .approvingAuthorityInvalid:
            .unprocessableContent
        }
    }
}

extension Rejection {
    /// A sentence for people; the `code` is what programs match on.
    var title: String {
        switch self {
        case .amountMustBePositive: "The amount must be positive"
        case .amountTooLarge: "The amount is too large"
        case .lessonsMustBePositive: "The number of lessons must be positive and within range"
        case .priceMustBePositive: "The price per lesson must be positive"
        case .lessonMinutesMustBePositive: "The lesson length must be positive and under a day"
        case .textFieldInvalid: "A required text field is empty or too long"
        case .textHasForbiddenCharacters:
            "Text may not hold NUL, other control characters or bidirectional overrides; names and codes take no line breaks or tabs"
        case .valueOutOfRange: "A value is outside the range the ledger accepts"
        case .chargeCoversTooManyLessons: "One charge may cover at most the district's lesson cap (60 nationally)"
        case .chargeTermTooLong: "One charge may cover at most the district's term cap (3 months nationally)"
        case .chargeAmountTooLarge: "One charge may be at most the district's amount cap (¥5,000 nationally)"
        case .termEndsBeforeItStarts: "The term ends before it starts"
        case .districtCapAboveNationalCap: "A district's caps must be positive and no higher than the national caps"
        case .licenceNumberTaken: "An institution with this licence number is already registered"
        case .reserveRatioInvalid: "Reserve mode needs a ratio of 1–10,000 basis points; escrow mode takes none"
        case .institutionNotOperating: "The institution is suspended, defunct or blacklisted"
        case .institutionDetailsMissing: "A contract needs the institution's address, credit code and licence validity"
        case .creditCodeInvalid:
            "A unified social credit code has 18 characters of 0–9 and A–Y without I, O, S, V, Z; the 3rd–8th are digits"
        case .proposalNotOpen: "The proposal was already accepted or rejected"
        case .enrollmentNotAccepted: "The order is a proposal the guardian has not accepted yet"
        case .enrollmentAlreadyPaid: "The enrollment is already paid"
        case .enrollmentNotPaid: "The enrollment is not paid yet"
        case .paymentDoesNotMatchOrder: "The payment must equal the order's amount"
        case .lessonsExceedRemaining: "More lessons than remain unconsumed on the enrollment"
        case .lessonDateInFuture: "Lessons cannot be recorded for a future date"
        case .lessonDateBeforeTerm: "Lessons cannot be recorded before the term starts"
        case .classSessionSizeOutOfRange: "A class session lists 1–500 enrollments"
        case .enrollmentListedTwice: "The enrollment is listed more than once in this class session"
        case .enrollmentNotInCourse: "The enrollment is not in the class session's course"
        case .nothingToRefund: "No unconsumed lessons remain to refund"
        case .refundExceedsUnconsumed: "The refund exceeds the unconsumed lessons"
        case .accountWouldGoNegative: "The account does not hold enough money"
        case .lessonAlreadyAnswered: "The lessons were already confirmed or disputed"
        case .lessonAnswerWindowClosed: "Lessons may be confirmed or disputed only within 7 days of recording"
        case .premiumRateInvalid: "The premium rate must be 1–10,000 basis points"
        case .coverageTermsInvalid:
            "A risk-control product needs a covered share of 1–10,000 basis points and a positive limit; a tuition product takes neither"
        case .policyPeriodInvalid: "The policy period must end after it starts"
        case .insuredDoesNotMatchProduct: "Risk-control products insure institutions; tuition products insure enrollments"
        case .sumInsuredExceedsCover: "The sum insured exceeds the product's limit or the tuition paid"
        case .policyStartsInThePast: "A policy may not start before today: cover is never backdated"
        case .enrollmentAlreadyInsured: "The enrollment already has a tuition policy"
        case .claimAlreadyOpen: "An open claim on this enrollment and policy already exists"
        case .claimNotAwaitingDecision: "Only a verified or referred claim may be approved or rejected"
        case .approvalExceedsApprovable: "The approval must be positive and at most the claim's approvable amount"
        case .claimNotApproved: "Only an approved claim may be paid"
        case .payoutExceedsPolicyRemaining: "The payout exceeds what is left of the policy's sum insured"
        case .payoutExceedsEntitlement: "The payout would repay the guardian more than the enrollment's unconsumed tuition"
        case .additionNeedsReason:
            "Approving more than the approvable amount (or as the regulator) adds back disputed or burst lessons and needs a reason"
        case .institutionAlreadyDefunct: "The institution is already marked defunct"
        case .effectiveTimeInFuture: "A defunct mark's effective time may not lie in the future"
        case .institutionNotDefunct: "The institution has not been marked defunct"
        case .institutionDefunct:
            "The institution is marked defunct: its money paths are closed and its fast-track settles every enrollment"
        case .fastTrackInProgress: "The institution's defunct fast-track is still paying; try again when it has finished"
        case .warningThresholdInvalid: "A warning threshold is outside its documented range"
        case .warningAlreadyResolved: "The warning is already resolved"
        case .institutionIsBlacklisted: "The institution is blacklisted; blacklisting is final"
        case .institutionNotSuspended: "Only a suspended institution may be reinstated"
        case .institutionAlreadySuspended: "Only an active or warned institution may be suspended"
        case .inspectionInvalid: "An inspection needs a year of 2000–2100, a known result and a star rating of 1–5"
        case .ratingOutOfRange: "Ratings are whole numbers from 1 to 5"
        case .enrollmentAlreadyReviewed: "This enrollment has already been reviewed"
        case .complaintNotAwaitingAnswer: "Only an open complaint may be answered"
        case .complaintAlreadyClosed: "The complaint is already closed"
        case .contractNotSigned: "The enrollment's contract must be signed by the institution and the guardian before payment"
        case .contractNotAwaitingSignature: "The contract is not waiting for this party's signature"
        case .contractAlreadySigned: "The enrollment already has a contract signed by both parties, or is paid"
        case .signingCertificateRevoked: "The signer's certificate was revoked; it signs nothing more"
        case .identityNumberInvalid: "An identity number must have 18 characters: 17 digits and a digit or X"
        case .approvingAuthorityInvalid: "The approving authority must be 1–100 characters without control or format characters"
        }
    }
}

/// Turns every error into problem+json: named rejections and known failures into 4xx, anything else into a logged 500.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try Self.problem(for: error, logger: context.logger).response(from: request, context: context)
        }
    }

    static func problem(for error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem: return problem
        case let error as CommitOutcomeUnknown:
            logger.warning("outcome unknown", metadata: ["error": "\(error)"])
            return Problem(error)
        case let failure as any ProblemConvertible:
            if failure.status == .internalServerError {
                logger.error("server error", metadata: ["code": "\(failure.code)", "error": "\(String(reflecting: error))"])
            }
            return Problem(failure)
        case let error where DatabaseAvailability.isTransient(error):
            // A transaction of this request may have committed before the failure (a route of two transactions): then
            // "nothing was written" would be false, and a retry with a new key, or of a keyless route, would write twice.
            let problem = Problem.cutShort(CommitTracker.current)
            logger.warning("database unavailable", metadata: ["error": "\(String(reflecting: error))", "answer": "\(problem.code)"])
            return problem
        case let error as DecodingError: return .malformedBody(describe(error))
        case let error as HTTPError: return problem(for: error, logger: logger)
        default:
            if let refusal = TuitionStore.rejection(for: error) {
                // A statement outside `mappingRejections` was refused: its transaction wrote nothing, and the input
                // should have been refused before it reached the database (logged so that the check is added).
                logger.error("database refusal reached the edge", metadata: ["error": "\(String(reflecting: error))"])
                return Problem(refusal)
            }
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return Problem(APIFailure.internalError)
        }
    }

    /// Hummingbird's own errors, mapped onto our codes: a status we have a code for keeps it, any other client error
    /// is `request_refused` and any other server error `internal_error`, so no code outside the spec's list goes out.
    static func problem(for error: HTTPError, logger: Logger) -> Problem {
        switch error.status {
        case .notFound: return .notFound
        case .unauthorized: return .unauthenticated
        case .contentTooLarge: return Problem(APIFailure.bodyTooLarge)
        case .methodNotAllowed: return Problem(APIFailure.methodNotAllowed)
        case let status where status.kind == .clientError: return Problem(APIFailure.requestRefused, detail: error.body)
        case let status:
            logger.error("server error", metadata: ["status": "\(status.code)", "error": "\(String(reflecting: error))"])
            return Problem(APIFailure.internalError)
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "body" : path
        }
        switch error {
        case .typeMismatch(_, let context): return "\(path(context)): wrong type (\(context.debugDescription))"
        case .valueNotFound(_, let context): return "\(path(context)): value missing"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent == "body" ? "" : parent + ".")\(key.stringValue): required field missing"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "malformed JSON"
        }
    }
}
