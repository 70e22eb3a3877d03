import ContractKit
import Foundation
import Testing

@Suite struct SigningTests {
    let parties = Parties.shared
    var verifier: XMLSignatureVerifier { XMLSignatureVerifier(trustAnchor: parties.ca.certificate) }

    @Test(arguments: KeyAlgorithm.allCases)
    func institutionSignatureRoundTrips(algorithm: KeyAlgorithm) throws {
        let signed = try signedContract(institution: algorithm, guardian: nil)
        let report = try verifier.verify(signed)
        #expect(report.isValid, "\(String(describing: report.firstFailure))")
        #expect(report.signatures.count == 1)
        let signature = try #require(report.signatures.first)
        #expect(
            signature.algorithm
                == SignatureAlgorithm(
                    rawValue: algorithm == .ecdsaP256
                        ? "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" : "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"))
        #expect(signature.signerCertificate?.subject.commonName == Parties.institutionName)
        #expect(
            signature.signerSubject
                == "name=\(Parties.institutionName),CN=\(Parties.institutionName),OU=institution,O=\(Parties.licenceNumber)")
        #expect(
            [signature.timestamp, signature.chain, signature.validityAtSigningTime, signature.digest, signature.signatureValue]
                == [.passed, .passed, .passed, .passed, .passed])
        // The trusted time is the timestamp's, to the millisecond, and the claimed SigningTime agrees with it.
        let time = try #require(signature.signingTime)
        #expect(abs(time.timeIntervalSinceNow) < 60 && signature.claimedSigningTime == time)
    }

    @Test(arguments: KeyAlgorithm.allCases, KeyAlgorithm.allCases)
    func guardianCountersignatureCoversTheInstitutionSignature(institution: KeyAlgorithm, guardian: KeyAlgorithm)
        throws
    {
        let signed = try signedContract(institution: institution, guardian: guardian)
        let report = try verifier.verify(signed)
        #expect(report.isValid, "\(String(describing: report.firstFailure))")
        #expect(report.isFullySigned)
        #expect(report.signatures.map { $0.signerCertificate?.subject.commonName } == [Parties.institutionName, "张三"])

        // Changing the institution's SignatureValue breaks both: the countersignature covers it.
        let text = String(decoding: signed, as: UTF8.self)
        let firstValue = try #require(text.range(of: "<ds:SignatureValue>\n")).upperBound
        var tampered = signed
        let offset = text.utf8.distance(from: text.utf8.startIndex, to: firstValue)
        tampered[offset] = tampered[offset] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tamperedReport = try verifier.verify(tampered)
        #expect(tamperedReport.signatures[0].failures.contains(.signatureValueDoesNotMatchSignedInfo))
        #expect(tamperedReport.signatures[0].timestamp == .failed)
        #expect(tamperedReport.signatures[1].firstFailure == .digestDoesNotMatchDocument)
    }

    @Test func signingInMemoryVerifiesBeforeAndAfterSerialization() throws {
        let document = try XMLDocument.parse(sampleContract)
        #expect(try parties.institution[.ecdsaP256]!.sign(document) == 0)
        #expect(try parties.guardian[.rsa2048]!.sign(document) == 1)
        #expect(verifier.verify(document).isValid)
        #expect(try verifier.verify(document.serialized()).isValid)
    }

    /// The store and the benchmark verify the signed tree they serialize rather than a re-parse of its bytes: both
    /// verdicts, every check of every signature, must be the same, and stay so from one reused verifier.
    @Test(arguments: KeyAlgorithm.allCases, KeyAlgorithm.allCases)
    func verifyingTheSignedTreeAgreesWithVerifyingItsSerialization(institution: KeyAlgorithm, guardian: KeyAlgorithm) throws {
        let model = try ModelContract()
        let reused = verifier
        for round in 0..<3 {
            let document = try model.renderer.renderDocument(model.fields.merging(["contract.number": "TG-TREE-\(round)"]) { $1 })
            try parties.institution[institution]!.sign(document, selfCheck: false)
            let issued = reused.verify(document)
            #expect(issued.isValid && issued.signatures.count == 1)
            #expect(try verifier.verify(document.serialized()) == issued)
            try parties.guardian[guardian]!.sign(document, selfCheck: false)
            let signed = reused.verify(document)
            #expect(signed.isValid && signed.signatures.count == 2)
            #expect(try verifier.verify(document.serialized()) == signed)
        }
    }

    @Test func unsignedDocumentReportsThatItHasNoSignature() throws {
        let report = try verifier.verify(sampleContract)
        #expect(report.firstFailure == .documentHasNoSignature)
        #expect(!report.isValid)
    }

    @Test func signerRefusesAKeyThatDoesNotMatchTheCertificate() throws {
        let institution = parties.institution[.ecdsaP256]!
        #expect(throws: SigningError.privateKeyDoesNotMatchCertificate) {
            _ = try XMLSigner(
                privateKey: parties.guardian[.ecdsaP256]!.privateKey, certificate: institution.certificate,
                timeStampAuthority: parties.timeStampAuthority)
        }
    }

    @Test func ecdsaSignatureValueIsRawRAndSNotDER() throws {
        let signed = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
        let start = try #require(signed.range(of: "<ds:SignatureValue>")).upperBound
        let end = try #require(signed.range(of: "</ds:SignatureValue>")).lowerBound
        let value = try #require(Data(base64Encoded: String(signed[start..<end]), options: .ignoreUnknownCharacters))
        #expect(value.count == 64)
        let rsa = String(decoding: try signedContract(institution: .rsa2048, guardian: nil), as: UTF8.self)
        let rsaStart = try #require(rsa.range(of: "<ds:SignatureValue>")).upperBound
        let rsaEnd = try #require(rsa.range(of: "</ds:SignatureValue>")).lowerBound
        #expect(Data(base64Encoded: String(rsa[rsaStart..<rsaEnd]), options: .ignoreUnknownCharacters)?.count == 256)
    }

    @Test func keysAndCertificatesRoundTripThroughPEM() throws {
        for algorithm in KeyAlgorithm.allCases {
            let signer = parties.institution[algorithm]!
            let key = try PrivateKey(pemRepresentation: signer.privateKey.pemRepresentation)
            #expect(key.algorithm == algorithm)
            #expect(try key.publicKey == signer.certificate.publicKey)
            #expect(signer.privateKey.pemRepresentation.hasPrefix("-----BEGIN PRIVATE KEY-----"))
            let certificate = try Certificate(pemRepresentation: signer.certificate.pemRepresentation)
            #expect(certificate == signer.certificate)
            #expect(try Certificate(derRepresentation: certificate.derRepresentation) == certificate)
            #expect(try PublicKey(pemRepresentation: try key.publicKey.pemRepresentation) == key.publicKey)
        }
        let ca = parties.ca.certificate
        #expect(ca.isCertificateAuthority)
        #expect(!parties.institution[.rsa2048]!.certificate.isCertificateAuthority)
        #expect(ca.subjectName == ca.issuerName)
        #expect(parties.guardian[.ecdsaP256]!.certificate.issuerName == ca.subjectName)
        let leaf = parties.guardian[.ecdsaP256]!.certificate
        #expect(abs(leaf.notValidBefore.timeIntervalSince(Parties.validity.start)) < 1)
        #expect(abs(leaf.notValidAfter.timeIntervalSince(Parties.validity.end)) < 1)
        #expect(leaf.serialNumber.count == 32)
    }

    @Test func encryptedOrGarbledPEMIsRefusedWithoutPrompting() {
        let encrypted = """
            -----BEGIN ENCRYPTED PRIVATE KEY-----
            MIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBCmDfVgG9I0iFWAAhv5
            -----END ENCRYPTED PRIVATE KEY-----
            """
        #expect(throws: CryptoError.self) { _ = try PrivateKey(pemRepresentation: encrypted) }
        #expect(throws: CryptoError.self) { _ = try Certificate(pemRepresentation: "garbage") }
        #expect(throws: CryptoError.self) { _ = try Certificate(derRepresentation: [0x30, 0x03, 0x02, 0x01, 0x01]) }
    }

    @Test func caRefusesValidityBeyondItsOwn() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        #expect(throws: CertificateAuthorityError.validityOutsideCertificateAuthority) {
            _ = try parties.ca.issueCertificate(
                subject: CertificateSubject(commonName: "x"), publicKey: try key.publicKey,
                validity: DateInterval(start: Parties.now, duration: 100 * 365 * 86_400))
        }
    }
}

