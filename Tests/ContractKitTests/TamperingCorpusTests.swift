import ContractKit
import Foundation
import Testing
import TuitionTestSupport

/// Issue 12's tampering corpus against the verifier, with xmlsec1's verdict on the same bytes beside it.
@Suite struct TamperingCorpusTests {
    let parties = Parties.shared
    var verifier: XMLSignatureVerifier { XMLSignatureVerifier(trustAnchor: parties.ca.certificate) }

    static func signed(guardian: KeyAlgorithm = .rsa2048) throws -> [UInt8] {
        try signedContract(institution: .ecdsaP256, guardian: guardian)
    }

    /// Nil when the parser refuses the bytes; else the report.
    func verdict(_ bytes: [UInt8]) -> VerificationReport? { try? verifier.verify(bytes) }

    @Test func theUntamperedContractIsFullySigned() throws {
        let report = try verifier.verify(try Self.signed())
        #expect(report.isFullySigned, "\(String(describing: report.firstFailure))")
    }

    @Test(arguments: TamperingCorpus.cases(from: try! TamperingCorpusTests.signed()))
    func everyTamperedCopyIsRefused(_ tampered: TamperedContract) throws {
        if let report = verdict(tampered.bytes) {
            #expect(!report.isValid && !report.isFullySigned, "\(tampered.name) verified")
        }
    }

    @Test(arguments: TamperingCorpus.cases(from: try! TamperingCorpusTests.signed()).filter { $0.xmlsec1Accepts != nil })
    func xmlsec1VerdictIsAsRecorded(_ tampered: TamperedContract) throws {
        let xmlsec = try requireXmlsec1()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let caPath = directory.appendingPathComponent("ca.pem")
        try parties.ca.certificate.pemRepresentation.write(to: caPath, atomically: true, encoding: .utf8)
        let path = directory.appendingPathComponent("tampered.xml")
        try Data(tampered.bytes).write(to: path)
        var accepted = true
        for extra in [[], ["--node-xpath", XmlsecInteropTests.secondSignature]] {
            let check = try runTool(xmlsec, ["--verify", "--trusted-pem", caPath.path] + extra + [path.path])
            accepted = accepted && check.status == 0
        }
        #expect(accepted == tampered.xmlsec1Accepts, "\(tampered.name): xmlsec1 \(accepted ? "accepted" : "refused")")
    }

    @Test func refusalsAreNamed() throws {
        let cases = Dictionary(uniqueKeysWithValues: TamperingCorpus.cases(from: try Self.signed()).map { ($0.name, $0.bytes) })
        func failure(_ name: String) -> VerificationReport.Failure? { verdict(cases[name]!)?.firstFailure }
        let nul = cases["a NUL byte and a second contract after the root"]!
        #expect(throws: XMLParseError.documentHasNulByte(byteOffset: nul.firstIndex(of: 0) ?? -1)) { try verifier.verify(nul) }
        #expect(failure("a comment inside the signed content") == .documentHasCommentOrProcessingInstruction)
        #expect(failure("a comment after the root") == .documentHasCommentOrProcessingInstruction)
        #expect(failure("a processing instruction") == .documentHasCommentOrProcessingInstruction)
        for name in [
            "a second contract inside the countersignature", "an extra KeyInfo child in the countersignature",
            "a re-wrapped certificate", "free text inside the countersignature",
        ] {
            guard case .signature(position: 1, .signatureIsNotInProfile)? = failure(name) else {
                Issue.record("\(name): \(String(describing: failure(name)))")
                continue
            }
        }
        // Every namespace declaration the signer does not write is refused by the profile of the signature it is in,
        // and so is a certificate in BER.
        let declarations = cases.keys.filter { $0.hasPrefix("a namespace declaration") || $0.hasPrefix("the ds namespace") }
        let inTheCountersignature = declarations.filter { $0.contains("countersignature's") || $0.contains("Transform") }
        #expect(declarations.count == 10 && inTheCountersignature.count == 5)
        let certificate = "a certificate with a non-minimal length in the countersignature"
        for name in declarations + [certificate] {
            let position = inTheCountersignature.contains(name) || name == certificate ? 1 : 0
            guard case .signature(position: position, .signatureIsNotInProfile)? = failure(name) else {
                Issue.record("\(name): \(String(describing: failure(name)))")
                continue
            }
        }
        // (The timestamp over the changed value fails first; the value itself is refused as malformed.)
        let highS = verdict(cases["a high-S ECDSA institution signature"]!)
        #expect(highS?.signatures[0].failures.contains(.signatureValueIsMalformed) == true, "\(String(describing: highS?.firstFailure))")
        guard case .signature(position: 1, .timestampIsInvalid)? = failure("a changed countersignature timestamp") else {
            Issue.record("timestamp: \(String(describing: failure("a changed countersignature timestamp")))")
            return
        }
    }

