import Foundation
import PostgresNIO
import TuitionCore

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
    /// The token was revoked, expired or its institution blacklisted since the request was authenticated (the
    /// authentication may come from `TokenHolderCache`).
    case tokenNoLongerLive
}

public struct IdempotencyRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Claims `key` for this request inside the caller's transaction. Keys belong to `owner`, the entity the
    /// principal acts for (`PrincipalEntity.idempotencyOwner`), not to one of its tokens; `principal` records which
    /// token used it first. A concurrent request with the same key waits on the unique index until the first
    /// commits, then sees its response. The same statement checks the token is still live and its institution not
    /// defunct, so a token revoked a moment ago moves no money.
    public func begin(owner: String, principal: UUID, key: String, requestDigest: Data, on transaction: StoreTransaction) async throws
        -> IdempotencyOutcome
    {
        let connection = transaction.connection
        let claimed = try await connection.execute(
            ClaimKeyStatement(owner: owner, principal: principal, key: key, digest: requestDigest, now: store.dependencies.now()),
            logger: store.logger)
        var outcome: ClaimKeyStatement.Row?
        for try await row in claimed { outcome = row }
        guard let (live, institutionStatus, inserted) = outcome else { throw CorruptRow(value: "key claim returned no row") }
        if let refused = refusal(live: live, institutionStatus: institutionStatus) { return refused }
        if inserted { return .proceed }
        return try await earlierUse(
            owner: owner, key: key, requestDigest: requestDigest, defunct: institutionStatus == InstitutionStatus.defunct.rawValue,
            on: connection)
    }

    /// What a claim's row says of the token: `tokenNoLongerLive` for a revoked or expired one or a blacklisted
    /// institution's, nil when it may go on (a defunct institution's key is never claimed: see `earlierUse`).
    func refusal(live: Bool, institutionStatus: String?) -> IdempotencyOutcome? {
        guard live, institutionStatus != InstitutionStatus.blacklisted.rawValue else { return .tokenNoLongerLive }
        return nil
    }

    /// For a key that was not claimed now: the first response when the request is the same, else `conflict`. A
    /// `defunct` institution's request is only ever a replay: a retry of a request that ran before the mark gets its
    /// first response (it moves nothing), anything else is refused (`institutionDefunct`).
    func earlierUse(owner: String, key: String, requestDigest: Data, defunct: Bool, on connection: PostgresConnection) async throws
        -> IdempotencyOutcome
    {
        if let first = try await stored(owner: owner, key: key, digest: requestDigest, on: connection) { return .replay(first) }
        if defunct { throw Rejection.institutionDefunct }
        return .conflict
    }

    /// The response kept under `key` when the same request (`digest`) used it; nil for a key unused or used otherwise.
    private func stored(owner: String, key: String, digest: Data, on connection: PostgresConnection) async throws -> StoredResponse? {
        let rows = try await connection.execute(StoredResponseStatement(owner: owner, key: key), logger: store.logger)
        var found: StoredResponse?
        for try await (used, status, body) in rows where used == digest { found = StoredResponse(status: status, body: body) }
        return found
    }

    /// The first response to `claim`'s request, when its key was used by that same request (a replay); nil otherwise.
    /// Read outside any transaction: for a principal that may no longer write, whose retries may only be replays.
    public func replay(of claim: KeyClaim) async throws -> StoredResponse? {
        try await store.withConnection { try await stored(owner: claim.owner, key: claim.key, digest: claim.digest, on: $0) }
    }

    public func finish(owner: String, key: String, response: StoredResponse, on transaction: StoreTransaction) async throws {
        let connection = transaction.connection
        let done = try await connection.execute(
            FinishKeyStatement(owner: owner, key: key, status: response.status, body: response.body), logger: store.logger)
        for try await _ in done {}
    }
}

/// `begin`: whether the token is live, its institution's status, and whether the key was claimed (only for a live
/// token of an institution that is neither blacklisted nor defunct, and only when it was new).
struct ClaimKeyStatement: PostgresPreparedStatement {
    static let sql = """
        WITH \(claim)
        SELECT \(outcome)
        """
    /// The claim as common table expressions (`holder`, `claimed`), binds $1–$5; a money write's first statement
    /// starts with them too (`ClaimKeyAndLockStatement`). The token's row is held for share: a revocation in flight is
    /// waited out and then seen, so a token whose revocation was answered moves no money.
    static let claim = """
        holder AS (
            SELECT i.status FROM principals p LEFT JOIN institutions i ON i.id = p.institution_id
            WHERE p.id = $1 AND p.revoked_at IS NULL AND p.expires_at > $4
            FOR SHARE OF p),
        claimed AS (
            INSERT INTO idempotent_requests (owner, principal_id, key, request_sha256, status_code, response_body, created_at)
            SELECT $5, $1, $2, $3, 0, ''::bytea, $4 FROM holder
            WHERE holder.status IS NULL OR holder.status NOT IN ('blacklisted', 'defunct')
            ON CONFLICT DO NOTHING RETURNING 1)
        """
    static let outcome = "EXISTS (SELECT 1 FROM holder), (SELECT status FROM holder), EXISTS (SELECT 1 FROM claimed)"
    typealias Row = (Bool, String?, Bool)

    var owner: String
    var principal: UUID
    var key: String
    var digest: Data
    var now: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(principal)
        bindings.append(key)
        try bindings.append(digest)
        bindings.append(now)
        bindings.append(owner)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// `begin`: the first request's digest and response, for a key already claimed.
struct StoredResponseStatement: PostgresPreparedStatement {
    static let sql = "SELECT request_sha256, status_code, response_body FROM idempotent_requests WHERE owner = $1 AND key = $2"
    typealias Row = (Data, Int, Data)

    var owner: String
    var key: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(owner)
        bindings.append(key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// `finish`: keeps the response for replays.
struct FinishKeyStatement: PostgresPreparedStatement {
    static let sql = update(firstBind: 1)

    /// The UPDATE with its binds from `$n` on (status, body, owner, key): a money write folds it into its own
    /// statement, so the response is kept without a round trip of its own. NULL owner and key update nothing.
    static func update(firstBind n: Int) -> String {
        """
        UPDATE idempotent_requests SET status_code = $\(n)::bigint, response_body = $\(n + 1)::bytea
        WHERE owner = $\(n + 2)::text AND key = $\(n + 3)::text
        """
    }
    typealias Row = ()

    var owner: String
    var key: String
    var status: Int
    var body: Data

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(status)
        try bindings.append(body)
        bindings.append(owner)
        bindings.append(key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
