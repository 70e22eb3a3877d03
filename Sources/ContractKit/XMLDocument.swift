internal import CLibXML2

/// Why a document was refused before or during parsing. Each case is checked in this order.
public enum XMLParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The document is larger than the caller's cap; nothing was parsed.
    case documentExceedsSizeLimit(byteCount: Int, maxBytes: Int)
    /// The bytes are not well-formed UTF-8 (the only encoding accepted); the offset is of the first bad byte.
    case documentIsNotUTF8(byteOffset: Int)
    /// The document holds a NUL byte: libxml2 would stop reading there and ignore what follows.
    case documentHasNulByte(byteOffset: Int)
    /// The document has a DOCTYPE. DTDs are refused outright: they carry external entities (XXE) and
    /// entity-expansion bombs, and signed contracts never need one.
    case documentHasDoctype
    /// libxml2 found the document not well-formed XML (the first error, with its position).
    case documentIsNotWellFormed(XMLDiagnostic)

    public var description: String {
        switch self {
        case .documentExceedsSizeLimit(let byteCount, let maxBytes):
            "document of \(byteCount) bytes exceeds the limit of \(maxBytes) bytes"
        case .documentIsNotUTF8(let byteOffset): "document is not valid UTF-8 (byte offset \(byteOffset))"
        case .documentHasNulByte(let byteOffset): "document holds a NUL byte (byte offset \(byteOffset))"
        case .documentHasDoctype: "document has a DOCTYPE; DTDs and entities are refused"
        case .documentIsNotWellFormed(let diagnostic): "document is not well-formed XML: \(diagnostic)"
        }
    }
}

/// A parsed XML document owned by Swift. Not thread-safe: use one document from one task at a time.
public final class XMLDocument {
    /// 1 MiB: a rendered contract with two signatures is a few tens of kilobytes.
    public static let defaultMaxBytes = 1 << 20

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

    /// Size cap before anything else, UTF-8 only, no NUL byte.
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
