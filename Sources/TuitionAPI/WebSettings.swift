import Foundation

/// How the service faces browsers and scrapers, read once from the environment.
public struct WebSettings: Sendable {
    /// `Secure` on the dashboard's session cookie. Only plain-http development turns it off
    /// (`TUITIONGUARD_INSECURE_COOKIES=1`); browsers keep Secure cookies for http://localhost anyway.
    public var secureCookies: Bool
    /// The bearer token `/metrics` requires (`TUITIONGUARD_METRICS_TOKEN`); without one `/metrics` is not served.
    public var metricsToken: String?

    public init(secureCookies: Bool = true, metricsToken: String? = nil) {
        self.secureCookies = secureCookies
        self.metricsToken = metricsToken
    }

    public static func fromEnvironment(_ environment: [String: String]) throws -> WebSettings {
        var settings = WebSettings()
        if let flag = environment["TUITIONGUARD_INSECURE_COOKIES"] {
            guard ["0", "1"].contains(flag) else { throw ConfigurationError.invalid("TUITIONGUARD_INSECURE_COOKIES", flag) }
            settings.secureCookies = flag == "0"
        }
        if let token = environment["TUITIONGUARD_METRICS_TOKEN"], !token.isEmpty {
            guard token.utf8.count >= 16 else { throw ConfigurationError.invalid("TUITIONGUARD_METRICS_TOKEN", "(shorter than 16 bytes)") }
            settings.metricsToken = token
        }
        return settings
    }

    /// `scheme://host[:port]` of a URL, as browsers write it in `Origin`.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased()
        else { return nil }
        return components.port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)"
    }
}
