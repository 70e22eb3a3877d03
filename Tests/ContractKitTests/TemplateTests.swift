import ContractKit
import Foundation
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
/// The current version of the model contract (new contracts use it); v1 stays for contracts rendered from it.
let templateDirectory = repositoryRoot.appendingPathComponent("contract-templates/gf-2021-2604/v2")
let goldenDirectory = repositoryRoot.appendingPathComponent("Tests/Golden/contracts")

/// The model contract, its example field values, and a renderer of it.
struct ModelContract {
    let template: ContractTemplate
    let renderer: ContractRenderer
    let fields: [String: String]

    init(directory: URL = templateDirectory) throws {
        template = try ContractTemplate.load(directory: directory)
        renderer = try ContractRenderer(template: template)
        let data = try Data(contentsOf: directory.appendingPathComponent("example-fields.json"))
        fields = try JSONDecoder().decode([String: String].self, from: data)
    }

    func render(_ changes: [String: String?]) throws -> [UInt8] {
        var values = fields
        for (key, value) in changes { values[key] = value }
        return try renderer.render(values)
    }
}

/// Compares with the golden file; `TUITIONGUARD_UPDATE_GOLDEN=1` rewrites it instead (then review the diff).
func expectGolden(_ bytes: [UInt8], _ name: String) throws {
    let url = goldenDirectory.appendingPathComponent(name)
    if ProcessInfo.processInfo.environment["TUITIONGUARD_UPDATE_GOLDEN"] == "1" {
        try FileManager.default.createDirectory(at: goldenDirectory, withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }
    let golden = try #require(FileManager.default.contents(atPath: url.path), "golden file \(url.path) is missing")
    #expect([UInt8](golden) == bytes, "\(name) differs from its golden file; TUITIONGUARD_UPDATE_GOLDEN=1 rewrites it")
}

@Suite struct TemplateTests {
    @Test func templateIsIdentifiedByIdVersionAndTheHashOfItsFiles() throws {
        let model = try ModelContract()
        #expect(model.template.id == "GF-2021-2604" && model.template.version == 2)
        let files =
            try Data(contentsOf: templateDirectory.appendingPathComponent("contract.xml"))
            + Data(contentsOf: templateDirectory.appendingPathComponent("contract.xsd"))
        #expect(model.template.sha256 == (try sha256Hex([UInt8](files))))
        // Every binding point has an example value, and the example names no field the template lacks.
        #expect(
            Set(model.template.fields)
                == Set(model.fields.keys).union([
                    "student.idNumberMasked", "supervision.reserveRatioBasisPoints", "insurance.tuitionPolicyNumber",
                ]))
        #expect(model.template.fields.contains("institution.licenceNumber") && model.template.fields.contains("enrollment.totalFen"))
        let library = try TemplateLibrary.load(root: repositoryRoot.appendingPathComponent("contract-templates"))
        #expect(try library.template(id: "GF-2021-2604") == model.template)
        #expect(throws: ContractRenderError.templateNotFound(id: "GF-2021-2604", version: 9)) {
            try library.template(id: "GF-2021-2604", version: 9)
        }
    }

    @Test(arguments: [1, 2])
    func rendersTheExampleExactlyAsTheGoldenFile(version: Int) throws {
        let model = try ModelContract(
            directory: repositoryRoot.appendingPathComponent("contract-templates/gf-2021-2604/v\(version)"))
        let rendered = try model.renderer.render(model.fields)
        try expectGolden(rendered, "gf-2021-2604-v\(version).xml")
        try expectGolden(Array(ContractHTML.render(try XMLDocument.parse(rendered)).utf8), "gf-2021-2604-v\(version).html")
        // Rendering is deterministic, and the result carries the template's identity and no binding attributes.
        #expect(try model.renderer.render(model.fields) == rendered)
        let text = String(decoding: rendered, as: UTF8.self)
        #expect(text.contains("templateSha256=\"\(model.template.sha256)\""))
        #expect(!text.contains("field=") && !text.contains("optional=") && !text.contains("<!--"))
        #expect(text.contains("<tg:licenceNumber>教民133020370001</tg:licenceNumber>"))
        #expect(text.contains("<tg:totalFen>320000</tg:totalFen>"))
    }

    @Test func optionalBindingPointsWithoutAValueAreLeftOut() throws {
        let model = try ModelContract()
        let text = String(
            decoding: try model.render([
                "course.teacher": nil, "guardian.idNumberMasked": nil, "insurance.tuitionPolicyNumber": "PTUI2026000001",
            ]),
            as: UTF8.self)
        #expect(!text.contains("<tg:teacher>") && !text.contains("<tg:guardianIdNumber>"))
        #expect(text.contains("<tg:tuitionPolicyNumber>PTUI2026000001</tg:tuitionPolicyNumber>"))
    }

    @Test(arguments: ["institution.licenceNumber", "enrollment.totalFen", "guardian.name", "refunds.coolingOffDays"])
    func aMissingFieldIsNamed(field: String) throws {
        let model = try ModelContract()
        #expect(throws: ContractRenderError.fieldMissing(field)) { try model.render([field: nil]) }
        #expect(throws: ContractRenderError.fieldMissing(field)) { try model.render([field: ""]) }
    }

    @Test(arguments: [
        ("enrollment.totalFen", "三千二百元"), ("enrollment.totalFen", "-5"), ("enrollment.totalFen", "500001"),
        ("enrollment.lessons", "61"), ("enrollment.termStart", "2026-13-01"), ("institution.creditCode", "not-a-code"),
        ("service.deliveryMode", "hybrid"), ("guardian.idNumberMasked", "330203199001011234"), ("refunds.coolingOffDays", "7.5"),
        ("institution.name", " 前后有空格 "), ("institution.licenceValidUntil", "明年"),
    ])
    func anIllTypedFieldIsRefusedByTheSchemaAndNamed(field: String, value: String) throws {
        let model = try ModelContract()
        #expect {
            try model.render([field: value])
        } throws: { error in
            guard case .fieldInvalid(let named, let reason) = error as? ContractRenderError else { return false }
            return named == field && !reason.isEmpty
        }
    }

    @Test func unknownFieldsAndControlCharactersAreRefused() throws {
        let model = try ModelContract()
        #expect(throws: ContractRenderError.fieldUnknown("institution.licenseNumber")) {
            try model.render(["institution.licenseNumber": "typo"])
        }
        #expect {
            try model.render(["guardian.name": "张\u{0}三"])
        } throws: { error in
            guard case .fieldInvalid(let field, _) = error as? ContractRenderError else { return false }
            return field == "guardian.name"
        }
    }

    @Test func valuesGoInAsTextNeverAsMarkup() throws {
        let model = try ModelContract()
        let hostile = #"星火</tg:name><tg:evil/>&amp; <![CDATA[x]]> "引号" & <b>"#
        let rendered = try model.render(["institution.name": hostile])
        let document = try XMLDocument.parse(rendered)
        try document.validate(againstSchema: model.template.schema)
        let text = String(decoding: rendered, as: UTF8.self)
        #expect(!text.contains("<tg:evil/>") && !text.contains("<b>"))
        #expect(text.contains("&lt;/tg:name&gt;&lt;tg:evil/&gt;&amp;amp;"))
    }

    @Test(arguments: KeyAlgorithm.allCases)
    func aRenderedContractIsSignedTwiceAndStillMatchesItsSchema(algorithm: KeyAlgorithm) throws {
        let model = try ModelContract()
        let parties = Parties.shared
        let document = try model.renderer.renderDocument(model.fields)
        #expect(try parties.institution[algorithm]!.sign(document) == 0)
        #expect(try parties.guardian[algorithm]!.sign(document) == 1)
        let signed = document.serialized()
        let report = try XMLSignatureVerifier(trustAnchor: parties.ca.certificate).verify(signed)
        #expect(report.isValid && report.signatures.count == 2, "\(String(describing: report.firstFailure))")
        try XMLSchema(bytes: model.template.schema).validate(try XMLDocument.parse(signed))
        // The HTML view lists the signatures it is given and escapes what it shows.
        let html = ContractHTML.render(try XMLDocument.parse(signed), signatures: ["甲方 <签名>"])
        #expect(html.contains("甲方 &lt;签名&gt;") && html.contains("¥3,200.00"))
    }
}

