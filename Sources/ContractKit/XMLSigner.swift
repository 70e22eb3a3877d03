internal import CLibXML2
internal import COpenSSL

import struct Foundation.Date

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
        let skeleton = try SignatureSkeleton(
            position: position, algorithm: algorithm, certificateBase64: certificateBase64, signingTime: time)
        defer { xmlFreeDoc(skeleton.scratch) }
        // The Object of a countersignature goes in first, so that the document's one canonical pass sees exactly what
        // the enveloped-signature transform will see once the Signature is in: everything but the Signature itself.
        let place = SignaturePlace(in: document, root: root, host: existing.first)
        do {
            try fill(skeleton, over: document, at: time)
        } catch {
            place.removeObject()
            throw error
        }
        xmlUnlinkNode(skeleton.signature)
        xmlAddChild(place.parent, skeleton.signature)
        guard selfCheck else { return position }
        do {
            try checkEverySignature(under: root, in: document)
        } catch {
            place.remove(inserted: skeleton.signature)
            throw error
        }
        return position
    }

    /// Digests, signs and stamps a Signature built in its scratch document: the document's reference over the whole
    /// document (the Signature is not in it yet), the signed properties', the SignatureValue over SignedInfo, and the
    /// timestamp over the SignatureValue.
    private func fill(_ skeleton: SignatureSkeleton, over document: XMLDocument, at time: Date) throws {
        let canonical = try ExclusiveC14N.canonicalize(document.pointer, selection: .all)
        xmlNodeAddContent(skeleton.documentDigest, encodeBase64(try OpenSSL.sha256(canonical)))
        let properties = try ExclusiveC14N.canonicalize(skeleton.scratch, selection: .onlySubtree(skeleton.signedProperties))
        xmlNodeAddContent(skeleton.propertiesDigest, encodeBase64(try OpenSSL.sha256(properties)))
        let canonicalSignedInfo = try ExclusiveC14N.canonicalize(skeleton.scratch, selection: .onlySubtree(skeleton.signedInfo))
        let value = try SignaturePrimitives.sign(canonicalSignedInfo, with: privateKey, algorithm: algorithm)
        xmlNodeAddContent(skeleton.signatureValue, "\n" + encodeBase64(value) + "\n")
        let imprint = try OpenSSL.sha256(
            try ExclusiveC14N.canonicalize(skeleton.scratch, selection: .onlySubtree(skeleton.signatureValue)))
        let token = try timeStampAuthority.timestamp(sha256: imprint, at: time)
        xmlNodeAddContent(skeleton.encapsulatedTimeStamp, "\n" + encodeBase64(token) + "\n")
    }

    /// Pair assertion: the new signature verifies, and the earlier ones still do.
    private func checkEverySignature(under root: xmlNodePtr, in document: XMLDocument) throws {
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
            if let failure { throw SigningError.signatureFailedSelfCheck(position: index, failure) }
        }
    }
}

/// Where a new Signature goes: last in the root, or (a countersignature) in a new `ds:Object` of the first signature.
private struct SignaturePlace {
    let parent: xmlNodePtr
    /// The countersignature's Object, added to the document at once.
    let object: xmlNodePtr?

    init(in document: XMLDocument, root: xmlNodePtr, host: xmlNodePtr?) {
        guard let host else {
            (parent, object) = (root, nil)
            return
        }
        let holder = xmlNewDocNode(document.pointer, nil, "Object", nil)!
        // The host's own ds namespace declaration is in scope; reuse it rather than redeclaring.
        xmlSetNs(holder, host.pointee.ns)
        xmlAddChild(host, holder)
        (parent, object) = (holder, holder)
    }

    /// Takes the countersignature's Object out again (signing failed before the Signature went in).
    func removeObject() {
        guard let object else { return }
        xmlUnlinkNode(object)
        xmlFreeNode(object)
    }

    /// Takes out what signing added: the Object with the countersignature, or the first Signature.
    func remove(inserted signature: xmlNodePtr) {
        let inserted = object ?? signature
        xmlUnlinkNode(inserted)
        xmlFreeNode(inserted)
    }
}

/// A Signature in the platform's profile, built in a scratch document of its own and moved in at the end: the
/// canonical forms of its parts (signed properties, SignedInfo, SignatureValue) then walk only the Signature, not the
/// contract, and are the same as in place, since every prefix they use (ds, xades) is declared inside the Signature
/// and exclusive C14N takes nothing else from ancestors. The nodes still to fill are kept by name.
private struct SignatureSkeleton {
    let scratch: xmlDocPtr
    let signature: xmlNodePtr
    let signedInfo: xmlNodePtr
    let documentDigest: xmlNodePtr
    let propertiesDigest: xmlNodePtr
    let signatureValue: xmlNodePtr
    let signedProperties: xmlNodePtr
    let encapsulatedTimeStamp: xmlNodePtr

