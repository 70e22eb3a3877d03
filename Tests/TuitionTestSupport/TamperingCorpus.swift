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
        add("a second contract inside the countersignature",
            text.replacingLast(countersignatureEnd, with: secondContract + countersignatureEnd), xmlsec1Accepts: false)
        add("free text inside the countersignature",
            text.replacingLast(countersignatureEnd, with: "总价 1 元" + countersignatureEnd), xmlsec1Accepts: true)
        add("an extra KeyInfo child in the countersignature",
            text.replacingNth("<ds:KeyInfo>", 2, with: "<ds:KeyInfo><ds:KeyName>总价 1 元</ds:KeyName>"), xmlsec1Accepts: true)
        add("an attribute on the countersignature's KeyInfo", text.replacingNth("<ds:KeyInfo>", 2, with: #"<ds:KeyInfo Id="k">"#))
        add("an element in the countersignature's unsigned properties",
            text.replacingNth("<xades:UnsignedSignatureProperties>", 2,
                with: "<xades:UnsignedSignatureProperties>" + secondContract), xmlsec1Accepts: true)
        add("content beside the countersignature in its Object",
            text.replacingLast(countersignatureEnd, with: "</ds:Signature>" + secondContract + "</ds:Object></ds:Signature></tg:contract>"),
            xmlsec1Accepts: false)
        add("a second Object in the countersignature",
            text.replacingLast(countersignatureEnd, with: "<ds:Object>" + secondContract + "</ds:Object>" + countersignatureEnd),
            xmlsec1Accepts: true)
        add("a changed countersignature timestamp", text.changingBase64(afterNth: "<xades:EncapsulatedTimeStamp>", 2), xmlsec1Accepts: true)
        add("a changed licence number in the signed content", text.replacingNth("</tg:licenceNumber>", 1, with: "0</tg:licenceNumber>"),
            xmlsec1Accepts: false)

        // Bytes the parser would not see, or C14N would drop.
        add("a NUL byte and a second contract after the root", text + "\u{0}" + secondContract)
        add("an element after the root", text + secondContract)
        add("a comment inside the signed content", text.replacingNth("<tg:partyA>", 1, with: "<tg:partyA><!-- 总价 1 元 -->"),
            xmlsec1Accepts: true)
        add("a comment after the root", text + "<!-- 总价 1 元 -->", xmlsec1Accepts: true)
        add("a processing instruction", text.replacingNth("<tg:partyA>", 1, with: "<?note 总价 1 元?><tg:partyA>"), xmlsec1Accepts: false)

        // Other encodings of the same values.
        // (The countersignature covers the institution's value, so xmlsec1 refuses the second signature here; it accepts
        // the high-S first signature itself.)
        if let high = text.highS() { add("a high-S ECDSA institution signature", high, xmlsec1Accepts: false) }
        add("a re-wrapped certificate", text.rewrappingNth("<ds:X509Certificate>", 2), xmlsec1Accepts: true)
        return cases
    }
}

extension String {
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
        guard let range = base64Range(afterNth: tag, n), let data = Data(base64Encoded: String(self[range]), options: .ignoreUnknownCharacters)
        else { return nil }
        return replacingCharacters(in: range, with: "\n" + data.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed]) + "\n")
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
