internal import CLibXML2
internal import COpenSSL

/// Why signing was refused.
public enum SigningError: Error, Sendable, Hashable, CustomStringConvertible {
    case privateKeyDoesNotMatchCertificate
    /// Only P-256 and RSA-2048 keys sign.
    case keyIsNotInProfile
    /// The document already carries both signatures.
    case documentIsAlreadyCountersigned
    /// A signature made a moment ago did not verify, or signing broke an earlier one; the document
    /// was left as it was before.
    case signatureFailedSelfCheck(position: Int, SignatureFailure)

    public var description: String {
        switch self {
        case .privateKeyDoesNotMatchCertificate: "private key does not match the certificate"
        case .keyIsNotInProfile: "key is neither ECDSA P-256 nor RSA-2048"
        case .documentIsAlreadyCountersigned: "the document already carries both signatures"
        case .signatureFailedSelfCheck(let position, let failure):
            "signature \(position) failed its check right after signing: \(failure)"
        }
    }
}

/// Adds enveloped XML signatures in the platform's profile (see `ProfileSignature`): exclusive C14N, SHA-256,
/// a whole-document reference plus a reference to the XAdES signed properties (the signing time), the signer's
/// certificate in KeyInfo, and an RFC 3161 timestamp over the SignatureValue (XAdES-B-T).
///
/// The first signature becomes the last child of the root element. The second (the guardian's countersignature)
/// goes inside a new `ds:Object` of the first. Because the enveloped-signature transform removes only the
/// Signature element that contains it, the first signature still covers the document minus itself, while the
/// countersignature covers the whole document including the first signature and its timestamp.
public struct XMLSigner: Sendable {
    public let privateKey: PrivateKey
    public let certificate: Certificate
    public let algorithm: SignatureAlgorithm
    /// Stamps every signature, and is the clock of its SigningTime.
    public let timeStampAuthority: TimeStampAuthority
    /// The certificate as KeyInfo carries it, encoded once rather than per signature.
    private let certificateBase64: String

    public init(privateKey: PrivateKey, certificate: Certificate, timeStampAuthority: TimeStampAuthority) throws {
        guard let keyAlgorithm = privateKey.algorithm else { throw SigningError.keyIsNotInProfile }
        guard X509_check_private_key(certificate.pointer, privateKey.pointer) == 1 else {
            ERR_clear_error()
            throw SigningError.privateKeyDoesNotMatchCertificate
        }
        self.privateKey = privateKey
        self.certificate = certificate
        self.algorithm = SignatureAlgorithm(for: keyAlgorithm)
        self.timeStampAuthority = timeStampAuthority
        self.certificateBase64 = encodeBase64(certificate.derRepresentation)
    }

    /// Parses `bytes` with the hardened parser, signs, and returns the serialized signed document.
    public func sign(_ bytes: [UInt8], maxBytes: Int = XMLDocument.defaultMaxBytes, selfCheck: Bool = true) throws -> [UInt8] {
        let document = try XMLDocument.parse(bytes, maxBytes: maxBytes)
        try sign(document, selfCheck: selfCheck)
        return document.serialized()
    }

    /// Signs `document` in place and returns the new signature's position (0 for the first).
    /// Every signature of the document is verified cryptographically before this returns, unless the caller
    /// passes `selfCheck: false` because it verifies the serialized result itself at once (with the full
    /// `XMLSignatureVerifier`, chain and timestamps included), as the store and the benchmark do.
    @discardableResult
    public func sign(_ document: XMLDocument, selfCheck: Bool = true) throws -> Int {
        // `XMLDocument.parse` refuses documents without a root element, so there always is one.
        guard let root = document.rootElement else { preconditionFailure("parsed document without a root element") }
        let existing = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)
        guard existing.count < 2 else { throw SigningError.documentIsAlreadyCountersigned }
        let position = existing.count
        let time = timeStampAuthority.clock()

        // The Signature is built in a scratch document of its own and moved in at the end: the canonical forms of
        // its parts (signed properties, SignedInfo, SignatureValue) then walk only the Signature, not the contract,
        // and are the same as in place, since every prefix they use (ds, xades) is declared inside the Signature
        // and exclusive C14N takes nothing else from ancestors.
        guard let scratch = xmlNewDoc("1.0") else {
            throw CanonicalizationError(diagnostics: [XMLDiagnostic(level: .fatal, message: "out of memory", line: 0, column: 0)])
        }
        defer { xmlFreeDoc(scratch) }
        let signature = xmlNewDocNode(scratch, nil, "Signature", nil)!
        xmlDocSetRootElement(scratch, signature)
        let ds = xmlNewNs(signature, XMLDSig.namespace, "ds")
        xmlSetNs(signature, ds)
        xmlNewProp(signature, "Id", XAdES.signatureId(position))
        func element(_ parent: xmlNodePtr, _ name: String, algorithm: String? = nil, in namespace: xmlNsPtr? = ds) -> xmlNodePtr {
            let node = xmlNewChild(parent, namespace, name, nil)!
            if let algorithm { xmlNewProp(node, "Algorithm", algorithm) }
            return node
        }
        let signedInfo = element(signature, "SignedInfo")
        _ = element(signedInfo, "CanonicalizationMethod", algorithm: XMLDSig.exclusiveC14N)
        _ = element(signedInfo, "SignatureMethod", algorithm: algorithm.rawValue)
        func reference(uri: String, type: String?, transforms: [String]) -> xmlNodePtr {
            let reference = element(signedInfo, "Reference")
            if let type { xmlNewProp(reference, "Type", type) }
            xmlNewProp(reference, "URI", uri)
            let list = element(reference, "Transforms")
            for transform in transforms { _ = element(list, "Transform", algorithm: transform) }
            _ = element(reference, "DigestMethod", algorithm: XMLDSig.sha256)
            return element(reference, "DigestValue")
        }
        let documentDigest = reference(uri: "", type: nil, transforms: [XMLDSig.envelopedSignature, XMLDSig.exclusiveC14N])
        let propertiesDigest = reference(
            uri: "#" + XAdES.signedPropertiesId(position), type: XAdES.signedPropertiesType, transforms: [XMLDSig.exclusiveC14N])
        let signatureValue = element(signature, "SignatureValue")
        let x509Data = element(element(signature, "KeyInfo"), "X509Data")
        xmlNodeAddContent(element(x509Data, "X509Certificate"), "\n" + certificateBase64 + "\n")

