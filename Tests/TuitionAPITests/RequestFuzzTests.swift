import ContractKit
import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionUseCases
import TuitionWire

@testable import TuitionAPI

/// Values a hostile or careless client sends: extremes of every JSON type, dates at and past the calendar's ends,
/// text with every kind of forbidden character.
enum HostileValue {
    static var pool: [Any] {
        [
            Int64.max, Int64.min, -1, 0, 1, 5_000_000_000_000_000_000, 1e300, -0.5, 2.5, true, false, NSNull(),
            "", " ", "\u{0}", "a\u{1b}[31m", "\u{202e}abc", String(repeating: "字", count: 5_000), "9999-12-31", "0000-01-01",
            "2099-12-31", "2026-02-30", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "not-a-uuid",
            "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", [1, 2], ["k": "v"], "escrow",
            "institution_risk", "refund_refused",
        ]
    }

    static func random(using generator: inout SeededGenerator) -> Any { pool.randomElement(using: &generator)! }

    /// `object` with one to three fields replaced by hostile values, dropped, or joined by a random one.
    static func mutate(_ object: [String: Any], using generator: inout SeededGenerator) -> [String: Any] {
        var mutated = object
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let keys = Array(mutated.keys)
            switch Int.random(in: 0..<10, using: &generator) {
            case 0 where !keys.isEmpty: mutated.removeValue(forKey: keys.randomElement(using: &generator)!)
            case 1: mutated["x\(Int.random(in: 0..<3, using: &generator))"] = random(using: &generator)
            default:
                if let key = keys.randomElement(using: &generator) { mutated[key] = random(using: &generator) }
            }
        }
        return mutated
    }
}

