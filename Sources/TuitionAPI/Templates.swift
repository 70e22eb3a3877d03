import ContractKit
import Foundation
import Mustache
import TuitionCore

/// The server-rendered pages' Mustache templates, compiled once. They live in the binary, not in files beside it,
/// so `serve`, the tests and a release build render the same pages wherever they run. `{{x}}` escapes HTML by Unicode
/// scalar (`ScalarHTML`).
enum Pages {
    static let library: MustacheLibrary = {
        MustacheContentTypes.register(ScalarHTML(), named: ScalarHTML.name)
        var library = MustacheLibrary()
        do {
            for (template, name) in [
                (head, "head"), (foot, "foot"), (publicInstitution, "public-institution"), (signIn, "sign-in"), (overview, "overview"),
                (list, "list"),
            ] {
                try library.register("{{% CONTENT_TYPE: \(ScalarHTML.name)}}" + template, named: name)
            }
        } catch {
            preconditionFailure("a page template does not parse: \(error)")
        }
        return library
    }()

    /// HTML escaping by Unicode scalar (`ContractHTML.escape`). Mustache's own escapes by `Character`, and a `<` or a
    /// quote that forms one grapheme with the scalar before or after it (U+0600 before it, a combining mark after it)
    /// is no `Character` it knows, so it went out raw.
    struct ScalarHTML: MustacheContentType {
        static let name = "SCALAR_HTML"

        func escapeText(_ text: String) -> String { ContractHTML.escape(text) }
    }

    static func render(_ template: String, _ object: [String: Any]) -> String {
        guard let html = library.render(object, withTemplate: template) else { preconditionFailure("no template \(template)") }
        return html
    }

    static let head = """
        <!DOCTYPE html>
        <html lang="zh-CN">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title>
        <style>
        body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", sans-serif; margin: 0; color: #1f2933; background: #f5f7fa; }
        header { background: #1d4e89; color: #fff; padding: 12px 24px; display: flex; justify-content: space-between; align-items: center; }
        header h1 { font-size: 20px; margin: 0; }
        header a, header button { color: #fff; }
        header form { margin: 0; }
        header button { background: transparent; border: 1px solid #fff; border-radius: 4px; padding: 4px 10px; cursor: pointer; }
        main { padding: 16px 24px; }
        section { background: #fff; border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
        section h2 { font-size: 16px; margin: 0 0 8px; color: #1d4e89; }
        table { border-collapse: collapse; width: 100%; font-size: 14px; }
        th, td { border-bottom: 1px solid #e4e7eb; padding: 6px 8px; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        td.text, th.text { text-align: left; }
        a { color: #1d4e89; }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; }
        .card { flex: 1 1 160px; border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px 12px; }
        .card .label { font-size: 13px; color: #616e7c; }
        .card .value { font-size: 22px; font-weight: bold; }
        .bad { color: #ba2525; }
        .progress { background: #e4e7eb; border-radius: 3px; height: 10px; width: 120px; display: inline-block; }
        .progress span { background: #3ebd93; display: block; height: 10px; border-radius: 3px; }
        .list-white { color: #0c6b58; font-weight: bold; }
        .list-black { color: #ba2525; font-weight: bold; }
        .filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin-bottom: 8px; }
        .error { color: #ba2525; }
        </style>
        </head>
        <body>
        """

    static let foot = """
        </body>
        </html>
        """

