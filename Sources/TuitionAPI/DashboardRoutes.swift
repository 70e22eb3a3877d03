import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TuitionCore
import TuitionStore
import TuitionWire

/// The regulator's web dashboard. A regulator signs in by pasting its token and gets a session cookie (HttpOnly,
/// SameSite=Strict); a regulator's bearer token works too, so scripts and the isolation test read the same pages.
struct DashboardPages: Sendable {
    static let cookieName = "tg_dashboard"
    static let sessionLifetime = Duration.seconds(8 * 3600)

    let dashboard: DashboardRepository
    let sessions: DashboardSessionRepository
    let principals: PrincipalRepository
    /// `Secure` on the cookie, unless configured for plain-http development (`TUITIONGUARD_INSECURE_COOKIES=1`).
    let secureCookie: Bool

    init(store: Store, secureCookie: Bool) {
        self.dashboard = DashboardRepository(store: store)
        self.sessions = DashboardSessionRepository(store: store)
        self.principals = PrincipalRepository(store: store)
        self.secureCookie = secureCookie
    }

    /// The signed-in regulator's district: from the bearer token, else from the session cookie; nil when neither.
    /// Another role's token is 403, as on every regulator route.
    func district(_ request: Request, context: AppRequestContext) async throws -> DistrictCode? {
        if context.identity != nil {
            let district = try context.regulatorDistrict()
            return district
        }
        guard let cookie = request.cookies[Self.cookieName]?.value, !cookie.isEmpty else { return nil }
        guard let principal = try await sessions.principal(forSession: cookie), case .regulator(let district) = principal.entity else {
            return nil
        }
        return district
    }

    func cookie(value: String, maxAgeSeconds: Int) -> String {
        "\(Self.cookieName)=\(value); Path=/dashboard; Max-Age=\(maxAgeSeconds); HttpOnly; SameSite=Strict\(secureCookie ? "; Secure" : "")"
    }
}

func redirect(to location: String, headers extra: HTTPFields = [:]) -> Response {
    var headers = extra
    headers[.location] = location
    return Response(status: .seeOther, headers: headers)
}

/// The regulator's web dashboard: sign-in with a regulator token (a session cookie after that), the district's
/// overview, and lists of institutions, warnings, defunct cases and claims. Every page but sign-in needs a session.
struct DashboardController {
    let pages: DashboardPages
    /// The API's limiter of failed authentications: a token typed into the sign-in form is a guess like a bearer one.
    let limiter: FailedAuthenticationLimiter

    func addRoutes(to router: Router<AppRequestContext>, allowedOrigins: Set<String>) {
        let dashboard = router.group("dashboard").add(middleware: SameOriginMiddleware(allowedOrigins: allowedOrigins))
        dashboard.get("sign-in", use: signInForm)
        dashboard.post("sign-in", use: signIn)
        dashboard.post("sign-out", use: signOut)
        dashboard.get(use: overview)
        dashboard.get("institutions", use: institutions)
        dashboard.get("warnings", use: warnings)
        dashboard.get("defunct-cases", use: defunctCases)
        dashboard.get("claims", use: claims)
    }

