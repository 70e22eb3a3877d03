internal import CLibXML2

/// Why canonicalization failed (libxml2 refuses e.g. relative namespace URIs).
public struct CanonicalizationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let diagnostics: [XMLDiagnostic]
    public var description: String {
        "exclusive canonicalization failed: " + diagnostics.map(\.description).joined(separator: "; ")
    }
}

/// Exclusive XML Canonicalization 1.0 without comments, over the whole document or a node subset chosen
/// by a visibility callback (`xmlC14NExecute`), the way xmlsec implements the enveloped-signature transform.
enum ExclusiveC14N {
    enum Selection {
        /// Every node.
        case all
        /// The document minus one subtree: the enveloped-signature transform, where the subtree is the
        /// Signature element that contains the transform.
        case excludingSubtree(xmlNodePtr)
        /// Only one subtree, e.g. SignedInfo.
        case onlySubtree(xmlNodePtr)
    }

    static func canonicalize(
        _ document: xmlDocPtr,
        selection: Selection,
        inclusivePrefixes: [String] = []
    ) throws -> [UInt8] {
        let collector = LibXMLErrorCollector()
        // The whole document needs no visibility callback, which libxml2 would call for every node; a subset gets
        // the shim's C callbacks, with the subtree's top element as their user data.
        let (callback, subtree): (xmlC14NIsVisibleCallback?, xmlNodePtr?) =
            switch selection {
            case .all: (nil, nil)
            case .excludingSubtree(let node): (cx_c14n_excluding_subtree_callback(), node)
            case .onlySubtree(let node): (cx_c14n_only_subtree_callback(), node)
            }
        let result: [UInt8]? = withLibXML(collector) {
            guard let output = xmlAllocOutputBuffer(nil) else { return nil }
            defer { xmlOutputBufferClose(output) }
            var prefixes: [UnsafeMutablePointer<xmlChar>?] = inclusivePrefixes.map { xmlStrdup($0) }
            prefixes.append(nil)
            defer { for prefix in prefixes { if let prefix { cx_xmlFree(prefix) } } }
            let written = prefixes.withUnsafeMutableBufferPointer {
                xmlC14NExecute(
                    document,
                    callback,
                    subtree.map { UnsafeMutableRawPointer($0) },
                    Int32(XML_C14N_EXCLUSIVE_1_0.rawValue),
                    inclusivePrefixes.isEmpty ? nil : $0.baseAddress,
                    0,
                    output
                )
            }
            guard written >= 0, let content = xmlOutputBufferGetContent(output) else { return nil }
            return Array(UnsafeBufferPointer(start: content, count: Int(xmlOutputBufferGetSize(output))))
        }
        guard let result, collector.errors.isEmpty else {
            throw CanonicalizationError(
                diagnostics: collector.errors.isEmpty
                    ? [XMLDiagnostic(level: .error, message: "xmlC14NExecute failed", line: 0, column: 0)]
                    : collector.errors
            )
        }
        return result
    }
}
