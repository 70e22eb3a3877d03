internal import CLibXML2

/// Why an XSD or a document checked against it was refused; every libxml2 message is kept.
public enum XMLSchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The XSD itself does not compile.
    case schemaIsInvalid([XMLDiagnostic])
    /// The document does not match the XSD.
    case documentDoesNotMatchSchema([XMLDiagnostic])

    public var description: String {
        switch self {
        case .schemaIsInvalid(let diagnostics):
            "schema is invalid: " + diagnostics.map(\.description).joined(separator: "; ")
        case .documentDoesNotMatchSchema(let diagnostics):
            "document does not match the schema: " + diagnostics.map(\.description).joined(separator: "; ")
        }
    }
}

/// A compiled XSD. The schema is trusted input (it ships with the templates); external loads are still
/// refused process-wide. Not thread-safe: compile one per task that validates.
public final class XMLSchema {
    private let schema: xmlSchemaPtr
    /// libxml2's memory parser context points into the caller's buffer, so the schema keeps its own copy
    /// for as long as it lives rather than trusting that nothing reads it after compilation.
    private let source: UnsafeMutableBufferPointer<CChar>
    /// One validation context, made once and reused: libxml2 resets it at the start of every validation.
    private let validator: xmlSchemaValidCtxtPtr

    public init(bytes: [UInt8]) throws {
        let source = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(bytes.count, 1))
        bytes.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { _ = source.initialize(fromContentsOf: $0) }
        }
        let collector = LibXMLErrorCollector()
        let compiled: xmlSchemaPtr? = withLibXML(collector) {
            guard let parser = xmlSchemaNewMemParserCtxt(source.baseAddress, Int32(bytes.count)) else { return nil }
            defer { xmlSchemaFreeParserCtxt(parser) }
            xmlSchemaSetParserStructuredErrors(parser, directErrorHandler, Unmanaged.passUnretained(collector).toOpaque())
            return xmlSchemaParse(parser)
        }
        guard let compiled, collector.errors.isEmpty else {
            if let compiled { xmlSchemaFree(compiled) }
            source.deallocate()
            throw XMLSchemaError.schemaIsInvalid(
                collector.errors.isEmpty
                    ? [XMLDiagnostic(level: .fatal, message: "schema did not compile", line: 0, column: 0)]
                    : collector.errors
            )
        }
        guard let validator = xmlSchemaNewValidCtxt(compiled) else {
            xmlSchemaFree(compiled)
            source.deallocate()
            throw XMLSchemaError.schemaIsInvalid([XMLDiagnostic(level: .fatal, message: "out of memory", line: 0, column: 0)])
        }
        self.schema = compiled
        self.source = source
        self.validator = validator
    }

    deinit {
        xmlSchemaFreeValidCtxt(validator)
        xmlSchemaFree(schema)
        source.deallocate()
    }

    /// Throws `XMLSchemaError.documentDoesNotMatchSchema` with every message libxml2 reported.
    public func validate(_ document: XMLDocument) throws {
        try validate(document, collector: LibXMLErrorCollector())
    }

    /// As `validate(_:)`, reporting into `collector`, whose `nodes` then say which element each message is about.
    func validate(_ document: XMLDocument, collector: LibXMLErrorCollector) throws {
        let result: Int32 = withLibXML(collector) {
            xmlSchemaSetValidStructuredErrors(validator, directErrorHandler, Unmanaged.passUnretained(collector).toOpaque())
            defer { xmlSchemaSetValidStructuredErrors(validator, nil, nil) }
            return xmlSchemaValidateDoc(validator, document.pointer)
        }
        guard result == 0, collector.errors.isEmpty else {
            throw XMLSchemaError.documentDoesNotMatchSchema(
                collector.errors.isEmpty
                    ? [XMLDiagnostic(level: .error, message: "validation failed (code \(result))", line: 0, column: 0)]
                    : collector.errors
            )
        }
    }
}