    func signInForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        html(Pages.render("sign-in", ["title": "监管部门登录"]))
    }

    func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let address = limiter.address(of: request, context)
        if limiter.retryAfter(address) != nil {
            return html(Pages.render("sign-in", ["title": "监管部门登录", "error": "尝试次数过多，请稍后再试"]), status: .tooManyRequests)
        }
        let body = try await request.collectBody(upTo: RequestBodyLimit.formBytes)
        let token = (try? URLEncodedFormDecoder().decode(SignInForm.self, from: String(buffer: body)))?.token ?? ""
        let principal = token.isEmpty || token.utf8.count >= 200 ? nil : try await pages.principals.principal(forToken: token)
        if principal == nil { limiter.recordFailure(address) }
        guard let principal, principal.role == .regulator else {
            return html(
                Pages.render("sign-in", ["title": "监管部门登录", "error": "令牌无效，或不是监管部门的令牌"]), status: .unauthorized)
        }
        let session = try await pages.sessions.open(for: principal, lifetime: DashboardPages.sessionLifetime)
        var headers = HTTPFields()
        headers[.setCookie] = pages.cookie(value: session, maxAgeSeconds: Int(DashboardPages.sessionLifetime.components.seconds))
        return redirect(to: "/dashboard", headers: headers)
    }

    func signOut(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let cookie = request.cookies[DashboardPages.cookieName]?.value, !cookie.isEmpty { try await pages.sessions.close(cookie) }
        var headers = HTTPFields()
        headers[.setCookie] = pages.cookie(value: "", maxAgeSeconds: 0)
        return redirect(to: "/dashboard/sign-in", headers: headers)
    }

    func overview(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let district = try await pages.district(request, context: context) else { return redirect(to: "/dashboard/sign-in") }
        let overview = try await pages.dashboard.overview(district: district)
        return html(Pages.render("overview", try overviewPage(overview)))
    }

    func institutions(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let district = try await pages.district(request, context: context) else { return redirect(to: "/dashboard/sign-in") }
        let query = request.uri.queryParameters
        let grade = try query["grade"].map { text in
            guard ["A", "B", "C", "D", "none"].contains(text) else { throw Problem.invalidParameter("unknown grade \(text)") }
            return String(text)
        }
        let filter = DashboardInstitutionFilter(
            status: try request.emptyMeansNone("status", as: InstitutionStatus.self), grade: grade,
            mode: try request.emptyMeansNone("mode", as: SupervisionMode.self),
            shortfallOnly: try request.choice("shortfall", from: ["1"]) == "1")
        let page = try await pages.dashboard.institutions(
            district: district, filter: filter, after: try request.pageRequest().after, limit: try request.pageLimit())
        return html(Pages.render("list", institutionList(page, filter: filter, request: request)))
    }

    func warnings(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let district = try await pages.district(request, context: context) else { return redirect(to: "/dashboard/sign-in") }
        let query = request.uri.queryParameters
        let status = try request.choice("status", from: Labels.warningStatuses.map(\.0), default: "open")
        let filter = DashboardWarningFilter(
            status: status, severity: try request.choice("severity", from: Labels.severities.map(\.0)),
            rule: try request.choice("rule", from: Labels.rules.map(\.0)), due: try request.emptyMeansNone("due", as: DeadlineBucket.self),
            licenceNumber: query["licence"].flatMap { $0.isEmpty ? nil : String($0) })
        let page = try await pages.dashboard.warnings(
            district: district, filter: filter, after: request.cursor.map(String.init), limit: try request.pageLimit())
        return html(Pages.render("list", warningList(page, filter: filter, request: request)))
    }

    func defunctCases(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let district = try await pages.district(request, context: context) else { return redirect(to: "/dashboard/sign-in") }
        let status = try request.choice("status", from: ["running", "completed"])
        let page = try await pages.dashboard.defunctCases(
            district: district, status: status, after: try request.pageRequest().after, limit: try request.pageLimit())
        return html(Pages.render("list", defunctList(page, status: status, request: request)))
    }

    func claims(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let district = try await pages.district(request, context: context) else { return redirect(to: "/dashboard/sign-in") }
        let status = try request.emptyMeansNone("status", as: ClaimStatus.self)
        let page = try await pages.dashboard.claims(
            district: district, status: status, after: try request.pageRequest().after, limit: try request.pageLimit())
        return html(Pages.render("list", claimList(page, status: status, request: request)))
    }
}

extension Request {
    /// Like `option`, but an empty value (a filter form's "all") means no filter.
    func emptyMeansNone<T: RawRepresentable>(_ name: String, as type: T.Type) throws -> T? where T.RawValue == String {
        guard let text = uri.queryParameters[Substring(name)], !text.isEmpty else { return nil }
        return try option(name, as: type)
    }

    /// This request's path and query with `cursor` set to `next`: the next page keeps the filters. The path begins with
    /// exactly one slash: the router also matches `//dashboard/…`, and a link starting `//` would leave the site.
    func nextPage(_ next: String?) -> String? {
        guard let next else { return nil }
        var parts = uri.queryParameters.filter { $0.key != "cursor" }.map { "\($0.key)=\(PublicAddresses.escaped(String($0.value)))" }
        parts.append("cursor=\(PublicAddresses.escaped(next))")
        return "/" + uri.path.drop { $0 == "/" } + "?" + parts.sorted().joined(separator: "&")
    }
}

