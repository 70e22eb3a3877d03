import Foundation
import Logging
import PostgresNIO
import Synchronization
import TuitionCore

/// Where ids and time come from; tests pass fixed ones.
public struct Dependencies: Sendable {
    public var now: @Sendable () -> Date
    public var newID: @Sendable () -> UUID

    public init(now: @escaping @Sendable () -> Date, newID: @escaping @Sendable () -> UUID) {
        self.now = now
        self.newID = newID
    }

    public static let live = Dependencies(
        now: { Date() },
        newID: { UUID.timeOrdered(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000)) }
    )
}

/// The PostgreSQL side of TuitionGuard: one connection pool and the repositories built on it.
public struct Store: Sendable {
    let pool: RenewablePool
    public let logger: Logger
    public let dependencies: Dependencies
    /// Shared by every `Store` of one process that can revoke or authenticate (see `TokenHolderCache`).
    public let tokenHolders: TokenHolderCache

    /// Within the package only (tests, the CLI's migrations); the layers above reach the database through the store.
    package var client: PostgresClient { pool.client }

    /// A store on an existing pool the caller runs, within the package (tests); `Store.connect` makes a pool of its own.
    package init(
        client: PostgresClient, logger: Logger, dependencies: Dependencies = .live, tokenHolders: TokenHolderCache = TokenHolderCache()
    ) {
        self.init(
            pool: RenewablePool(client: client, renewal: nil, logger: logger), logger: logger, dependencies: dependencies,
            tokenHolders: tokenHolders)
    }

    init(pool: RenewablePool, logger: Logger, dependencies: Dependencies, tokenHolders: TokenHolderCache) {
        self.pool = pool
        self.logger = logger
        self.dependencies = dependencies
        self.tokenHolders = tokenHolders
    }

    /// Runs `body` in one transaction on the connection itself (inside storage; the layers above get a
    /// `StoreTransaction`); an error thrown by `body` rolls it back and is rethrown as it was.
    ///
    /// PostgresNIO ignores cancellation and `withTransaction` sends COMMIT whenever the closure returns, so a statement
    /// that stalled past the request's deadline would otherwise commit after the client was told nothing was written.
    /// Just before COMMIT the transaction rolls back instead when its task was cancelled or its request already
    /// answered, and otherwise claims the request's COMMIT (`CommitTracker`), with no suspension point between the
    /// claim and COMMIT being sent.
    func transaction<Result: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let tracker = CommitTracker.current
        let lift = CommitTimeoutLift()
        var claimed = false
        do {
            return try await leasing("transaction", file, line) {
                try await client.withTransaction(logger: logger) { connection in
                    try await AbandonedConnection.closing(connection) {
                        let result = try await CommitTimeoutLift.$current.withValue(lift) { try await body(connection) }
                        if !lift.isDone { try await connection.run(Self.noStatementTimeoutAtCommit, logger: logger) }
                        try Task.checkCancellation()
                        claimed = try tracker?.claimCommit() ?? false
                        return result
                    }
                }
            }
        } catch let error as PostgresTransactionError {
            if error.closureError == nil, error.beginError == nil, let commit = error.commitError,
                DatabaseAvailability.commitOutcomeIsUnknown(commit)
            {
                throw CommitOutcomeUnknown(cause: commit)
            }
            // The server refused the COMMIT and rolled the transaction back: nothing of it was written.
            if claimed, error.commitError != nil { tracker?.releaseClaim() }
            // Transfers post their accounts' totals at COMMIT (sql/0024): a restricted account that concurrent
            // transactions, each fine alone, would overdraw together refuses the later COMMIT, which rolls it back whole.
            if error.closureError == nil, let commit = error.commitError, rejection(for: commit) == .accountWouldGoNegative {
                throw Rejection.accountWouldGoNegative
            }
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    /// One statement that writes a new row, in a transaction of its own, and its first row decoded. On its own the
    /// statement would commit as it ran: a connection lost just after would leave the request answering "nothing was
    /// written" (503), inviting a retry that writes the row twice. Here the COMMIT is claimed first, so that loss
    /// answers "outcome unknown" (504). (Rows of an INSERT … RETURNING come once the whole statement has run, so a
    /// refusal by a constraint or trigger arrives before the first.)
    func firstRow<Row: Sendable>(
        ofWrite query: PostgresQuery, file: StaticString = #fileID, line: UInt = #line, _ decode: (PostgresRow) throws -> Row
    ) async throws -> Row? {
        try await transaction(file: file, line: line) { connection in
            for try await row in try await connection.query(query, logger: logger) { return try decode(row) }
            return nil
        }
    }

    /// Lifts `statement_timeout` for the rest of the transaction, which is only its COMMIT. Under synchronous
    /// replication (Patroni's synchronous_mode, tools/cluster) COMMIT waits for the standby after the commit is already
    /// durable on the primary; a statement timeout during that wait does not undo it: PostgreSQL cancels the wait with
    /// only a WARNING and reports success, acknowledging a write a failover may lose. Without the timeout a slow standby
    /// holds the COMMIT until the request's deadline, which answers 504 (outcome unknown) instead. `set_config(…, true)`
    /// is transaction-local, so the session's bound is back for the next transaction. It costs one round trip per
    /// transaction: a COMMIT cannot share a statement, and folding the setting into each transaction's last statement
    /// would spread this rule over every repository.
    static let noStatementTimeoutAtCommit: PostgresQuery = "SELECT \(unescaped: CommitTimeoutLift.expression)"

    /// Runs `body`'s reads in one read-only REPEATABLE READ transaction: every statement sees the same snapshot, so
    /// reads made of several statements agree with each other whatever commits meanwhile.
    func readingOneSnapshot<Result: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(file: file, line: line) { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// A transaction that may end tokens or change what their holders may do (a revocation, an institution's status):
    /// every cached token holder is forgotten once it has ended.
    func transactionChangingAuthority<Result: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        defer { tokenHolders.forgetAll() }
        return try await transaction(file: file, line: line, body)
    }

    @discardableResult
    public func query(_ query: PostgresQuery, file: StaticString = #fileID, line: UInt = #line) async throws -> PostgresRowSequence {
        RoundTripCounter.current?.record()
        return try await leasing("query", file, line) { try await client.query(query, logger: logger) }
    }

    /// Runs `body` on one pooled connection, outside any transaction of its own.
    func withConnection<Result: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await leasing("connection", file, line) {
            try await client.withConnection { connection in
                try await AbandonedConnection.closing(connection) { try await body(connection) }
            }
        }
    }

