import Logging
import PostgresNIO
import TuitionCore
import TuitionWire

/// One open database transaction, as the layers above storage hold it: they pass it back to the store's functions
/// and never see the connection inside. `Store.transaction` opens one; it ends (commit, or rollback on a throw) when
/// that closure returns.
public struct StoreTransaction: Sendable {
    /// Within the package only, for tests and tools that run their own SQL in the transaction.
    package let connection: PostgresConnection

    /// Within the package only: runs `query` in this transaction (tests and tools).
    @discardableResult
    package func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger)
    }
}

extension Store {
    /// Runs `query` in `transaction` when there is one (a task in a transaction never leases a second connection:
    /// `NestedLease`), else on a pooled connection of its own.
    func query(_ query: PostgresQuery, on transaction: StoreTransaction?, file: StaticString = #fileID, line: UInt = #line)
        async throws -> PostgresRowSequence
    {
        guard let transaction else { return try await self.query(query, file: file, line: line) }
        return try await transaction.connection.query(query, logger: logger)
    }

    /// Runs `body` in one transaction; an error thrown by `body` rolls it back and is rethrown as it was.
    public func transaction<Result: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: (StoreTransaction) async throws -> Result
    ) async throws -> Result {
        try await transaction(file: file, line: line) { (connection: PostgresConnection) in
            try await body(StoreTransaction(connection: connection))
        }
    }

    /// A transaction that may end tokens or change what their holders may do (a revocation, an institution's status):
    /// every cached token holder is forgotten once it has ended.
    public func transactionChangingAuthority<Result: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: (StoreTransaction) async throws -> Result
    ) async throws -> Result {
        try await transactionChangingAuthority(file: file, line: line) { (connection: PostgresConnection) in
            try await body(StoreTransaction(connection: connection))
        }
    }
}

/// Where the database is and how every session on it is bounded: read once at start, turned into a connection pool
/// by `Store.connect`.
public struct DatabaseConfiguration: Sendable {
    var postgres: PostgresClient.Configuration

    /// `postgres://user[:password]@host[:port]/database`.
    public init(url: String) throws {
        self.postgres = try postgresConfiguration(url: url)
    }

    /// Applies `timeouts` to every connection the pool opens.
    public mutating func apply(_ timeouts: DatabaseTimeouts) { postgres.apply(timeouts) }

    /// The most connections the pool opens at once.
    public var maximumConnections: Int {
        get { postgres.options.maximumConnections }
        set { postgres.options.maximumConnections = newValue }
    }
}

extension Store {
    /// A store on a new connection pool. The pool opens connections once the store runs as a service (`run()`).
    public static func connect(
        _ configuration: DatabaseConfiguration, logger: Logger, dependencies: Dependencies = .live,
        tokenHolders: TokenHolderCache = TokenHolderCache()
    ) -> Store {
        let pool = RenewablePool(
            client: PostgresClient(configuration: configuration.postgres, backgroundLogger: logger),
            renewal: RenewablePool.Renewal(configuration: configuration.postgres), logger: logger)
        return Store(pool: pool, logger: logger, dependencies: dependencies, tokenHolders: tokenHolders)
    }
}

extension Store {
    /// Runs the store's connection pool (and any pool that replaces it after an outage) until the task is cancelled:
    /// the composition root runs it as a service, started before anything that uses the store.
    public func run() async { await pool.run() }
}

extension EnrollmentRepository {
    /// Records a class session in the caller's transaction (see the connection form).
    public func recordClassSession(
        _ session: NewClassSession, institution: Institution.ID, releaseKeyPrefix: String, on transaction: StoreTransaction
    ) async throws -> ClassSessionRecord {
        try await recordClassSession(session, institution: institution, releaseKeyPrefix: releaseKeyPrefix, on: transaction.connection)
    }
}
