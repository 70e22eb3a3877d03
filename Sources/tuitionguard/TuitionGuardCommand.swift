import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TuitionAPI
import TuitionCore
import TuitionStore

@main
struct TuitionGuardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tuitionguard",
        abstract: "Supervised prepaid tuition: ledger, contracts, insurance and claims.",
        subcommands: [
            Serve.self, Migrate.self, Principals.self, Audit.self, Log.self, Defunct.self, Demo.self, Warnings.self, CA.self,
            ContractCommand.self,
        ])
}

/// PostgresNIO hides a server error's text from `description`; an operator at the command line needs it.
struct DatabaseFailure: Error, CustomStringConvertible {
    let description: String
}

/// A logger at the configured level, writing structured lines to standard error.
func makeLogger(_ label: String, level: Logger.Level) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = level
    return logger
}

/// Runs `body` with a store on a running connection pool, then shuts the pool down.
func withStore<T: Sendable>(databaseURL: String, logger: Logger, _ body: @Sendable @escaping (Store) async throws -> T) async throws -> T {
    let store = Store.connect(try DatabaseConfiguration(url: databaseURL), logger: logger)
    do {
        return try await run(body, on: store)
    } catch let error as PSQLError {
        throw DatabaseFailure(description: error.serverInfo?[.message] ?? String(reflecting: error))
    }
}

private func run<T: Sendable>(_ body: @Sendable @escaping (Store) async throws -> T, on store: Store) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await store.run()
            return nil
        }
        group.addTask { try await body(store) }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result { return result }
        }
        throw CancellationError()
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the HTTP service (TUITIONGUARD_HOST, TUITIONGUARD_PORT, DATABASE_URL).")

    @Option(help: "Override TUITIONGUARD_HOST.") var host: String?
    @Option(help: "Override TUITIONGUARD_PORT.") var port: Int?

    func run() async throws {
        var configuration = try AppConfiguration.fromEnvironment()
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        let logger = makeLogger("tuitionguard", level: configuration.logLevel)
        let dependencies = try AppDependencies.production(configuration: configuration, logger: logger)
        dependencies.bootstrapGlobalMetrics()
        try await buildApplication(configuration: configuration, dependencies: dependencies)
            .runService(shutdownWithin: configuration.shutdownBound)
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the SQL migrations of sql/ that are not applied yet.")

    @Option(help: "The migrations directory (default: TUITIONGUARD_SQL_DIR or ./sql).") var directory: String?

    func run() async throws {
        let configuration = try AppConfiguration.fromEnvironment()
        let logger = makeLogger("tuitionguard.migrate", level: configuration.logLevel)
        let migrator = Migrator(directory: directory.map { URL(fileURLWithPath: $0) } ?? Migrator.defaultDirectory())
        let applied = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
            try await migrator.migrate(client: store.client, logger: logger)
        }
        print(applied.isEmpty ? "schema is up to date" : "applied: \(applied.joined(separator: ", "))")
    }
}

struct Principals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API principals.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a principal and print its bearer token once (only its hash is stored).",
            discussion: """
                regulator: --entity is the district code (created if new).
                institution: --entity is a registered institution's id.
                guardian, insurer: --entity is an existing id, or give --name to create a new one.
                """)

        @Option(help: "regulator | institution | guardian | insurer") var role: Role
        @Option(help: "The district code or entity id the principal acts for.") var entity: String?
        @Option(help: "Name of a new guardian or insurer, or of a new district.") var name: String?
        @Option(help: "A note kept with the principal.") var label: String = ""

        func run() async throws {
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.principals", level: configuration.logLevel)
            let (role, entity, name, label) = (role, entity, name, label)
            let lifetime = configuration.auth.tokenLifetime
            let token = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                let parties = PartyRepository(store: store)
                let resolved = try await resolveEntity(role: role, entity: entity, name: name, parties: parties)
                return try await PrincipalRepository(store: store, lifetime: lifetime).issue(for: resolved, label: label)
            }
            print(
                "principal \(token.principal.id.uuidString.lowercased()) \(role.rawValue) \(token.principal.entity.entityId)"
                    + " expires \(ISO8601DateFormatter().string(from: token.expiresAt))")
            print(token.token)
        }
    }
}

extension Role: ExpressibleByArgument {}

func resolveEntity(role: Role, entity: String?, name: String?, parties: PartyRepository) async throws -> PrincipalEntity {
    func existing(_ candidate: PrincipalEntity) async throws -> PrincipalEntity {
        guard try await parties.exists(candidate) else { throw StoreError.unknownEntity("\(role.rawValue) \(entity ?? "")") }
        return candidate
    }
    switch (role, entity) {
    case (.regulator, let code?):
        guard let district = DistrictCode(code) else { throw ValidationError("a district code has six digits, e.g. 330203") }
        try await parties.ensureDistrict(district, name: name ?? "")
        return .regulator(district)
    case (.institution, let id?):
        guard let id = Institution.ID(id) else { throw ValidationError("--entity must be an institution id") }
        return try await existing(.institution(id))
    case (.guardian, let id?):
        guard let id = Guardian.ID(id) else { throw ValidationError("--entity must be a guardian id") }
        return try await existing(.guardian(id))
    case (.insurer, let id?):
        guard let id = Insurer.ID(id) else { throw ValidationError("--entity must be an insurer id") }
        return try await existing(.insurer(id))
    case (.guardian, nil):
        guard let name else { throw ValidationError("give --entity or --name") }
        return .guardian(try await parties.createGuardian(name: name))
    case (.insurer, nil):
        guard let name else { throw ValidationError("give --entity or --name") }
        return .insurer(try await parties.createInsurer(name: name))
    case (.regulator, nil), (.institution, nil):
        throw ValidationError("--entity is required for \(role.rawValue)")
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Re-derive every ledger invariant from the transfers, then reconcile the ledger with its evidence log (as \
            `log reconcile`); exit 1 on any breach.
            """)

    @Flag(help: "Only the ledger's invariants: for data written straight into the database, with no events (the benchmarks' seeds).")
    var ledgerOnly = false

    func run() async throws {
        let configuration = try AppConfiguration.fromEnvironment()
        let logger = makeLogger("tuitionguard.audit", level: configuration.logLevel)
        let ledgerOnly = ledgerOnly
        let (ledger, log) = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
            (
                try await InvariantAudit(store: store).breaches(),
                ledgerOnly ? [] : try await LedgerLogReconciliation(store: store).breaches()
            )
        }
        for breach in ledger + log { print(breach) }
        if ledger.isEmpty { print("ledger sound: every invariant holds") }
        if log.isEmpty && !ledgerOnly { print("reconciled: the ledger and the evidence log agree") }
        if !(ledger.isEmpty && log.isEmpty) { throw ExitCode(1) }
    }
}
