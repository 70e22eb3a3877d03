import ContractKit
import Foundation
import Testing
import TuitionTestSupport

@Suite struct TamperingTests {
    let parties = Parties.shared
    var verifier: XMLSignatureVerifier { XMLSignatureVerifier(trustAnchor: parties.ca.certificate) }

    /// Every single-byte change from the root element's start tag to its end tag (which takes in both
    /// signatures) is refused by the parser or leaves no document with two valid signatures.
    @Test(arguments: [(KeyAlgorithm.ecdsaP256, KeyAlgorithm.rsa2048), (.rsa2048, .ecdsaP256)])
    func everySingleByteChangeOfTheSignedRegionIsDetected(institution: KeyAlgorithm, guardian: KeyAlgorithm) throws {
        let signed = try signedContract(institution: institution, guardian: guardian)
        #expect(try verifier.verify(signed).isValid)
        let text = String(decoding: signed, as: UTF8.self)
        let start = text.utf8.distance(from: text.utf8.startIndex, to: try #require(text.range(of: "<tg:contract")).lowerBound)
        let end = text.utf8.distance(from: text.utf8.startIndex, to: try #require(text.range(of: "</tg:contract>")).upperBound)
        var undetected: [(offset: Int, mask: UInt8)] = []
        var checked = 0
        for offset in start..<end {
            for mask: UInt8 in [0x01, 0x20] {
                var tampered = signed
                tampered[offset] ^= mask
                checked += 1
                guard let report = try? verifier.verify(tampered) else { continue }
                // A change to the countersignature's namespace URI turns it into foreign XML inside the
                // institution's Signature: what remains is a valid document with one signature, i.e. not
                // countersigned, which is what the contract layer sees. Only two valid signatures pass.
                if report.isValid && report.signatures.count == 2 { undetected.append((offset, mask)) }
            }
        }
        #expect(checked > 2 * 3000)
        // The RFC 3161 token is an unsigned XAdES property, but every byte of it is pinned too: the TSA's signature
        // covers its content, the exact-DER check its encoding, and the signer's issuer and serial (which OpenSSL
        // matches case-insensitively) must name the carried certificate byte for byte.
        let tokens = encapsulatedTimeStampRanges(in: signed)
        let inToken = undetected.filter { change in tokens.contains { $0.contains(change.offset) } }
        #expect(
            inToken.isEmpty, "undetected changes inside the time-stamp token at \(inToken.prefix(10).map { "\($0.offset)^\($0.mask)" })")
        undetected.removeAll { change in tokens.contains { $0.contains(change.offset) } }
        #expect(
            undetected.isEmpty,
            "undetected changes at \(undetected.prefix(10).map { "\($0.offset)^\($0.mask)" }) in \(undetected.first.map { String(decoding: signed[max(0, $0.offset - 1500)..<$0.offset], as: UTF8.self).split(separator: "<").last.map { String($0.prefix(60)) } ?? "" } ?? "")"
        )
    }