@Suite struct HTMLEscapeTests {
    /// Every markup character is escaped, also when a combining mark follows it (one grapheme, unequal to the bare
    /// character): a contract field `x"\u{301} onmouseover=…` must not end an attribute.
    @Test func markupCharactersAreEscapedWhateverFollowsThem() {
        #expect(ContractHTML.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f")
        let escaped = ContractHTML.escape("x\"\u{301} onmouseover=alert(1) y='\u{301}<\u{301}")
        #expect(!escaped.unicodeScalars.contains { "\"'<>".unicodeScalars.contains($0) }, "\(escaped)")
        #expect(escaped.hasPrefix("x&quot;\u{301}"))
        #expect(ContractHTML.escape("学生张三") == "学生张三")
    }
}

@Suite struct UncheckedSigningTests {
    /// Signing without the in-memory self-check yields the same verifiable document; the caller's full
    /// verification is then the check right after signing.
    @Test(arguments: KeyAlgorithm.allCases)
    func signingWithoutSelfCheckProducesTheSameVerifiableSignatures(algorithm: KeyAlgorithm) throws {
        let model = try ModelContract()
        let parties = Parties.shared
        let unchecked = try model.renderer.renderDocument(model.fields)
        try parties.institution[algorithm]!.sign(unchecked, selfCheck: false)
        try parties.guardian[algorithm]!.sign(unchecked, selfCheck: false)
        let bytes = unchecked.serialized()
        let report = try XMLSignatureVerifier(trustAnchor: parties.ca.certificate).verify(bytes)
        #expect(report.isValid && report.signatures.count == 2)
        // A wrong key is still caught, by the verifier instead of the signer.
        let forged = try model.renderer.renderDocument(model.fields)
        let impostor = parties.foreignSigner
        try impostor.sign(forged, selfCheck: false)
        #expect(!(try XMLSignatureVerifier(trustAnchor: parties.ca.certificate).verify(forged.serialized()).isValid))
    }
}

/// Version 2 prints coded fields as their Chinese labels and keeps the code in an attribute (issue 12).
@Suite struct CodedFieldTests {
    @Test func enumCodesRenderAsChineseLabels() throws {
        let model = try ModelContract()
        let text = String(decoding: try model.render(["service.deliveryMode": "online", "course.category": "non_academic"]), as: UTF8.self)
        #expect(text.contains(#"<tg:deliveryMode code="online">线上</tg:deliveryMode>"#))
        #expect(text.contains(#"<tg:category code="non_academic">非学科类</tg:category>"#))
        #expect(text.contains(#"<tg:supervisionMode code="escrow">银行托管（预收费监管专用账户）</tg:supervisionMode>"#))
        #expect(!text.contains("labels="))
        #expect(throws: ContractRenderError.self) { try model.render(["fees.paymentMethod": "loan"]) }
    }

    @Test func bidirectionalControlsAreRefusedInEveryField() throws {
        let model = try ModelContract()
        for scalar in ["\u{202E}", "\u{2066}", "\u{200F}"] {
            #expect(throws: ContractRenderError.self) { try model.render(["service.schedule": "每周 \(scalar)01 次"]) }
        }
    }
}
