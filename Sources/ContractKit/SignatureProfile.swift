internal import CLibXML2
internal import COpenSSL

import struct Foundation.Calendar
import struct Foundation.Data
import struct Foundation.Date
import struct Foundation.TimeZone

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

    /// The name people read: `ECDSA P-256 / SHA-256`, `RSA-2048 / SHA-256`.
    public var name: String {
        switch self {
        case .ecdsaSHA256: "ECDSA P-256 / SHA-256"
        case .rsaSHA256: "RSA / SHA-256"
        }
    }

    /// The signature method the profile uses for keys of `key`.
    public init(for key: KeyAlgorithm) {
        switch key {
        case .ecdsaP256: self = .ecdsaSHA256
        case .rsa2048: self = .rsaSHA256
        }
    }
}

/// XAdES (ETSI EN 319 132) names used by the profile's qualifying properties.
public enum XAdES {
    public static let namespace = "http://uri.etsi.org/01903/v1.3.2#"
    public static let signedPropertiesType = "http://uri.etsi.org/01903#SignedProperties"

    static func signatureId(_ position: Int) -> String { "signature-\(position)" }
    static func signedPropertiesId(_ position: Int) -> String { "signature-\(position)-signed-properties" }
}

/// One `ds:Signature` element read against the profile, which is exactly what `XMLSigner` writes:
///
/// ```
/// Signature Id="signature-N"
///   SignedInfo: CanonicalizationMethod, SignatureMethod,
///     Reference URI="" (enveloped-signature, exclusive C14N; SHA-256),
///     Reference URI="#signature-N-signed-properties" Type=SignedProperties (exclusive C14N; SHA-256)
///   SignatureValue, KeyInfo/X509Data/X509Certificate
///   Object/QualifyingProperties Target="#signature-N"
///     SignedProperties/SignedSignatureProperties/SigningTime
///     UnsignedProperties/UnsignedSignatureProperties/SignatureTimeStamp (CanonicalizationMethod, EncapsulatedTimeStamp)
///   Object/Signature (the countersignature; only in signature 0 of a countersigned contract)
/// ```
///
/// Nothing else is accepted: no other element, attribute, namespace declaration or non-whitespace text, and every
/// base64 value exactly as the signer wraps it. Whatever no digest covers (the countersignature's value, key
/// information and timestamp) is thereby fixed by what the cryptographic checks verify, so nothing can hide there.
struct ProfileSignature {
    let element: xmlNodePtr
    let position: Int
    let signedInfo: xmlNodePtr
    let signatureValueElement: xmlNodePtr
    let signedProperties: xmlNodePtr
    let algorithm: SignatureAlgorithm
    let digestValue: [UInt8]
    let propertiesDigestValue: [UInt8]
    let signatureValue: [UInt8]
    let certificateDER: [UInt8]
    let claimedSigningTime: Date
    let timestampToken: [UInt8]
    /// The countersignature held in this signature's second Object, if any.
    let countersignature: xmlNodePtr?

    var signatureValueText: String { encodeBase64(signatureValue) }

    /// Throws `.signatureIsNotInProfile` naming the first thing that does not fit.
    init(_ element: xmlNodePtr, position: Int) throws(SignatureFailure) {
        let id = XAdES.signatureId(position)
        let children = try Self.signatureChildren(of: element, id: id, position: position)
        let info = try SignedInfoShape(children[0], propertiesId: XAdES.signedPropertiesId(position))
        signedInfo = children[0]
        algorithm = info.algorithm
        digestValue = info.digestValue
        propertiesDigestValue = info.propertiesDigestValue

        signatureValueElement = children[1]
        try Shape.attributes(signatureValueElement, [:], "SignatureValue")
        signatureValue = try Shape.base64(signatureValueElement, "SignatureValue")

        let keyInfo = try KeyInfoShape(children[2])
        certificateDER = keyInfo.certificateDER

        let qualifying = try QualifyingPropertiesShape(
            children[3], target: "#" + id, propertiesId: XAdES.signedPropertiesId(position))
        signedProperties = qualifying.signedProperties
        claimedSigningTime = qualifying.claimedSigningTime
        timestampToken = qualifying.timestampToken
        countersignature = children.count == 5 ? try Self.countersignature(in: children[4]) : nil
        try Shape.declarationsOnlyWhereTheSignerWritesThem(in: element, qualifyingProperties: qualifying.element)
        self.element = element
        self.position = position
    }