    /// The class behind the bit flips that once passed inside the token: OpenSSL finds a token's signer by comparing
    /// the unsigned issuer name of its SignerInfo with the certificate's in a case- and space-folded form, and keeps
    /// the name's bytes as read, so the exact-DER check does not notice either. Every letter of every copy of the
    /// CA's name in the token is changed in turn (the copies the TSA signed fail its signature; the SignerInfo's must
    /// fail the byte-for-byte match), from a verifier that knows the TSA already and from a fresh one.
    @Test func aTimestampTokenWhoseNamesDifferOnlyInCaseIsRefused() throws {
        let signed = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
        let range = try #require(encapsulatedTimeStampRanges(in: Array(signed.utf8)).first)
        let encoded = String(decoding: Array(signed.utf8)[range], as: UTF8.self)
        let token = [UInt8](try #require(Data(base64Encoded: encoded, options: .ignoreUnknownCharacters)))
        let name = Array("TuitionGuard Test CA".utf8)
        var starts: [Int] = []
        for start in 0...(token.count - name.count) where Array(token[start..<(start + name.count)]) == name { starts.append(start) }
        #expect(starts.count >= 2, "the CA's name should appear in the certificate and in the SignerInfo")
        let warm = verifier
        #expect(try warm.verify(Array(signed.utf8)).isValid)
        for start in starts {
            for offset in 0..<name.count where (0x41...0x5a).contains(name[offset]) || (0x61...0x7a).contains(name[offset]) {
                var changed = token
                changed[start + offset] ^= 0x20
                let text = "\n" + Data(changed).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n"
                let tampered = Array(signed.replacingOccurrences(of: encoded, with: text).utf8)
                for candidate in [warm, verifier] {
                    let report = try candidate.verify(tampered)
                    #expect(!report.isValid, "a case change at token byte \(start + offset) passed")
                    #expect(report.signatures.first?.timestamp == .failed)
                }
            }
        }
    }

    @Test(arguments: KeyAlgorithm.allCases)
    func changedSignatureValueIsDetected(algorithm: KeyAlgorithm) throws {
        let signer = parties.institution[algorithm]!
        let document = try XMLDocument.parse(try signedContract(institution: algorithm, guardian: nil))
        var text = String(decoding: document.serialized(), as: UTF8.self)
        // A valid signature by the same key over a different SignedInfo, in place of the real one.
        let otherContract = String(decoding: sampleContract, as: UTF8.self).replacingOccurrences(of: "张三", with: "李四")
        let other = String(decoding: try signer.sign(Array(otherContract.utf8)), as: UTF8.self)
        text = text.replacingOccurrences(of: signatureValue(in: text), with: signatureValue(in: other))
        let report = try verifier.verify(Array(text.utf8))
        // The timestamp no longer matches the value either; the signature value is checked all the same.
        #expect(report.signatures.first?.timestamp == .failed)
        #expect(report.signatures.first?.failures.contains(.signatureValueDoesNotMatchSignedInfo) == true)
        #expect(report.signatures.first?.digest == .passed)
    }

    @Test func truncatedOrNonCanonicalSignatureValueIsRefused() throws {
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
        let value = signatureValue(in: text)
        let compact = value.filter { !$0.isWhitespace }
        let truncated = text.replacingOccurrences(of: value, with: "\n" + String(compact.dropLast(4)) + "\n")
        guard case .signatureIsNotInProfile? = try verifier.verify(Array(truncated.utf8)).signatures.first?.firstFailure else {
            Issue.record("a truncated signature value was not refused by the profile")
            return
        }
    }

    @Test func swappedCertificateIsDetected() throws {
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
        let other = parties.guardian[.ecdsaP256]!.certificate.derRepresentation
        let swapped = replacingCertificate(in: text, with: other)
        let report = try verifier.verify(Array(swapped.utf8))
        let signature = try #require(report.signatures.first)
        // The guardian's certificate chains, but its key did not make this signature.
        #expect(signature.chain == .passed)
        #expect(signature.failures == [.signatureValueDoesNotMatchSignedInfo])
        #expect(signature.signerCertificate?.subject.commonName == "张三")
        #expect(report.partyFailures == [.firstSignatureIsNotPartyA])
    }

    /// A certificate is read only in DER: each BER form of one (which OpenSSL reads as the same certificate, its
    /// to-be-signed part and the CA's signature unchanged) is refused as such, and in a signature by the profile, since
    /// no digest covers KeyInfo.
    @Test func aCertificateThatIsNotExactlyDERIsRefused() throws {
        let der = parties.guardian[.ecdsaP256]!.certificate.derRepresentation
        #expect(try Certificate(derRepresentation: der).derRepresentation == der)
        let variants: [(String, [UInt8])] = [
            ("a non-minimal outer length", DERVariant.nonMinimalOuterLength(der)),
            ("an indefinite outer length", DERVariant.indefiniteOuterLength(der)),
            ("a non-minimal length of the signature algorithm", DERVariant.nonMinimalInnerLength(der, element: 1)),
            ("a non-minimal length of the signature", DERVariant.nonMinimalInnerLength(der, element: 2)),
            ("a trailing byte", der + [0]),
        ]
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: .ecdsaP256), as: UTF8.self)
        for (name, variant) in variants {
            #expect(variant != der)
            // Not a parse failure: OpenSSL reads these bytes, and only the re-encoding tells them apart.
            #expect(throws: CertificateIsNotDER.self, "\(name)") { try Certificate(derRepresentation: variant) }
            let tampered = try #require(text.reencodingCertificate(nth: 2) { _ in variant })
            let report = try verifier.verify(Array(tampered.utf8))
            #expect(!report.isValid && report.signatures[0].isValid, "\(name)")
            guard case .signatureIsNotInProfile(let reason)? = report.signatures[1].firstFailure, reason.contains("DER") else {
                Issue.record("\(name): \(String(describing: report.signatures[1].firstFailure))")
                continue
            }
        }
    }

    /// Judging revocations on a report made without them gives what a whole verification with them gives.
    @Test func revocationsJudgedAfterwardsGiveTheReportOfAWholeVerification() throws {
        let signed = try XMLDocument.parse(try signedContract(institution: .ecdsaP256, guardian: .rsa2048))
        let institution = parties.institution[.ecdsaP256]!.certificate.serialNumber
        let guardian = parties.guardian[.rsa2048]!.certificate.serialNumber
        let expired = try XMLDocument.parse(sampleContract)
        let late = try parties.signer(parties.institution[.ecdsaP256]!, at: Parties.validity.end.addingTimeInterval(60))
        try late.sign(expired, selfCheck: false)
        let revocationLists: [[String: Date]] = [
            [institution: Date(timeIntervalSince1970: 0)], [institution: Date().addingTimeInterval(3600)],
            [guardian: Date(timeIntervalSince1970: 0), institution: Date().addingTimeInterval(-86_400 * 400)], [:],
        ]
        for document in [signed, expired] {
            let withoutRevocations = verifier.verify(document)
            for revocations in revocationLists {
                let judging = verifier.with(revocations: revocations)
                #expect(judging.judgingRevocations(of: withoutRevocations) == judging.verify(document), "\(revocations)")
            }
        }
        let early = verifier.with(revocations: [institution: Date(timeIntervalSince1970: 0)])
        let revoked = early.judgingRevocations(of: verifier.verify(signed))
        #expect(revoked.signatures[0].validityAtSigningTime == .failed && revoked.signatures[1].isValid)
    }

    @Test func foreignCAFailsTheChainCheck() throws {
        let signed = try parties.foreignSigner.sign(sampleContract)
        let report = try verifier.verify(signed)
        let signature = try #require(report.signatures.first)
        #expect(signature.digest == .passed && signature.signatureValue == .passed)
        #expect(signature.chain == .failed && signature.validityAtSigningTime == .notChecked)
        guard case .signerCertificateDoesNotChainToTrustAnchor(let reason)? = signature.firstFailure else {
            Issue.record("expected a chain failure, got \(String(describing: signature.firstFailure))")
            return
        }
        #expect(reason.contains("issuer certificate"))
        // And our signatures fail under the foreign CA as the only trust anchor.
        let ours = try signedContract(institution: .ecdsaP256, guardian: .rsa2048)
        let foreign = XMLSignatureVerifier(trustAnchor: parties.foreignCA.certificate)
        #expect(try foreign.verify(ours).signatures.map(\.chain) == [.failed, .failed])
    }

    /// A certificate of the platform CA that was not issued to sign documents (the CA's own, the time-stamping
    /// authority's) chains to the anchor, and still signs no contract.
    @Test func onlyADocumentSigningCertificateSigns() throws {
        let tsa = parties.timeStampAuthority
        for (who, key, certificate) in [
            ("the TSA", tsa.privateKey, tsa.certificate), ("the CA", parties.ca.privateKey, parties.ca.certificate),
        ] {
            let signer = try XMLSigner(privateKey: key, certificate: certificate, timeStampAuthority: tsa)
            let report = try verifier.verify(try signer.sign(sampleContract))
            let signature = try #require(report.signatures.first)
            #expect(signature.digest == .passed && signature.signatureValue == .passed, "\(who)")
            #expect(signature.chain == .failed && signature.firstFailure == .signerCertificateIsNotForSigningDocuments, "\(who)")
            #expect(!report.isValid, "\(who)")
        }
        #expect(parties.institution.values.allSatisfy { $0.certificate.isDocumentSigner })
        #expect(!tsa.certificate.isDocumentSigner && !parties.ca.certificate.isDocumentSigner)
    }

    /// Before the guardian countersigns, no digest covers the institution signature's tag, KeyInfo or unsigned
    /// properties: each must be written under the prefix declared on its own element, not one borrowed from the root.
    @Test func anInstitutionOnlySignatureKeepsItsOwnPrefixes() throws {
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
        #expect(try verifier.verify(Array(text.utf8)).isValid)
        let dsig = "http://www.w3.org/2000/09/xmldsig#"
        let rootDeclaring = text.replacingOccurrences(of: "<tg:contract ", with: "<tg:contract xmlns:补充条款=\"\(dsig)\" ")
        let variants = [
            rootDeclaring.replacingOccurrences(of: "<ds:KeyInfo>", with: "<补充条款:KeyInfo>")
                .replacingOccurrences(of: "</ds:KeyInfo>", with: "</补充条款:KeyInfo>"),
            rootDeclaring.replacingOccurrences(of: "<ds:Signature xmlns:ds=\"\(dsig)\"", with: "<补充条款:Signature xmlns:ds=\"\(dsig)\"")
                .replacingOccurrences(of: "</ds:Signature>", with: "</补充条款:Signature>"),
            text.replacingOccurrences(of: "<tg:contract ", with: "<tg:contract xmlns:ds=\"\(dsig)\" ")
                .replacingOccurrences(of: "<ds:Signature xmlns:ds=\"\(dsig)\"", with: "<ds:Signature"),
        ]
        for variant in variants {
            #expect(variant != text)
            let report = try verifier.verify(Array(variant.utf8))
            guard case .signature(position: 0, .signatureIsNotInProfile)? = report.firstFailure else {
                Issue.record("accepted or refused otherwise: \(String(describing: report.firstFailure))")
                continue
            }
        }
        // An unused declaration on the root alone is C14N-equivalent, and stays valid (issue 12).
        #expect(try verifier.verify(Array(rootDeclaring.utf8)).isValid)
    }

    /// More signatures than a contract has are refused before any is checked, whatever they are.
    @Test func aThirdSignatureIsRefusedUnchecked() throws {
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: .ecdsaP256), as: UTF8.self)
        let start = try #require(text.range(of: "<ds:Signature ", options: .backwards))
        let end = try #require(text.range(of: "</ds:Signature>", range: start.upperBound..<text.endIndex))
        let countersignature = String(text[start.lowerBound..<end.upperBound])
        let tripled = text.replacingOccurrences(of: "</tg:contract>", with: "") + countersignature + "</tg:contract>"
        let report = try verifier.verify(Array(tripled.utf8))
        #expect(report.signatures.isEmpty && report.firstFailure == .signatureIsOutOfPlace)
    }

    /// Validity is judged at each signature's timestamp time, whenever the verification runs.
    @Test func timestampOutsideTheCertificateValidityFails() throws {
        for time in [Parties.validity.start.addingTimeInterval(-60), Parties.validity.end.addingTimeInterval(60)] {
            let document = try XMLDocument.parse(sampleContract)
            try parties.signer(parties.institution[.ecdsaP256]!, at: time).sign(document, selfCheck: false)
            try parties.signer(parties.guardian[.ecdsaP256]!, at: time).sign(document, selfCheck: false)
            let report = verifier.verify(document)
            #expect(report.signatures.map(\.chain) == [.passed, .passed])
            #expect(report.signatures.map(\.validityAtSigningTime) == [.failed, .failed])
            #expect(report.signatures.map { $0.signingTime.map(XAdESTime.format) } == [XAdESTime.format(time), XAdESTime.format(time)])
        }
        let document = try XMLDocument.parse(sampleContract)
        try parties.institution[.ecdsaP256]!.sign(document)
        try parties.signer(parties.guardian[.ecdsaP256]!, at: Parties.validity.end.addingTimeInterval(60)).sign(document, selfCheck: false)
        let perSignature = verifier.verify(document)
        #expect(perSignature.signatures.map(\.isValid) == [true, false])
        guard case .signerCertificateWasNotValidAtSigningTime? = perSignature.signatures[1].firstFailure else {
            Issue.record("expected a validity failure")
            return
        }
    }

    @Test func removingTheCountersignatureLeavesOnlyTheInstitutionSignature() throws {
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: .ecdsaP256), as: UTF8.self)
        let objectStart = try #require(text.range(of: "<ds:Object><ds:Signature"))
        let objectEnd = try #require(text.range(of: "</ds:Object></ds:Signature></tg:contract>"))
        let stripped = String(text[..<objectStart.lowerBound]) + "</ds:Signature></tg:contract>" + String(text[objectEnd.upperBound...])
        let report = try verifier.verify(Array(stripped.utf8))
        #expect(report.signatures.count == 1 && report.isValid)
    }

    @Test func signatureOutsideTheProfileIsRefusedNotInterpreted() throws {
        let text = String(decoding: try signedContract(institution: .ecdsaP256, guardian: nil), as: UTF8.self)
        let partial = text.replacingOccurrences(of: "URI=\"\"", with: "URI=\"#clause\"")
        let sha1 = text.replacingOccurrences(of: "http://www.w3.org/2001/04/xmlenc#sha256", with: "http://www.w3.org/2000/09/xmldsig#sha1")
        for variant in [partial, sha1] {
            let report = try verifier.verify(Array(variant.utf8))
            guard case .signatureIsNotInProfile? = report.signatures.first?.firstFailure else {
                Issue.record("accepted \(String(describing: report.signatures.first))")
                continue
            }
        }
    }
}

