import ContractKit
import EvidenceLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import TuitionStore
import TuitionUseCases

/// What differs between `serve` and the tests; everything else `buildApplication` wires the same way for both.
/// The clock and id generator travel inside the stores (`Store.dependencies`).
public struct AppDependencies: Sendable {
    /// The store requests use.
    public var store: Store
    /// The store the background services and background work use; `serve` gives them a pool of their own.
    public var backgroundStore: Store
    /// The pools the application runs as services, and so opens and closes; the tests run their store themselves.
    public var ownedStores: [Store] = []
    /// Signs the evidence log's tree heads; `/v1/log/public-key` serves its public half.
    public var logSigner: LogSigner
    /// Templates and key-encryption key; without them contract generation and signing answer 503.
    public var contracts: ContractSetup?
    /// Where request metrics go; `/metrics` serves it.
    public var telemetry = Telemetry()
    /// Which periodic services run, and how often.
    public var schedule: BackgroundSchedule
    /// The evidence log's nodes in memory, for proofs; kept up to date by the `log_cache` service when the schedule runs it.
    public var logCache: LogNodeCache?
    /// The document `GET /openapi.yaml` serves.
    public var openAPIDocument = ""
    public var logger: Logger

    public init(
        store: Store, backgroundStore: Store? = nil, logSigner: LogSigner, contracts: ContractSetup? = nil,
        schedule: BackgroundSchedule = .quiet, logger: Logger? = nil
    ) {
        self.store = store
        self.backgroundStore = backgroundStore ?? store
        self.logSigner = logSigner
        self.contracts = contracts
        self.schedule = schedule
        self.logger = logger ?? store.logger
    }

    /// `serve`'s: the request pool with the configured timeouts and size, a background pool of four connections whose
    /// statements may run as long as their batches, the log key, the contract templates and key-encryption key, and the
    /// production schedule.
    public static func production(configuration: AppConfiguration, logger: Logger) throws -> AppDependencies {
        var database = try DatabaseConfiguration(url: configuration.databaseURL)
        database.apply(configuration.databaseTimeouts)
        database.maximumConnections = configuration.databaseConnections
        let store = Store.connect(database, logger: logger)
        var backgroundDatabase = try DatabaseConfiguration(url: configuration.databaseURL)
        backgroundDatabase.apply(.background)
        backgroundDatabase.maximumConnections = 4
        let backgroundStore = Store.connect(backgroundDatabase, logger: logger, tokenHolders: store.tokenHolders)
        guard let keyPath = configuration.logKeyPath else { throw ConfigurationError.missing("TUITIONGUARD_LOG_KEY_FILE") }
        let signer = try LogSigner(privateKeyPEM: String(contentsOfFile: keyPath, encoding: .utf8))
        guard let kekPath = configuration.caKeyEncryptionKeyPath else { throw ConfigurationError.missing("TUITIONGUARD_CA_KEK_FILE") }
        let contracts = ContractSetup(
            templates: try TemplateLibrary.load(root: URL(fileURLWithPath: configuration.templatesPath)),
            keyEncryptionKey: try KeyEncryptionKey.load(file: kekPath))
        if contracts.templates.templates.isEmpty { logger.warning("no contract templates in \(configuration.templatesPath)") }
        var dependencies = AppDependencies(
            store: store, backgroundStore: backgroundStore, logSigner: signer, contracts: contracts,
            schedule: .production(configuration), logger: logger)
        dependencies.ownedStores = [store, backgroundStore]
        if configuration.logCacheEntries > 0 {
            dependencies.logCache = LogNodeCache(capacity: configuration.logCacheEntries, verifier: signer.verifier)
        }
        dependencies.openAPIDocument = (try? String(contentsOfFile: configuration.openAPIPath, encoding: .utf8)) ?? ""
        if dependencies.openAPIDocument.isEmpty { logger.warning("no OpenAPI document at \(configuration.openAPIPath)") }
        return dependencies
    }

    /// Makes `telemetry` the process's swift-metrics backend, so metrics that libraries record through the global
    /// system land in the registry `/metrics` serves. Once per process: `serve` calls it.
    public func bootstrapGlobalMetrics() {
        MetricsSystem.bootstrap(telemetry.factory)
    }
}