extension Request {
    /// A filter naming one of `values`; absent means `default`, empty means none, anything else is 400.
    func choice(_ name: String, from values: [String], default fallback: String? = nil) throws -> String? {
        guard let text = uri.queryParameters[Substring(name)] else { return fallback }
        if text.isEmpty { return nil }
        guard values.contains(String(text)) else { throw Problem.invalidParameter("unknown \(name) \(text)") }
        return String(text)
    }
}

// MARK: Page models

private func link(_ path: String, _ query: [(String, String?)]) -> String {
    let parts = query.compactMap { name, value in value.map { "\(name)=\(PublicAddresses.escaped($0))" } }
    return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
}

private let gradeColumns: [(String, String)] = [("A", "A 级"), ("B", "B 级"), ("C", "C 级"), ("D", "D 级"), ("none", "未评级")]

func overviewPage(_ overview: DashboardOverview) throws -> [String: Any] {
    let institutions = CountTable(path: "/dashboard/institutions", figure: "institutions", row: "status", column: "grade")
    let warnings = CountTable(path: "/dashboard/warnings", figure: "warnings", row: "due", column: "severity")
    let institutionCounts = CountTable.counts(overview.institutions.map { ($0.status.rawValue, $0.grade, $0.count) })
    let warningCounts = CountTable.counts(overview.openWarnings.map { ($0.bucket.rawValue, $0.severity, $0.count) })
    let cases = overview.defunctCases
    let coverage = overview.coverage
    return [
        "title": "\(overview.districtName) 监管看板",
        "district": overview.district.value, "districtName": overview.districtName.isEmpty ? "本区" : overview.districtName,
        "today": overview.today.description,
        "grades": gradeColumns.map { ["label": $0.1] },
        "statusRows": institutions.rows(
            InstitutionStatus.allCases.map { ($0.rawValue, Labels.status($0)) }, columns: gradeColumns.map(\.0), counts: institutionCounts),
        "gradeTotals": institutions.columnTotals(gradeColumns.map(\.0), counts: institutionCounts),
        "institutionsTotal": overview.institutions.reduce(0) { $0 + $1.count },
        "escrowHeld": Labels.yuan(overview.escrowHeld), "reserveHeld": Labels.yuan(overview.reserveHeld),
        "unconsumed": Labels.yuan(coverage.unconsumed), "coveragePercent": Labels.percent(basisPoints: coverage.coverageBasisPoints),
        "coveredByEscrow": Labels.yuan(coverage.escrowApplied), "coveredByReserve": Labels.yuan(coverage.reserveApplied),
        "coveredByInsurance": Labels.yuan(coverage.insuranceApplied), "uncovered": Labels.yuan(coverage.uncovered),
        "institutionsShort": overview.institutionsWithShortfall,
        "severities": Labels.severities.map { ["label": $0.1] },
        "warningRows": warnings.rows(
            DeadlineBucket.allCases.map { ($0.rawValue, Labels.bucket($0)) }, columns: Labels.severities.map(\.0), counts: warningCounts),
        "escalated": overview.escalatedWarnings,
        "defunctRunning": overview.defunctTotals.running,
        "defunctCompleted": overview.defunctTotals.completed,
        "defunctUncovered": Labels.yuan(overview.defunctTotals.uncovered),
        "defunctCases": cases.map(defunctCells),
        "claimRows": claimRows(overview.claims),
    ]
}

/// A table of counts on the overview (institutions by status and grade, open warnings by due date and severity):
/// every row, cell and column total links to the list it counts, and carries a `figure` name the tests find it by.
private struct CountTable {
    let path: String
    let figure: String
    /// The list's query parameters a row and a column filter by.
    let row: String
    let column: String

    /// Counts by row key, then column key, from (row, column, count) triples.
    static func counts(_ triples: [(String, String, Int)]) -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        for (row, column, count) in triples { counts[row, default: [:]][column, default: 0] += count }
        return counts
    }

    func rows(_ rows: [(key: String, label: String)], columns: [String], counts: [String: [String: Int]]) -> [[String: Any]] {
        rows.map { key, label in
            let byColumn = counts[key] ?? [:]
            return [
                "label": label, "href": link(path, [(row, key)]), "figure": "\(figure)-\(key)", "total": byColumn.values.reduce(0, +),
                "cells": columns.map { column in
                    [
                        "count": byColumn[column] ?? 0, "figure": "\(figure)-\(key)-\(column)",
                        "href": link(path, [(row, key), (self.column, column)]),
                    ] as [String: Any]
                },
            ]
        }
    }

    func columnTotals(_ columns: [String], counts: [String: [String: Int]]) -> [[String: Any]] {
        columns.map { column in
            [
                "count": counts.values.reduce(0) { $0 + ($1[column] ?? 0) }, "figure": "\(figure)-\(self.column)-\(column)",
                "href": link(path, [(self.column, column)]),
            ]
        }
    }
}

