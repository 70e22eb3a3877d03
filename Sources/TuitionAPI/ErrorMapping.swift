import ContractKit
import TuitionStore
import TuitionUseCases

// The errors of the layers below the API, each mapped onto one of the API's failures with an exhaustive switch.
// `ProblemMiddleware` answers with them wherever they are thrown; no route maps them itself.

extension NotFound: APIFailureConvertible {
    var failure: APIFailure { .notFound }
}

extension CommitOutcomeUnknown: APIFailureConvertible {
    var failure: APIFailure { .outcomeUnknown }
}

extension KeyedRequestRefusal: APIFailureConvertible {
    var failure: APIFailure {
        switch self {
        case .keyReusedForAnotherRequest: .idempotencyKeyReused
        case .tokenNoLongerLive: .unauthenticated
        }
    }
}

extension TokenNoLongerLive: APIFailureConvertible {
    var failure: APIFailure { .unauthenticated }
}

extension LogQueryError: APIFailureConvertible {
    var failure: APIFailure {
        switch self {
        case .beyondTree: .beyondTree
        }
    }
}

extension DashboardQueryError: APIFailureConvertible {
    var failure: APIFailure {
        switch self {
        case .badCursor: .invalidParameter
        }
    }

    var detail: String? {
        switch self {
        case .badCursor: "cursor is not one we gave out"
        }
    }
}

extension ContractsNotConfigured: APIFailureConvertible {
    var failure: APIFailure { .contractsNotConfigured }
}

extension CertificateAuthorityNotInitialised: APIFailureConvertible {
    var failure: APIFailure { .caNotInitialised }
}

extension CertificateAuthorityExpired: APIFailureConvertible {
    var failure: APIFailure { .caExpired }
}

/// A signing certificate neither issued nor read because another transaction was replacing it at that moment: nothing
/// was written, and the same request again finds the new one.
extension CertificateStorageFailed: APIFailureConvertible {
    var failure: APIFailure { .serviceUnavailable }
}

extension ContractRenderError: APIFailureConvertible {
    /// A template that is unusable or renders a document its own schema refuses is the server's fault.
    var failure: APIFailure {
        switch self {
        case .fieldMissing: .contractFieldMissing
        case .fieldUnknown: .contractFieldUnknown
        case .fieldInvalid: .contractFieldInvalid
        case .templateNotFound: .contractTemplateNotFound
        case .documentDoesNotMatchSchema, .templateInvalid: .internalError
        }
    }

    var detail: String? {
        switch self {
        case .fieldMissing(let field), .fieldUnknown(let field): field
        case .fieldInvalid(let field, let reason): "\(field): \(reason)"
        case .templateNotFound: description
        case .documentDoesNotMatchSchema, .templateInvalid: nil
        }
    }
}

extension XMLParseError: APIFailureConvertible {
    var failure: APIFailure {
        switch self {
        case .documentExceedsSizeLimit: .bodyTooLarge
        case .documentIsNotUTF8, .documentHasNulByte, .documentDeclarationNotAccepted, .documentHasDoctype, .documentIsNotWellFormed:
            .documentNotAccepted
        case .documentExceedsAttributeLimit, .documentExceedsElementLimit: .documentTooComplex
        }
    }

    var detail: String? { description }
}
