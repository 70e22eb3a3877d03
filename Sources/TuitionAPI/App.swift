import ContractKit
import EvidenceLog
import Foundation
import Hummingbird
import Logging
import Metrics
import ServiceLifecycle
import TuitionStore
import TuitionUseCases

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
    /// address and minute (`TUITIONGUARD_AUTH_FAILURES_PER_MINUTE`, default 20).
    public var auth = AuthSettings()
    /// How long a request may run before it is cancelled and answered 503/504 (`TUITIONGUARD_REQUEST_DEADLINE_SECONDS`).
    public var requestDeadline: Duration = .seconds(15)
    /// Per-session bounds on the database (`TUITIONGUARD_STATEMENT_TIMEOUT_SECONDS`, `TUITIONGUARD_LOCK_TIMEOUT_SECONDS`).
    public var databaseTimeouts = DatabaseTimeouts()
    /// When `/ready` says ready (`TUITIONGUARD_READY_MAX_LOG_LAG_SECONDS`).
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
        if let seconds = try seconds(environment, "TUITIONGUARD_STATEMENT_TIMEOUT_SECONDS") { configuration.databaseTimeouts.statement = seconds }
        if let seconds = try seconds(environment, "TUITIONGUARD_LOCK_TIMEOUT_SECONDS") { configuration.databaseTimeouts.lock = seconds }
        if let seconds = try seconds(environment, "TUITIONGUARD_READY_MAX_LOG_LAG_SECONDS") { configuration.readiness.maximumLogLag = seconds }
        if let seconds = try seconds(environment, "TUITIONGUARD_SHUTDOWN_SECONDS") { configuration.shutdownBound = seconds }
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

/// The router with every route, used by `serve` and by the tests alike.
/// `telemetry` receives the request metrics `/metrics` serves; `publicBaseURL` is the address public pages and
/// their QR codes carry. Without `contracts`, contract generation and signing answer 503 (and so no enrollment can be
/// paid).
public func buildRouter(
    store: Store, openAPIDocument: String, logPublicKeyPEM: String, telemetry: Telemetry = Telemetry(),
    publicBaseURL: String = "http://127.0.0.1:8080", contracts: ContractSetup? = nil, web: WebSettings = WebSettings(),
    auth: AuthSettings = AuthSettings(),
    health: ServiceHealth = ServiceHealth(),
    readiness: ReadinessPolicy = ReadinessPolicy()
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    let services = Services(store: store, tokenLifetime: auth.tokenLifetime)
    let limiter = FailedAuthenticationLimiter(limit: auth.failedAuthenticationLimit, window: auth.failedAuthenticationWindow)
    router.addMiddleware {
        SecurityHeadersMiddleware()
        RequestMetricsMiddleware(factory: telemetry.factory)
        ProblemMiddleware()
        InputBoundsMiddleware(maxBodyBytes: RequestBodyLimit.jsonBytes)
        TokenAuthentication(principals: services.principals, limiter: limiter)
    }
    router.get("health") { _, _ in try JSON.response(["status": "ok"]) }
    addReadinessRoute(to: router, store: store, health: health, policy: readiness)
    router.get("openapi.yaml") { _, _ in
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
    }
    addRoutes(to: router, services: services)
    addLogRoutes(to: router, store: store, publicKeyPEM: logPublicKeyPEM)
    // Issue #6, part 2: operations, public lookup and catalog, the regulator's dashboard.
    addMetricsRoutes(to: router, store: store, telemetry: telemetry, scrapeToken: web.metricsToken, health: health)
    addPublicRoutes(to: router, store: store, addresses: PublicAddresses(baseURL: publicBaseURL))
    addDashboardRoutes(
        to: router, store: store, secureCookie: web.secureCookies,
        allowedOrigins: Set([WebSettings.origin(of: publicBaseURL)].compactMap { $0 }))
    addContractRoutes(to: router, store: store, setup: contracts)
    // Last: it then wraps only the not-found responder (Hummingbird applies middleware to the routes added after it).
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes.map { ($0.path.description, $0.method) }))
    return router
}