func signatureValue(in text: String) -> String {
    let start = text.range(of: "<ds:SignatureValue>")!.upperBound
    let end = text.range(of: "</ds:SignatureValue>")!.lowerBound
    return String(text[start..<end])
}

func replacingCertificate(in text: String, with der: [UInt8]) -> String {
    let start = text.range(of: "<ds:X509Certificate>")!.upperBound
    let end = text.range(of: "</ds:X509Certificate>")!.lowerBound
    return text.replacingCharacters(
        in: start..<end, with: "\n" + Data(der).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n")
}

/// The byte ranges of every `xades:EncapsulatedTimeStamp` element's text in `document`.
private func encapsulatedTimeStampRanges(in document: [UInt8]) -> [Range<Int>] {
    let text = String(decoding: document, as: UTF8.self)
    var ranges: [Range<Int>] = []
    var searchFrom = text.startIndex
    while let open = text.range(of: "<xades:EncapsulatedTimeStamp", range: searchFrom..<text.endIndex),
        let openEnd = text.range(of: ">", range: open.upperBound..<text.endIndex),
        let close = text.range(of: "</xades:EncapsulatedTimeStamp>", range: openEnd.upperBound..<text.endIndex)
    {
        let lower = text.utf8.distance(from: text.startIndex, to: openEnd.upperBound)
        let upper = text.utf8.distance(from: text.startIndex, to: close.lowerBound)
        ranges.append(lower..<upper)
        searchFrom = close.upperBound
    }
    return ranges
}
