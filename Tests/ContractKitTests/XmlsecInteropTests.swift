import ContractKit
import Foundation
import Testing
import TuitionTestSupport

/// Cross-checks with xmlsec1 (OpenSSL backend), the independent verifier named by issue 3.
@Suite struct XmlsecInteropTests {
    let parties = Parties.shared

    @Test(arguments: [
        (KeyAlgorithm.ecdsaP256, KeyAlgorithm.ecdsaP256), (.rsa2048, .rsa2048), (.ecdsaP256, .rsa2048), (.rsa2048, .ecdsaP256),
    ])
    func xmlsec1VerifiesBothOfOurSignaturesWithOnlyThePlatformCA(institution: KeyAlgorithm, guardian: KeyAlgorithm)
        throws
    {
        let xmlsec = try requireXmlsec1()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let caPath = directory.appendingPathComponent("ca.pem")
        try parties.ca.certificate.pemRepresentation.write(to: caPath, atomically: true, encoding: .utf8)
        let signedPath = directory.appendingPathComponent("signed.xml")
        try Data(try signedContract(institution: institution, guardian: guardian)).write(to: signedPath)

        // Without --node-xpath xmlsec1 verifies the first Signature in document order: the institution's.
        let first = try runTool(xmlsec, ["--verify", "--trusted-pem", caPath.path, signedPath.path])
        #expect(first.status == 0, "xmlsec1 refused the institution signature: \(first.output)")
        let second = try runTool(
            xmlsec,
            ["--verify", "--trusted-pem", caPath.path, "--node-xpath", Self.secondSignature, signedPath.path]
        )
        #expect(second.status == 0, "xmlsec1 refused the countersignature: \(second.output)")

        // xmlsec1 is a real check: it refuses a tampered document and a foreign CA.
        let foreignPath = directory.appendingPathComponent("foreign.pem")
        try parties.foreignCA.certificate.pemRepresentation.write(to: foreignPath, atomically: true, encoding: .utf8)
        #expect(try runTool(xmlsec, ["--verify", "--trusted-pem", foreignPath.path, signedPath.path]).status != 0)
        let tamperedPath = directory.appendingPathComponent("tampered.xml")
        let tampered = String(decoding: try Data(contentsOf: signedPath), as: UTF8.self).replacingOccurrences(of: "480000", with: "480001")
        try Data(tampered.utf8).write(to: tamperedPath)
        #expect(try runTool(xmlsec, ["--verify", "--trusted-pem", caPath.path, tamperedPath.path]).status != 0)
        #expect(
            try runTool(xmlsec, ["--verify", "--trusted-pem", caPath.path, "--node-xpath", Self.secondSignature, tamperedPath.path])
                .status != 0)
    }

    @Test(arguments: KeyAlgorithm.allCases)
    func weRefuseADocumentThatXmlsec1SignedOutsideTheProfile(algorithm: KeyAlgorithm) throws {
        let xmlsec = try requireXmlsec1()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey.generate(algorithm)
        let certificate = try parties.ca.issueCertificate(
            subject: CertificateSubject(commonName: "xmlsec1 signer", organization: "Interop"),
            publicKey: try key.publicKey,
            validity: Parties.validity
        )
        let keyPath = directory.appendingPathComponent("key.pem")
        let certificatePath = directory.appendingPathComponent("cert.pem")
        try key.pemRepresentation.write(to: keyPath, atomically: true, encoding: .utf8)
        try certificate.pemRepresentation.write(to: certificatePath, atomically: true, encoding: .utf8)
        let templatePath = directory.appendingPathComponent("template.xml")
        let method = SignatureAlgorithm(for: algorithm).rawValue
        let template = String(decoding: sampleContract, as: UTF8.self).replacingOccurrences(
            of: "</tg:contract>",
            with: """
                <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>\
                <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>\
                <ds:SignatureMethod Algorithm="\(method)"/><ds:Reference URI=""><ds:Transforms>\
                <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>\
                <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>\
                <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>\
                </ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>\
                </ds:Signature></tg:contract>
                """
        )
        try Data(template.utf8).write(to: templatePath)
        let outputPath = directory.appendingPathComponent("signed.xml")
        let signing = try runTool(
            xmlsec,
            ["--sign", "--privkey-pem", "\(keyPath.path),\(certificatePath.path)", "--output", outputPath.path, templatePath.path]
        )
        try #require(signing.status == 0, "xmlsec1 --sign failed: \(signing.output)")

        // A standard signature without the profile's XAdES properties and timestamp is refused, by name: the
        // verifier accepts exactly what the platform writes.
        let signed = [UInt8](try Data(contentsOf: outputPath))
        let report = try XMLSignatureVerifier(trustAnchor: parties.ca.certificate).verify(signed)
        guard case .signatureIsNotInProfile? = report.signatures.first?.firstFailure else {
            Issue.record("accepted a signature outside the profile: \(String(describing: report.firstFailure))")
            return
        }
    }

    /// `openssl ts -verify` accepts each signature's token, with the CA certificate as the only anchor, over the
    /// exclusive C14N of its SignatureValue (XAdES SignatureTimeStamp).
    @Test func opensslTsVerifyAcceptsEachSignatureTimestamp() throws {
        let openssl = try requireExecutable("openssl", debianPackage: "openssl")
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try parties.ca.certificate.pemRepresentation.write(toFile: file("ca.pem"), atomically: true, encoding: .utf8)
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: .rsa2048), as: UTF8.self)
        for n in 1...2 {
            let value = try #require(text.base64Range(afterNth: "<ds:SignatureValue>", n))
            let canonical = #"<ds:SignatureValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#">"# + text[value] + "</ds:SignatureValue>"
            try Data(canonical.utf8).write(to: URL(fileURLWithPath: file("value-\(n)")))
            let token = try #require(text.base64Range(afterNth: "<xades:EncapsulatedTimeStamp>", n))
            try #require(Data(base64Encoded: String(text[token]), options: .ignoreUnknownCharacters))
                .write(to: URL(fileURLWithPath: file("token-\(n).der")))
            let check = try runTool(
                openssl,
                ["ts", "-verify", "-in", file("token-\(n).der"), "-token_in", "-data", file("value-\(n)"), "-CAfile", file("ca.pem")])
            #expect(check.status == 0 && check.output.contains("Verification: OK"), "signature \(n): \(check.output)")
            // Over other data, the same token is refused.
            try Data((canonical + " ").utf8).write(to: URL(fileURLWithPath: file("value-\(n)")))
            let refused = try runTool(
                openssl,
                ["ts", "-verify", "-in", file("token-\(n).der"), "-token_in", "-data", file("value-\(n)"), "-CAfile", file("ca.pem")])
            #expect(refused.status != 0)
        }
    }

    static let secondSignature =
        "(//*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#'])[2]"
}