/// The pace of the periodic services; a nil pace leaves that service out.
public struct BackgroundSchedule: Sendable {
    public struct Pace: Sendable {
        /// The pause after a batch that left nothing waiting.
        public var interval: Duration
        /// A batch running longer than this is abandoned and restarted after a back-off.
        public var batchDeadline: Duration

        public init(interval: Duration, batchDeadline: Duration) {
            self.interval = interval
            self.batchDeadline = batchDeadline
        }
    }

    /// The evidence log's sequencer.
    public var sequencer: Pace?
    /// The sweep over defunct cases left unfinished.
    public var fastTrackSweep: Pace?
    /// Every institution's warnings.
    public var warnings: Pace?
    /// The log's nodes in memory (`AppDependencies.logCache`), following the signed heads.
    public var logCache: Pace?

    public init(sequencer: Pace? = nil, fastTrackSweep: Pace? = nil, warnings: Pace? = nil, logCache: Pace? = nil) {
        self.sequencer = sequencer
        self.fastTrackSweep = fastTrackSweep
        self.warnings = warnings
        self.logCache = logCache
    }

    /// `serve`'s: the sequencer every 200 ms, the fast-track sweep every 10 s (a province-sized case takes minutes;
    /// its deadline only catches a sweep that hangs), the warnings every `warningInterval`, the log cache every second
    /// (a first load reads 64 bytes an entry: about 2 s a million on this machine, and the capacity may be 100 million).
    public static func production(_ configuration: AppConfiguration) -> BackgroundSchedule {
        BackgroundSchedule(
            sequencer: Pace(interval: .milliseconds(200), batchDeadline: .seconds(5)),
            fastTrackSweep: Pace(interval: .seconds(10), batchDeadline: .seconds(600)),
            warnings: Pace(interval: configuration.warningInterval, batchDeadline: .seconds(120)),
            logCache: Pace(interval: .seconds(1), batchDeadline: .seconds(600)))
    }

    /// No periodic service: what runs in a test is what the test does, plus the background work it starts.
    public static let quiet = BackgroundSchedule()
}

/// The whole service as `buildApplication` wires it: the router behind a deadline on every request, the pools it owns,
/// the background work and the supervised periodic services, run and shut down by service-lifecycle.
public struct TuitionApplication: ApplicationProtocol {
    public let responder: CallbackResponder<AppRequestContext>
    public let configuration: ApplicationConfiguration
    public let logger: Logger
    public let services: [any Service]
    /// Background work the requests started; `settled()` waits for it.
    public let background: BackgroundTasks
    /// Every route the router serves.
    public let routes: [(method: HTTPRequest.Method, path: String)]
    /// The names of the supervised periodic services, in start order.
    public let periodicServiceNames: [String]
    /// `AppConfiguration.idleConnectionTimeout`.
    public let idleConnectionTimeout: Duration

    /// HTTP/1.1, closing connections idle past `idleConnectionTimeout` (Hummingbird's default closes none).
    public var server: HTTPServerBuilder { .http1(configuration: .init(idleTimeout: .init(idleConnectionTimeout))) }
}

/// The one composition root: `serve` and every API test build the service here, from `dependencies`.
public func buildApplication(configuration: AppConfiguration, dependencies: AppDependencies) -> TuitionApplication {
    let logger = dependencies.logger
    let background = BackgroundTasks(logger: logger)
    let health = ServiceHealth()
    let fastTrack = FastTrackRunner(
        store: dependencies.backgroundStore, background: background, logger: logger, factory: dependencies.telemetry.factory)
    let router = buildRouter(
        configuration: configuration, dependencies: dependencies, health: health,
        services: Services(
            store: dependencies.store, tokenLifetime: configuration.auth.tokenLifetime, fastTrack: fastTrack, background: background))
    // Read before the responder is built: building adds the HEAD twin of every GET route.
    let routes = router.routes.map { (method: $0.method, path: $0.path.description) }
    let deadline = RequestDeadlineResponder(
        inner: router.buildResponder(), limit: configuration.requestDeadline, factory: dependencies.telemetry.factory)
    let periodic = periodicServices(dependencies, fastTrack: fastTrack, health: health)
    return TuitionApplication(
        responder: CallbackResponder { request, context in try await deadline.respond(to: request, context: context) },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "TuitionGuard"),
        logger: logger,
        services: dependencies.ownedStores.map { StoreService(store: $0) } + [background] + periodic.map(\.service),
        background: background,
        routes: routes,
        periodicServiceNames: periodic.map(\.name),
        idleConnectionTimeout: configuration.idleConnectionTimeout)
}