    static let publicInstitution = """
        {{> head}}
        <header><h1>校外培训机构公示信息</h1><span>全国校外教育培训监管与服务综合平台样式</span></header>
        <main>
        <section>
        <h2>{{name}}</h2>
        <table>
        <tr><td>办学许可证号</td><td class="text" data-field="licence">{{licenceNumber}}</td></tr>
        <tr><td>许可证有效期至</td><td class="text" data-field="licence-valid-until">{{licenceValidUntil}}（{{licenceValidityLabel}}）</td></tr>
        <tr><td>所属区县</td><td class="text">{{districtName}} {{districtCode}}</td></tr>
        <tr><td>机构状态</td><td class="text">{{statusLabel}}</td></tr>
        <tr><td>名单</td><td class="text list-{{list}}" data-field="list">{{listLabel}}</td></tr>
        <tr><td>信用等级</td><td class="text" data-field="grade">{{gradeText}}</td></tr>
        <tr><td>资金监管方式</td><td class="text" data-field="mode">{{modeLabel}}</td></tr>
        <tr><td>监管账户开户行</td><td class="text" data-field="bank">{{supervisedBank}}</td></tr>
        </table>
        </section>
        <section>
        <h2>在保保险</h2>
        {{#insurance}}
        <p data-field="insurance">{{insurer}} 保单 {{policyNumber}}，保险期间至 {{periodEnd}}，剩余保额 {{remaining}}</p>
        {{/insurance}}
        {{^insurance}}<p data-field="insurance">无在保的风险防控保险</p>{{/insurance}}
        </section>
        <section>
        <h2>家长评价（{{reviewCount}} 条）</h2>
        <table>
        <tr><td>综合</td><td data-field="review-overall">{{reviewOverall}}</td></tr>
        <tr><td>教学质量</td><td>{{reviewTeaching}}</td></tr>
        <tr><td>教学环境</td><td>{{reviewEnvironment}}</td></tr>
        <tr><td>课程内容</td><td>{{reviewCurriculum}}</td></tr>
        </table>
        </section>
        <section>
        <h2>扫码查验</h2>
        <img src="{{qrPath}}" alt="本页地址二维码" width="200" height="200">
        <p>{{pageURL}}</p>
        </section>
        </main>
        {{> foot}}
        """

    static let signIn = """
        {{> head}}
        <header><h1>监管部门登录</h1></header>
        <main>
        <section>
        <h2>请粘贴监管部门访问令牌</h2>
        {{#error}}<p class="error" id="sign-in-error">{{error}}</p>{{/error}}
        <form method="post" action="/dashboard/sign-in">
        <p><input type="password" name="token" id="token" size="60" autocomplete="off" required></p>
        <p><button type="submit" id="sign-in">登录</button></p>
        </form>
        </section>
        </main>
        {{> foot}}
        """

