internal import CLibXML2

/// A readable HTML page of a contract document, for people: labels in Chinese, amounts in yuan, the
/// signatures listed with their signers. The XML stays the contract; this page is only a view of it.
public enum ContractHTML {
    /// `signatures` are lines shown under the contract (e.g. each signer and whether it verified).
    public static func render(_ document: XMLDocument, signatures: [String] = []) -> String {
        guard let root = document.rootElement else { return "" }
        var html = """
            <!DOCTYPE html>
            <html lang="zh-CN"><head><meta charset="utf-8">
            <title>\(escape(childText(root, "title") ?? "合同"))</title>
            <style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto;line-height:1.6}\
            th{text-align:left;padding-right:1rem;font-weight:normal;color:#555}.edition{color:#555}</style>
            </head><body>

            """
        for child in XMLTree.elementChildren(of: root) {
            guard child.pointee.ns.map({ String(cString: $0.pointee.href) }) == ContractTemplate.namespace else { continue }
            let name = localName(child)
            switch name {
            case "title": html += "<h1>\(escape(XMLTree.textContent(child)))</h1>\n"
            case "edition": html += "<p class=\"edition\">\(escape(XMLTree.textContent(child)))</p>\n"
            case "instructions":
                html += "<h2>使用说明</h2>\n"
                for clause in XMLTree.elementChildren(of: child) { html += "<p>\(escape(XMLTree.textContent(clause)))</p>\n" }
            default:
                if XMLTree.elementChildren(of: child).isEmpty {
                    html += "<p>\(escape(label(name))): \(escape(format(name, XMLTree.textContent(child))))</p>\n"
                } else {
                    html += section(child)
                }
            }
        }
        html +=
            "<p>模板 \(escape(XMLTree.attribute(root, "templateId") ?? "")) 第 \(escape(XMLTree.attribute(root, "templateVersion") ?? "")) 版，"
        html += "SHA-256 \(escape(XMLTree.attribute(root, "templateSha256") ?? ""))</p>\n"
        if !signatures.isEmpty {
            html += "<h2>电子签名</h2>\n<ul>\n"
            for line in signatures { html += "<li>\(escape(line))</li>\n" }
            html += "</ul>\n"
        }
        return html + "</body></html>\n"
    }

    private static func section(_ element: xmlNodePtr) -> String {
        var html = ""
        var rows = ""
        func flushRows() {
            if !rows.isEmpty { html += "<table>\n\(rows)</table>\n" }
            rows = ""
        }
        for child in XMLTree.elementChildren(of: element) {
            let name = localName(child)
            switch name {
            case "heading": html += "<h2>\(escape(XMLTree.textContent(child)))</h2>\n"
            case "clause":
                flushRows()
                html += "<p>\(escape(XMLTree.textContent(child)))</p>\n"
            default:
                rows += "<tr><th>\(escape(label(name)))</th><td>\(escape(format(name, XMLTree.textContent(child))))</td></tr>\n"
            }
        }
        flushRows()
        return html
    }

    private static func localName(_ node: xmlNodePtr) -> String { node.pointee.name.map { String(cString: $0) } ?? "" }

    private static func childText(_ node: xmlNodePtr, _ name: String) -> String? {
        XMLTree.elementChildren(of: node).first { localName($0) == name }.map(XMLTree.textContent)
    }

    static let labels: [String: String] = [
        "contractNumber": "合同编号", "generatedOn": "生成日期", "name": "名称", "address": "住所（办学地址）",
        "approvingAuthority": "审批机关", "licenceNumber": "办学许可证编号", "licenceValidUntil": "办学许可证有效期至",
        "creditCode": "统一社会信用代码", "contact": "联系方式", "guardianName": "监护人姓名", "relationship": "与学员关系",
        "guardianIdNumber": "监护人身份证件号码", "guardianContact": "监护人联系方式", "studentName": "学员姓名",
        "studentIdNumber": "学员身份证件号码", "school": "就读学校", "grade": "年级", "deliveryMode": "培训方式",
        "category": "培训类型", "courseTitle": "培训项目（课程）", "classNumber": "班级编号", "totalLessons": "课时总数",
        "lessonMinutes": "每课时时长（分钟）", "lessonsPerSession": "每次课课时数", "schedule": "上课时间安排", "startDate": "开始日期",
        "expectedEndDate": "预计结束日期", "classSize": "班级人数上限", "teacher": "指定授课教师", "pricePerLessonFen": "每课时单价",
        "totalFen": "培训费用总额", "paymentMethod": "缴费方式", "supervisionMode": "资金监管方式", "supervisedBank": "监管银行",
        "supervisedAccountNumber": "监管账户账号", "reserveRatioBasisPoints": "风险保证金比例", "coolingOffDays": "冷静期（天）",
        "tuitionPolicyNumber": "学费损失保险保单号", "signatoryA": "甲方（签章）", "signatoryB": "乙方（签字）",
    ]

    static func label(_ name: String) -> String { labels[name] ?? name }

    static func format(_ name: String, _ value: String) -> String {
        switch (name, value) {
        case ("deliveryMode", "offline"): return "线下"
        case ("deliveryMode", "online"): return "线上"
        case ("category", "academic"): return "学科类"
        case ("category", "non_academic"): return "非学科类"
        case ("paymentMethod", "one_off"): return "一次性缴纳"
        case ("paymentMethod", "instalments"): return "分期缴纳"
        case ("supervisionMode", "escrow"): return "银行托管（预收费监管专用账户）"
        case ("supervisionMode", "reserve"): return "风险保证金"
        default: break
        }
        if name.hasSuffix("Fen"), let fen = Int64(value) { return "¥\(yuan(fen))（\(value) 分）" }
        if name == "reserveRatioBasisPoints", let points = Int(value) { return "\(Double(points) / 100)%" }
        return value
    }

    static func yuan(_ fen: Int64) -> String {
        let whole = String(fen / 100)
        var grouped = ""
        for (index, digit) in whole.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        let cents = fen % 100
        return String(grouped.reversed()) + "." + (cents < 10 ? "0" : "") + String(cents)
    }

    /// HTML text escaping: the five characters that could open markup or end an attribute.
    public static func escape(_ text: String) -> String {
        // By scalar, not by `Character`: a quote followed by a combining mark is one grapheme, unequal to `"`, and
        // would otherwise pass unescaped and end an attribute.
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}

/// Lowercase hex SHA-256, the form contract hashes are recorded and compared in.
public func sha256Hex(_ bytes: [UInt8]) throws -> String {
    hex(try OpenSSL.sha256(bytes))
}
