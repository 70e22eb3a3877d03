import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import TuitionStore

/// Configuration read once from the environment.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: String
    public var logLevel: Logger.Level
    public var openAPIPath: String

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
        return AppConfiguration(
            host: environment["TUITIONGUARD_HOST"] ?? "127.0.0.1", port: port, databaseURL: databaseURL, logLevel: level,
            openAPIPath: openAPI)
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
public func buildRouter(store: Store, openAPIDocument: String) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let services = Services(store: store)
    router.addMiddleware {
        ProblemMiddleware()
        TokenAuthenticator(principals: services.principals)
    }
    router.get("health") { _, _ in try JSON.response(["status": "ok"]) }
    router.get("openapi.yaml") { _, _ in
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
    }
    addRoutes(to: router, services: services)
    return router
}

/// The whole service: the PostgreSQL pool and the HTTP server, run and shut down by service-lifecycle.
public func buildApplication(configuration: AppConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let client = PostgresClient(configuration: try postgresConfiguration(url: configuration.databaseURL), backgroundLogger: logger)
    let store = Store(client: client, logger: logger)
    let document = (try? String(contentsOfFile: configuration.openAPIPath, encoding: .utf8)) ?? ""
    if document.isEmpty { logger.warning("no OpenAPI document at \(configuration.openAPIPath)") }
    var app = Application(
        router: buildRouter(store: store, openAPIDocument: document),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "TuitionGuard"),
        logger: logger)
    app.addServices(client)
    return app
}
