import Foundation

/// One tampered copy of a fully signed contract (the high-S case only when the institution signed with P-256) per class of attack that issue 12
/// found or names; every verifier of the platform must refuse each. `xmlsec1Accepts` records what xmlsec1 does
/// with the same bytes (both signatures), which shows why the platform's own profile check is needed.
public struct TamperedContract: Sendable, CustomStringConvertible {
    public let name: String
    public let bytes: [UInt8]
    /// xmlsec1 --verify of both signatures: true when it accepts both, nil when it is not worth asking.
    public let xmlsec1Accepts: Bool?
    public var description: String { name }
}

public enum TamperingCorpus {
    /// The classes, each applied to `signed` (a contract the platform signed twice, the institution with P-256).
    public static func cases(from signed: [UInt8]) -> [TamperedContract] {
        let text = String(decoding: signed, as: UTF8.self)
        var cases: [TamperedContract] = []
        func add(_ name: String, _ tampered: String?, xmlsec1Accepts: Bool? = nil) {
            guard let tampered, tampered != text else { fatalError("tampering case \(name) changed nothing") }
            cases.append(TamperedContract(name: name, bytes: Array(tampered.utf8), xmlsec1Accepts: xmlsec1Accepts))
        }
        let countersignatureEnd = "</ds:Signature></ds:Object></ds:Signature></tg:contract>"
        let secondContract = #"<tg:contract xmlns:tg="urn:tuitionguard:contract:1"><tg:totalFen>1</tg:totalFen></tg:contract>"#

        // Content in each place no digest covers: inside the countersignature, its KeyInfo, its properties, and the
        // institution signature's Object that holds it.
        add(
            "a second contract inside the countersignature",
            text.replacingLast(countersignatureEnd, with: secondContract + countersignatureEnd), xmlsec1Accepts: false)
        add(
            "free text inside the countersignature",
            text.replacingLast(countersignatureEnd, with: "总价 1 元" + countersignatureEnd), xmlsec1Accepts: true)
        add(
            "an extra KeyInfo child in the countersignature",
            text.replacingNth("<ds:KeyInfo>", 2, with: "<ds:KeyInfo><ds:KeyName>总价 1 元</ds:KeyName>"), xmlsec1Accepts: true)
        add("an attribute on the countersignature's KeyInfo", text.replacingNth("<ds:KeyInfo>", 2, with: #"<ds:KeyInfo Id="k">"#))
        add(
            "an element in the countersignature's unsigned properties",
            text.replacingNth(
                "<xades:UnsignedSignatureProperties>", 2,
                with: "<xades:UnsignedSignatureProperties>" + secondContract), xmlsec1Accepts: true)
        add(
            "content beside the countersignature in its Object",
            text.replacingLast(countersignatureEnd, with: "</ds:Signature>" + secondContract + "</ds:Object></ds:Signature></tg:contract>"),
            xmlsec1Accepts: false)
        add(
            "a second Object in the countersignature",
            text.replacingLast(countersignatureEnd, with: "<ds:Object>" + secondContract + "</ds:Object>" + countersignatureEnd),
            xmlsec1Accepts: true)
        // Whitespace no digest covers: between the countersignature's elements, inside its KeyInfo, and between the
        // institution signature's elements (its own digest leaves its whole element out).
        add(
            "a line break after the countersignature's value",
            text.replacingNth("</ds:SignatureValue>", 2, with: "</ds:SignatureValue>\n  "), xmlsec1Accepts: true)
        add(
            "a tab inside the countersignature's KeyInfo", text.replacingNth("<ds:KeyInfo>", 2, with: "<ds:KeyInfo>\t"),
            xmlsec1Accepts: true)
        add(
            "a line break between the institution signature's elements",
            text.replacingNth("</ds:SignedInfo>", 1, with: "</ds:SignedInfo>\n"), xmlsec1Accepts: false)
        // The bytes stay UTF-8 and canonicalize the same, but every other reader decodes them by the declaration.
        add(
            "an encoding declaration naming another encoding",
            text.replacingNth(#"encoding="UTF-8""#, 1, with: #"encoding="ISO-8859-1""#), xmlsec1Accepts: false)
        add("an XML declaration of version 1.1", text.replacingNth(#"version="1.0""#, 1, with: #"version="1.1""#))
        add("a changed countersignature timestamp", text.changingBase64(afterNth: "<xades:EncapsulatedTimeStamp>", 2), xmlsec1Accepts: true)
        add(
            "a changed licence number in the signed content", text.replacingNth("</tg:licenceNumber>", 1, with: "0</tg:licenceNumber>"),
            xmlsec1Accepts: false)

        // Namespace declarations exclusive C14N drops (no element or attribute uses them), in each part of each
        // signature: a Reference's children, the signed properties, the unsigned properties and the timestamp.
        let note = #" xmlns:note="urn:note:anything""#
        for (tag, institutionOccurrence, countersignatureOccurrence) in [
            ("<ds:DigestMethod", 1, 3), ("<xades:SigningTime", 1, 2), ("<xades:UnsignedProperties", 1, 2),
            ("<xades:SignatureTimeStamp", 1, 2),
        ] {
            let places = [("the institution's", institutionOccurrence), ("the countersignature's", countersignatureOccurrence)]
            for (whose, occurrence) in places {
                let tampered = text.replacingNth(tag, occurrence, with: tag + note)
                add("a namespace declaration on \(whose) \(tag.dropFirst())", tampered, xmlsec1Accepts: true)
            }
        }
        add(
            "the ds namespace declared again on a Transform of the countersignature",
            text.replacingNth("<ds:Transform ", 4, with: #"<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#" "#),
            xmlsec1Accepts: true)
        // The signature's own elements under other prefixes (declared on the root, where exclusive C14N drops them
        // from the body's digest), or its ds declaration left to an ancestor: nothing signs a Signature's tag, its
        // KeyInfo or its unsigned properties.
        let root = "<tg:contract "
        func renamed(_ element: String, _ n: Int, from prefix: String, to other: String, namespace: String) -> String? {
            text.replacingNth(root, 1, with: "\(root)xmlns:\(other)=\"\(namespace)\" ")?
                .replacingNth("<\(prefix):\(element)>", n, with: "<\(other):\(element)>")?
                .replacingNth("</\(prefix):\(element)>", n, with: "</\(other):\(element)>")
        }
        let dsig = "http://www.w3.org/2000/09/xmldsig#"
        // (xmlsec1 refuses the institution signature's: the countersignature covers that whole Signature element.)
        for (whose, n, xmlsec1Accepts) in [("the institution signature's", 1, false), ("the countersignature's", 2, true)] {
            add(
                "\(whose) KeyInfo under a prefix declared on the root",
                renamed("KeyInfo", n, from: "ds", to: "补充条款总价一元", namespace: dsig), xmlsec1Accepts: xmlsec1Accepts)
            add(
                "\(whose) unsigned properties under a prefix declared on the root",
                renamed("UnsignedProperties", n, from: "xades", to: "补充条款", namespace: "http://uri.etsi.org/01903/v1.3.2#"),
                xmlsec1Accepts: xmlsec1Accepts)
        }
        add(
            "the countersignature without its own ds declaration",
            text.replacingNth(" xmlns:ds=\"\(dsig)\"", 2, with: ""), xmlsec1Accepts: true)
        let holder = text.replacingNth("<ds:Object><ds:Signature", 1, with: "<ds:Object\(note)><ds:Signature")
        add("a namespace declaration on the Object holding the countersignature", holder, xmlsec1Accepts: true)

        // Bytes the parser would not see, or C14N would drop.
        add("a NUL byte and a second contract after the root", text + "\u{0}" + secondContract)
        add("an element after the root", text + secondContract)
        add(
            "a comment inside the signed content", text.replacingNth("<tg:partyA>", 1, with: "<tg:partyA><!-- 总价 1 元 -->"),
            xmlsec1Accepts: true)
        add("a comment after the root", text + "<!-- 总价 1 元 -->", xmlsec1Accepts: true)
        add("a processing instruction", text.replacingNth("<tg:partyA>", 1, with: "<?note 总价 1 元?><tg:partyA>"), xmlsec1Accepts: false)

        // Other encodings of the same values.
        // (The countersignature covers the institution's value, so xmlsec1 refuses the second signature here; it accepts
        // the high-S first signature itself.)
        if let high = text.highS() { add("a high-S ECDSA institution signature", high, xmlsec1Accepts: false) }
        add("a re-wrapped certificate", text.rewrappingNth("<ds:X509Certificate>", 2), xmlsec1Accepts: true)
        // The same certificate in BER: a longer form of its outer length, which OpenSSL reads and would encode shorter.
        add(
            "a certificate with a non-minimal length in the countersignature",
            text.reencodingCertificate(nth: 2, DERVariant.nonMinimalOuterLength), xmlsec1Accepts: true)
        return cases
    }
}

/// BER encodings of a DER certificate that OpenSSL reads as the same certificate (its to-be-signed part, which the
/// CA's signature covers, unchanged).
public enum DERVariant {
    /// The outer SEQUENCE's length in one more byte than needed: `30 82 LL LL` as `30 83 00 LL LL`.
    public static func nonMinimalOuterLength(_ der: [UInt8]) -> [UInt8] {
        let (header, length) = tlv(der, at: 0)
        return [0x30] + longLength(length, bytes: 3) + Array(der[header...])
    }

    /// The outer SEQUENCE with BER's indefinite length, ended by two zero bytes.
    public static func indefiniteOuterLength(_ der: [UInt8]) -> [UInt8] {
        let (header, _) = tlv(der, at: 0)
        return [0x30, 0x80] + Array(der[header...]) + [0, 0]
    }

    /// The `index`-th element of the outer SEQUENCE (0: to-be-signed, 1: signature algorithm, 2: signature) with its
    /// length in one more byte than needed.
    public static func nonMinimalInnerLength(_ der: [UInt8], element index: Int) -> [UInt8] {
        let (outerHeader, _) = tlv(der, at: 0)
        var offset = outerHeader
        var content: [UInt8] = []
        for position in 0..<3 {
            let (header, length) = tlv(der, at: offset)
            let value = Array(der[(offset + header)..<(offset + header + length)])
            let lengthBytes = position == index ? longLength(length, bytes: header) : Array(der[(offset + 1)..<(offset + header)])
            content += [der[offset]] + lengthBytes + value
            offset += header + length
        }
        return [0x30] + longLength(content.count, bytes: 2) + content
    }

    /// A DER header's size and content length at `offset`.
    static func tlv(_ der: [UInt8], at offset: Int) -> (header: Int, length: Int) {
        let first = Int(der[offset + 1])
        guard first & 0x80 != 0 else { return (2, first) }
        let count = first & 0x7f
        return (2 + count, der[(offset + 2)..<(offset + 2 + count)].reduce(0) { $0 << 8 | Int($1) })
    }

    /// A long-form length in `bytes` bytes (`0x80 | bytes` then big-endian), leading zeros and all.
    static func longLength(_ length: Int, bytes: Int) -> [UInt8] {
        [0x80 | UInt8(bytes)] + (0..<bytes).reversed().map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
    }
}

extension String {
    /// The n-th X509Certificate's DER changed by `variant`, written as the signer writes base64.
    public func reencodingCertificate(nth n: Int, _ variant: ([UInt8]) -> [UInt8]) -> String? {
        guard let range = base64Range(afterNth: "<ds:X509Certificate>", n),
            let der = Data(base64Encoded: String(self[range]), options: .ignoreUnknownCharacters)
        else { return nil }
        let changed = Data(variant([UInt8](der)))
        return replacingCharacters(
            in: range, with: "\n" + changed.base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n")
    }

    func replacingLast(_ target: String, with replacement: String) -> String? {
        guard let range = range(of: target, options: .backwards) else { return nil }
        return replacingCharacters(in: range, with: replacement)
    }

    func replacingNth(_ target: String, _ n: Int, with replacement: String) -> String? {
        var searchStart = startIndex
        var found: Range<String.Index>?
        for _ in 0..<n {
            guard let range = range(of: target, range: searchStart..<endIndex) else { return nil }
            found = range
            searchStart = range.upperBound
        }
        return found.map { replacingCharacters(in: $0, with: replacement) }
    }

    /// The base64 text right after the n-th `tag`, up to the next `<`.
    public func base64Range(afterNth tag: String, _ n: Int) -> Range<String.Index>? {
        var searchStart = startIndex
        var found: Range<String.Index>?
        for _ in 0..<n {
            guard let range = range(of: tag, range: searchStart..<endIndex) else { return nil }
            found = range
            searchStart = range.upperBound
        }
        guard let start = found?.upperBound, let end = self[start...].firstIndex(of: "<") else { return nil }
        return start..<end
    }

    func changingBase64(afterNth tag: String, _ n: Int) -> String? {
        guard let range = base64Range(afterNth: tag, n) else { return nil }
        var value = Array(self[range])
        guard let index = value.indices.dropFirst(40).first(where: { value[$0].isLetter }) else { return nil }
        value[index] = value[index] == "A" ? "B" : "A"
        return replacingCharacters(in: range, with: String(value))
    }

    func rewrappingNth(_ tag: String, _ n: Int) -> String? {
        guard let range = base64Range(afterNth: tag, n),
            let data = Data(base64Encoded: String(self[range]), options: .ignoreUnknownCharacters)
        else { return nil }
        return replacingCharacters(
            in: range, with: "\n" + data.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed]) + "\n")
    }

    /// The first SignatureValue (the institution's, P-256 r‖s) with s replaced by n − s, wrapped as the signer wraps it.
    public func highS() -> String? {
        guard let range = base64Range(afterNth: "<ds:SignatureValue>", 1),
            let value = Data(base64Encoded: String(self[range]), options: .ignoreUnknownCharacters), value.count == 64
        else { return nil }
        let order: [UInt8] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
        ]
        let s = Array(value[32...])
        var complement = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for index in stride(from: 31, through: 0, by: -1) {
            var difference = Int(order[index]) - Int(s[index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            complement[index] = UInt8(difference)
        }
        let high = Data(Array(value[..<32]) + complement)
        return replacingCharacters(
            in: range, with: "\n" + high.base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n")
    }
}