    /// The Signature's own attributes and declarations, and its children: SignedInfo, SignatureValue, KeyInfo and one
    /// Object (two for the first signature, whose second Object holds the countersignature).
    private static func signatureChildren(of element: xmlNodePtr, id: String, position: Int) throws(SignatureFailure) -> [xmlNodePtr] {
        try Shape.attributes(element, ["Id": id], "Signature")
        let maximumObjects = position == 0 ? 2 : 1
        let children = try Shape.children(element, "Signature")
        guard children.count >= 4, children.count <= 3 + maximumObjects,
            Shape.isDS(children[0], "SignedInfo"), Shape.isDS(children[1], "SignatureValue"), Shape.isDS(children[2], "KeyInfo"),
            children[3...].allSatisfy({ Shape.isDS($0, "Object") })
        else {
            throw .signatureIsNotInProfile(
                "Signature must hold SignedInfo, SignatureValue, KeyInfo and \(maximumObjects == 2 ? "one or two Objects" : "one Object")")
        }
        return children
    }

    /// Object 2 of the first signature: exactly one countersignature, and nothing else.
    private static func countersignature(in holder: xmlNodePtr) throws(SignatureFailure) -> xmlNodePtr {
        try Shape.attributes(holder, [:], "Object")
        return try Shape.exactChildren(holder, ["Signature"], "Object")[0]
    }
}

/// SignedInfo (covered by the signature value, but still exactly the profile): exclusive C14N, the signature method,
/// the whole-document reference and the signed properties' reference.
private struct SignedInfoShape {
    let algorithm: SignatureAlgorithm
    let digestValue: [UInt8]
    let propertiesDigestValue: [UInt8]

    init(_ signedInfo: xmlNodePtr, propertiesId: String) throws(SignatureFailure) {
        let info = try Shape.exactChildren(
            signedInfo, ["CanonicalizationMethod", "SignatureMethod", "Reference", "Reference"], "SignedInfo")
        try Shape.algorithm(info[0], XMLDSig.exclusiveC14N, "CanonicalizationMethod")
        try Shape.attributes(info[1], ["Algorithm": nil], "SignatureMethod")
        guard let method = XMLTree.attribute(info[1], "Algorithm").flatMap(SignatureAlgorithm.init(rawValue:)) else {
            throw .signatureIsNotInProfile("SignatureMethod must be ecdsa-sha256 or rsa-sha256")
        }
        _ = try Shape.exactChildren(info[1], [], "SignatureMethod")
        algorithm = method
        digestValue = try Shape.reference(info[2], uri: "", type: nil, transforms: [XMLDSig.envelopedSignature, XMLDSig.exclusiveC14N])
        propertiesDigestValue = try Shape.reference(
            info[3], uri: "#" + propertiesId, type: XAdES.signedPropertiesType, transforms: [XMLDSig.exclusiveC14N])
    }
}

/// KeyInfo/X509Data/X509Certificate, nothing else: the signer's certificate.
private struct KeyInfoShape {
    let certificateDER: [UInt8]

    init(_ keyInfo: xmlNodePtr) throws(SignatureFailure) {
        let x509Data = try Shape.exactChildren(keyInfo, ["X509Data"], "KeyInfo")
        let certificate = try Shape.exactChildren(x509Data[0], ["X509Certificate"], "X509Data")
        try Shape.attributes(keyInfo, [:], "KeyInfo")
        try Shape.attributes(x509Data[0], [:], "X509Data")
        try Shape.attributes(certificate[0], [:], "X509Certificate")
        certificateDER = try Shape.base64(certificate[0], "X509Certificate")
    }
}

