import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import TuitionStore

/// Configuration read once from the environment.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: String
    public var logLevel: Logger.Level
    public var openAPIPath: String
    /// The PEM file of the P-256 key that signs the evidence log's tree heads.
    public var logKeyPath: String?
    /// Where people reach the service (`https://tuitionguard.example`): the public pages' QR codes carry it.
    public var publicBaseURL: String?
    /// How often every institution's warnings are evaluated (`TUITIONGUARD_WARNING_INTERVAL_SECONDS`, default 300).
    public var warningInterval: Duration = .seconds(300)
    /// The file holding the key-encryption key (base64, 32 bytes) that seals the CA's and signers' private keys.
    public var caKeyEncryptionKeyPath: String?
    /// The folder of contract templates (`<id>/v<N>/contract.xml` and `contract.xsd`).
    public var templatesPath: String = "contract-templates"
    /// The dashboard's cookies, `/metrics` and the other web-facing settings.
    public var web = WebSettings()
    /// Token lifetime (`TUITIONGUARD_TOKEN_LIFETIME_DAYS`, default 90) and the failed-authentication limit per client
    /// address and minute (`TUITIONGUARD_AUTH_FAILURES_PER_MINUTE`, default 20), and the reverse proxies whose
    /// `X-Forwarded-For` names that address (`TUITIONGUARD_TRUSTED_PROXIES`).
    public var auth = AuthSettings()
    /// How long a request may run before it is cancelled and answered 503/504 (`TUITIONGUARD_REQUEST_DEADLINE_SECONDS`).
    public var requestDeadline: Duration = .seconds(15)
    /// A client connection with no request in progress for this long is closed: connections opened and left silent
    /// must not hold the file descriptors the database pool needs too.
    public var idleConnectionTimeout: Duration = .seconds(60)
    /// Per-session bounds on the database (`TUITIONGUARD_STATEMENT_TIMEOUT_SECONDS`, `TUITIONGUARD_LOCK_TIMEOUT_SECONDS`).
    public var databaseTimeouts = DatabaseTimeouts()
    /// The most database connections requests use at once (`TUITIONGUARD_DB_CONNECTIONS`, 1–1000, default 32); the
    /// background services have four more of their own. Money writes wait on WAL flushes and gain from many; reads that
    /// only use CPU (log proofs) answer faster with about twice the database's cores (README, "Deadlines, health…").
    public var databaseConnections = 32
    /// How many evidence-log entries' Merkle nodes each instance keeps in memory for proofs
    /// (`TUITIONGUARD_LOG_CACHE_ENTRIES`, 0–100,000,000, default 2,097,152: 128 MB when full, 64 bytes an entry; 0 keeps
    /// none). A proof of a tree the cache holds reads no database.
    public var logCacheEntries: Int64 = 1 << 21
    /// When `/ready` says ready.
    public var readiness = ReadinessPolicy()
    /// A graceful shutdown (SIGTERM, SIGINT) ends within this, whatever is in flight (`TUITIONGUARD_SHUTDOWN_SECONDS`).
    public var shutdownBound: Duration = .seconds(10)

    public init(host: String = "127.0.0.1", port: Int = 8080, databaseURL: String, logLevel: Logger.Level = .info, openAPIPath: String) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.logLevel = logLevel
        self.openAPIPath = openAPIPath
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfiguration {
        guard let databaseURL = environment["DATABASE_URL"], !databaseURL.isEmpty else { throw ConfigurationError.missing("DATABASE_URL") }
        let port =
            try environment["TUITIONGUARD_PORT"].map { text in
                guard let port = Int(text), (1...65535).contains(port) else { throw ConfigurationError.invalid("TUITIONGUARD_PORT", text) }
                return port
            } ?? 8080
        let level =
            try environment["TUITIONGUARD_LOG_LEVEL"].map { text in
                guard let level = Logger.Level(rawValue: text) else { throw ConfigurationError.invalid("TUITIONGUARD_LOG_LEVEL", text) }
                return level
            } ?? .info
        let openAPI =
            environment["TUITIONGUARD_OPENAPI"]
            ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("docs/openapi.yaml").path
        var configuration = AppConfiguration(
            host: environment["TUITIONGUARD_HOST"] ?? "127.0.0.1", port: port, databaseURL: databaseURL, logLevel: level,
            openAPIPath: openAPI)
        configuration.logKeyPath = environment["TUITIONGUARD_LOG_KEY_FILE"]
        configuration.publicBaseURL = environment["TUITIONGUARD_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = environment["TUITIONGUARD_WARNING_INTERVAL_SECONDS"] {
            guard let seconds = Int(text), (1...86_400).contains(seconds) else {
                throw ConfigurationError.invalid("TUITIONGUARD_WARNING_INTERVAL_SECONDS", text)
            }
            configuration.warningInterval = .seconds(seconds)
        }
        if let seconds = try seconds(environment, "TUITIONGUARD_REQUEST_DEADLINE_SECONDS") { configuration.requestDeadline = seconds }
        if let seconds = try seconds(environment, "TUITIONGUARD_STATEMENT_TIMEOUT_SECONDS") {
            configuration.databaseTimeouts.statement = seconds
        }
        if let seconds = try seconds(environment, "TUITIONGUARD_LOCK_TIMEOUT_SECONDS") { configuration.databaseTimeouts.lock = seconds }
        if let seconds = try seconds(environment, "TUITIONGUARD_SHUTDOWN_SECONDS") { configuration.shutdownBound = seconds }
        if let text = environment["TUITIONGUARD_DB_CONNECTIONS"] {
            guard let connections = Int(text), (1...1_000).contains(connections) else {
                throw ConfigurationError.invalid("TUITIONGUARD_DB_CONNECTIONS", text)
            }
            configuration.databaseConnections = connections
        }
        if let text = environment["TUITIONGUARD_LOG_CACHE_ENTRIES"] {
            guard let entries = Int64(text), (0...100_000_000).contains(entries) else {
                throw ConfigurationError.invalid("TUITIONGUARD_LOG_CACHE_ENTRIES", text)
            }
            configuration.logCacheEntries = entries
        }
        configuration.caKeyEncryptionKeyPath = environment["TUITIONGUARD_CA_KEK_FILE"]
        if let templates = environment["TUITIONGUARD_TEMPLATES_DIR"], !templates.isEmpty { configuration.templatesPath = templates }
        configuration.web = try WebSettings.fromEnvironment(environment)
        if let text = environment["TUITIONGUARD_TOKEN_LIFETIME_DAYS"] {
            guard let days = Int(text), (1...3_650).contains(days) else {
                throw ConfigurationError.invalid("TUITIONGUARD_TOKEN_LIFETIME_DAYS", text)
            }
            configuration.auth.tokenLifetime = TimeInterval(days) * 86_400
        }
        if let text = environment["TUITIONGUARD_AUTH_FAILURES_PER_MINUTE"] {
            guard let limit = Int(text), (1...100_000).contains(limit) else {
                throw ConfigurationError.invalid("TUITIONGUARD_AUTH_FAILURES_PER_MINUTE", text)
            }
            configuration.auth.failedAuthenticationLimit = limit
        }
        if let text = environment["TUITIONGUARD_TRUSTED_PROXIES"] {
            let proxies = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            // Addresses only (a name or a range would never match a peer), kept in the form peers are compared in.
            let normalized = proxies.compactMap(FailedAuthenticationLimiter.normalized)
            guard normalized.count == proxies.count else { throw ConfigurationError.invalid("TUITIONGUARD_TRUSTED_PROXIES", text) }
            configuration.auth.trustedProxies = Set(normalized)
        }
        return configuration
    }

    /// A whole number of seconds, 1–3600, from `name`; nil when unset.
    static func seconds(_ environment: [String: String], _ name: String) throws -> Duration? {
        guard let text = environment[name] else { return nil }
        guard let seconds = Int(text), (1...3_600).contains(seconds) else { throw ConfigurationError.invalid(name, text) }
        return .seconds(seconds)
    }
}

public enum ConfigurationError: Error, CustomStringConvertible {
    case missing(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .missing(let name): "\(name) is not set (tools/run sets it up for a local PostgreSQL)"
        case .invalid(let name, let value): "\(name) has an invalid value: \(value)"
        }
    }
}

/// A store's connection pool as a service of the application's group, ended by a graceful shutdown as
/// `PostgresClient.run` is (the group shuts it down last: it is first in the list).
struct StoreService: Service {
    let store: Store

    func run() async throws { await cancelWhenGracefulShutdown { await store.run() } }
}

extension ApplicationProtocol {
    /// Runs until SIGTERM or SIGINT, then shuts down within `bound` whatever is in flight: graceful for most of it,
    /// then cancellation (every request and batch answers cancellation at once through its deadline).
    public func runService(shutdownWithin bound: Duration) async throws {
        var configuration = ServiceGroupConfiguration(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = bound * 0.7
        configuration.maximumCancellationDuration = bound * 0.3
        try await ServiceGroup(configuration: configuration).run()
    }
}
