import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

@testable import TuitionAPI

/// Issue #11: no request crashes or poisons the service; the HTTP conventions hold on every route.
@Suite(.serialized) struct EdgeTests {
    // MARK: Nothing input-derived can trap

    /// Every page escapes by Unicode scalar: a `<` or a quote joined into one grapheme with the scalar before or after it
    /// (U+0600 before `<`, a combining accent after `"`) is no `Character` Mustache's own escaping knows.
    @Test func thePagesEscapeMarkupHiddenInAGrapheme() {
        let hostile = "\u{600}<meta http-equiv=refresh content=0;url=https://evil.example\u{600}> \"\u{301} onmouseover=x '\u{301}"
        let pages = [
            Pages.render("sign-in", ["title": hostile, "error": hostile]),
            Pages.render("public-institution", ["title": hostile, "name": hostile, "supervisedBank": hostile, "list": hostile]),
            Pages.render("list", ["title": hostile]),
        ]
        // Compared as bytes: `String.contains` would compare graphemes, the very thing that hid the markup.
        func holds(_ page: String, _ text: String) -> Bool {
            let (haystack, needle) = (Array(page.utf8), Array(text.utf8))
            return haystack.indices.contains { haystack[$0...].starts(with: needle) }
        }
        for page in pages {
            #expect(!holds(page, "\u{600}<") && !holds(page, "\"\u{301}") && !holds(page, "'\u{301}"))
            #expect(holds(page, "\u{600}&lt;meta") && holds(page, "&quot;\u{301}") && holds(page, "&#39;\u{301}"))
        }
    }

    @Test func aTermStartInYear9999IsRefusedNotACrash() async throws {
        try await API.run("edge_year9999") { api, _ in
            let cast = try await Cast.make(api)
            for (start, end) in [("9999-12-01", "9999-12-31"), ("2099-12-01", "2100-02-01"), ("1999-12-31", "2000-01-01")] {
                let reply = try await api.call(
                    .post, "/v1/enrollment-proposals", token: cast.institution,
                    json: """
                        {"guardianId":"\(cast.world.guardian)","courseId":"\(cast.world.course.id)","lessons":5,
                         "termStart":"\(start)","termEnd":"\(end)"}
                        """)
                #expect(reply.status == .badRequest && reply.code == "malformed_body", "\(start): \(reply.body)")
            }
            // The service still answers.
            #expect(try await api.call(.get, "/health").status == .ok)
        }
    }