/// The supervised services `schedule` asks for, on the background store.
private func periodicServices(
    _ dependencies: AppDependencies, fastTrack: FastTrackRunner, health: ServiceHealth
) -> [(name: String, service: any Service)] {
    let store = dependencies.backgroundStore
    let logger = dependencies.logger
    var services: [(name: String, service: any Service)] = []
    func add(_ name: String, _ work: some BackgroundWork, _ pace: BackgroundSchedule.Pace?) {
        guard let pace else { return }
        services.append(
            (
                name,
                SupervisedService(
                    name: name, work: work, interval: pace.interval, batchDeadline: pace.batchDeadline, health: health, logger: logger)
            ))
    }
    add("sequencer", SequencerWork(sequencer: Sequencer(store: store, signer: dependencies.logSigner)), dependencies.schedule.sequencer)
    add("fast_track", FastTrackSweepWork(runner: fastTrack), dependencies.schedule.fastTrackSweep)
    add("warnings", WarningWork(warnings: WarningRepository(store: store), logger: logger), dependencies.schedule.warnings)
    if let cache = dependencies.logCache { add("log_cache", LogCacheWork(cache: cache, store: store), dependencies.schedule.logCache) }
    return services
}

/// The router with every route. `publicBaseURL` is the address public pages and their QR codes carry.
private func buildRouter(
    configuration: AppConfiguration, dependencies: AppDependencies, health: ServiceHealth, services: Services
) -> Router<AppRequestContext> {
    let store = dependencies.store
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    let routes = RouteTable()
    let auth = configuration.auth
    let limiter = FailedAuthenticationLimiter(
        limit: auth.failedAuthenticationLimit, window: auth.failedAuthenticationWindow, trustedProxies: auth.trustedProxies)
    router.addMiddleware {
        SecurityHeadersMiddleware()
        RequestMetricsMiddleware(factory: dependencies.telemetry.factory)
        ProblemMiddleware()
        InputBoundsMiddleware(maxBodyBytes: RequestBodyLimit.jsonBytes)
        TokenAuthentication(principals: services.principals, keys: IdempotencyRepository(store: store), limiter: limiter, routes: routes)
    }
    router.get("health") { _, _ in try JSON.response(["status": "ok"]) }
    addReadinessRoute(to: router, store: store, health: health, policy: configuration.readiness)
    let document = dependencies.openAPIDocument
    router.get("openapi.yaml") { _, _ in
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }
    addRoutes(to: router, services: services)
    LogController(
        repository: EvidenceLogRepository(store: store, cache: dependencies.logCache), publicKeyPEM: dependencies.logSigner.publicKeyPEM
    ).addRoutes(to: router)
    addMetricsRoutes(
        to: router, store: store, telemetry: dependencies.telemetry, scrapeToken: configuration.web.metricsToken, health: health,
        limiter: limiter, logCache: dependencies.logCache)
    let publicBaseURL = configuration.publicBaseURL ?? "http://\(configuration.host):\(configuration.port)"
    PublicController(repository: PublicRepository(store: store), addresses: PublicAddresses(baseURL: publicBaseURL)).addRoutes(to: router)
    DashboardController(pages: DashboardPages(store: store, secureCookie: configuration.web.secureCookies), limiter: limiter).addRoutes(
        to: router, allowedOrigins: Set([WebSettings.origin(of: publicBaseURL)].compactMap { $0 }))
    ContractController(store: store, setup: dependencies.contracts).addRoutes(to: router.group("v1"))
    // Last: it then wraps only the not-found responder (Hummingbird applies middleware to the routes added after it).
    routes.fill(router.routes.map { ($0.path.description, $0.method) })
    router.add(middleware: MethodNotAllowedMiddleware(table: routes))
    return router
}
