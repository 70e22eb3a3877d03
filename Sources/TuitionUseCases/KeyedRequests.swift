import Foundation
import TuitionCore
import TuitionStore

/// A request that moves money under an `Idempotency-Key`, as the use cases see it: whose key, which token, the
/// digest of the request it was first used with (method, path and body, hashed: the same key with another request is
/// refused), and the status its response answers with. Storage claims it as it is (`KeyClaim`).
public typealias KeyedRequest = KeyClaim

/// Why a keyed request did not run.
public enum KeyedRequestRefusal: Error, Sendable {
    /// The key was used with a different request.
    case keyReusedForAnotherRequest
    /// The token was revoked or expired, or its institution blacklisted, since the request was authenticated.
    case tokenNoLongerLive
}

/// A keyed request's answer: the response stored with its first run, and what the run returned if it ran now
/// (nil on a replay, which moved nothing).
public struct KeyedOutcome<Result: Sendable>: Sendable {
    public var response: StoredResponse
    public var ran: Result?
}

/// Runs a money-moving request once per key: the first run's response is stored in the same transaction as its
/// effects; a replay with the same request gets that response and moves nothing; the same key with another request
/// is refused (`keyReusedForAnotherRequest`).
public struct KeyedRequests: Sendable {
    let store: Store
    var keys: IdempotencyRepository { IdempotencyRepository(store: store) }

    public init(store: Store) { self.store = store }

    /// `encode` turns the run's result into the response body stored and answered.
    public func run<Result: Sendable>(
        _ request: KeyedRequest, encode: (Result) throws -> Data, _ operation: (StoreTransaction) async throws -> Result
    ) async throws -> KeyedOutcome<Result> {
        try await store.transaction { (transaction: StoreTransaction) in
            let outcome = try await keys.begin(
                owner: request.owner, principal: request.principal, key: request.key, requestDigest: request.digest, on: transaction)
            guard case .proceed = outcome else { return try Self.notRun(outcome) }
            let result = try await operation(transaction)
            let response = StoredResponse(status: request.status, body: try encode(result))
            try await keys.finish(owner: request.owner, key: request.key, response: response, on: transaction)
            return KeyedOutcome(response: response, ran: result)
        }
    }

    /// Runs a write that claims the key and keeps its response itself, in its own statements (`KeyedWrite`); the
    /// outcomes are `run`'s.
    public func runWrite<Result: Sendable>(
        _ request: KeyedRequest, _ write: (KeyClaim, StoreTransaction) async throws -> KeyedWrite<Result>
    ) async throws -> KeyedOutcome<Result> {
        try await store.transaction { (transaction: StoreTransaction) in
            switch try await write(request, transaction) {
            case .ran(let result, let response): return KeyedOutcome(response: response, ran: result)
            case .answered(let outcome): return try Self.notRun(outcome)
            }
        }
    }

    /// A key that was not new (the first response, or the refusal of another request), or a token no longer live.
    static func notRun<Result>(_ outcome: IdempotencyOutcome) throws -> KeyedOutcome<Result> {
        switch outcome {
        case .replay(let response): return KeyedOutcome(response: response, ran: nil)
        case .conflict: throw KeyedRequestRefusal.keyReusedForAnotherRequest
        case .tokenNoLongerLive: throw KeyedRequestRefusal.tokenNoLongerLive
        case .proceed: preconditionFailure("a claimed key runs its request")
        }
    }
}