    /// An Idempotency-Key is printable ASCII: the header reaches the server decoded as UTF-8 with invalid bytes made
    /// U+FFFD, so keys of other bytes could collide and a second top-up be replayed as the first.
    @Test func anIdempotencyKeyIsPrintableASCII() async throws {
        try await API.run("edge_keys") { api, _ in
            let cast = try await Cast.make(api)
            let path = "/v1/institutions/\(cast.world.institution.id)/reserve-topups"
            for key in ["充值-1", "top\u{FFFD}", "é", String(repeating: "k", count: 201)] {
                let reply = try await api.call(.post, path, token: cast.institution, json: #"{"amountFen":100}"#, idempotencyKey: key)
                #expect(reply.status == .badRequest && reply.code == "idempotency_key_required", "\(key): \(reply.body)")
            }
            for key in ["a", "top up 1", String(repeating: "~", count: 200)] {
                let reply = try await api.call(.post, path, token: cast.institution, json: #"{"amountFen":100}"#, idempotencyKey: key)
                #expect(reply.status == .created, "\(key): \(reply.body)")
            }
        }
    }

    @Test func twoHugeTopUpsAreRefusedAtTheTopUpAndTheDashboardStillAnswers() async throws {
        try await API.run("edge_topups") { api, _ in
            let cast = try await Cast.make(api)
            for key in ["huge-1", "huge-2"] {
                let reply = try await api.call(
                    .post, "/v1/institutions/\(cast.world.institution.id)/reserve-topups", token: cast.institution,
                    json: #"{"amountFen":5000000000000000000}"#, idempotencyKey: key)
                #expect(reply.status == .unprocessableContent && reply.code == "amount_too_large", "\(reply.body)")
            }
            let ceiling = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/reserve-topups", token: cast.institution,
                json: "{\"amountFen\":\(PlatformLimits.topUpMaximum.fen)}", idempotencyKey: "ceiling")
            #expect(ceiling.status == .created, "the documented ceiling itself is accepted: \(ceiling.body)")
            #expect(try await api.call(.get, "/dashboard", token: cast.regulator).status == .ok)
            #expect(try await api.call(.get, "/dashboard/institutions", token: cast.regulator).status == .ok)
        }
    }

    @Test func aHugeClaimedAmountIsRefusedAndTheDashboardStillAnswers() async throws {
        try await API.run("edge_claims") { api, _ in
            let cast = try await Cast.make(api)
            for amount in ["9223372036854775807", "\(PlatformLimits.claimMaximum.fen + 1)"] {
                let reply = try await api.call(
                    .post, "/v1/claims", token: cast.guardian,
                    json: """
                        {"enrollmentId":"\(cast.world.enrollment.id)","policyId":"\(cast.policy)","reason":"refund_refused",
                         "claimedFen":\(amount)}
                        """, idempotencyKey: "huge-\(amount)")
                #expect(reply.status == .unprocessableContent && reply.code == "amount_too_large", "\(reply.body)")
            }
            #expect(try await api.call(.get, "/dashboard", token: cast.regulator).status == .ok)
            #expect(try await api.call(.get, "/dashboard/claims", token: cast.regulator).status == .ok)
        }
    }

    /// Rows no request can write any more (the edge refuses them), written straight into the database as an older
    /// service could have: the figures that sum them answer a clear 4xx or their page, never a 500 or a crash.
    @Test func aPoisonedLedgerNeverCrashesTheDashboardTheStatementsOrTheMetrics() async throws {
        try await API.run("edge_poison") { api, _ in
            let cast = try await Cast.make(api)
            let second = try await PartyRepository(store: api.store).registerInstitution(
                NewInstitution(
                    licenceNumber: "教民\(UUID().uuidString.lowercased())", name: "第二培训学校", address: "宁波", creditCode: "52330203MJ0000003X",
                    licenceValidUntil: BusinessDate("2030-01-01"), supervisionMode: .escrow),
                district: cast.world.district)
            try await api.store.query(
                """
                UPDATE accounts SET credits_fen = 5000000000000000000
                WHERE kind = 'reserve' AND institution_id IN (\(cast.world.institution.id.uuid), \(second.id.uuid))
                """)
            try await api.store.query(
                "UPDATE claims SET claimed_fen = 5000000000000000000 WHERE id = \(cast.claim.uuid)")
            let dashboard = try await api.call(.get, "/dashboard", token: cast.regulator)
            #expect(dashboard.status == .unprocessableContent && dashboard.code == "amount_too_large", "\(dashboard.body)")
            #expect(try await api.call(.get, "/dashboard/institutions", token: cast.regulator).status == .ok)
            #expect(try await api.call(.get, "/dashboard/claims", token: cast.regulator).status == .ok)
            let statement = try await api.call(.get, "/v1/institutions/\(cast.world.institution.id)/statement", token: cast.regulator)
            #expect(statement.status == .ok, "\(statement.body)")
            #expect(try await api.call(.get, "/metrics", token: API.metricsToken).status == .ok)
            #expect(try await api.call(.get, "/health").status == .ok)
        }
    }

    /// The class: every route that takes a JSON body with text, with NUL (or another forbidden character) put into
    /// each of its text fields in turn, is refused with 400/422 by some caller and never answers 5xx to any caller.
    @Test func forbiddenCharactersInAnyTextFieldOfAnyRouteAreRefused() async throws {
        try await API.run("edge_nul") { api, routes in
            let cast = try await Cast.make(api)
            var fieldsChecked = 0
            for route in routes {
                guard let method = HTTPRequest.Method(route.method), let body = IsolationTests.body(for: route, other: cast),
                    let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                else { continue }
                for (field, value) in object where value is String {
                    for poison in ["\u{0}", "\u{1b}[31m", "\u{202e}"] {
                        var poisoned = object
                        poisoned[field] = "\(value)\(poison)x"
                        let json = String(decoding: try JSONSerialization.data(withJSONObject: poisoned), as: UTF8.self)
                        var refused = false
                        for token in cast.tokens.map({ Optional($0.1) }) + [nil] {
                            let reply = try await api.call(
                                method, IsolationTests.path(route.path, aimedAt: cast), token: token, json: json,
                                idempotencyKey: "nul-\(fieldsChecked)")
                            #expect(reply.status.code < 500, "\(route) \(field): \(reply.body)")
                            refused = refused || reply.code == "text_has_forbidden_characters"
                        }
                        #expect(refused, "\(route): \(field) with \(poison.unicodeScalars.first!.value) was not refused")
                    }
                    fieldsChecked += 1
                }
            }
            #expect(fieldsChecked >= 20, "the text-taking routes were found")
            // Text in the path or the query, on every GET route.
            for route in routes where route.method == "GET" {
                let path = IsolationTests.path(route.path, aimedAt: cast)
                for target in ["\(path)?q=a%00b", "\(path)?status=%E2%80%AE", "\(path)?a%1Fb=1"] {
                    let reply = try await api.call(.get, target, token: cast.regulator)
                    #expect(reply.status == .badRequest && reply.code == "invalid_parameter", "\(target): \(reply.body)")
                }
            }
            // Numbers in the query are digits only: a sign is no page size, cursor or amount (`Int` alone took `+5`).
            for target in [
                "/v1/institutions?limit=%2B5", "/v1/institutions/\(cast.world.institution.id)/transfers?cursor=%2B1",
                "/v1/public/courses?maxPriceFen=%2B100", "/v1/public/courses?minPriceFen=-0",
            ] {
                let reply = try await api.call(.get, target, token: cast.regulator)
                #expect(reply.status == .badRequest && reply.code == "invalid_parameter", "\(target): \(reply.body)")
            }
            for path in ["/v1/public/institutions/%00abc", "/public/institutions/a%E2%80%AEb", "/v1/institutions/%00"] {
                let reply = try await api.call(.get, path, token: cast.regulator)
                #expect(reply.status == .notFound && reply.code == "not_found", "\(path): \(reply.body)")
            }
        }
    }

    @Test func anOversizedSignInBodyIs413() async throws {
        try await API.run("edge_body") { api, _ in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .origin: API.origin]
            let big = "token=" + String(repeating: "a", count: 5 * 1024)
            let reply = try await api.raw(.post, "/dashboard/sign-in", headers: form, body: big)
            #expect(reply.status == .contentTooLarge && reply.text.contains("body_too_large"))
            let json = try await api.call(.post, "/v1/guardians", json: #"{"name":""# + String(repeating: "字", count: 30_000) + #""}"#)
            #expect(json.status == .contentTooLarge && json.code == "body_too_large")
        }
    }

    // MARK: HTTP conventions

    @Test func aKnownPathWithAWrongMethodIs405WithAllow() async throws {
        try await API.run("edge_405") { api, routes in
            let cast = try await Cast.make(api)
            let reply = try await api.raw(
                .delete, "/v1/enrollments/\(cast.world.enrollment.id)", headers: [.authorization: "Bearer \(cast.guardian)"])
            #expect(reply.status == .methodNotAllowed && reply.text.contains("method_not_allowed"))
            #expect(reply.headers[.allow] == "GET, HEAD")
            let put = try await api.raw(.put, "/v1/claims")
            #expect(put.status == .methodNotAllowed && put.headers[.allow] == "GET, HEAD, POST")
            #expect(try await api.raw(.delete, "/v1/nowhere").status == .notFound)
            // Every route's path refuses a method it does not take.
            for route in routes {
                let path = IsolationTests.path(route.path, aimedAt: cast)
                let taken = Set(routes.filter { $0.path == route.path }.map(\.method))
                guard let other = ["PATCH", "DELETE", "PUT", "POST"].first(where: { !taken.contains($0) }) else { continue }
                let reply = try await api.raw(HTTPRequest.Method(other)!, path)
                #expect(reply.status == .methodNotAllowed, "\(other) \(route.path): \(reply.status)")
            }
            // An empty cursor is the first page on every paged route, whatever its cursor's form.
            let firstPages = [
                "/v1/public/courses?cursor=", "/v1/institutions/\(cast.world.institution.id)/transfers?cursor=", "/v1/claims?cursor=",
            ]
            for path in firstPages {
                let reply = try await api.call(.get, path, token: cast.regulator)
                #expect(reply.status == .ok, "\(path): \(reply.body)")
            }
            // A defunct institution's token writes nothing (409), but a method no route takes is still 405.
            _ = try await DefunctRepository(store: api.store).mark(
                cast.world.institution.id, district: cast.world.district.value, effectiveAt: nil, reason: "停业")
            let trace = try await api.raw(HTTPRequest.Method("TRACE")!, "/v1/me", headers: [.authorization: "Bearer \(cast.institution)"])
            #expect(trace.status == .methodNotAllowed)
            let putMe = try await api.raw(.put, "/v1/me", headers: [.authorization: "Bearer \(cast.institution)"])
            #expect(putMe.status == .methodNotAllowed)
            let write = try await api.raw(.post, "/v1/courses", headers: [.authorization: "Bearer \(cast.institution)"])
            #expect(write.status == .conflict && write.text.contains("institution_defunct"))
            // A money route without its Idempotency-Key is malformed first, for a defunct institution as for anyone.
            let keyless = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/lessons", token: cast.institution, json: #"{"lessons":1}"#)
            #expect(keyless.status == .badRequest && keyless.code == "idempotency_key_required", "\(keyless.body)")
        }
    }

    /// The routes the token middleware knows as money writes (a keyless one is 400 before anything else) are exactly
    /// the document's routes that require an Idempotency-Key.
    @Test func theMoneyWritesAreTheDocumentsKeyedRoutes() {
        let document = openAPIDocument
        var keyed: Set<String> = []
        var all: Set<String> = []
        var path: String?
        var inPost = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
                inPost = false
            } else if line.hasPrefix("    "), !line.hasPrefix("     ") {
                inPost = line == "    post:"
                if inPost, let path { all.insert(path) }
            } else if let path, line.contains("#/components/parameters/IdempotencyKey"), inPost || line.hasPrefix("      - ") {
                keyed.insert(path)  // the post's own parameter, or the path's (six spaces in)
            }
        }
        #expect(keyed.count >= 9)
        for path in all {
            let concrete = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "x", options: .regularExpression)
            #expect(Request.isMoneyWrite(.post, concrete) == keyed.contains(path), "POST \(path)")
        }
    }

    @Test func everyGetAnswersHeadWithTheSameStatusAndNoBody() async throws {
        try await API.run("edge_head") { api, routes in
            let cast = try await Cast.make(api)
            for route in routes where route.method == "GET" && route.path != "/metrics" {
                let path = IsolationTests.path(route.path, aimedAt: cast)
                let get = try await api.call(.get, path, token: cast.regulator)
                let head = try await api.raw(.head, path, headers: [.authorization: "Bearer \(cast.regulator)"])
                #expect(head.status == get.status && head.bytes.isEmpty, "HEAD \(route.path): \(head.status) vs \(get.status)")
            }
        }
    }

    @Test func theBearerSchemeIsCaseInsensitive() async throws {
        try await API.run("edge_bearer") { api, _ in
            let cast = try await Cast.make(api)
            for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
                let reply = try await api.raw(.get, "/v1/me", headers: [.authorization: "\(scheme) \(cast.guardian)"])
                #expect(reply.status == .ok, "\(scheme)")
            }
            #expect(try await api.raw(.get, "/v1/me", headers: [.authorization: "Basic \(cast.guardian)"]).status == .unauthorized)
        }
    }

    /// The class: every GET a role may read, for every role, carries ids only in lower case.
    @Test func idsAreLowerCaseInEveryResponse() async throws {
        try await API.run("edge_ids") { api, routes in
            let cast = try await Cast.make(api)
            let upperCaseUUID = try NSRegularExpression(
                pattern: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
            _ = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/suspension", token: cast.regulator, json: #"{"note":"检查"}"#)
            var seen = 0
            for route in routes where route.method == "GET" {
                for (role, token) in cast.tokens {
                    let reply = try await api.call(.get, IsolationTests.path(route.path, aimedAt: cast), token: token)
                    let body = reply.body
                    for match in upperCaseUUID.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                        let id = String(body[Range(match.range, in: body)!])
                        #expect(id == id.lowercased(), "\(role) \(route): \(id)")
                        seen += 1
                    }
                }
            }
            let sanction = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/reinstatement", token: cast.regulator, json: #"{"note":"整改完成"}"#)
            #expect(sanction.string("id") == sanction.string("id").lowercased() && !sanction.string("id").isEmpty)
            #expect(seen > 50)
        }
    }

    /// The class: every route that takes a JSON object refuses a field its schema does not list.
    @Test func unknownFieldsAreRefusedOnEveryRoute() async throws {
        try await API.run("edge_unknown") { api, routes in
            let cast = try await Cast.make(api)
            let defunct = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/defunct", token: cast.regulator,
                json: #"{"reason":"停业","effectiveAtt":"2026-01-01T00:00:00Z"}"#)
            #expect(defunct.status == .badRequest && defunct.code == "unknown_field", "\(defunct.body)")
            for route in routes {
                guard let method = HTTPRequest.Method(route.method), let body = IsolationTests.body(for: route, other: cast),
                    var object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                else { continue }
                object["surplusField"] = "x"
                let json = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
                var refused = false
                for token in cast.tokens.map({ Optional($0.1) }) + [nil] {
                    let reply = try await api.call(
                        method, IsolationTests.path(route.path, aimedAt: cast), token: token, json: json, idempotencyKey: "extra")
                    refused = refused || (reply.code == "unknown_field" && reply.body.contains("surplusField"))
                }
                #expect(refused, "\(route) took an unknown field")
            }
        }
    }

    /// Every code the server can send — every business rejection, every API-level failure, and any code written as a
    /// literal anywhere in Sources — is in the Problem schema's `code` enum of docs/openapi.yaml.
    @Test func everyErrorCodeIsListedInTheOpenAPIDocument() throws {
        let listed = Set(Self.problemCodesInSpec())
        #expect(listed.count > 60, "the Problem code enum was found")
        for code in Rejection.allCases.map(\.rawValue) + APIFailure.allCases.map(\.rawValue) + Self.literalCodesInSources() {
            #expect(listed.contains(code), "\(code) is returned but not listed in docs/openapi.yaml")
        }
    }

    static func problemCodesInSpec() -> [String] {
        let lines = openAPIDocument.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let problem = lines.firstIndex(of: "    Problem:"),
            let code = lines[problem...].firstIndex(of: "        code:"),
            let start = lines[code...].firstIndex(of: "          enum:")
        else { return [] }
        return lines[(start + 1)...].prefix { $0.hasPrefix("            ") }.compactMap { line in
            let item = line.trimmingCharacters(in: .whitespaces)
            return item.hasPrefix("- ") ? String(item.dropFirst(2)) : nil
        }
    }

    static func literalCodesInSources() -> [String] {
        let sources = repositoryRoot.appendingPathComponent("Sources")
        let pattern = try! NSRegularExpression(pattern: #"code: "([a-z_]+)""#)
        var codes: [String] = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for file in files where file.pathExtension == "swift" {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                codes.append(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return codes
    }

    // MARK: Web

    @Test func everyHTMLResponseCarriesTheSecurityHeaders() async throws {
        try await API.run("edge_headers") { api, _ in
            let cast = try await Cast.make(api)
            let auth: HTTPFields = [.authorization: "Bearer \(cast.regulator)"]
            for path in [
                "/dashboard", "/dashboard/sign-in", "/v1/contracts/\(cast.world.contract.id)/html",
                "/public/institutions/\(pathSegment(cast.world.institution.licenceNumber))",
            ] {
                let reply = try await api.raw(.get, path, headers: auth)
                #expect(reply.headers[.contentType]?.hasPrefix("text/html") == true, "\(path)")
                #expect(reply.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true, "\(path)")
                #expect(reply.headers[.contentSecurityPolicy]?.contains("base-uri 'none'") == true, "\(path)")
                #expect(reply.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(path)")
                #expect(reply.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(path)")
                #expect(reply.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin", "\(path)")
                #expect(reply.headers[HTTPField.Name("Strict-Transport-Security")!] == "max-age=31536000", "\(path)")
            }
        }
    }

    @Test func tokenAndSessionResponsesAreNotStored() async throws {
        try await API.run("edge_nostore") { api, _ in
            let cast = try await Cast.make(api)
            let signUp = try await api.raw(
                .post, "/v1/guardians", headers: [.contentType: "application/json"], body: #"{"name":"李四"}"#)
            #expect(signUp.status == .created && signUp.headers[.cacheControl] == "no-store")
            let issued = try await api.raw(
                .post, "/v1/institutions/\(cast.world.institution.id)/tokens", headers: [.authorization: "Bearer \(cast.regulator)"])
            #expect(issued.status == .created && issued.headers[.cacheControl] == "no-store")
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .origin: API.origin]
            let session = try await api.raw(.post, "/dashboard/sign-in", headers: form, body: "token=\(cast.regulator)")
            #expect(session.headers[.setCookie]?.contains("; Secure") == true && session.headers[.cacheControl] == "no-store")
        }
    }

    @Test func aCrossSiteOrOriginlessDashboardPostIsRefused() async throws {
        try await API.run("edge_origin") { api, _ in
            let cast = try await Cast.make(api)
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            for origin in ["https://evil.example", "null", nil] as [String?] {
                var headers = form
                if let origin { headers[.origin] = origin }
                for path in ["/dashboard/sign-in", "/dashboard/sign-out"] {
                    let reply = try await api.raw(.post, path, headers: headers, body: "token=\(cast.regulator)")
                    #expect(reply.status == .forbidden && reply.text.contains("cross_site_request") && reply.headers[.setCookie] == nil)
                }
            }
            var referred = form
            referred[.referer] = "\(API.origin)/dashboard/sign-in"
            #expect(try await api.raw(.post, "/dashboard/sign-in", headers: referred, body: "token=\(cast.regulator)").status == .seeOther)
        }
    }

    @Test func metricsNeedTheScrapeTokenAndCarryNoMoneyTotals() async throws {
        try await API.run("edge_metrics") { api, _ in
            let cast = try await Cast.make(api)
            #expect(try await api.call(.get, "/metrics").status == .unauthorized)
            #expect(try await api.call(.get, "/metrics", token: cast.regulator).status == .unauthorized)
            let scrape = try await api.call(.get, "/metrics", token: API.metricsToken)
            #expect(scrape.status == .ok && !scrape.body.contains("transferred_fen"))
            // Without TUITIONGUARD_METRICS_TOKEN the route is not served at all.
            let unconfigured = API.application(api.store) { configuration, _ in configuration.web = WebSettings() }
            try await unconfigured.test(.router) { client in
                let reply = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
                #expect(reply.status == .notFound)
            }
        }
    }

    // MARK: Registration

    @Test func registrationRefusesWhatTheContractSchemaRefuses() async throws {
        try await API.run("edge_registration") { api, _ in
            let cast = try await Cast.make(api)
            func register(_ fields: String) async throws -> Reply {
                try await api.call(
                    .post, "/v1/institutions", token: cast.regulator,
                    json: #"{"licenceNumber":"教民\#(UUID())","name":"新机构","supervisionMode":"escrow",\#(fields)}"#)
            }
            let valid = #""address":"宁波","creditCode":"52330203MJ0000000X","licenceValidUntil":"2030-01-01""#
            #expect(try await register(valid).status == .created)
            for (fields, code) in [
                (#""address":"宁波","creditCode":"52330203MJ000000OX","licenceValidUntil":"2030-01-01""#, "credit_code_invalid"),
                (#""address":"宁波","creditCode":"5233020AMJ0000000X","licenceValidUntil":"2030-01-01""#, "credit_code_invalid"),
                (#""address":"宁波","creditCode":"52330203MJ0000000","licenceValidUntil":"2030-01-01""#, "credit_code_invalid"),
                (#""creditCode":"52330203MJ0000000X","licenceValidUntil":"2030-01-01""#, "institution_details_missing"),
                (#""address":"宁波","creditCode":"52330203MJ0000000X""#, "institution_details_missing"),
                (
                    #""address":"宁波\n1 号","creditCode":"52330203MJ0000000X","licenceValidUntil":"2030-01-01""#,
                    "text_has_forbidden_characters"
                ),
                (
                    #""address":"\#(String(repeating: "址", count: 201))","creditCode":"52330203MJ0000000X","licenceValidUntil":"2030-01-01""#,
                    "text_field_invalid"
                ),
            ] {
                let reply = try await register(fields)
                #expect(reply.code == code, "\(fields): \(reply.body)")
            }
            #expect(
                try await register(#""address":"宁波","creditCode":"52330203MJ0000000X","licenceValidUntil":"3030-01-01""#).code
                    == "malformed_body")
        }
    }

    /// A connection opened and left silent is closed once the idle timeout passes (Hummingbird's default keeps it for
    /// ever). (The test client's own connection, idle meanwhile, is closed too: the test makes no request after.)
    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await TestDatabase.withStore("idleconn") { store in
            let app = API.application(store) { configuration, _ in
                configuration.port = 0
                configuration.idleConnectionTimeout = .milliseconds(500)
            }
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let lifetime = try await Task.detached { try silentConnectionLifetime(port: port, limit: 10) }.value
                #expect(lifetime < 5, "a silent connection stayed open \(lifetime) s")
            }
        }
    }
}

/// Seconds until the server closes a TCP connection to 127.0.0.1:`port` that sends nothing; `limit` when it is still
/// open by then.
private func silentConnectionLifetime(port: Int, limit: Int) throws -> Double {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw POSIXError(.EIO) }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    var timeout = timeval(tv_sec: limit, tv_usec: 0)
    setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let start = ContinuousClock.now
    var byte: UInt8 = 0
    let received = recv(socket, &byte, 1, 0)
    let elapsed = ContinuousClock.now - start
    guard received == 0 else { return Double(limit) }
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