    /// Every lease of the store's pool (see `NestedLease`).
    private func leasing<Result>(
        _ what: StaticString, _ file: StaticString, _ line: UInt, _ body: () async throws -> Result
    ) async throws -> Result {
        try await NestedLease.leasing(pool, NestedLease.Site(what: what, file: file, line: line), logger: logger, body)
    }

    /// Runs a prepared statement on a pooled connection (prepared there on first use), counted like `query`.
    func execute<Statement: PostgresPreparedStatement>(_ statement: Statement, file: StaticString = #fileID, line: UInt = #line)
        async throws
        -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row>
    {
        RoundTripCounter.current?.record()
        return try await leasing("statement", file, line) { try await client.execute(statement, logger: logger) }
    }
}

/// Parses `postgres://user[:password]@host[:port]/database` into a client configuration.
public func postgresConfiguration(url text: String) throws -> PostgresClient.Configuration {
    guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
        let user = url.user, !url.path.isEmpty
    else { throw StoreError.invalidDatabaseURL(text) }
    let database = String(url.path.dropFirst())
    var configuration = PostgresClient.Configuration(
        host: url.host ?? "127.0.0.1", port: url.port ?? 5432, username: user,
        password: url.password, database: database, tls: .disable)
    configuration.options.maximumConnections = 32
    return configuration
}

/// Bounds the service puts on every database session (sent as startup parameters, so every statement of every
/// transaction has them without a round trip), and how the pool notices dead connections.
public struct DatabaseTimeouts: Sendable {
    /// `statement_timeout`: a statement running longer is cancelled by the server (57014, answered 503). COMMIT is
    /// exempt (`Store.noStatementTimeoutAtCommit`): the request's or the batch's deadline bounds it.
    public var statement: Duration = .seconds(10)
    /// `lock_timeout`: a row lock waited on longer fails the statement (55P03, answered 503).
    public var lock: Duration = .seconds(5)
    /// `idle_in_transaction_session_timeout`: a transaction whose client went quiet (a request abandoned at its
    /// deadline on a hung connection) is ended by the server, releasing its locks.
    public var idleInTransaction: Duration = .seconds(30)
    /// How long a new connection may take. PostgresNIO 1.33 exposes no socket options for pooled connections, so
    /// TCP keepalive on the client side is replaced by the pool's keep-alive query on idle connections (below),
    /// the server's `tcp_keepalives_*` settings, and the deadlines on every request and batch.
    public var connect: Duration = .seconds(3)
    /// How often an idle pooled connection is checked with `SELECT 1`; a dead one is closed and replaced.
    public var keepAliveQuery: Duration = .seconds(10)
    /// `client_connection_check_interval`: how often the server checks, while a statement runs, that its client is
    /// still there. Without it the session of a service killed mid-statement runs on (up to the background pool's
    /// 600 s `statement_timeout`), holding its locks (a fast-track plan holds a whole institution's enrollments)
    /// against the restarted service.
    public var clientCheck: Duration = .seconds(2)

    public init() {}

    /// For the background services' own pool: a fast-track plan over a province's enrollments is one statement that
    /// may run for minutes; each service's batch deadline bounds it instead.
    public static var background: DatabaseTimeouts {
        var timeouts = DatabaseTimeouts()
        timeouts.statement = .seconds(600)
        timeouts.lock = .seconds(30)
        return timeouts
    }

    func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
    }
}