/// Object 1: the XAdES qualifying properties, the signed SigningTime and the unsigned signature timestamp.
private struct QualifyingPropertiesShape {
    /// The QualifyingProperties element, which declares the xades prefix.
    let element: xmlNodePtr
    let signedProperties: xmlNodePtr
    let claimedSigningTime: Date
    let timestampToken: [UInt8]

    init(_ object: xmlNodePtr, target: String, propertiesId: String) throws(SignatureFailure) {
        try Shape.attributes(object, [:], "Object")
        let qualifying = try Shape.exactChildren(object, [], "Object", xades: ["QualifyingProperties"])
        try Shape.attributes(qualifying[0], ["Target": target], "QualifyingProperties")
        element = qualifying[0]
        let halves = try Shape.exactChildren(qualifying[0], [], "QualifyingProperties", xades: ["SignedProperties", "UnsignedProperties"])
        signedProperties = halves[0]
        try Shape.attributes(signedProperties, ["Id": propertiesId], "SignedProperties")
        claimedSigningTime = try Self.signingTime(in: signedProperties)
        timestampToken = try Self.timestampToken(in: halves[1])
    }

    /// SignedProperties/SignedSignatureProperties/SigningTime, UTC with milliseconds.
    private static func signingTime(in signedProperties: xmlNodePtr) throws(SignatureFailure) -> Date {
        let signedSignature = try Shape.exactChildren(signedProperties, [], "SignedProperties", xades: ["SignedSignatureProperties"])
        try Shape.attributes(signedSignature[0], [:], "SignedSignatureProperties")
        let signingTime = try Shape.exactChildren(signedSignature[0], [], "SignedSignatureProperties", xades: ["SigningTime"])
        try Shape.attributes(signingTime[0], [:], "SigningTime")
        guard let claimed = try Shape.leafText(signingTime[0], "SigningTime").flatMap(XAdESTime.parse) else {
            throw .signatureIsNotInProfile("SigningTime must be UTC with milliseconds, as yyyy-MM-ddTHH:mm:ss.SSSZ")
        }
        return claimed
    }

    /// UnsignedProperties/UnsignedSignatureProperties/SignatureTimeStamp: exclusive C14N and the token.
    private static func timestampToken(in unsigned: xmlNodePtr) throws(SignatureFailure) -> [UInt8] {
        try Shape.attributes(unsigned, [:], "UnsignedProperties")
        let unsignedSignature = try Shape.exactChildren(unsigned, [], "UnsignedProperties", xades: ["UnsignedSignatureProperties"])
        try Shape.attributes(unsignedSignature[0], [:], "UnsignedSignatureProperties")
        let stamp = try Shape.exactChildren(unsignedSignature[0], [], "UnsignedSignatureProperties", xades: ["SignatureTimeStamp"])
        try Shape.attributes(stamp[0], [:], "SignatureTimeStamp")
        let stampParts = try Shape.children(stamp[0], "SignatureTimeStamp")
        guard stampParts.count == 2, Shape.isDS(stampParts[0], "CanonicalizationMethod"),
            XMLTree.isElement(stampParts[1], "EncapsulatedTimeStamp", in: XAdES.namespace)
        else {
            throw .signatureIsNotInProfile("SignatureTimeStamp must hold CanonicalizationMethod and EncapsulatedTimeStamp")
        }
        try Shape.algorithm(stampParts[0], XMLDSig.exclusiveC14N, "SignatureTimeStamp/CanonicalizationMethod")
        try Shape.attributes(stampParts[1], [:], "EncapsulatedTimeStamp")
        return try Shape.base64(stampParts[1], "EncapsulatedTimeStamp")
    }
}