        let qualifying = element(element(signature, "Object"), "QualifyingProperties", in: nil)
        let xades = xmlNewNs(qualifying, XAdES.namespace, "xades")
        xmlSetNs(qualifying, xades)
        xmlNewProp(qualifying, "Target", "#" + XAdES.signatureId(position))
        let signedProperties = element(qualifying, "SignedProperties", in: xades)
        xmlNewProp(signedProperties, "Id", XAdES.signedPropertiesId(position))
        let signingTime = element(element(signedProperties, "SignedSignatureProperties", in: xades), "SigningTime", in: xades)
        xmlNodeAddContent(signingTime, XAdESTime.format(time))
        let stamp = element(
            element(element(qualifying, "UnsignedProperties", in: xades), "UnsignedSignatureProperties", in: xades),
            "SignatureTimeStamp", in: xades)
        _ = element(stamp, "CanonicalizationMethod", algorithm: XMLDSig.exclusiveC14N)
        let encapsulated = element(stamp, "EncapsulatedTimeStamp", in: xades)

        // Where the Signature goes: last in the root, or (a countersignature) in a new Object of the first signature.
        // The Object goes in first, so that the document's one canonical pass below sees exactly what the
        // enveloped-signature transform will see once the Signature is in: everything but the Signature itself.
        let parent: xmlNodePtr
        var object: xmlNodePtr? = nil
        if let host = existing.first {
            let holder = xmlNewDocNode(document.pointer, nil, "Object", nil)!
            // The host's own ds namespace declaration is in scope; reuse it rather than redeclaring.
            xmlSetNs(holder, host.pointee.ns)
            xmlAddChild(host, holder)
            object = holder
            parent = holder
        } else {
            parent = root
        }

        do {
            let canonical = try ExclusiveC14N.canonicalize(document.pointer, selection: .all)
            xmlNodeAddContent(documentDigest, encodeBase64(try OpenSSL.sha256(canonical)))
            let properties = try ExclusiveC14N.canonicalize(scratch, selection: .onlySubtree(signedProperties))
            xmlNodeAddContent(propertiesDigest, encodeBase64(try OpenSSL.sha256(properties)))
            let canonicalSignedInfo = try ExclusiveC14N.canonicalize(scratch, selection: .onlySubtree(signedInfo))
            let value = try SignaturePrimitives.sign(canonicalSignedInfo, with: privateKey, algorithm: algorithm)
            xmlNodeAddContent(signatureValue, "\n" + encodeBase64(value) + "\n")
            let imprint = try OpenSSL.sha256(try ExclusiveC14N.canonicalize(scratch, selection: .onlySubtree(signatureValue)))
            let token = try timeStampAuthority.timestamp(sha256: imprint, at: time)
            xmlNodeAddContent(encapsulated, "\n" + encodeBase64(token) + "\n")
        } catch {
            if let object {
                xmlUnlinkNode(object)
                xmlFreeNode(object)
            }
            throw error
        }
        xmlUnlinkNode(signature)
        xmlAddChild(parent, signature)
        let inserted = object ?? signature
        func removeInserted() {
            xmlUnlinkNode(inserted)
            xmlFreeNode(inserted)
        }

        guard selfCheck else { return position }
        // Pair assertion: the new signature verifies, and the earlier ones still do.
        let all = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)
        for (index, element) in all.enumerated() {
            let failure: SignatureFailure?
            do {
                let profile = try ProfileSignature(element, position: index)
                let signer = try Certificate(derRepresentation: profile.certificateDER)
                let checks = XMLSignatureVerifier.cryptographicChecks(profile, in: document, certificate: signer)
                failure = checks.digest ?? checks.signature
            } catch let error as SignatureFailure {
                failure = error
            } catch {
                failure = .signerCertificateIsMalformed
            }
            if let failure {
                removeInserted()
                throw SigningError.signatureFailedSelfCheck(position: index, failure)
            }
        }
        return position
    }
}