private func claimRows(_ rows: [DashboardOverview.ClaimCount]) -> [[String: Any]] {
    let claims = Dictionary(rows.map { ($0.status, $0) }, uniquingKeysWith: { first, _ in first })
    return ClaimStatus.allCases.map { status in
        let row = claims[status]
        return [
            "label": Labels.claim(status), "href": link("/dashboard/claims", [("status", status.rawValue)]),
            "figure": "claims-\(status.rawValue)", "count": row?.count ?? 0, "claimed": Labels.yuan(row?.claimed ?? .zero),
            "paid": Labels.yuan(row?.paid ?? .zero),
        ]
    }
}

private func defunctCells(_ row: DefunctCaseRow) -> [String: Any] {
    [
        "institution": row.institutionName, "status": Labels.defunctStatus(row.status, blockedReason: row.blockedReason),
        "percent": row.progressPercent,
        "done": row.enrollmentsDone, "total": row.enrollmentsTotal, "entitled": Labels.yuan(row.entitled), "paid": Labels.yuan(row.paid),
        "referred": row.referredCount, "uncovered": Labels.yuan(row.uncovered),
    ]
}

private func column(_ label: String, text: Bool = false) -> [String: Any] { ["label": label, "align": text ? "text" : ""] }
private func cell(_ text: Any, href: String? = nil, text isText: Bool = false) -> [String: Any] {
    var cell: [String: Any] = ["text": "\(text)", "align": isText ? "text" : ""]
    if let href { cell["href"] = href }
    return cell
}
private func selectFilter(_ name: String, _ label: String, _ options: [(String, String)], selected: String?) -> [String: Any] {
    [
        "name": name, "label": label,
        "options": [["value": "", "label": "全部", "selected": selected == nil]]
            + options.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == selected] },
    ]
}

private func listPage(heading: String, filters: [[String: Any]], columns: [[String: Any]], rows: [[[String: Any]]], next: String?)
    -> [String: Any]
{
    var page: [String: Any] = [
        "title": heading, "heading": heading, "filters": filters, "columns": columns, "columnCount": columns.count,
        "rows": rows.map { ["cells": $0] },
    ]
    if let next { page["next"] = next }
    return page
}

func institutionList(_ page: Page<DashboardInstitutionRow>, filter: DashboardInstitutionFilter, request: Request) -> [String: Any] {
    let rows = page.items.map { row -> [[String: Any]] in
        let coverage = row.coverage
        return [
            cell(row.name, href: PublicAddresses.pagePath(licenceNumber: row.licenceNumber), text: true),
            cell(row.licenceNumber, text: true), cell(Labels.status(row.status), text: true), cell(row.grade ?? "—", text: true),
            cell(Labels.mode(row.supervisionMode), text: true),
            cell(coverage.map { Labels.yuan($0.unconsumed) } ?? "—"), cell(coverage.map { Labels.yuan($0.escrow) } ?? "—"),
            cell(coverage.map { Labels.yuan($0.reserve) } ?? "—"), cell(coverage.map { Labels.yuan($0.insuranceApplied) } ?? "—"),
            cell(coverage.map { Labels.percent(basisPoints: $0.coverageBasisPoints) } ?? "—"),
            cell(
                row.unresolvedWarnings,
                href: row.unresolvedWarnings > 0 ? link("/dashboard/warnings", [("licence", row.licenceNumber), ("status", "")]) : nil),
        ]
    }
    return listPage(
        heading: "机构列表",
        filters: [
            selectFilter(
                "status", "状态", InstitutionStatus.allCases.map { ($0.rawValue, Labels.status($0)) }, selected: filter.status?.rawValue),
            selectFilter("grade", "信用等级", gradeColumns, selected: filter.grade),
            selectFilter("mode", "监管方式", SupervisionMode.allCases.map { ($0.rawValue, Labels.mode($0)) }, selected: filter.mode?.rawValue),
            [
                "name": "shortfall", "label": "覆盖",
                "options": [
                    ["value": "", "label": "全部", "selected": !filter.shortfallOnly],
                    ["value": "1", "label": "存在缺口", "selected": filter.shortfallOnly],
                ],
            ],
        ],
        columns: [
            column("机构", text: true), column("许可证号", text: true), column("状态", text: true), column("信用等级", text: true),
            column("监管方式", text: true), column("未消课预收费"), column("存管余额"), column("保证金"), column("保险覆盖"), column("覆盖率"),
            column("未解除预警"),
        ],
        rows: rows, next: request.nextPage(page.next))
}