    /// The caller frees `scratch` once the Signature has moved into the document (or signing failed).
    init(position: Int, algorithm: SignatureAlgorithm, certificateBase64: String, signingTime: Date) throws {
        guard let scratch = xmlNewDoc("1.0") else {
            throw CanonicalizationError(diagnostics: [XMLDiagnostic(level: .fatal, message: "out of memory", line: 0, column: 0)])
        }
        let signature = xmlNewDocNode(scratch, nil, "Signature", nil)!
        xmlDocSetRootElement(scratch, signature)
        let ds = xmlNewNs(signature, XMLDSig.namespace, "ds")
        xmlSetNs(signature, ds)
        xmlNewProp(signature, "Id", XAdES.signatureId(position))
        let build = NodeBuilder(ds: ds)
        let signedInfo = build.element(signature, "SignedInfo")
        _ = build.element(signedInfo, "CanonicalizationMethod", algorithm: XMLDSig.exclusiveC14N)
        _ = build.element(signedInfo, "SignatureMethod", algorithm: algorithm.rawValue)
        self.documentDigest = build.reference(
            in: signedInfo, uri: "", type: nil, transforms: [XMLDSig.envelopedSignature, XMLDSig.exclusiveC14N])
        self.propertiesDigest = build.reference(
            in: signedInfo, uri: "#" + XAdES.signedPropertiesId(position), type: XAdES.signedPropertiesType,
            transforms: [XMLDSig.exclusiveC14N])
        self.signatureValue = build.element(signature, "SignatureValue")
        let x509Data = build.element(build.element(signature, "KeyInfo"), "X509Data")
        xmlNodeAddContent(build.element(x509Data, "X509Certificate"), "\n" + certificateBase64 + "\n")
        let qualifying = build.element(build.element(signature, "Object"), "QualifyingProperties", in: nil)
        let xades = xmlNewNs(qualifying, XAdES.namespace, "xades")
        xmlSetNs(qualifying, xades)
        xmlNewProp(qualifying, "Target", "#" + XAdES.signatureId(position))
        let signedProperties = build.element(qualifying, "SignedProperties", in: xades)
        xmlNewProp(signedProperties, "Id", XAdES.signedPropertiesId(position))
        let signingTimeNode = build.element(
            build.element(signedProperties, "SignedSignatureProperties", in: xades), "SigningTime", in: xades)
        xmlNodeAddContent(signingTimeNode, XAdESTime.format(signingTime))
        let stamp = build.element(
            build.element(build.element(qualifying, "UnsignedProperties", in: xades), "UnsignedSignatureProperties", in: xades),
            "SignatureTimeStamp", in: xades)
        _ = build.element(stamp, "CanonicalizationMethod", algorithm: XMLDSig.exclusiveC14N)
        self.encapsulatedTimeStamp = build.element(stamp, "EncapsulatedTimeStamp", in: xades)
        (self.scratch, self.signature, self.signedInfo, self.signedProperties) = (scratch, signature, signedInfo, signedProperties)
    }
}

/// Makes the Signature's elements, in the ds namespace unless told otherwise.
private struct NodeBuilder {
    let ds: xmlNsPtr?

    func element(_ parent: xmlNodePtr, _ name: String, algorithm: String? = nil) -> xmlNodePtr {
        element(parent, name, algorithm: algorithm, in: ds)
    }

    func element(_ parent: xmlNodePtr, _ name: String, algorithm: String? = nil, in namespace: xmlNsPtr?) -> xmlNodePtr {
        let node = xmlNewChild(parent, namespace, name, nil)!
        if let algorithm { xmlNewProp(node, "Algorithm", algorithm) }
        return node
    }

    /// A Reference with its transforms and digest method; returns its still empty DigestValue.
    func reference(in signedInfo: xmlNodePtr, uri: String, type: String?, transforms: [String]) -> xmlNodePtr {
        let reference = element(signedInfo, "Reference")
        if let type { xmlNewProp(reference, "Type", type) }
        xmlNewProp(reference, "URI", uri)
        let list = element(reference, "Transforms")
        for transform in transforms { _ = element(list, "Transform", algorithm: transform) }
        _ = element(reference, "DigestMethod", algorithm: XMLDSig.sha256)
        return element(reference, "DigestValue")
    }
}