    static let overview = """
        {{> head}}
        <header><h1 id="district">{{districtName}}（{{district}}）校外培训预收费监管看板</h1><span>{{today}}</span>
        <form method="post" action="/dashboard/sign-out"><button type="submit" id="sign-out">退出登录</button></form></header>
        <main>
        <section id="institutions">
        <h2>机构状态与信用等级</h2>
        <table>
        <tr><th>状态</th>{{#grades}}<th>{{label}}</th>{{/grades}}<th>合计</th></tr>
        {{#statusRows}}
        <tr><td><a href="{{href}}">{{label}}</a></td>{{#cells}}<td><a href="{{href}}" data-figure="{{figure}}">{{count}}</a></td>{{/cells}}<td><a href="{{href}}" data-figure="{{figure}}">{{total}}</a></td></tr>
        {{/statusRows}}
        <tr><td><a href="/dashboard/institutions">合计</a></td>{{#gradeTotals}}<td><a href="{{href}}" data-figure="{{figure}}">{{count}}</a></td>{{/gradeTotals}}<td><a href="/dashboard/institutions" data-figure="institutions-total">{{institutionsTotal}}</a></td></tr>
        </table>
        </section>
        <section id="funds">
        <h2>资金监管与未消课预收费覆盖</h2>
        <div class="cards">
        <div class="card"><div class="label">监管资金（存管账户）</div><div class="value"><a href="/dashboard/institutions?mode=escrow" data-figure="escrow-held">{{escrowHeld}}</a></div></div>
        <div class="card"><div class="label">风险保证金</div><div class="value"><a href="/dashboard/institutions?mode=reserve" data-figure="reserve-held">{{reserveHeld}}</a></div></div>
        <div class="card"><div class="label">未消课预收费</div><div class="value"><a href="/dashboard/institutions" data-figure="unconsumed">{{unconsumed}}</a></div></div>
        <div class="card"><div class="label">覆盖率</div><div class="value"><a href="/dashboard/institutions?shortfall=1" data-figure="coverage">{{coveragePercent}}</a></div></div>
        </div>
        <table>
        <tr><th>覆盖来源</th><th>金额</th></tr>
        <tr><td>存管资金</td><td><a href="/dashboard/institutions?mode=escrow" data-figure="covered-escrow">{{coveredByEscrow}}</a></td></tr>
        <tr><td>风险保证金</td><td><a href="/dashboard/institutions?mode=reserve" data-figure="covered-reserve">{{coveredByReserve}}</a></td></tr>
        <tr><td>保险</td><td><a href="/dashboard/institutions" data-figure="covered-insurance">{{coveredByInsurance}}</a></td></tr>
        <tr><td>未覆盖缺口</td><td class="bad"><a href="/dashboard/institutions?shortfall=1" data-figure="uncovered">{{uncovered}}</a></td></tr>
        <tr><td>存在缺口的机构</td><td><a href="/dashboard/institutions?shortfall=1" data-figure="institutions-short">{{institutionsShort}}</a></td></tr>
        </table>
        </section>
        <section id="warnings">
        <h2>未处理预警（按整改期限）</h2>
        <table>
        <tr><th>期限</th>{{#severities}}<th>{{label}}</th>{{/severities}}<th>合计</th></tr>
        {{#warningRows}}
        <tr><td><a href="{{href}}">{{label}}</a></td>{{#cells}}<td><a href="{{href}}" data-figure="{{figure}}">{{count}}</a></td>{{/cells}}<td><a href="{{href}}" data-figure="{{figure}}">{{total}}</a></td></tr>
        {{/warningRows}}
        </table>
        <p>已逾期升级：<a href="/dashboard/warnings?status=escalated" data-figure="warnings-escalated">{{escalated}}</a></p>
        </section>
        <section id="defunct">
        <h2>倒闭机构快速理赔</h2>
        <p>进行中 <a href="/dashboard/defunct-cases?status=running" data-figure="defunct-running">{{defunctRunning}}</a>，
        已完成 <a href="/dashboard/defunct-cases?status=completed" data-figure="defunct-completed">{{defunctCompleted}}</a>，
        未覆盖损失合计 <a href="/dashboard/defunct-cases" data-figure="defunct-uncovered" class="bad">{{defunctUncovered}}</a></p>
        <table>
        <tr><th>机构</th><th>状态</th><th>进度</th><th>应退</th><th>已赔付</th><th>转人工</th><th>未覆盖损失</th></tr>
        {{#defunctCases}}
        <tr><td>{{institution}}</td><td>{{status}}</td><td><span class="progress"><span style="width: {{percent}}%"></span></span> {{done}}/{{total}}</td><td>{{entitled}}</td><td>{{paid}}</td><td>{{referred}}</td><td class="bad">{{uncovered}}</td></tr>
        {{/defunctCases}}
        {{^defunctCases}}<tr><td colspan="7">本区暂无倒闭机构</td></tr>{{/defunctCases}}
        </table>
        </section>
        <section id="claims">
        <h2>理赔（按状态）</h2>
        <table>
        <tr><th>状态</th><th>件数</th><th>申请金额</th><th>已赔付</th></tr>
        {{#claimRows}}
        <tr><td><a href="{{href}}">{{label}}</a></td><td><a href="{{href}}" data-figure="{{figure}}">{{count}}</a></td><td>{{claimed}}</td><td>{{paid}}</td></tr>
        {{/claimRows}}
        </table>
        </section>
        </main>
        {{> foot}}
        """

