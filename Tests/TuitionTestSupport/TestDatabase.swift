import Foundation
import Logging
import PostgresNIO
import TuitionCore
import TuitionStore

public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
}

/// A settable clock for tests that need time to pass (the 7-day answer window).
public final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date()) { self.current = start }

    public var now: Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    public func advance(by interval: TimeInterval) {
        lock.lock()
        defer { lock.unlock() }
        current += interval
    }
}

/// A fresh database per suite, migrated from `sql/`, on the PostgreSQL that `tools/test` starts.
public enum TestDatabase {
    public static var logger: Logger {
        var logger = Logger(label: "tests")
        logger.logLevel = .warning
        return logger
    }

    static var serverURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
                throw TestSetupError(description: "DATABASE_URL is not set: run the tests with tools/test, which starts PostgreSQL")
            }
            return url
        }
    }

    static var sqlDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["TUITIONGUARD_SQL_DIR"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sql")
    }

    /// Creates database `tg_<suite>_<random>`, applies the migrations, runs `body` with a store on it, then drops it.
    /// `connections` bounds the store's pool (PostgresNIO's default otherwise).
    public static func withStore<T: Sendable>(
        _ suite: String, clock: TestClock? = nil, connections: Int? = nil, _ body: @Sendable @escaping (Store) async throws -> T
    ) async throws -> T {
        let url = try serverURL
        let name = "tg_\(suite.lowercased())_\(UInt32.random(in: .min ... .max))"
        try await withClient(url) { admin in
            try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        let databaseURL = url.replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
        let dependencies = clock.map { clock in Dependencies(now: { clock.now }, newID: Dependencies.live.newID) } ?? .live
        let result = try await withClient(databaseURL, connections: connections) { client in
            try await Migrator(directory: sqlDirectory).migrate(client: client, logger: logger)
            return try await body(Store(client: client, logger: logger, dependencies: dependencies))
        }
        _ = try? await withClient(url) { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
        return result
    }

    /// Generous bounds on every test session, far above what any test needs on a loaded machine: a statement or lock
    /// wait that never ends fails its test with PostgreSQL's error instead of hanging the whole run.
    static var testTimeouts: DatabaseTimeouts {
        var timeouts = DatabaseTimeouts()
        timeouts.statement = .seconds(300)
        timeouts.lock = .seconds(120)
        timeouts.idleInTransaction = .seconds(300)
        timeouts.connect = .seconds(60)
        timeouts.keepAliveQuery = .seconds(30)
        return timeouts
    }

    /// Runs `body` with a running connection pool to `url`, of at most `connections` when given.
    @discardableResult
    public static func withClient<T: Sendable>(
        _ url: String, connections: Int? = nil, _ body: @Sendable @escaping (PostgresClient) async throws -> T
    ) async throws -> T {
        var configuration = try postgresConfiguration(url: url)
        configuration.apply(testTimeouts)
        if let connections { configuration.options.maximumConnections = connections }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            group.addTask { try await body(client) }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let next { return next }
            }
            throw CancellationError()
        }
    }
}
