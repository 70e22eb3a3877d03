internal import CLibXML2
internal import COpenSSL

import struct Foundation.Data

/// The algorithm identifiers of TuitionGuard's XML Signature profile.
public enum XMLDSig {
    public static let namespace = "http://www.w3.org/2000/09/xmldsig#"
    public static let exclusiveC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
    public static let envelopedSignature = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    public static let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
}

/// The two signature methods of the profile.
public enum SignatureAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// ECDSA P-256 with SHA-256; the SignatureValue is r‖s, 32 bytes each (XML-DSig 1.1), not DER.
    case ecdsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    /// RSA PKCS#1 v1.5 with SHA-256.
    case rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

    /// The signature method the profile uses for keys of `key`.
    public init(for key: KeyAlgorithm) {
        switch key {
        case .ecdsaP256: self = .ecdsaSHA256
        case .rsa2048: self = .rsaSHA256
        }
    }
}

/// One `ds:Signature` element read against the profile. Anything outside it (other transforms,
/// several references, a reference to part of the document) is refused, never interpreted.
struct ProfileSignature {
    let element: xmlNodePtr
    let signedInfo: xmlNodePtr
    let signedInfoPrefixes: [String]
    let referencePrefixes: [String]
    let algorithm: SignatureAlgorithm
    let digestValue: [UInt8]
    let signatureValueText: String
    let certificateTexts: [String]

    /// Throws `.signatureIsNotInProfile` naming the first thing that does not fit.
    init(_ element: xmlNodePtr) throws(SignatureFailure) {
        func refuse(_ reason: String) -> SignatureFailure { .signatureIsNotInProfile(reason) }
        func ds(_ node: xmlNodePtr, _ name: String) -> Bool { XMLTree.isElement(node, name, in: XMLDSig.namespace) }

        let children = XMLTree.elementChildren(of: element)
        guard children.count >= 2, ds(children[0], "SignedInfo"), ds(children[1], "SignatureValue") else {
            throw refuse("Signature must start with SignedInfo and SignatureValue")
        }
        let rest = children.dropFirst(2)
        guard let keyInfo = rest.first, ds(keyInfo, "KeyInfo") else { throw refuse("Signature has no KeyInfo") }
        guard rest.dropFirst().allSatisfy({ ds($0, "Object") }) else {
            throw refuse("Signature has unexpected elements after KeyInfo")
        }

        // The Signature envelope outside SignedInfo is covered by no signature of its own, so it may carry
        // nothing the profile does not expect: an extra attribute or namespace declaration there would be an
        // unsigned change (exclusive C14N drops unused declarations).
        let objects = rest.dropFirst()
        let x509Data = XMLTree.elementChildren(of: keyInfo).filter { ds($0, "X509Data") }
        let envelope = [element, children[1], keyInfo] + objects + x509Data + x509Data.flatMap(XMLTree.elementChildren)
        guard envelope.allSatisfy({ XMLTree.attributeNames($0).allSatisfy { $0 == "Id" } }) else {
            throw refuse("Signature, SignatureValue, KeyInfo, X509Data and Object may carry only an Id attribute")
        }
        guard envelope.allSatisfy(XMLTree.declaresOnlyItsOwnNamespace) else {
            throw refuse("Signature, SignatureValue, KeyInfo, X509Data and Object may declare only their own namespace")
        }

        signedInfo = children[0]
        let info = XMLTree.elementChildren(of: signedInfo)
        guard info.count == 3, ds(info[0], "CanonicalizationMethod"), ds(info[1], "SignatureMethod"),
            ds(info[2], "Reference")
        else {
            throw refuse("SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference")
        }
        guard XMLTree.attribute(info[0], "Algorithm") == XMLDSig.exclusiveC14N else {
            throw refuse("CanonicalizationMethod must be exclusive C14N")
        }
        signedInfoPrefixes = try Self.inclusivePrefixes(info[0])
        guard let method = XMLTree.attribute(info[1], "Algorithm").flatMap(SignatureAlgorithm.init(rawValue:)),
            XMLTree.elementChildren(of: info[1]).isEmpty
        else {
            throw refuse("SignatureMethod must be ecdsa-sha256 or rsa-sha256")
        }
        algorithm = method

        let reference = info[2]
        guard XMLTree.attribute(reference, "URI") == "" else {
            throw refuse("Reference must have URI=\"\" (the whole document)")
        }
        let parts = XMLTree.elementChildren(of: reference)
        guard parts.count == 3, ds(parts[0], "Transforms"), ds(parts[1], "DigestMethod"), ds(parts[2], "DigestValue")
        else {
            throw refuse("Reference must hold Transforms, DigestMethod and DigestValue")
        }
        let transforms = XMLTree.elementChildren(of: parts[0])
        guard transforms.count == 2, transforms.allSatisfy({ ds($0, "Transform") }),
            XMLTree.attribute(transforms[0], "Algorithm") == XMLDSig.envelopedSignature,
            XMLTree.elementChildren(of: transforms[0]).isEmpty,
            XMLTree.attribute(transforms[1], "Algorithm") == XMLDSig.exclusiveC14N
        else {
            throw refuse("Transforms must be enveloped-signature then exclusive C14N")
        }
        referencePrefixes = try Self.inclusivePrefixes(transforms[1])
        guard XMLTree.attribute(parts[1], "Algorithm") == XMLDSig.sha256 else {
            throw refuse("DigestMethod must be SHA-256")
        }
        guard let digest = decodeCanonicalBase64(XMLTree.textContent(parts[2])), digest.count == 32 else {
            throw refuse("DigestValue is not a base64 SHA-256 digest")
        }
        digestValue = digest
        signatureValueText = XMLTree.textContent(children[1])

        certificateTexts = XMLTree.elementChildren(of: keyInfo)
            .filter { ds($0, "X509Data") }
            .flatMap { XMLTree.elementChildren(of: $0) }
            .filter { ds($0, "X509Certificate") }
            .map { XMLTree.textContent($0) }
        self.element = element
    }

