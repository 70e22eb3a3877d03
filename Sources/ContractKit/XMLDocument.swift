internal import CLibXML2

/// Why a document was refused before or during parsing. Each case is checked in this order.
public enum XMLParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The document is larger than the caller's cap; nothing was parsed.
    case documentExceedsSizeLimit(byteCount: Int, maxBytes: Int)
    /// The bytes are not well-formed UTF-8 (the only encoding accepted); the offset is of the first bad byte.
    case documentIsNotUTF8(byteOffset: Int)
    /// The document holds a NUL byte: libxml2 would stop reading there and ignore what follows.
    case documentHasNulByte(byteOffset: Int)
    /// The XML declaration names another version than 1.0 or another encoding than UTF-8. The bytes are read as UTF-8
    /// whatever it says, so every other reader (xmlsec1, a browser) would read another document.
    case documentDeclarationNotAccepted(String)
    /// The document has a DOCTYPE. DTDs are refused outright: they carry external entities (XXE) and
    /// entity-expansion bombs, and signed contracts never need one.
    case documentHasDoctype
    /// libxml2 found the document not well-formed XML (the first error, with its position).
    case documentIsNotWellFormed(XMLDiagnostic)
    /// A start tag (starting on this line) holds more attributes and namespace declarations than any contract needs; nothing was
    /// parsed. libxml2's parser and C14N take time quadratic in their number on one element.
    case documentExceedsAttributeLimit(line: Int, maxAttributes: Int)
    /// The document has more elements than any contract needs; nothing was parsed.
    case documentExceedsElementLimit(maxElements: Int)

    public var description: String {
        switch self {
        case .documentExceedsSizeLimit(let byteCount, let maxBytes):
            "document of \(byteCount) bytes exceeds the limit of \(maxBytes) bytes"
        case .documentIsNotUTF8(let byteOffset): "document is not valid UTF-8 (byte offset \(byteOffset))"
        case .documentHasNulByte(let byteOffset): "document holds a NUL byte (byte offset \(byteOffset))"
        case .documentDeclarationNotAccepted(let declared):
            "document declares \(declared); only XML 1.0 in UTF-8 is accepted"
        case .documentHasDoctype: "document has a DOCTYPE; DTDs and entities are refused"
        case .documentIsNotWellFormed(let diagnostic): "document is not well-formed XML: \(diagnostic)"
        case .documentExceedsAttributeLimit(let line, let maxAttributes):
            "an element on line \(line) has more than \(maxAttributes) attributes and namespace declarations"
        case .documentExceedsElementLimit(let maxElements): "document has more than \(maxElements) elements"
        }
    }
}

/// A parsed XML document owned by Swift. Not thread-safe: use one document from one task at a time.
public final class XMLDocument {
    /// 1 MiB: a rendered contract with two signatures is a few tens of kilobytes.
    public static let defaultMaxBytes = 1 << 20
    /// Attributes and namespace declarations on one element: a contract's root has four, a Reference two.
    public static let maxAttributesPerElement = 64
    /// Elements in a document: a contract with both signatures has about 140, its template's XSD about 200.
    public static let maxElements = 4_096

    let pointer: xmlDocPtr

    init(owning pointer: xmlDocPtr) {
        self.pointer = pointer
    }

    deinit {
        xmlFreeDoc(pointer)
    }