extension PostgresClient.Configuration {
    /// Applies `timeouts` to every connection the pool opens.
    public mutating func apply(_ timeouts: DatabaseTimeouts) {
        options.additionalStartupParameters += [
            ("statement_timeout", timeouts.milliseconds(timeouts.statement)),
            ("lock_timeout", timeouts.milliseconds(timeouts.lock)),
            ("idle_in_transaction_session_timeout", timeouts.milliseconds(timeouts.idleInTransaction)),
            ("client_connection_check_interval", timeouts.milliseconds(timeouts.clientCheck)),
        ]
        options.connectTimeout = timeouts.connect
        options.keepAliveBehavior = .init(frequency: timeouts.keepAliveQuery)
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case invalidDatabaseURL(String)
    case migrationChanged(String)
    case migrationsNotFound(String)
    case unknownEntity(String)

    public var description: String {
        switch self {
        case .invalidDatabaseURL(let url): "DATABASE_URL is not a postgres:// URL: \(url)"
        case .migrationChanged(let name): "migration \(name) was changed after it was applied; migrations are forward-only"
        case .migrationsNotFound(let path): "no migrations found in \(path)"
        case .unknownEntity(let entity): "no such entity: \(entity)"
        }
    }
}

extension PSQLError {
    var sqlState: String? { serverInfo?[.sqlState] }
    var constraint: String? { serverInfo?[.constraintName] }
}

/// Turns the database's refusal of a row into the business rejection it stands for. Public so that the API's last
/// resort maps a refusal by a statement no repository wrapped in `mappingRejections` the same way.
public func rejection(for error: any Error) -> Rejection? {
    guard let error = error as? PSQLError else { return nil }
    switch (error.sqlState, error.constraint) {
    case ("23514", "restricted_account_not_negative"): return .accountWouldGoNegative
    case ("23514", "lessons_consumed_within_bought"): return .lessonsExceedRemaining
    case ("23514", "payment_needs_signed_contract"): return .contractNotSigned
    case ("23514", "defunct_is_final"): return .institutionDefunct
    case ("23514", "blacklisting_is_final"): return .institutionIsBlacklisted
    case ("23505", "institutions_licence_number_key"): return .licenceNumberTaken
    case ("23P01", "policies_one_per_enrollment"): return .enrollmentAlreadyInsured
    case ("23505", "claims_one_open_per_enrollment_policy"): return .claimAlreadyOpen
    case ("23505", "reviews_enrollment_id_key"): return .enrollmentAlreadyReviewed
    case ("22003", _): return .amountTooLarge
    // Any other refusal by a constraint, or a value PostgreSQL cannot read as its type, is bad input that slipped
    // past validation: 422, never 500.
    case ("23514", _), ("22001", _), ("23502", _), ("22007", _), ("22008", _), ("22P02", _): return .valueOutOfRange
    default: return nil
    }
}

/// Runs `body`, mapping database constraint refusals to named rejections.
func mappingRejections<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        if let rejection = rejection(for: error) { throw rejection }
        throw error
    }
}

/// A page of a list, in id order, with the id to continue after.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var next: String?

    public init(items: [Item], next: String?) {
        self.items = items
        self.next = next
    }
}

/// What a list asks for: up to `limit` items after `after` (an id, exclusive).
public struct PageRequest: Sendable {
    public var after: UUID?
    public var limit: Int

    public init(after: UUID? = nil, limit: Int = 50) {
        self.after = after
        self.limit = min(max(limit, 1), 200)
    }

    /// The floor used when no cursor is given: sorts before every UUID.
    var afterOrFloor: UUID { after ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) }

    func page<Item>(_ fetched: [Item], id: (Item) -> UUID) -> Page<Item> {
        guard fetched.count > limit else { return Page(items: fetched, next: nil) }
        let items = Array(fetched.prefix(limit))
        return Page(items: items, next: items.last.map { id($0).uuidString.lowercased() })
    }
}

extension PostgresConnection {
    /// Runs a statement whose rows the caller does not need (a lock taken with `SELECT … FOR UPDATE`, an advisory lock,
    /// a check function) and reads them to the end. PostgresNIO hands over a row-returning statement's rows once their
    /// description arrives, so a failure during execution (a lock timeout, a raised exception) is thrown only while
    /// they are read; unread, it is lost, and PostgreSQL then answers the transaction's COMMIT with a ROLLBACK.
    func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

/// Whether a statement of the current transaction already lifted `statement_timeout` for its COMMIT
/// (`Store.noStatementTimeoutAtCommit`), so the commit path skips that round trip. The money writes, the hottest path,
/// fold `expression` into their one write statement and call `noteLifted` once it has returned a row (a row means the
/// statement evaluated the expression).
final class CommitTimeoutLift: Sendable {
    @TaskLocal static var current: CommitTimeoutLift?

    /// Lifts the timeout for the rest of the transaction (`set_config(…, true)` is transaction-local).
    static let expression = "set_config('statement_timeout', '0', true)"

    private let lifted = Atomic<Bool>(false)

    var isDone: Bool { lifted.load(ordering: .relaxed) }

    /// A statement that evaluated `expression` ran in the current transaction.
    static func noteLifted() { current?.lifted.store(true, ordering: .relaxed) }
}