    /// The optional `ec:InclusiveNamespaces PrefixList` of an exclusive C14N method.
    private static func inclusivePrefixes(_ method: xmlNodePtr) throws(SignatureFailure) -> [String] {
        let children = XMLTree.elementChildren(of: method)
        guard !children.isEmpty else { return [] }
        guard children.count == 1, XMLTree.isElement(children[0], "InclusiveNamespaces", in: XMLDSig.exclusiveC14N),
            let list = XMLTree.attribute(children[0], "PrefixList")
        else {
            throw .signatureIsNotInProfile("exclusive C14N may only carry InclusiveNamespaces")
        }
        return list.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
    }
}

/// Base64 with XML whitespace ignored, accepted only in its canonical form: padding bits that decode
/// to nothing would otherwise let an unsigned byte change go unnoticed.
func decodeCanonicalBase64(_ text: String) -> [UInt8]? {
    var compact: [UInt8] = []
    compact.reserveCapacity(text.utf8.count)
    for byte in text.utf8 where byte != 0x20 && byte != 0x09 && byte != 0x0d && byte != 0x0a { compact.append(byte) }
    let encoded = Data(compact)
    guard !compact.isEmpty, let data = Data(base64Encoded: encoded), data.base64EncodedData() == encoded else {
        return nil
    }
    return [UInt8](data)
}

/// Base64 wrapped at 76 characters, as xmlsec writes it.
func encodeBase64(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
}

/// Signing and verifying with OpenSSL's EVP interface, including the r‖s ⇄ DER conversion ECDSA needs.
enum SignaturePrimitives {
    /// Bytes of each of r and s for P-256.
    static let p256FieldBytes = 32

    static func sign(_ message: [UInt8], with key: PrivateKey, algorithm: SignatureAlgorithm) throws -> [UInt8] {
        ERR_clear_error()
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.drain("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key.pointer) == 1 else {
            throw CryptoError.drain("EVP_DigestSignInit")
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
            throw CryptoError.drain("EVP_DigestSign")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            throw CryptoError.drain("EVP_DigestSign")
        }
        signature.removeLast(signature.count - length)
        switch algorithm {
        case .rsaSHA256: return signature
        case .ecdsaSHA256: return try rawECDSA(fromDER: signature)
        }
    }

    /// Nil when the signature value is malformed for the algorithm (wrong length, not r‖s).
    static func verify(_ message: [UInt8], signature: [UInt8], with key: PublicKey, algorithm: SignatureAlgorithm)
        -> Bool?
    {
        defer { ERR_clear_error() }
        let encoded: [UInt8]
        switch algorithm {
        case .rsaSHA256: encoded = signature
        case .ecdsaSHA256:
            guard let der = derECDSA(fromRaw: signature) else { return nil }
            encoded = der
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key.pointer) == 1 else { return false }
        return EVP_DigestVerify(context, encoded, encoded.count, message, message.count) == 1
    }

    static func rawECDSA(fromDER der: [UInt8]) throws -> [UInt8] {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw CryptoError.drain("d2i_ECDSA_SIG") }
        defer { ECDSA_SIG_free(parsed) }
        var r: OpaquePointer? = nil
        var s: OpaquePointer? = nil
        ECDSA_SIG_get0(parsed, &r, &s)
        var raw = [UInt8](repeating: 0, count: 2 * p256FieldBytes)
        let written = raw.withUnsafeMutableBufferPointer { buffer in
            (
                BN_bn2binpad(r, buffer.baseAddress, Int32(p256FieldBytes)),
                BN_bn2binpad(s, buffer.baseAddress! + p256FieldBytes, Int32(p256FieldBytes))
            )
        }
        guard written.0 == Int32(p256FieldBytes), written.1 == Int32(p256FieldBytes) else {
            throw CryptoError.drain("BN_bn2binpad")
        }
        return raw
    }

    static func derECDSA(fromRaw raw: [UInt8]) -> [UInt8]? {
        guard raw.count == 2 * p256FieldBytes, let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        guard let r = BN_bin2bn(raw, Int32(p256FieldBytes), nil) else { return nil }
        guard let s = Array(raw[p256FieldBytes...]).withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32(p256FieldBytes), nil) })
        else {
            BN_free(r)
            return nil
        }
        guard ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        return try? OpenSSL.der("i2d_ECDSA_SIG") { i2d_ECDSA_SIG(signature, $0) }
    }
}