@Suite(.serialized) struct RequestFuzzTests {
    /// Every request body type, with a valid sample to mutate: the decoder answers a value or a 4xx problem, nothing
    /// else, whatever it is fed.
    static let decoders: [(name: String, sample: String, decode: @Sendable (Data) throws -> Void)] = [
        ("GuardianSignUp", #"{"name":"张三","phone":"138"}"#, { _ = try JSONBody.decode(GuardianSignUp.self, from: $0) }),
        (
            "ChargeCaps", #"{"lessonsMax":60,"termMonthsMax":3,"amountMaxFen":500000}"#,
            { _ = try JSONBody.decode(ChargeCaps.Body.self, from: $0) }
        ),
        (
            "NewInstitution",
            #"{"licenceNumber":"x","name":"y","supervisionMode":"escrow","address":"a","creditCode":"52330203MJ0000000X","licenceValidUntil":"2030-01-01","reserveRatioBasisPoints":0,"supervisedBank":"b","supervisedAccountNumber":"1"}"#,
            { _ = try JSONBody.decode(NewInstitution.self, from: $0) }
        ),
        ("TopUpBody", #"{"amountFen":100}"#, { _ = try JSONBody.decode(TopUpBody.self, from: $0) }),
        (
            "NewStudent", #"{"name":"小明","relationship":"父子","school":"s","grade":"g"}"#,
            { _ = try JSONBody.decode(NewStudent.self, from: $0) }
        ),
        (
            "NewCourse",
            #"{"title":"t","category":"academic","pricePerLessonFen":100,"lessonMinutes":45,"lessonsPerWeek":2,"teacher":"w"}"#,
            { _ = try JSONBody.decode(NewCourse.self, from: $0) }
        ),
        (
            "NewEnrollment",
            #"{"studentId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","courseId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","lessons":5,"termStart":"2026-01-01","termEnd":"2026-02-01"}"#,
            { _ = try JSONBody.decode(NewEnrollment.self, from: $0) }
        ),
        ("PaymentBody", #"{"amountFen":100}"#, { _ = try JSONBody.decode(PaymentBody.self, from: $0) }),
        ("LessonsBody", #"{"lessons":1,"takenOn":"2026-01-01"}"#, { _ = try JSONBody.decode(LessonsBody.self, from: $0) }),
        ("RefundBody", #"{"lessons":1,"reason":"r"}"#, { _ = try JSONBody.decode(RefundBody.self, from: $0) }),
        ("DisputeBody", #"{"reason":"r"}"#, { _ = try JSONBody.decode(DisputeBody.self, from: $0) }),
        (
            "NewClaim",
            #"{"enrollmentId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","policyId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","reason":"refund_refused","claimedFen":1000}"#,
            { _ = try JSONBody.decode(NewClaim.self, from: $0) }
        ),
        ("ApprovalBody", #"{"amountFen":100}"#, { _ = try JSONBody.decode(ApprovalBody.self, from: $0) }),
        ("ClaimRejectionBody", #"{"reason":"r"}"#, { _ = try JSONBody.decode(ClaimRejectionBody.self, from: $0) }),
        (
            "DefunctMarkBody", #"{"reason":"r","effectiveAt":"2026-01-01T00:00:00Z"}"#,
            { _ = try JSONBody.decode(DefunctMarkBody.self, from: $0) }
        ),
        (
            "NewInsuranceProduct",
            #"{"kind":"institution_risk","premiumRateBasisPoints":100,"coveredShareBasisPoints":8000,"limitFen":100}"#,
            { _ = try JSONBody.decode(NewInsuranceProduct.self, from: $0) }
        ),
        (
            "NewRiskPolicy",
            #"{"productId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","institutionId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","sumInsuredFen":100,"periodStart":"2026-01-01","periodEnd":"2027-01-01"}"#,
            { _ = try JSONBody.decode(NewRiskPolicy.self, from: $0) }
        ),
        (
            "NewTuitionPolicy",
            #"{"productId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","sumInsuredFen":100,"periodStart":"2026-01-01","periodEnd":"2027-01-01"}"#,
            { _ = try JSONBody.decode(NewTuitionPolicy.self, from: $0) }
        ),
        ("NoteBody", #"{"note":"n"}"#, { _ = try JSONBody.decode(NoteBody.self, from: $0) }),
        (
            "WarningSettings",
            #"{"escrowCoverageMinBasisPoints":10000,"salesSpikeRatioBasisPoints":30000,"salesSpikeMinimumFen":1000000,"lessonsOverScheduleRatioBasisPoints":15000,"lessonsOverScheduleMinimum":10,"refundGraceDays":30,"expiryNoticeDays":30,"deadlineDays":15}"#,
            { _ = try JSONBody.decode(WarningThresholds.Body.self, from: $0) }
        ),
        ("NewInspection", #"{"year":2026,"result":"qualified","starRating":5}"#, { _ = try JSONBody.decode(NewInspection.self, from: $0) }),
        ("NewReview", #"{"teaching":1,"environment":1,"curriculum":1,"text":"t"}"#, { _ = try JSONBody.decode(NewReview.self, from: $0) }),
        (
            "NewComplaint", #"{"enrollmentId":"01956b2e-7c1a-7f3e-8a41-3d2c9b0e5f17","text":"t"}"#,
            { _ = try JSONBody.decode(NewComplaint.self, from: $0) }
        ),
        ("AnswerBody", #"{"answer":"a"}"#, { _ = try JSONBody.decode(AnswerBody.self, from: $0) }),
        ("ClosingBody", #"{"upheld":true,"note":"n"}"#, { _ = try JSONBody.decode(ClosingBody.self, from: $0) }),
        ("ContractTerms", #"{"classNumber":"c","schedule":"s"}"#, { _ = try JSONBody.decode(ContractTerms.self, from: $0) }),
        ("SignatureBody", #"{"algorithm":"ecdsa-p256"}"#, { _ = try JSONBody.decode(SignatureBody.self, from: $0) }),
    ]

    @Test func everyRequestDecoderAnswersAValueOrA4xxProblemForAnyInput() throws {
        let seed = UInt64.random(in: .min ... .max)
        var generator = SeededGenerator(state: seed)
        for decoder in Self.decoders {
            let sample = try #require(
                try JSONSerialization.jsonObject(with: Data(decoder.sample.utf8)) as? [String: Any], "\(decoder.name)")
            #expect(throws: Never.self, "\(decoder.name)'s sample decodes") { try decoder.decode(Data(decoder.sample.utf8)) }
            for _ in 0..<300 {
                let mutated = HostileValue.mutate(sample, using: &generator)
                let data = try JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed])
                do {
                    try decoder.decode(data)
                } catch let problem as Problem {
                    #expect((400..<500).contains(problem.status.code), "seed \(seed) \(decoder.name): \(problem)")
                } catch {
                    Issue.record("seed \(seed) \(decoder.name) threw \(error) for \(String(decoding: data, as: UTF8.self))")
                }
            }
            for garbage in ["", "[]", "null", "1", "\"x\"", "{", "{\"a\":", String(repeating: "[", count: 10_000)] {
                do {
                    try decoder.decode(Data(garbage.utf8))
                } catch let problem as Problem {
                    #expect((400..<500).contains(problem.status.code), "\(decoder.name): \(garbage.prefix(20))")
                } catch {
                    Issue.record("\(decoder.name) threw \(error) for \(garbage.prefix(20))")
                }
            }
        }
    }

    /// The same through the real router and store: every route with a body, mutated bodies, every caller; never 5xx.
    @Test func everyRouteAnswersMutatedBodiesWithoutA5xx() async throws {
        try await API.run("fuzz_routes") { api, routes in
            let cast = try await Cast.make(api)
            let seed = UInt64.random(in: .min ... .max)
            var generator = SeededGenerator(state: seed)
            var sent = 0
            for route in routes {
                guard let method = HTTPRequest.Method(route.method), let body = IsolationTests.body(for: route, other: cast),
                    let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                else { continue }
                for round in 0..<6 {
                    let mutated = HostileValue.mutate(object, using: &generator)
                    let json = String(decoding: try JSONSerialization.data(withJSONObject: mutated), as: UTF8.self)
                    for token in cast.tokens.map({ Optional($0.1) }) + [nil] {
                        let reply = try await api.call(
                            method, IsolationTests.path(route.path, aimedAt: cast), token: token, json: json,
                            idempotencyKey: "fuzz-\(round)-\(sent)")
                        #expect(reply.status.code < 500, "seed \(seed) \(route) \(json): \(reply.body)")
                        sent += 1
                    }
                }
            }
            #expect(sent > 500)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    /// Anything registration accepts renders a contract that validates against the template's XSD: random
    /// registrations, checked with the registration's own rules, then rendered with the contract template.
    @Test func everythingRegistrationAcceptsRendersAValidContract() throws {
        let seed = UInt64.random(in: .min ... .max)
        var generator = SeededGenerator(state: seed)
        let template = try TestContracts.templates.template(id: "GF-2021-2604")
        let examplePath = repositoryRoot.appendingPathComponent("contract-templates/gf-2021-2604/v1/example-fields.json")
        let example = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: examplePath)) as? [String: String])
        let pieces = [
            "宁波", "海曙区", " ", "  ", "\t", "\n", "\u{3000}", "1 号", "A", "x", "\u{0}", "\u{202e}", "<", "&amp;", "]]>", "'", "\"",
            "路", "\u{1F600}", "\r",
        ]
        func text(_ count: ClosedRange<Int>) -> String {
            (0..<Int.random(in: count, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
        }
        let codeAlphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var accepted = 0
        for _ in 0..<4_000 {
            let code = String((0..<Int.random(in: 17...19, using: &generator)).map { _ in codeAlphabet.randomElement(using: &generator)! })
            let creditCode = Bool.random(using: &generator) ? "52330203MJ0000000X" : code
            let long = Int.random(in: 0..<10, using: &generator) == 0
            guard
                let fields = try? InstitutionRegistrationRule.validText(
                    licenceNumber: "教民" + text(1...6),
                    name: long ? String(repeating: "名", count: Int.random(in: 195...205, using: &generator)) : text(1...8),
                    address: long ? String(repeating: "址", count: Int.random(in: 195...205, using: &generator)) : text(0...8),
                    creditCode: creditCode, supervisedBank: text(0...4), supervisedAccountNumber: text(0...3)),
                InstitutionRegistrationRule.check(
                    address: fields.address, creditCode: fields.creditCode, licenceValidUntil: BusinessDate("2030-01-01"))
                    == nil
            else { continue }
            accepted += 1
            var values = example
            values["institution.name"] = fields.name
            values["institution.address"] = fields.address
            values["institution.licenceNumber"] = fields.licenceNumber
            values["institution.creditCode"] = fields.creditCode
            values["institution.licenceValidUntil"] = "2030-01-01"
            if !fields.supervisedBank.isEmpty { values["supervision.bank"] = fields.supervisedBank }
            if !fields.supervisedAccountNumber.isEmpty { values["supervision.accountNumber"] = fields.supervisedAccountNumber }
            #expect(throws: Never.self, "seed \(seed): \(fields)") {
                _ = try TestContracts.templates.withRenderer(template) { try $0.render(values) }
            }
        }
        #expect(accepted > 50, "seed \(seed)")
    }
}