/// The strict structural checks `ProfileSignature` is made of; each throws a reason naming the element.
enum Shape {
    static func isDS(_ node: xmlNodePtr, _ name: String) -> Bool { XMLTree.isElement(node, name, in: XMLDSig.namespace) }

    /// The element children, refusing any other child, whitespace included: the signer writes none between a
    /// Signature's elements, and no digest covers the Signature itself (nor KeyInfo or the unsigned properties), so
    /// text there, even a line break, would be a change to the document nobody's signature notices.
    static func children(_ node: xmlNodePtr, _ what: String) throws(SignatureFailure) -> [xmlNodePtr] {
        var elements: [xmlNodePtr] = []
        var cursor = node.pointee.children
        while let child = cursor {
            switch child.pointee.type {
            case XML_ELEMENT_NODE: elements.append(child)
            case XML_TEXT_NODE:
                throw .signatureIsNotInProfile(
                    XMLTree.isWhitespace(child) ? "\(what) holds whitespace between elements" : "\(what) holds text")
            default: throw .signatureIsNotInProfile("\(what) holds a node that is not an element")
            }
            cursor = child.pointee.next
        }
        return elements
    }

    /// Exactly these children in this order: `ds` names, then (or instead) XAdES names.
    static func exactChildren(_ node: xmlNodePtr, _ ds: [String], _ what: String, xades: [String] = []) throws(SignatureFailure)
        -> [xmlNodePtr]
    {
        let found = try children(node, what)
        let expected = ds.map { ($0, XMLDSig.namespace) } + xades.map { ($0, XAdES.namespace) }
        guard found.count == expected.count, zip(found, expected).allSatisfy({ XMLTree.isElement($0, $1.0, in: $1.1) }) else {
            let names = (ds + xades).joined(separator: ", ")
            throw .signatureIsNotInProfile(names.isEmpty ? "\(what) must be empty" : "\(what) must hold exactly \(names)")
        }
        return found
    }

    /// Exactly these attributes (without namespace); a nil value accepts any value.
    static func attributes(_ node: xmlNodePtr, _ expected: [String: String?], _ what: String) throws(SignatureFailure) {
        var cursor = node.pointee.properties
        var seen = 0
        while let attribute = cursor {
            let name = attribute.pointee.name.map { String(cString: $0) } ?? ""
            guard attribute.pointee.ns == nil, let wanted = expected[name] else {
                throw .signatureIsNotInProfile("\(what) may not carry the attribute \(name)")
            }
            if let wanted, XMLTree.attribute(node, name) != wanted {
                throw .signatureIsNotInProfile("\(what)'s \(name) must be \(wanted)")
            }
            seen += 1
            cursor = attribute.pointee.next
        }
        guard seen == expected.count else { throw .signatureIsNotInProfile("\(what) lacks an attribute") }
    }

    /// The namespaces exactly as the signer writes them: `ds` declared on the Signature and `xades` on
    /// QualifyingProperties, each the element's own and nowhere else, and every element under the prefix of its
    /// namespace. Exclusive C14N drops a declaration no element or attribute uses, and no digest covers the Signature
    /// element, its KeyInfo or its unsigned properties, so another declaration, a missing one (inherited from the
    /// root) or another prefix (e.g. `<补充条款:KeyInfo>` declared on the root) would change the document's bytes and no
    /// digest. The walk stops at a nested Signature, which is read as a signature of its own.
    static func declarationsOnlyWhereTheSignerWritesThem(in signature: xmlNodePtr, qualifyingProperties: xmlNodePtr)
        throws(SignatureFailure)
    {
        var pending = [signature]
        while let node = pending.popLast() {
            let what = XMLTree.localName(node)
            let own = node == signature || node == qualifyingProperties
            try declarations(node, declaringItsOwn: own, what)
            try prefix(node, what)
            pending += XMLTree.elementChildren(of: node).filter { !isDS($0, "Signature") }
        }
    }

