internal import CLibXML2

/// Why canonicalization failed (libxml2 refuses e.g. relative namespace URIs).
public struct CanonicalizationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let diagnostics: [XMLDiagnostic]
    public var description: String {
        "exclusive canonicalization failed: " + diagnostics.map(\.description).joined(separator: "; ")
    }
}

/// Exclusive XML Canonicalization 1.0 without comments, over the whole document or a node subset
/// (`xmlC14NExecute`), the way xmlsec implements the enveloped-signature transform.
enum ExclusiveC14N {
    enum Selection {
        /// Every node.
        case all
        /// The document minus one subtree: the enveloped-signature transform, where the subtree is the
        /// Signature element that contains the transform. The subtree is unlinked for the call (and put back), so
        /// libxml2 walks only the rest.
        case excludingSubtree(xmlNodePtr)
        /// Only one subtree, e.g. SignedInfo, every element of which has a namespace (the parts of a Signature in the
        /// profile, or of the signer's own). Its top is made the document's only child for the call (and put back), so
        /// libxml2 walks the subtree alone rather than the whole contract.
        case onlySubtree(xmlNodePtr)
        /// The same two subsets chosen by a visibility callback libxml2 calls for every node of the document: the
        /// reference the relinked forms are checked against (`C14NSubsetTests`).
        case excludingSubtreeByCallback(xmlNodePtr)
        case onlySubtreeByCallback(xmlNodePtr)
    }

    static func canonicalize(
        _ document: xmlDocPtr,
        selection: Selection,
        inclusivePrefixes: [String] = []
    ) throws -> [UInt8] {
        let collector = LibXMLErrorCollector()
        // The whole document needs no visibility callback, which libxml2 would call for every node; a relinked subset
        // needs none either; the callback forms get the shim's C callbacks, with the subtree's top element as user data.
        let (callback, subtree, relinked): (xmlC14NIsVisibleCallback?, xmlNodePtr?, (node: xmlNodePtr, only: Int32)?) =
            switch selection {
            case .all: (nil, nil, nil)
            case .excludingSubtree(let node): (nil, nil, (node, 0))
            case .onlySubtree(let node): (nil, nil, (node, 1))
            case .excludingSubtreeByCallback(let node): (cx_c14n_excluding_subtree_callback(), node, nil)
            case .onlySubtreeByCallback(let node): (cx_c14n_only_subtree_callback(), node, nil)
            }
        let result: [UInt8]? = withLibXML(collector) {
            guard let output = xmlAllocOutputBuffer(nil) else { return nil }
            defer { xmlOutputBufferClose(output) }
            var prefixes: [UnsafeMutablePointer<xmlChar>?] = inclusivePrefixes.map { xmlStrdup($0) }
            prefixes.append(nil)
            defer { for prefix in prefixes { if let prefix { cx_xmlFree(prefix) } } }
            let written = prefixes.withUnsafeMutableBufferPointer {
                let inclusive = inclusivePrefixes.isEmpty ? nil : $0.baseAddress
                if let relinked {
                    return cx_c14n_relinked(document, relinked.node, relinked.only, inclusive, output)
                }
                return xmlC14NExecute(
                    document,
                    callback,
                    subtree.map { UnsafeMutableRawPointer($0) },
                    Int32(XML_C14N_EXCLUSIVE_1_0.rawValue),
                    inclusive,
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