    /// Parses untrusted bytes with the hardened profile: size cap before anything else, UTF-8 only,
    /// no DOCTYPE, no network, no entity substitution, libxml2's default limits (no `XML_PARSE_HUGE`).
    /// libxml2's messages come back in the thrown error, never on stderr.
    public static func parse(_ bytes: [UInt8], maxBytes: Int = defaultMaxBytes) throws -> XMLDocument {
        try checkBytes(bytes, maxBytes: maxBytes)
        let collector = LibXMLErrorCollector()
        return try withLibXML(collector) {
            guard let context = xmlNewParserCtxt() else {
                throw XMLParseError.documentIsNotWellFormed(
                    XMLDiagnostic(level: .fatal, message: "out of memory", line: 0, column: 0)
                )
            }
            defer { xmlFreeParserCtxt(context) }
            harden(context, reportingTo: collector)
            let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_BIG_LINES.rawValue)
            let document = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    xmlCtxtReadMemory(context, $0.baseAddress, Int32($0.count), nil, "UTF-8", options)
                }
            }
            return try accepted(document, from: context, collector: collector)
        }
    }

    /// Size cap before anything else, UTF-8 only, no NUL byte, and the attribute and element limits.
    private static func checkBytes(_ bytes: [UInt8], maxBytes: Int) throws {
        guard bytes.count <= maxBytes, bytes.count <= Int(Int32.max) else {
            throw XMLParseError.documentExceedsSizeLimit(byteCount: bytes.count, maxBytes: maxBytes)
        }
        if let offset = firstInvalidUTF8Offset(bytes) {
            throw XMLParseError.documentIsNotUTF8(byteOffset: offset)
        }
        if let offset = bytes.firstIndex(of: 0) {
            throw XMLParseError.documentHasNulByte(byteOffset: offset)
        }
        try checkDeclaration(bytes)
        try checkMarkupCounts(bytes)
    }

    /// The XML declaration, when there is one (after an optional byte-order mark), must say version 1.0 and, if it
    /// names an encoding, UTF-8: the parser is told the bytes are UTF-8 and ignores what the declaration says.
    private static func checkDeclaration(_ bytes: [UInt8]) throws {
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        let opening = Array("<?xml".utf8)
        guard bytes[start...].starts(with: opening), bytes.count > start + opening.count,
            [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start + opening.count])
        else { return }
        // The declaration ends at the first `?` (none may appear inside it). XML allows any whitespace in it, which
        // could push the encoding past a short look; a declaration longer than any real one is refused outright.
        let rest = bytes[(start + opening.count)...].prefix(Self.maxDeclarationBytes)
        guard let end = rest.firstIndex(of: UInt8(ascii: "?")) else {
            // A short document whose declaration never ends is not well-formed: libxml2 says so, with the position.
            guard rest.count == Self.maxDeclarationBytes else { return }
            throw XMLParseError.documentDeclarationNotAccepted("an XML declaration longer than \(Self.maxDeclarationBytes) bytes")
        }
        let declaration = String(decoding: rest[..<end], as: UTF8.self)
        let version = pseudoAttribute("version", in: declaration)
        let encoding = pseudoAttribute("encoding", in: declaration)
        guard version == "1.0", encoding.map({ $0.uppercased() == "UTF-8" }) ?? true else {
            throw XMLParseError.documentDeclarationNotAccepted(
                "version \(version ?? "?")" + (encoding.map { ", encoding \($0)" } ?? ""))
        }
    }

    static let maxDeclarationBytes = 1_024

    /// The value of `name="…"` or `name='…'` in an XML declaration's text (the pseudo-attributes are ASCII).
    private static func pseudoAttribute(_ name: String, in declaration: String) -> String? {
        var rest = Substring(declaration)
        while let found = rest.range(of: name) {
            let before = rest[..<found.lowerBound].last
            rest = rest[found.upperBound...].drop { $0.isWhitespace }
            guard before.map(\.isWhitespace) ?? true, rest.first == "=" else { continue }
            rest = rest.dropFirst().drop { $0.isWhitespace }
            guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
            return String(rest.dropFirst().prefix { $0 != quote })
        }
        return nil
    }

    /// Refuses, before libxml2 reads them, documents with more than `maxAttributesPerElement` attributes and namespace
    /// declarations on an element or more than `maxElements` elements. libxml2 checks a start tag's attributes for
    /// duplicates pair by pair and appends each to a list it walks, and exclusive C14N sorts them by insertion: one
    /// element with thousands of attributes costs a tenth of a second per 64 KiB, in parsing alone.
    ///
    /// Counted on the bytes, so the parser never sees such a document: every attribute or declaration of a start tag
    /// has its `=` outside quotes before the tag's `>`, and libxml2 ends a start tag at a `<` (never allowed in an
    /// attribute value), so the `=` counted from each `<` to the next unquoted `>` bound what libxml2 reads there.
    /// Likewise every element starts at a `<` followed by a name. Comments, CDATA and processing instructions can only
    /// add to the counts, and a contract has none.
    private static func checkMarkupCounts(_ bytes: [UInt8]) throws {
        let (open, close, equals, newline) = (UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "="), UInt8(ascii: "\n"))
        let notElements: Set<UInt8> = [UInt8(ascii: "/"), UInt8(ascii: "!"), UInt8(ascii: "?")]
        try bytes.withUnsafeBufferPointer { buffer in
            var (elements, attributes, line, tagLine) = (0, 0, 1, 1)
            var inTag = false
            var quote: UInt8? = nil
            for (offset, byte) in buffer.enumerated() {
                if byte == newline { line += 1 }
                if byte == open {
                    (inTag, quote, attributes, tagLine) = (true, nil, 0, line)
                    if offset + 1 < buffer.count, !notElements.contains(buffer[offset + 1]) { elements += 1 }
                    if elements > maxElements { throw XMLParseError.documentExceedsElementLimit(maxElements: maxElements) }
                } else if !inTag {
                    continue
                } else if let closing = quote {
                    if byte == closing { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == equals {
                    attributes += 1
                    if attributes > maxAttributesPerElement {
                        throw XMLParseError.documentExceedsAttributeLimit(line: tagLine, maxAttributes: maxAttributesPerElement)
                    }
                } else if byte == close {
                    inTag = false
                }
            }
        }
    }

    /// libxml2's messages go to `collector`, and the parser stops at a DOCTYPE itself, before it reads a single
    /// declaration of its subset.
    private static func harden(_ context: xmlParserCtxtPtr, reportingTo collector: LibXMLErrorCollector) {
        context.pointee._private = Unmanaged.passUnretained(collector).toOpaque()
        context.pointee.sax.pointee.serror = collectFromParserContext
        context.pointee.sax.pointee.internalSubset = { userData, _, _, _ in
            guard let userData else { return }
            let context = userData.assumingMemoryBound(to: xmlParserCtxt.self)
            if let state = context.pointee._private {
                Unmanaged<LibXMLErrorCollector>.fromOpaque(state).takeUnretainedValue().doctypeSeen = true
            }
            xmlStopParser(context)
        }
    }

    /// The parsed tree, or (freed) a refusal: a DOCTYPE seen or present, not (namespace-)well-formed, or no root.
    private static func accepted(
        _ document: xmlDocPtr?, from context: xmlParserCtxtPtr, collector: LibXMLErrorCollector
    ) throws -> XMLDocument {
        if collector.doctypeSeen {
            if let document { xmlFreeDoc(document) }
            throw XMLParseError.documentHasDoctype
        }
        // A namespace error (an undeclared prefix) leaves `wellFormed` set; refuse it all the same, since
        // signature elements are recognised by their namespace.
        guard let document, context.pointee.wellFormed != 0, context.pointee.nsWellFormed != 0 else {
            if let document { xmlFreeDoc(document) }
            throw XMLParseError.documentIsNotWellFormed(
                collector.errors.first
                    ?? XMLDiagnostic(level: .fatal, message: "document is not well-formed", line: 0, column: 0)
            )
        }
        // Pair assertion: whatever path libxml2 took, no DTD may have reached the tree.
        guard document.pointee.intSubset == nil, document.pointee.extSubset == nil else {
            xmlFreeDoc(document)
            throw XMLParseError.documentHasDoctype
        }
        guard xmlDocGetRootElement(document) != nil else {
            xmlFreeDoc(document)
            throw XMLParseError.documentIsNotWellFormed(
                XMLDiagnostic(level: .fatal, message: "document has no root element", line: 0, column: 0)
            )
        }
        return XMLDocument(owning: document)
    }

    /// The document as UTF-8 bytes with an XML declaration, exactly as libxml2 serializes the tree.
    public func serialized() -> [UInt8] {
        withLibXML(LibXMLErrorCollector()) {
            var memory: UnsafeMutablePointer<xmlChar>? = nil
            var size: Int32 = 0
            xmlDocDumpMemoryEnc(pointer, &memory, &size, "UTF-8")
            guard let memory else { return [] }
            defer { cx_xmlFree(memory) }
            return Array(UnsafeBufferPointer(start: memory, count: Int(size)))
        }
    }

    /// Exclusive XML Canonicalization 1.0 (without comments) of the whole document.
    public func exclusiveCanonicalization() throws -> [UInt8] {
        try ExclusiveC14N.canonicalize(pointer, selection: .all)
    }

    /// Validates against an XSD given as bytes. Compile an `XMLSchema` once instead when validating many.
    public func validate(againstSchema schemaBytes: [UInt8]) throws {
        try XMLSchema(bytes: schemaBytes).validate(self)
    }

    var rootElement: xmlNodePtr? { xmlDocGetRootElement(pointer) }
}

/// Offset of the first byte that does not belong to a well-formed UTF-8 scalar, or nil if all are fine.
func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
    if String(validating: bytes, as: UTF8.self) != nil { return nil }
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    var offset = 0
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let scalar): offset += scalar.count
        case .error: return offset
        case .emptyInput: return nil
        }
    }
}
