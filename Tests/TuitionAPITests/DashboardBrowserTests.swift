import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TuitionAPI
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// The regulator's dashboard in a real browser: headless Chromium (Debian's `chromium`) against the service running
/// on a free port, on a test database holding `KnownDistrict`. It signs in by pasting the token, reads the figures
/// the page shows, follows a figure to its list, and leaves a screenshot at `.build/dashboard.png`.
@Suite struct DashboardBrowserTests {
    static let screenshot = repositoryRoot.appendingPathComponent(".build/dashboard.png")

    // Generous: under a whole parallel suite on 2 cores this takes over 2 minutes; the limit only catches a hang.
    @Test(.timeLimit(.minutes(10)))
    func aRegulatorSignsInAndSeesItsDistrictInChromium() async throws {
        let chromiumPath = try requireExecutable("chromium", debianPackage: "chromium")
        try await TestDatabase.withStore("browser") { store in
            let district = try await KnownDistrict.make(store)
            let regulator = try await PrincipalRepository(store: store).create(for: .regulator(KnownDistrict.code)).token
            let app = API.application(store) { configuration, _ in configuration.port = 0 }
            try await app.test(.live) { client in
                let base = "http://127.0.0.1:\(try #require(client.port))"
                let seen = try await HeadlessChromium.drive { () -> BrowserView in
                    let browser = try HeadlessChromium(executable: chromiumPath)
                    defer { browser.quit() }
                    try browser.open()
                    try browser.navigate("\(base)/dashboard")
                    let signInPath = try browser.evaluate("location.pathname") as? String
                    try browser.navigate(
                        by:
                            "document.getElementById('token').value = \(jsString(regulator)); document.getElementById('sign-in').click(); true"
                    )
                    let figureScript = """
                        JSON.stringify(Object.fromEntries([...document.querySelectorAll('[data-figure]')]
                            .map(e => [e.dataset.figure, e.textContent.trim()])))
                        """
                    let figuresJSON = try browser.evaluate(figureScript) as? String ?? "{}"
                    let view = BrowserView(
                        signInPath: signInPath,
                        path: try browser.evaluate("location.pathname") as? String,
                        heading: try browser.evaluate("document.getElementById('district').textContent") as? String,
                        scriptCookies: try browser.evaluate("document.cookie") as? String,
                        cookies: try browser.call("Network.getCookies", ["urls": [base + "/dashboard"]])["cookies"] as? [[String: Any]]
                            ?? [],
                        figures: (try? JSONSerialization.jsonObject(with: Data(figuresJSON.utf8))) as? [String: String] ?? [:])
                    try browser.screenshot(to: Self.screenshot)
                    try browser.navigate(by: "document.querySelector('[data-figure=\"institutions-short\"]').click(); true")
                    var followed = view
                    followed.listPath = try browser.evaluate("location.pathname + location.search") as? String
                    followed.listText = try browser.evaluate("document.getElementById('list').innerText") as? String
                    return followed
                }
                #expect(seen.signInPath == "/dashboard/sign-in", "without a session the dashboard sends the browser to sign in")
                #expect(seen.path == "/dashboard")
                #expect(seen.heading == "测试区（330299）校外培训预收费监管看板")
                #expect(seen.scriptCookies == "", "the session cookie is HttpOnly: scripts cannot read it")
                let cookie = seen.cookies.first { $0["name"] as? String == "tg_dashboard" }
                #expect(
                    cookie?["httpOnly"] as? Bool == true && cookie?["sameSite"] as? String == "Strict" && cookie?["secure"] as? Bool == true
                        && cookie?["path"] as? String == "/dashboard")
                for (figure, value) in knownDistrictFigures(district) {
                    #expect(seen.figures[figure] == value, "\(figure): \(seen.figures[figure] ?? "missing")")
                }
                #expect(seen.listPath == "/dashboard/institutions?shortfall=1")
                #expect(seen.listText?.contains(district.b.institution.licenceNumber) == true)
                #expect(seen.listText?.contains(district.a.institution.licenceNumber) == false)
                #expect(FileManager.default.fileExists(atPath: Self.screenshot.path))
            }
        }
    }
}

/// What the browser saw, carried out of the browser's thread.
struct BrowserView: @unchecked Sendable {
    var signInPath: String?
    var path: String?
    var heading: String?
    var scriptCookies: String?
    var cookies: [[String: Any]]
    var figures: [String: String]
    var listPath: String?
    var listText: String?
}

/// A JavaScript string literal.
func jsString(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text])
    return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
}