    /// Our ECDSA signatures are always low-S (checked over many signatures, so a high s would have shown up).
    @Test func ecdsaSignaturesAreLowS() throws {
        for _ in 0..<40 {
            let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
            #expect(text.highS() != nil)
            #expect(try verifier.verify(Array(text.utf8)).isValid)
        }
    }

    @Test func wrongPartyOrderIsRefused() throws {
        // The guardian signs first, the institution countersigns: both signatures are sound, the parties are not.
        var bytes = try parties.guardian[.ecdsaP256]!.sign(sampleContract)
        bytes = try parties.institution[.ecdsaP256]!.sign(bytes)
        let report = try verifier.verify(bytes)
        #expect(report.signatures.allSatisfy { $0.isValid })
        #expect(report.partyFailures == [.firstSignatureIsNotPartyA, .countersignatureIsNotPartyB])
        #expect(!report.isValid && !report.isFullySigned)
        // A certificate for another licence number, or another guardian's, is refused the same way.
        let text = String(decoding: sampleContract, as: UTF8.self)
        let otherLicence = Array(text.replacingOccurrences(of: Parties.licenceNumber, with: "教民133020370002").utf8)
        let signedOther = try parties.guardian[.ecdsaP256]!.sign(try parties.institution[.ecdsaP256]!.sign(otherLicence))
        #expect(try verifier.verify(signedOther).firstFailure == .firstSignatureIsNotPartyA)
        let otherGuardian = Array(text.replacingOccurrences(of: "<tg:guardianName>张三", with: "<tg:guardianName>李四").utf8)
        let signedGuardian = try parties.guardian[.ecdsaP256]!.sign(try parties.institution[.ecdsaP256]!.sign(otherGuardian))
        #expect(try verifier.verify(signedGuardian).firstFailure == .countersignatureIsNotPartyB)
    }

    /// A document that is not a contract naming its parties fails first, before any C14N or cryptography.
    @Test func aSignedDocumentThatNamesNoPartiesIsRefusedBeforeItsSignaturesAreChecked() throws {
        let text = String(decoding: sampleContract, as: UTF8.self)
        for document in [
            #"<?xml version="1.0" encoding="UTF-8"?><note xmlns="urn:note"><partyA>x</partyA></note>"#,
            text.replacingOccurrences(of: "<tg:guardianName>张三</tg:guardianName>", with: ""),
        ] {
            let signed = try parties.institution[.ecdsaP256]!.sign(Array(document.utf8))
            let report = try verifier.verify(signed)
            #expect(report.firstFailure == .documentNamesNoParties && report.documentFailures == [.documentNamesNoParties])
            #expect(report.signatures.isEmpty && !report.isValid)
        }
    }

    @Test func foreignChainIsRefused() throws {
        let bytes = try parties.guardian[.ecdsaP256]!.sign(try parties.foreignSigner.sign(sampleContract))
        let report = try verifier.verify(bytes)
        guard case .signature(position: 0, .signerCertificateDoesNotChainToTrustAnchor)? = report.firstFailure else {
            Issue.record("\(String(describing: report.firstFailure))")
            return
        }
    }

    @Test func aThirdSignatureOrASignatureInTheContentIsOutOfPlace() throws {
        let signed = try Self.signed()
        #expect(throws: SigningError.documentIsAlreadyCountersigned) { try parties.guardian[.ecdsaP256]!.sign(signed) }
        // The institution's whole signature copied into the contract's content: four signatures, two out of place.
        let text = String(decoding: signed, as: UTF8.self)
        let start = text.range(of: #"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="signature-0""#)!.lowerBound
        let end = text.range(of: "</tg:contract>", options: .backwards)!.lowerBound
        let copied = text.replacingOccurrences(of: "<tg:partyA>", with: "<tg:partyA>" + text[start..<end])
        let report = try verifier.verify(Array(copied.utf8))
        #expect(report.documentFailures.contains(.signatureIsOutOfPlace), "\(report.documentFailures)")
    }
}