    /// Exactly one namespace declaration on the element, its own, when `declaringItsOwn`; none otherwise.
    static func declarations(_ node: xmlNodePtr, declaringItsOwn: Bool, _ what: String) throws(SignatureFailure) {
        guard let declaration = node.pointee.nsDef else {
            if declaringItsOwn { throw .signatureIsNotInProfile("\(what) must declare its own namespace") }
            return
        }
        guard declaringItsOwn, node.pointee.ns == declaration, declaration.pointee.next == nil else {
            let href = declaration.pointee.href.map { String(cString: $0) } ?? ""
            throw .signatureIsNotInProfile("\(what) may not declare the namespace \(href)")
        }
    }

    /// `ds:` for XML-DSig elements and `xades:` for XAdES ones, the prefixes the signer writes.
    static func prefix(_ node: xmlNodePtr, _ what: String) throws(SignatureFailure) {
        let expected = [XMLDSig.namespace: "ds", XAdES.namespace: "xades"]
        guard let ns = node.pointee.ns, let href = ns.pointee.href, let wanted = expected[String(cString: href)],
            let prefix = ns.pointee.prefix, xmlStrEqual(prefix, wanted) == 1
        else { throw .signatureIsNotInProfile("\(what) must be written with the prefix the signer uses (ds or xades)") }
    }

    static func algorithm(_ node: xmlNodePtr, _ algorithm: String, _ what: String) throws(SignatureFailure) {
        try attributes(node, ["Algorithm": algorithm], what)
        _ = try exactChildren(node, [], what)
    }

    /// The text of an element that holds only text, or nil when it holds more.
    static func leafText(_ node: xmlNodePtr, _ what: String) throws(SignatureFailure) -> String? {
        var text = ""
        var cursor = node.pointee.children
        while let child = cursor {
            guard child.pointee.type == XML_TEXT_NODE else { throw .signatureIsNotInProfile("\(what) must hold only text") }
            text += XMLTree.textContent(child)
            cursor = child.pointee.next
        }
        return text
    }

    /// Base64 exactly as the signer writes it: a line feed, lines of 76 characters, a line feed.
    static func base64(_ node: xmlNodePtr, _ what: String) throws(SignatureFailure) -> [UInt8] {
        guard let text = try leafText(node, what), let bytes = decodeCanonicalBase64(text), text == "\n" + encodeBase64(bytes) + "\n"
        else {
            throw .signatureIsNotInProfile("\(what) is not base64 in the one canonical form")
        }
        return bytes
    }

    /// One Reference with these transforms and SHA-256; returns its digest.
    static func reference(_ node: xmlNodePtr, uri: String, type: String?, transforms expected: [String]) throws(SignatureFailure)
        -> [UInt8]
    {
        var wanted: [String: String?] = ["URI": uri]
        if let type { wanted["Type"] = type }
        try attributes(node, wanted, "Reference")
        let parts = try exactChildren(node, ["Transforms", "DigestMethod", "DigestValue"], "Reference")
        try attributes(parts[0], [:], "Transforms")
        let transforms = try exactChildren(parts[0], expected.map { _ in "Transform" }, "Transforms")
        for (transform, algorithm) in zip(transforms, expected) { try Self.algorithm(transform, algorithm, "Transform") }
        try Self.algorithm(parts[1], XMLDSig.sha256, "DigestMethod")
        try attributes(parts[2], [:], "DigestValue")
        guard let text = try leafText(parts[2], "DigestValue"), let digest = decodeCanonicalBase64(text), digest.count == 32,
            text == encodeBase64(digest)
        else {
            throw .signatureIsNotInProfile("DigestValue is not a base64 SHA-256 digest in the one canonical form")
        }
        return digest
    }
}

