import Crypto
import Foundation
import Logging
import PostgresNIO

/// Applies the numbered SQL files of `sql/` in order, each in its own transaction, recording each in
/// `schema_migrations` with its SHA-256 so an applied migration can never silently change.
public struct Migrator: Sendable {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
        public var sha256: String { SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined() }
    }

    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// The migrations directory: `TUITIONGUARD_SQL_DIR`, else `sql/` under the working directory.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let path = environment["TUITIONGUARD_SQL_DIR"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql")
    }

    public func migrations() throws -> [Migration] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let migrations = try names.filter { $0.hasSuffix(".sql") }.sorted().compactMap { name -> Migration? in
            guard let version = Int(name.prefix(while: \.isNumber)) else { return nil }
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            return Migration(version: version, name: name, sql: sql)
        }
        guard !migrations.isEmpty else { throw StoreError.migrationsNotFound(directory.path) }
        return migrations
    }

    /// Applies what is missing; returns the names applied now.
    @discardableResult
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [String] {
        let migrations = try self.migrations()
        return try await client.withConnection { connection in
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version int PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            // One migrator at a time, whatever else is connected.
            try await connection.run("SELECT pg_advisory_lock(7469696)", logger: logger)
            do {
                let appliedNow = try await apply(migrations, on: connection, logger: logger)
                try await connection.run("SELECT pg_advisory_unlock(7469696)", logger: logger)
                return appliedNow
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7469696)", logger: logger)
                throw error
            }
        }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        var applied: [Int: String] = [:]
        for try await (version, sha) in try await connection.query(
            "SELECT version, sha256 FROM schema_migrations", logger: logger
        ).decode((Int, String).self) {
            applied[version] = sha
        }
        var appliedNow: [String] = []
        for migration in migrations {
            if let sha = applied[migration.version] {
                guard sha == migration.sha256 else { throw StoreError.migrationChanged(migration.name) }
                continue
            }
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in splitSQLStatements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, sha256)
                    VALUES (\(migration.version), \(migration.name), \(migration.sha256))
                    """, logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            logger.info("applied migration", metadata: ["migration": .string(migration.name)])
            appliedNow.append(migration.name)
        }
        return appliedNow
    }
}
