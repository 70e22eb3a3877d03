import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct ContractAPITests {
    @Test(arguments: ["ecdsa-p256", "rsa-2048"])
    func aContractSignedThroughTheAPIVerifiesHereAndWithXmlsec1AgainstThePublicCA(algorithm: String) async throws {
        try await API.run("contractapi") { api, _ in
            let cast = try await Cast.make(api)
            let enrollment = try await cast.world.anotherEnrollment(api.store, lessons: 5, signed: false)
            let draft = try await api.call(
                .post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution,
                json: #"{"deliveryMode":"online","studentIdNumber":"330203201501011234"}"#)
            #expect(draft.status == .created, "\(draft.body)")
            let id = draft.string("id")
            let body = #"{"algorithm":"\#(algorithm)"}"#
            // Each party signs only its own part, in order.
            #expect(
                try await api.call(.post, "/v1/contracts/\(id)/guardian-signature", token: cast.guardian).code
                    == "contract_not_awaiting_signature")
            #expect(try await api.call(.post, "/v1/contracts/\(id)/institution-signature", token: cast.guardian).status == .forbidden)
            #expect(
                try await api.call(.post, "/v1/contracts/\(id)/institution-signature", token: cast.institution, json: body).status == .ok)
            let signed = try await api.call(.post, "/v1/contracts/\(id)/guardian-signature", token: cast.guardian, json: body)
            #expect(signed.string("status") == "signed" && (signed.json["signatures"] as? [Any])?.count == 2)

            let document = try await api.call(.get, "/v1/contracts/\(id)/document", token: cast.regulator)
            #expect(document.status == .ok && document.contentType?.hasPrefix("application/xml") == true)
            #expect(document.body.contains("330203********1234") && !document.body.contains("20150101"))
            let verification = try await api.call(.post, "/v1/contract-verifications", json: document.body)
            #expect(
                verification.json["valid"] as? Bool == true && verification.json["fullySigned"] as? Bool == true, "\(verification.body)")
            #expect(verification.string("contractId") == id)
            let page = try await api.call(.get, "/v1/contracts/\(id)/html", token: cast.guardian)
            #expect(page.contentType?.hasPrefix("text/html") == true && page.body.contains("中小学生校外培训服务合同") && page.body.contains("验证通过"))

            // xmlsec1, with the CA certificate from the public URL as its only trust anchor, accepts both signatures.
            let ca = try await api.call(.get, "/v1/ca/certificate")
            #expect(ca.status == .ok && ca.body.hasPrefix("-----BEGIN CERTIFICATE-----"))
            let xmlsec = try requireXmlsec1()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("contractapi-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try ca.body.write(to: directory.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
            try document.body.write(to: directory.appendingPathComponent("contract.xml"), atomically: true, encoding: .utf8)
            for extra in [
                [], ["--node-xpath", "(//*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#'])[2]"],
            ] {
                let check = try runTool(
                    xmlsec,
                    ["--verify", "--trusted-pem", directory.appendingPathComponent("ca.pem").path] + extra
                        + [directory.appendingPathComponent("contract.xml").path])
                #expect(check.status == 0, "xmlsec1 \(extra): \(check.output)")
            }

            // One changed fen is caught, and no stored contract matches the changed bytes.
            let tampered = document.body.replacingOccurrences(of: "<tg:totalFen>", with: "<tg:totalFen>1")
            let refused = try await api.call(.post, "/v1/contract-verifications", json: tampered)
            #expect(refused.json["valid"] as? Bool == false && refused.json["contractId"] == nil)
            // Now the enrollment can be paid.
            let paid = try await api.call(
                .post, "/v1/enrollments/\(enrollment.id)/payments", token: cast.guardian,
                json: "{\"amountFen\":\(enrollment.amountFen.fen)}",
                idempotencyKey: "pay-\(id)")
            #expect(paid.status == .created, "\(paid.body)")
        }
    }

    /// An institution-signed contract verifies as it is; once a later contract replaced it (void), the same document
    /// is no contract of record any more, however well its signature verifies.
    @Test func aVoidContractDoesNotVerifyAsValid() async throws {
        try await API.run("contractvoid") { api, _ in
            let cast = try await Cast.make(api)
            let enrollment = try await cast.world.anotherEnrollment(api.store, lessons: 5, signed: false)
            let first = try await api.call(.post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution).string("id")
            #expect(try await api.call(.post, "/v1/contracts/\(first)/institution-signature", token: cast.institution).status == .ok)
            let document = try await api.call(.get, "/v1/contracts/\(first)/document", token: cast.regulator).body
            let live = try await api.call(.post, "/v1/contract-verifications", json: document)
            #expect(live.json["valid"] as? Bool == true && live.string("contractStatus") == "institution_signed", "\(live.body)")

            let second = try await api.call(.post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution)
            #expect(second.status == .created && second.string("id") != first)
            let void = try await api.call(.post, "/v1/contract-verifications", json: document)
            #expect(void.json["valid"] as? Bool == false && void.string("contractStatus") == "void", "\(void.body)")
            #expect(void.string("firstFailure").hasPrefix("contract void"))
        }
    }

    @Test func hostileUploadsAndMissingFieldsGetClearProblems() async throws {
        try await API.run("contractbad") { api, _ in
            let cast = try await Cast.make(api)
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                (
                    "xxe", #"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#, .unprocessableContent,
                    "document_not_accepted"
                ),
                (
                    "billion laughs", #"<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>"#, .unprocessableContent,
                    "document_not_accepted"
                ),
                ("not XML", "合同", .unprocessableContent, "document_not_accepted"),
                ("too large", String(repeating: "<a>", count: 30_000), .contentTooLarge, "body_too_large"),
                // Quadratic in libxml2's parser and C14N: refused before parsing.
                (
                    "many attributes on one element",
                    #"<tg:contract xmlns:tg="urn:tuitionguard:contract:1" "# + (0..<6_000).map { "a\($0)=''" }.joined(separator: " ")
                        + "/>",
                    .unprocessableContent, "document_too_complex"
                ),
                ("many elements", "<a>" + String(repeating: "<b/>", count: 5_000) + "</a>", .unprocessableContent, "document_too_complex"),
            ]
            for (name, body, status, code) in cases {
                let reply = try await api.call(.post, "/v1/contract-verifications", json: body)
                #expect(reply.status == status && reply.code == code, "\(name): \(reply.body)")
            }
            let enrollment = try await cast.world.anotherEnrollment(api.store, lessons: 5, signed: false)
            try await api.store.query("UPDATE institutions SET credit_code = '' WHERE id = \(cast.world.institution.id.uuid)")
            let missing = try await api.call(.post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution)
            #expect(
                missing.status == .unprocessableContent && missing.code == "contract_field_missing"
                    && missing.string("detail") == "institution.creditCode")
            try await api.store.query(
                "UPDATE institutions SET credit_code = '52330203MJ0000000X' WHERE id = \(cast.world.institution.id.uuid)")
            let invalid = try await api.call(
                .post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution, json: #"{"deliveryMode":"hybrid"}"#)
            #expect(invalid.code == "contract_field_invalid" && invalid.string("detail").hasPrefix("service.deliveryMode"))
            let id = try await api.call(.post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution).string("id")
            #expect(
                try await api.call(
                    .post, "/v1/contracts/\(id)/institution-signature", token: cast.institution, json: #"{"algorithm":"dsa"}"#
                ).code == "malformed_body")
            // A blacklisted institution signs nothing: its tokens no longer authenticate.
            try await PartyRepository(store: api.store).setInstitutionStatus(cast.world.institution.id, status: .blacklisted)
            #expect(
                try await api.call(.post, "/v1/contracts/\(id)/institution-signature", token: cast.institution).code
                    == "unauthenticated")
        }
    }

    /// Issue 12 through the service: the tampering corpus, the district's approving authority, bidirectional
    /// controls, the HTML view after a blacklisting, and the CRL that `openssl verify -crl_check` reads.
    @Test func contractsHoldUpAfterABlacklisting() async throws {
        try await API.run("contractlong") { api, _ in
            let cast = try await Cast.make(api)
            // 审批机关 is what the regulator sets, not a token's label.
            let district = try await api.call(.put, "/v1/district", token: cast.regulator, json: #"{"approvingAuthority":"宁波市海曙区教育局"}"#)
            #expect(district.status == .ok && district.string("approvingAuthority") == "宁波市海曙区教育局", "\(district.body)")
            #expect(
                try await api.call(.put, "/v1/district", token: cast.regulator, json: #"{"approvingAuthority":""}"#).code
                    == "approving_authority_invalid")
            // 100 characters of two code points each: over the limit as the database counts it (this was a 500).
            let combining = String(repeating: "e\u{301}", count: 100)
            #expect(
                try await api.call(.put, "/v1/district", token: cast.regulator, json: #"{"approvingAuthority":"\#(combining)"}"#).code
                    == "approving_authority_invalid")
            #expect(
                try await api.call(.put, "/v1/district", token: cast.institution, json: #"{"approvingAuthority":"x"}"#).status == .forbidden
            )
            let enrollment = try await cast.world.anotherEnrollment(api.store, lessons: 5, signed: false)
            let bidi = try await api.call(
                .post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution, json: #"{"schedule":"每周 \u202e01 次"}"#)
            // The edge refuses bidirectional overrides in any JSON body before the template sees them.
            #expect(bidi.code == "text_has_forbidden_characters", "\(bidi.body)")
            let id = try await api.call(.post, "/v1/enrollments/\(enrollment.id)/contract", token: cast.institution).string("id")
            #expect(try await api.call(.post, "/v1/contracts/\(id)/institution-signature", token: cast.institution).status == .ok)
            #expect(try await api.call(.post, "/v1/contracts/\(id)/guardian-signature", token: cast.guardian).status == .ok)
            let document = try await api.call(.get, "/v1/contracts/\(id)/document", token: cast.regulator).body
            #expect(document.contains("<tg:approvingAuthority>宁波市海曙区教育局</tg:approvingAuthority>"))

            // Every tampered copy is refused by the service.
            for tampered in TamperingCorpus.cases(from: Array(document.utf8)) {
                let reply = try await api.call(.post, "/v1/contract-verifications", json: String(decoding: tampered.bytes, as: UTF8.self))
                #expect(
                    reply.json["valid"] as? Bool == false || reply.status == .unprocessableContent, "\(tampered.name): \(reply.body)")
                #expect(reply.json["fullySigned"] as? Bool != true, "\(tampered.name)")
            }
            // The institution's signature alone verifies once the countersignature is cut off, but this contract was
            // countersigned: the copy is not the contract of record.
            let objectStart = try #require(document.range(of: "<ds:Object><ds:Signature"))
            let objectEnd = try #require(document.range(of: "</ds:Object></ds:Signature></tg:contract>"))
            let stripped =
                String(document[..<objectStart.lowerBound]) + "</ds:Signature></tg:contract>"
                + String(document[objectEnd.upperBound...])
            let cut = try await api.call(.post, "/v1/contract-verifications", json: stripped)
            #expect(cut.json["valid"] as? Bool == false && cut.json["fullySigned"] as? Bool == false, "\(cut.body)")
            #expect(cut.string("contractId") == id && cut.string("firstFailure").hasPrefix("countersignature removed"))

            // Blacklisted after signing: the contract stays valid, by its timestamps, and the page says the certificate
            // was revoked, with Beijing times to the millisecond and the algorithm by name.
            #expect(
                try await api.call(
                    .post, "/v1/institutions/\(cast.world.institution.id)/blacklisting", token: cast.regulator, json: #"{"note":"卷款风险"}"#
                ).status.code < 300)
            let crlf = document.replacingOccurrences(of: "\n", with: "\r\n")
            let verification = try await api.call(.post, "/v1/contract-verifications", json: crlf)
            #expect(verification.json["fullySigned"] as? Bool == true && verification.string("contractId") == id, "\(verification.body)")
            let page = try await api.call(.get, "/v1/contracts/\(id)/html", token: cast.guardian).body
            #expect(
                page.contains("证书已于") && page.contains("吊销") && page.contains("ECDSA P-256 / SHA-256")
                    && !page.contains("http://www.w3.org"))
            #expect(page.range(of: #"签署时间（时间戳，北京时间）20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"#, options: .regularExpression) != nil)

            // The CRL names the revoked certificate for outside verifiers.
            let crl = try await api.call(.get, "/v1/ca/crl")
            #expect(crl.status == .ok && crl.body.hasPrefix("-----BEGIN X509 CRL-----"), "\(crl.body)")
            let ca = try await api.call(.get, "/v1/ca/certificate").body
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("contractcrl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
            try ca.write(toFile: file("ca.pem"), atomically: true, encoding: .utf8)
            try crl.body.write(toFile: file("crl.pem"), atomically: true, encoding: .utf8)
            let start = try #require(document.range(of: "<ds:X509Certificate>")).upperBound
            let end = try #require(document.range(of: "</ds:X509Certificate>")).lowerBound
            try ("-----BEGIN CERTIFICATE-----" + document[start..<end] + "-----END CERTIFICATE-----\n").write(
                toFile: file("institution.pem"), atomically: true, encoding: .utf8)
            let openssl = try requireExecutable("openssl", debianPackage: "openssl")
            let check = try runTool(
                openssl, ["verify", "-crl_check", "-CAfile", file("ca.pem"), "-CRLfile", file("crl.pem"), file("institution.pem")])
            #expect(check.status != 0 && check.output.contains("certificate revoked"), "\(check.output)")
            let without = try runTool(openssl, ["verify", "-CAfile", file("ca.pem"), file("institution.pem")])
            #expect(without.status == 0, "\(without.output)")
        }
    }
}