    static let list = """
        {{> head}}
        <header><h1>{{heading}}</h1><span><a href="/dashboard">返回看板</a></span>
        <form method="post" action="/dashboard/sign-out"><button type="submit">退出登录</button></form></header>
        <main>
        <section>
        <form method="get" class="filters">
        {{#filters}}
        <label>{{label}} <select name="{{name}}">{{#options}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/options}}</select></label>
        {{/filters}}
        <button type="submit">筛选</button>
        </form>
        <table id="list">
        <tr>{{#columns}}<th class="{{align}}">{{label}}</th>{{/columns}}</tr>
        {{#rows}}
        <tr>{{#cells}}<td class="{{align}}">{{#href}}<a href="{{href}}">{{text}}</a>{{/href}}{{^href}}{{text}}{{/href}}</td>{{/cells}}</tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="{{columnCount}}">没有符合条件的记录</td></tr>{{/rows}}
        </table>
        {{#next}}<p><a href="{{next}}" id="next-page">下一页</a></p>{{/next}}
        </section>
        </main>
        {{> foot}}
        """
}

/// Labels and formats the pages show.
enum Labels {
    static func status(_ status: InstitutionStatus) -> String {
        switch status {
        case .active: "正常"
        case .warned: "已预警"
        case .suspended: "暂停招生"
        case .defunct: "已倒闭"
        case .blacklisted: "黑名单"
        }
    }

    static func list(_ list: PublicList) -> String {
        switch list {
        case .white: "白名单"
        case .black: "黑名单"
        case .neither: "未列入白名单"
        }
    }

    static func validity(_ validity: LicenceValidity) -> String {
        switch validity {
        case .valid: "有效"
        case .expiringSoon: "即将到期"
        case .expired: "已过期"
        case .unknown: "未登记"
        }
    }

    static func mode(_ mode: SupervisionMode) -> String {
        switch mode {
        case .escrow: "资金存管"
        case .reserve: "风险保证金"
        }
    }

    static func claim(_ status: ClaimStatus) -> String {
        switch status {
        case .filed: "已提交"
        case .verified: "已核验"
        case .approved: "已批准"
        case .paid: "已赔付"
        case .referred: "转人工"
        case .rejected: "已拒绝"
        case .closed: "已关闭"
        }
    }

    static func bucket(_ bucket: DeadlineBucket) -> String {
        switch bucket {
        case .overdue: "已逾期"
        case .within3Days: "3 日内到期"
        case .within7Days: "4–7 日到期"
        case .later: "7 日以后"
        }
    }

    static let severities: [(String, String)] = [("critical", "严重"), ("serious", "较重"), ("notice", "提示")]
    static func severity(_ value: String) -> String { severities.first { $0.0 == value }?.1 ?? value }

    static let rules: [(String, String)] = [
        ("escrow_shortfall", "存管资金不足"), ("reserve_shortfall", "保证金不足"), ("sales_spike", "预收费激增"),
        ("lessons_over_schedule", "消课异常"), ("refunds_overdue", "退费逾期"), ("licence_expiring", "许可证到期"),
        ("risk_policy_expiring", "风险保险到期"),
    ]
    static func rule(_ value: String) -> String { rules.first { $0.0 == value }?.1 ?? value }

    static let warningStatuses: [(String, String)] = [("open", "待整改"), ("escalated", "已升级"), ("resolved", "已解除")]
    static func warningStatus(_ value: String) -> String { warningStatuses.first { $0.0 == value }?.1 ?? value }

    static func defunctStatus(_ value: String, blockedReason: String? = nil) -> String {
        switch value {
        case "running": "理赔中"
        case "completed": "已完成"
        case "blocked": "受阻：" + (blockedReason ?? "")
        default: value
        }
    }

    /// "¥1,234,567.89": yuan with thousands separators, exact from fen.
    static func yuan(_ money: Money) -> String {
        let sign = money.fen < 0 ? "-" : ""
        let magnitude = money.fen.magnitude
        var digits = String(magnitude / 100)
        var grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        let cents = magnitude % 100
        return "\(sign)¥\(digits)\(grouped).\(cents < 10 ? "0" : "")\(cents)"
    }

    /// "87.5%" from basis points.
    static func percent(basisPoints: Int) -> String { "\(basisPoints / 100).\(basisPoints % 100 / 10)%" }

    static func date(_ instant: Date) -> String { BusinessDate(shanghaiDateOf: instant).description }
}