func warningList(_ page: Page<DashboardWarningRow>, filter: DashboardWarningFilter, request: Request) -> [String: Any] {
    let rows = page.items.map { row -> [[String: Any]] in
        [
            cell(row.institutionName, href: PublicAddresses.pagePath(licenceNumber: row.licenceNumber), text: true),
            cell(Labels.rule(row.rule), text: true), cell(Labels.severity(row.severity), text: true),
            cell(Labels.warningStatus(row.status), text: true), cell(row.deadline.description), cell(Labels.date(row.openedAt)),
        ]
    }
    return listPage(
        heading: "预警列表",
        filters: [
            selectFilter("status", "状态", Labels.warningStatuses, selected: filter.status),
            selectFilter("severity", "等级", Labels.severities, selected: filter.severity),
            selectFilter("rule", "规则", Labels.rules, selected: filter.rule),
            selectFilter("due", "整改期限", DeadlineBucket.allCases.map { ($0.rawValue, Labels.bucket($0)) }, selected: filter.due?.rawValue),
        ],
        columns: [
            column("机构", text: true), column("规则", text: true), column("等级", text: true), column("状态", text: true), column("整改期限"),
            column("发出日期"),
        ],
        rows: rows, next: request.nextPage(page.next))
}

func defunctList(_ page: Page<DefunctCaseRow>, status: String?, request: Request) -> [String: Any] {
    let rows = page.items.map { row -> [[String: Any]] in
        [
            cell(row.institutionName, href: PublicAddresses.pagePath(licenceNumber: row.licenceNumber), text: true),
            cell(Labels.defunctStatus(row.status, blockedReason: row.blockedReason), text: true), cell(Labels.date(row.effectiveAt)),
            cell("\(row.enrollmentsDone)/\(row.enrollmentsTotal)（\(row.progressPercent)%）"), cell(Labels.yuan(row.entitled)),
            cell(Labels.yuan(row.paid)), cell(row.referredCount), cell(Labels.yuan(row.uncovered)),
        ]
    }
    return listPage(
        heading: "倒闭机构快速理赔",
        filters: [selectFilter("status", "状态", [("running", "理赔中"), ("completed", "已完成")], selected: status)],
        columns: [
            column("机构", text: true), column("状态", text: true), column("倒闭生效日"), column("进度"), column("应退"), column("已赔付"),
            column("转人工"), column("未覆盖损失"),
        ],
        rows: rows, next: request.nextPage(page.next))
}

func claimList(_ page: Page<DashboardClaimRow>, status: ClaimStatus?, request: Request) -> [String: Any] {
    let rows = page.items.map { row -> [[String: Any]] in
        [
            cell(row.number, text: true), cell(row.institutionName, text: true),
            cell(row.reason == "institution_defunct" ? "机构倒闭" : "拒不退费", text: true), cell(Labels.claim(row.status), text: true),
            cell(Labels.yuan(row.claimed)), cell(Labels.yuan(row.approved)), cell(Labels.yuan(row.paid)), cell(Labels.date(row.createdAt)),
        ]
    }
    return listPage(
        heading: "理赔列表",
        filters: [selectFilter("status", "状态", ClaimStatus.allCases.map { ($0.rawValue, Labels.claim($0)) }, selected: status?.rawValue)],
        columns: [
            column("理赔号", text: true), column("机构", text: true), column("原因", text: true), column("状态", text: true), column("申请金额"),
            column("批准金额"), column("已赔付"), column("提交日期"),
        ],
        rows: rows, next: request.nextPage(page.next))
}
