import Crypto
import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// The figures of a dashboard page: `data-figure="name"` → the text of that element.
func figures(in page: String) -> [String: String] {
    var result: [String: String] = [:]
    let pattern = try! NSRegularExpression(pattern: #"data-figure="([^"]+)"[^>]*>([^<]*)<"#)
    for match in pattern.matches(in: page, range: NSRange(page.startIndex..., in: page)) {
        result[String(page[Range(match.range(at: 1), in: page)!])] = String(page[Range(match.range(at: 2), in: page)!])
    }
    return result
}

/// The expected figures of `KnownDistrict`'s dashboard, shared with the browser test.
func knownDistrictFigures(_ district: KnownDistrict) -> [String: String] {
    [
        "unconsumed": "¥7,400.00", "coverage": "66.2%", "uncovered": "¥2,500.00", "covered-escrow": "¥2,400.00",
        "covered-reserve": "¥500.00", "covered-insurance": "¥2,000.00", "escrow-held": "¥2,400.00", "reserve-held": "¥500.00",
        "institutions-short": "1", "institutions-total": "5", "institutions-active-A": "1", "institutions-warned-C": "1",
        "institutions-suspended-none": "1", "institutions-blacklisted-D": "1", "institutions-defunct-none": "1",
        "institutions-active-B": "0", "institutions-grade-none": "2", "warnings-overdue-critical": "1",
        "warnings-within_3_days-serious": "1", "warnings-later-notice": "1", "warnings-overdue": "1", "warnings-within_7_days": "0",
        "warnings-escalated": "1", "claims-\(district.claim.status.rawValue)": "1", "defunct-running": "1", "defunct-completed": "0",
        "defunct-uncovered": "¥123.00",
    ]
}

@Suite struct DashboardAPITests {
    /// A form post from the dashboard's own page: browsers send `Origin` with it.
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .origin: API.origin]

    @Test func signingInGivesAnHttpOnlyStrictCookieWhoseIdIsStoredOnlyAsAHash() async throws {
        let clock = TestClock()
        try await API.run("dashboard_session", clock: clock) { api, _ in
            _ = try await KnownDistrict.make(api.store)
            let regulator = try await api.token(for: .regulator(KnownDistrict.code))
            #expect(try await api.raw(.get, "/dashboard").headers[.location] == "/dashboard/sign-in")

            let signIn = try await api.raw(.post, "/dashboard/sign-in", headers: Self.form, body: "token=\(regulator)")
            #expect(signIn.status == .seeOther && signIn.headers[.location] == "/dashboard")
            let setCookie = try #require(signIn.headers[.setCookie])
            #expect(setCookie.contains("; HttpOnly") && setCookie.contains("; SameSite=Strict") && setCookie.contains("; Path=/dashboard"))
            #expect(setCookie.contains("; Secure"))  // unless TUITIONGUARD_INSECURE_COOKIES=1 (plain-http development)
            let session = try #require(setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last.map(String.init))
            var stored: [Data] = []
            for try await digest in try await api.store.query("SELECT id_sha256 FROM dashboard_sessions").decode(Data.self) {
                stored.append(digest)
            }
            #expect(stored == [Data(SHA256.hash(data: Data(session.utf8)))])

            let cookie: HTTPFields = [.cookie: "tg_dashboard=\(session)"]
            let page = try await api.raw(.get, "/dashboard", headers: cookie)
            #expect(page.status == .ok && page.text.contains("测试区（330299）"))

            clock.advance(by: 8 * 3600 + 1)
            #expect(try await api.raw(.get, "/dashboard", headers: cookie).status == .seeOther, "the session expires after 8 hours")

            let again = try await api.raw(.post, "/dashboard/sign-in", headers: Self.form, body: "token=\(regulator)")
            let fresh = try #require(again.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            let signOut = try await api.raw(.post, "/dashboard/sign-out", headers: [.cookie: fresh, .origin: API.origin])
            #expect(signOut.status == .seeOther && signOut.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await api.raw(.get, "/dashboard", headers: [.cookie: fresh]).status == .seeOther)
        }
    }

    /// A token typed into the sign-in form is a guess like a bearer one: the same limiter counts it, and once it
    /// refuses an address even the right token waits.
    @Test func failedSignInsAreLimitedLikeFailedBearerTokens() async throws {
        try await API.run("dashboard_limit") { api, _ in
            try await PartyRepository(store: api.store).ensureDistrict(KnownDistrict.code)
            let regulator = try await api.token(for: .regulator(KnownDistrict.code))
            for attempt in 0..<20 {
                let reply = try await api.raw(.post, "/dashboard/sign-in", headers: Self.form, body: "token=tg_guess\(attempt)")
                #expect(reply.status == .unauthorized)
            }
            let limited = try await api.raw(.post, "/dashboard/sign-in", headers: Self.form, body: "token=\(regulator)")
            #expect(limited.status == .tooManyRequests && limited.headers[.setCookie] == nil)
            #expect(try await api.call(.get, "/v1/me", token: regulator).status == .tooManyRequests)
        }
    }

    @Test func onlyARegulatorsLiveTokenSignsIn() async throws {
        try await API.run("dashboard_refusal") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            let institution = try await api.token(for: .institution(district.a.institution.id))
            for token in [institution, "tg_unknown", "", String(repeating: "x", count: 300)] {
                let reply = try await api.raw(.post, "/dashboard/sign-in", headers: Self.form, body: "token=\(token)")
                #expect(reply.status == .unauthorized && reply.headers[.setCookie] == nil && reply.text.contains("令牌无效"))
            }
            let forged: HTTPFields = [.cookie: "tg_dashboard=tg_forged"]
            #expect(try await api.raw(.get, "/dashboard/institutions", headers: forged).status == .seeOther)
            #expect(try await api.call(.get, "/dashboard", token: institution).status == .forbidden)
            var count = 0
            for try await n in try await api.store.query("SELECT count(*)::int FROM dashboard_sessions").decode(Int.self) { count = n }
            #expect(count == 0)
        }
    }

    @Test func theOverviewShowsTheKnownDistrictsFigures() async throws {
        try await API.run("dashboard_overview") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            // Another district's money and warnings must not leak into this one's figures.
            let other = try await World.make(api.store, district: "330205")
            _ = try await api.store.transaction {
                try await EnrollmentRepository(store: api.store).pay(
                    other.enrollment.id, guardian: other.guardian, amount: other.enrollment.amountFen, on: $0)
            }
            let regulator = try await api.token(for: .regulator(KnownDistrict.code))
            let page = try await api.call(.get, "/dashboard", token: regulator)
            #expect(page.status == .ok && page.contentType == "text/html; charset=utf-8")
            let shown = figures(in: page.body)
            for (figure, value) in knownDistrictFigures(district) {
                #expect(shown[figure] == value, "\(figure): \(shown[figure] ?? "missing")")
            }
            #expect(page.body.contains("测试区（330299）校外培训预收费监管看板"))
        }
    }

    /// The overview's table shows the first cases; its counts and uncovered total are of every case in the district.
    @Test func theDefunctFiguresCountEveryCaseNotJustTheTableOfTheFirst() async throws {
        try await API.run("dashboard_defunct_totals") { api, _ in
            _ = try await KnownDistrict.make(api.store)
            let parties = PartyRepository(store: api.store)
            let now = Date()
            for number in 0..<24 {
                let institution = try await parties.registerInstitution(
                    NewInstitution(
                        licenceNumber: "教民13302990\(number)\(UInt32.random(in: .min ... .max))", name: "倒闭学校\(number)",
                        address: "宁波市", creditCode: "52330203MJ0000002X",
                        licenceValidUntil: BusinessDate(shanghaiDateOf: now).addingMonths(12), supervisionMode: .escrow,
                        supervisedBank: "宁波银行"),
                    district: KnownDistrict.code)
                try await api.store.query(
                    """
                    INSERT INTO defunct_cases (id, institution_id, district_code, effective_at, reason, marked_at, status,
                        enrollments_total, enrollments_done, uncovered_fen, planned_at, completed_at)
                    VALUES (\(UUID()), \(institution.id.uuid), \(KnownDistrict.code.value), \(now), '停业', \(now), 'completed', 0, 0,
                            100, \(now), \(now))
                    """)
            }
            let regulator = try await api.token(for: .regulator(KnownDistrict.code))
            let shown = figures(in: try await api.call(.get, "/dashboard", token: regulator).body)
            #expect(shown["defunct-running"] == "1" && shown["defunct-completed"] == "24")
            #expect(shown["defunct-uncovered"] == "¥147.00")  // KnownDistrict's ¥123 and 24 × ¥1
        }
    }

    @Test func everyFigureLinksToAListThatPagesAndFilters() async throws {
        try await API.run("dashboard_lists") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            let regulator = try await api.token(for: .regulator(KnownDistrict.code))
            let page = try await api.call(.get, "/dashboard", token: regulator).body
            let links = Set(
                try NSRegularExpression(pattern: #"href="(/dashboard/[^"]*)""#).matches(
                    in: page, range: NSRange(page.startIndex..., in: page)
                )
                .map { String(page[Range($0.range(at: 1), in: page)!]).replacingOccurrences(of: "&amp;", with: "&") })
            #expect(links.count >= 30)
            for link in links {
                let list = try await api.call(.get, link, token: regulator)
                #expect(list.status == .ok && list.body.contains(#"<table id="list">"#), "\(link): \(list.status)")
            }

            func table(_ link: String) async throws -> String {
                let page = try await api.call(.get, link, token: regulator).body
                guard let start = page.range(of: #"<table id="list">"#),
                    let end = page.range(of: "</table>", range: start.upperBound..<page.endIndex)
                else { return "" }
                return String(page[start.lowerBound..<end.upperBound])
            }
            let short = try await table("/dashboard/institutions?shortfall=1")
            #expect(short.contains(district.b.institution.licenceNumber) && !short.contains(district.a.institution.licenceNumber))
            let overdue = try await table("/dashboard/warnings?due=overdue")
            #expect(overdue.contains("预收费激增") && !overdue.contains("保证金不足"))
            let escalated = try await table("/dashboard/warnings?status=escalated")
            #expect(escalated.contains("退费逾期") && escalated.contains(district.d.name) && !escalated.contains("预收费激增"))
            let ofB = try await table("/dashboard/warnings?status=&licence=\(pathSegment(district.b.institution.licenceNumber))")
            #expect(ofB.contains("预收费激增") && ofB.contains("保证金不足") && !ofB.contains("许可证到期"))
            let claims = try await table("/dashboard/claims?status=\(district.claim.status.rawValue)")
            #expect(claims.contains(district.claim.number))

            // Pages of two: every institution once, the filters kept on the next-page link.
            var seen: [String] = []
            var next: String? = "/dashboard/institutions?limit=2"
            while let link = next {
                let list = try await api.call(.get, link, token: regulator).body
                let rows = try NSRegularExpression(pattern: #"<td class="text">(教民[^<]+)</td>"#)
                    .matches(in: list, range: NSRange(list.startIndex..., in: list)).map { String(list[Range($0.range(at: 1), in: list)!]) }
                seen += rows
                next = try NSRegularExpression(pattern: #"href="([^"]+)" id="next-page""#)
                    .firstMatch(in: list, range: NSRange(list.startIndex..., in: list))
                    .map { String(list[Range($0.range(at: 1), in: list)!]).replacingOccurrences(of: "&amp;", with: "&") }
                if let next { #expect(next.contains("limit=2")) }
            }
            #expect(seen.count == 5 && Set(seen).count == 5)
            // A path given with two slashes (the router matches it) never makes a link that leaves the site.
            let doubled = try await api.call(.get, "//dashboard/institutions?limit=2", token: regulator).body
            #expect(doubled.contains(#"href="/dashboard/institutions?"#) && !doubled.contains(#"href="//"#), "\(doubled)")

            for bad in [
                "/dashboard/institutions?status=gone", "/dashboard/warnings?due=soon", "/dashboard/warnings?cursor=x",
                "/dashboard/claims?status=x", "/dashboard/institutions?shortfall=AAA",
                // Dates `Int` reads but PostgreSQL would not (it took a leading + for a time zone: a 500).
                "/dashboard/warnings?cursor=%2B001-01-01.00000000-0000-0000-0000-000000000000",
                "/dashboard/warnings?cursor=2024-+1-01.00000000-0000-0000-0000-000000000000",
            ] {
                let reply = try await api.call(.get, bad, token: regulator)
                #expect(reply.status == .badRequest && reply.code == "invalid_parameter", "\(bad)")
            }
        }
    }
}
