import ContractKit
import EvidenceLog
import Foundation
import Hummingbird
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import TuitionStore

/// Runs the evidence-log sequencer beside the HTTP server: it drains the queue, then polls every
/// `interval`, until the service shuts down.
struct SequencerService: Service {
    let sequencer: Sequencer
    let logger: Logger
    var interval: Duration = .milliseconds(200)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await sequencer.drain()
            } catch {
                logger.error("sequencing failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}

/// Finishes defunct cases left unfinished (a crash or an error mid-way) at start-up and then every `interval`.
struct FastTrackService: Service {
    let runner: FastTrackRunner
    var interval: Duration = .seconds(10)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await runner.sweep()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

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
        configuration.caKeyEncryptionKeyPath = environment["TUITIONGUARD_CA_KEK_FILE"]
        if let templates = environment["TUITIONGUARD_TEMPLATES_DIR"], !templates.isEmpty { configuration.templatesPath = templates }
        configuration.web = try WebSettings.fromEnvironment(environment)
        return configuration
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
    publicBaseURL: String = "http://127.0.0.1:8080", contracts: ContractSetup? = nil, web: WebSettings = WebSettings()
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    let services = Services(store: store)
    router.addMiddleware {
        SecurityHeadersMiddleware()
        RequestMetricsMiddleware(factory: telemetry.factory)
        ProblemMiddleware()
        InputBoundsMiddleware(maxBodyBytes: RequestBodyLimit.jsonBytes)
        TokenAuthenticator(principals: services.principals)
    }
    router.get("health") { _, _ in try JSON.response(["status": "ok"]) }
    router.get("openapi.yaml") { _, _ in
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
    }
    addRoutes(to: router, services: services)
    addLogRoutes(to: router, store: store, publicKeyPEM: logPublicKeyPEM)
    // Issue #6, part 2: operations, public lookup and catalog, the regulator's dashboard.
    addMetricsRoutes(to: router, store: store, telemetry: telemetry, scrapeToken: web.metricsToken)
    addPublicRoutes(to: router, store: store, addresses: PublicAddresses(baseURL: publicBaseURL))
    addDashboardRoutes(
        to: router, store: store, secureCookie: web.secureCookies,
        allowedOrigins: Set([WebSettings.origin(of: publicBaseURL)].compactMap { $0 }))
    addContractRoutes(to: router, store: store, setup: contracts)
    // Last: it then wraps only the not-found responder (Hummingbird applies middleware to the routes added after it).
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes.map { ($0.path.description, $0.method) }))
    return router
}

/// The whole service: the PostgreSQL pool and the HTTP server, run and shut down by service-lifecycle.
public func buildApplication(configuration: AppConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let client = PostgresClient(configuration: try postgresConfiguration(url: configuration.databaseURL), backgroundLogger: logger)
    let store = Store(client: client, logger: logger)
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
    var app = Application(
        router: buildRouter(
            store: store, openAPIDocument: document, logPublicKeyPEM: signer.publicKeyPEM, telemetry: telemetry,
            publicBaseURL: publicBaseURL, contracts: contracts, web: configuration.web),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "TuitionGuard"),
        logger: logger)
    app.addServices(
        client, SequencerService(sequencer: Sequencer(store: store, signer: signer), logger: logger),
        FastTrackService(
            runner: FastTrackRunner(job: FastTrackJob(store: store), defunct: DefunctRepository(store: store), logger: logger)),
        WarningService(warnings: WarningRepository(store: store), logger: logger, interval: configuration.warningInterval))
    return app
}