/// The whole service: the PostgreSQL pool, the HTTP server with a deadline on every request, and the supervised
/// background services (sequencer, fast-track sweep, warnings), run and shut down by service-lifecycle.
public func buildApplication(configuration: AppConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    var database = try DatabaseConfiguration(url: configuration.databaseURL)
    database.apply(configuration.databaseTimeouts)
    let store = Store.connect(database, logger: logger)
    // The background services have a small pool of their own, whose statements may run as long as their batches.
    var backgroundDatabase = try DatabaseConfiguration(url: configuration.databaseURL)
    backgroundDatabase.apply(.background)
    backgroundDatabase.maximumConnections = 4
    let backgroundStore = Store.connect(backgroundDatabase, logger: logger, tokenHolders: store.tokenHolders)
    let document = (try? String(contentsOfFile: configuration.openAPIPath, encoding: .utf8)) ?? ""
    if document.isEmpty { logger.warning("no OpenAPI document at \(configuration.openAPIPath)") }
    guard let keyPath = configuration.logKeyPath else { throw ConfigurationError.missing("TUITIONGUARD_LOG_KEY_FILE") }
    let signer = try LogSigner(privateKeyPEM: String(contentsOfFile: keyPath, encoding: .utf8))
    // The one bootstrap of swift-metrics in the process (buildApplication runs once, in `serve`): metrics that
    // libraries record through the global system land in the registry `/metrics` serves.
    let telemetry = Telemetry()
    MetricsSystem.bootstrap(telemetry.factory)
    let publicBaseURL = configuration.publicBaseURL ?? "http://\(configuration.host):\(configuration.port)"
    guard let kekPath = configuration.caKeyEncryptionKeyPath else { throw ConfigurationError.missing("TUITIONGUARD_CA_KEK_FILE") }
    let contracts = ContractSetup(
        templates: try TemplateLibrary.load(root: URL(fileURLWithPath: configuration.templatesPath)),
        keyEncryptionKey: try KeyEncryptionKey.load(file: kekPath))
    if contracts.templates.templates.isEmpty { logger.warning("no contract templates in \(configuration.templatesPath)") }
    let health = ServiceHealth()
    let router = buildRouter(
        store: store, openAPIDocument: document, logPublicKeyPEM: signer.publicKeyPEM, telemetry: telemetry,
        publicBaseURL: publicBaseURL, contracts: contracts, web: configuration.web, auth: configuration.auth, health: health,
        readiness: configuration.readiness)
    var app = Application(
        responder: RequestDeadlineResponder(inner: router.buildResponder(), limit: configuration.requestDeadline, factory: telemetry.factory),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "TuitionGuard"),
        logger: logger)
    let runner = FastTrackRunner(
        job: FastTrackJob(store: backgroundStore), defunct: DefunctRepository(store: backgroundStore), logger: logger)
    app.addServices(
        StoreService(store: store), StoreService(store: backgroundStore),
        SupervisedService(
            name: "sequencer", work: SequencerWork(sequencer: Sequencer(store: backgroundStore, signer: signer)),
            interval: .milliseconds(200),
            batchDeadline: .seconds(5), health: health, logger: logger),
        // A province-sized case takes minutes; the deadline only catches a sweep that hangs.
        SupervisedService(
            name: "fast_track", work: FastTrackSweepWork(runner: runner), interval: .seconds(10), batchDeadline: .seconds(600),
            health: health, logger: logger),
        SupervisedService(
            name: "warnings", work: WarningWork(warnings: WarningRepository(store: backgroundStore), logger: logger),
            interval: configuration.warningInterval, batchDeadline: .seconds(120), health: health, logger: logger))
    return app
}

/// A store's connection pool as a service of the application's group.
struct StoreService: Service {
    let store: Store

    func run() async throws { await store.run() }
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