/// Any name the platform accepts signs: CN holds the first 64 characters, the `name` attribute the whole name.
@Suite struct LongNameTests {
    let parties = Parties.shared

    @Test(arguments: KeyAlgorithm.allCases, [200, 100, 65, 64])
    func longNamesSign(algorithm: KeyAlgorithm, length: Int) throws {
        let name = String(repeating: "星", count: length - 1) + "校"
        let key = try PrivateKey.generate(algorithm)
        let subject = ContractParties.institutionSubject(name: name, licenceNumber: Parties.licenceNumber)
        let certificate = try parties.ca.issueCertificate(subject: subject, publicKey: try key.publicKey, validity: Parties.validity)
        #expect(certificate.subject == subject)
        #expect(certificate.subjectName.contains("CN=" + String(name.prefix(64)) + ","))
        let signer = try XMLSigner(privateKey: key, certificate: certificate, timeStampAuthority: parties.timeStampAuthority)
        let contract = String(decoding: sampleContract, as: UTF8.self).replacingOccurrences(of: Parties.institutionName, with: name)
        let signed = try parties.guardian[algorithm]!.sign(try signer.sign(Array(contract.utf8)))
        let report = try XMLSignatureVerifier(trustAnchor: parties.ca.certificate).verify(signed)
        #expect(report.isFullySigned, "\(String(describing: report.firstFailure))")
    }
}