/// XAdES SigningTime as the profile writes it: UTC, milliseconds, `Z`.
public enum XAdESTime {
    /// Whole milliseconds since 1970, truncated. A time parsed from `….123Z` may be a hair below .123 in binary (and a
    /// stored copy may have lost a microsecond), so 10 µs are added first; the TSA and SigningTime use this one reading.
    static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000 + 0.01).rounded(.down)
        return value.isFinite && abs(value) < 1e15 ? Int64(value) : 0
    }

    public static func format(_ date: Date) -> String {
        let milliseconds = milliseconds(date)
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let fraction = milliseconds - seconds * 1000
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let civil = CivilDate.date(days: days)
        if CivilDate.years.contains(civil.year) {
            let second = Int(seconds) - days * 86_400
            var text = [UInt8](repeating: 0, count: 24)
            func put(_ value: Int, at offset: Int, width: Int) {
                var rest = value
                for index in stride(from: offset + width - 1, through: offset, by: -1) {
                    text[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            put(civil.year, at: 0, width: 4)
            put(civil.month, at: 5, width: 2)
            put(civil.day, at: 8, width: 2)
            put(second / 3600, at: 11, width: 2)
            put(second / 60 % 60, at: 14, width: 2)
            put(second % 60, at: 17, width: 2)
            put(Int(fraction), at: 20, width: 3)
            let separators: [(Int, Unicode.Scalar)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")]
            for (offset, separator) in separators { text[offset] = UInt8(ascii: separator) }
            return String(decoding: text, as: UTF8.self)
        }
        return calendarFormat(seconds: seconds, fraction: fraction)
    }

    /// `format` through Foundation's calendar, for years outside `CivilDate.years`.
    static func calendarFormat(seconds: Int64, fraction: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):"
            + "\(pad(parts.second, 2)).\(pad(Int(fraction), 3))Z"
    }

    static func parse(_ text: String) -> Date? {
        let compact = text.filter { $0 != "-" && $0 != ":" && $0 != "T" }
        guard text.count == 24, compact.count == 19,
            let date = TimeStampVerifier.generalizedTime(compact), format(date) == text
        else { return nil }
        return date
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
        guard EVP_DigestSignInit(context, nil, OpenSSL.sha256Method, nil, key.pointer) == 1 else {
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
        case .ecdsaSHA256: return lowS(try rawECDSA(fromDER: signature))
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
            // (r, n − s) verifies as well as (r, s): only the low form is accepted, so a value has one encoding.
            guard signature.count == 2 * p256FieldBytes, !isHigh(Array(signature[p256FieldBytes...])),
                let der = derECDSA(fromRaw: signature)
            else { return nil }
            encoded = der
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, OpenSSL.sha256Method, nil, key.pointer) == 1 else { return false }
        return EVP_DigestVerify(context, encoded, encoded.count, message, message.count) == 1
    }

    /// The order n of P-256 and ⌊n / 2⌋, big-endian.
    static let p256Order: [UInt8] = hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551")
    static let p256HalfOrder: [UInt8] = hex("7FFFFFFF800000007FFFFFFFFFFFFFFFDE737D56D38BCF4279DCE5617E3192A8")

    private static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    /// s > n / 2 (both 32 bytes, big-endian).
    static func isHigh(_ s: [UInt8]) -> Bool { s.lexicographicallyPrecedes(p256HalfOrder) == false && s != p256HalfOrder }

    /// r‖s with s replaced by n − s when s is high.
    static func lowS(_ raw: [UInt8]) -> [UInt8] {
        let s = Array(raw[p256FieldBytes...])
        guard isHigh(s) else { return raw }
        return Array(raw[..<p256FieldBytes]) + complement(s)
    }

    /// n − s for 0 < s < n, big-endian, 32 bytes.
    static func complement(_ s: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: p256FieldBytes)
        var borrow = 0
        for index in stride(from: p256FieldBytes - 1, through: 0, by: -1) {
            var difference = Int(p256Order[index]) - Int(s[index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            result[index] = UInt8(difference)
        }
        return result
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
