internal import CLibXML2
internal import COpenSSL

/// Why signing was refused.
public enum SigningError: Error, Sendable, Hashable, CustomStringConvertible {
    case privateKeyDoesNotMatchCertificate
    /// Only P-256 and RSA-2048 keys sign.
    case keyIsNotInProfile
    /// A signature made a moment ago did not verify, or signing broke an earlier one; the document
    /// was left as it was before.
    case signatureFailedSelfCheck(position: Int, SignatureFailure)

    public var description: String {
        switch self {
        case .privateKeyDoesNotMatchCertificate: "private key does not match the certificate"
        case .keyIsNotInProfile: "key is neither ECDSA P-256 nor RSA-2048"
        case .signatureFailedSelfCheck(let position, let failure):
            "signature \(position) failed its check right after signing: \(failure)"
        }
    }
}

/// Adds enveloped XML signatures (exclusive C14N, SHA-256, whole-document reference, the signer's
/// certificate in KeyInfo).
///
/// The first signature becomes the last child of the root element. A later signature (the guardian's
/// countersignature) goes inside a new `ds:Object` of the last signature so far. Because the
/// enveloped-signature transform removes only the Signature element that contains it, the first
/// signature still covers the document minus itself (and so minus everything nested in it), while the
/// countersignature covers the whole document including the first signature.
public struct XMLSigner: Sendable {
    public let privateKey: PrivateKey
    public let certificate: Certificate
    public let algorithm: SignatureAlgorithm
    /// The certificate as KeyInfo carries it, encoded once rather than per signature.
    private let certificateBase64: String

    public init(privateKey: PrivateKey, certificate: Certificate) throws {
        guard let keyAlgorithm = privateKey.algorithm else { throw SigningError.keyIsNotInProfile }
        guard X509_check_private_key(certificate.pointer, privateKey.pointer) == 1 else {
            ERR_clear_error()
            throw SigningError.privateKeyDoesNotMatchCertificate
        }
        self.privateKey = privateKey
        self.certificate = certificate
        self.algorithm = SignatureAlgorithm(for: keyAlgorithm)
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
    /// `XMLSignatureVerifier`, chain included), as the store and the benchmark do: the check then happens once,
    /// on the very bytes that are kept, instead of twice.
    @discardableResult
    public func sign(_ document: XMLDocument, selfCheck: Bool = true) throws -> Int {
        // `XMLDocument.parse` refuses documents without a root element, so there always is one.
        guard let root = document.rootElement else { preconditionFailure("parsed document without a root element") }
        let existing = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)

        let signature = xmlNewDocNode(document.pointer, nil, "Signature", nil)!
        let ds = xmlNewNs(signature, XMLDSig.namespace, "ds")
        xmlSetNs(signature, ds)
        func element(_ parent: xmlNodePtr, _ name: String, algorithm: String? = nil) -> xmlNodePtr {
            let node = xmlNewChild(parent, ds, name, nil)!
            if let algorithm { xmlNewProp(node, "Algorithm", algorithm) }
            return node
        }
        let signedInfo = element(signature, "SignedInfo")
        _ = element(signedInfo, "CanonicalizationMethod", algorithm: XMLDSig.exclusiveC14N)
        _ = element(signedInfo, "SignatureMethod", algorithm: algorithm.rawValue)
        let reference = element(signedInfo, "Reference")
        xmlNewProp(reference, "URI", "")
        let transforms = element(reference, "Transforms")
        _ = element(transforms, "Transform", algorithm: XMLDSig.envelopedSignature)
        _ = element(transforms, "Transform", algorithm: XMLDSig.exclusiveC14N)
        _ = element(reference, "DigestMethod", algorithm: XMLDSig.sha256)
        let digestValue = element(reference, "DigestValue")
        let signatureValue = element(signature, "SignatureValue")
        let x509Data = element(element(signature, "KeyInfo"), "X509Data")
        xmlNodeAddContent(element(x509Data, "X509Certificate"), "\n" + certificateBase64 + "\n")

        // The subtree that goes into the document: the Signature itself, or the Object holding it.
        let inserted: xmlNodePtr
        if let host = existing.last {
            let object = xmlNewDocNode(document.pointer, nil, "Object", nil)!
            // The host's own ds namespace declaration is in scope; reuse it rather than redeclaring.
            xmlSetNs(object, host.pointee.ns)
            xmlAddChild(object, signature)
            inserted = object
            xmlAddChild(host, object)
        } else {
            inserted = signature
            xmlAddChild(root, signature)
        }
        func removeInserted() {
            xmlUnlinkNode(inserted)
            xmlFreeNode(inserted)
        }

        do {
            let canonical = try ExclusiveC14N.canonicalize(document.pointer, selection: .excludingSubtree(signature))
            xmlNodeAddContent(digestValue, encodeBase64(try OpenSSL.sha256(canonical)))
            let canonicalSignedInfo = try ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtree(signedInfo))
            let value = try SignaturePrimitives.sign(canonicalSignedInfo, with: privateKey, algorithm: algorithm)
            xmlNodeAddContent(signatureValue, "\n" + encodeBase64(value) + "\n")
        } catch {
            removeInserted()
            throw error
        }

        guard selfCheck else { return existing.count }
        // Pair assertion: the new signature verifies, and the earlier ones still do.
        let all = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)
        for (position, element) in all.enumerated() {
            let failure: SignatureFailure?
            do {
                let profile = try ProfileSignature(element)
                let signer = try profile.certificateTexts.first.flatMap(decodeCanonicalBase64).map {
                    try Certificate(derRepresentation: $0)
                }
                let checks = XMLSignatureVerifier.cryptographicChecks(profile, in: document, certificate: signer)
                failure = checks.digest ?? checks.signature ?? (signer == nil ? .signerCertificateIsMissing : nil)
            } catch let error as SignatureFailure {
                failure = error
            } catch {
                failure = .signerCertificateIsMalformed
            }
            if let failure {
                removeInserted()
                throw SigningError.signatureFailedSelfCheck(position: position, failure)
            }
        }
        return existing.count
    }
}
