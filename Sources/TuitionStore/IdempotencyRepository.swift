import Foundation
import PostgresNIO

/// The first response to a request with an `Idempotency-Key`, kept so a replay gets it again and moves nothing.
public struct StoredResponse: Sendable, Equatable {
    public var status: Int
    public var body: Data

    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

public enum IdempotencyOutcome: Sendable {
    /// The key is new: the request runs in this transaction.
    case proceed
    /// The key was used with the same request: here is the first response.
    case replay(StoredResponse)
    /// The key was used with a different request.
    case conflict
}

public struct IdempotencyRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Claims `key` for this request inside the caller's transaction. A concurrent request with the same key
    /// waits on the unique index until the first commits, then sees its response.
    public func begin(principal: UUID, key: String, requestDigest: Data, on connection: PostgresConnection) async throws
        -> IdempotencyOutcome
    {
        let inserted = try await connection.query(
            """
            INSERT INTO idempotent_requests (principal_id, key, request_sha256, status_code, response_body, created_at)
            VALUES (\(principal), \(key), \(requestDigest), 0, ''::bytea, \(store.dependencies.now()))
            ON CONFLICT DO NOTHING RETURNING 1
            """, logger: store.logger)
        for try await _ in inserted { return .proceed }
        let rows = try await connection.query(
            "SELECT request_sha256, status_code, response_body FROM idempotent_requests WHERE principal_id = \(principal) AND key = \(key)",
            logger: store.logger)
        for try await (digest, status, body) in rows.decode((Data, Int, Data).self) {
            return digest == requestDigest ? .replay(StoredResponse(status: status, body: body)) : .conflict
        }
        return .conflict
    }

    public func finish(principal: UUID, key: String, response: StoredResponse, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE idempotent_requests SET status_code = \(response.status), response_body = \(response.body)
            WHERE principal_id = \(principal) AND key = \(key)
            """, logger: store.logger)
    }
}
