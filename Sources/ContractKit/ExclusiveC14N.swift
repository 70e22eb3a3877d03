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

    /// Handed to the C callback as its user data.
    private final class Visibility {
        let selection: Selection
        init(_ selection: Selection) { self.selection = selection }
    }

    private static let isVisible: xmlC14NIsVisibleCallback = { userData, node, parent in
        guard let userData else { return 1 }
        let visibility = Unmanaged<Visibility>.fromOpaque(userData).takeUnretainedValue()
        // A namespace node is an xmlNs, not an xmlNode: only its `type` field lines up, so use the parent
        // element libxml2 passes alongside it.
        let current: xmlNodePtr? =
            node.map { $0.pointee.type == XML_NAMESPACE_DECL ? parent : $0 } ?? parent
        func isInside(_ subtree: xmlNodePtr) -> Bool {
            var cursor = current
            while let node = cursor {
                if node == subtree { return true }
                cursor = node.pointee.parent
            }
            return false
        }
        switch visibility.selection {
        case .all: return 1
        case .excludingSubtree(let subtree): return isInside(subtree) ? 0 : 1
        case .onlySubtree(let subtree): return isInside(subtree) ? 1 : 0
        }
    }

    static func canonicalize(
        _ document: xmlDocPtr,
        selection: Selection,
        inclusivePrefixes: [String] = []
    ) throws -> [UInt8] {
        let collector = LibXMLErrorCollector()
        let visibility = Visibility(selection)
        let result: [UInt8]? = withLibXML(collector) {
            guard let output = xmlAllocOutputBuffer(nil) else { return nil }
            defer { xmlOutputBufferClose(output) }
            var prefixes: [UnsafeMutablePointer<xmlChar>?] = inclusivePrefixes.map { xmlStrdup($0) }
            prefixes.append(nil)
            defer { for prefix in prefixes { if let prefix { cx_xmlFree(prefix) } } }
            let written = withExtendedLifetime(visibility) {
                prefixes.withUnsafeMutableBufferPointer {
                    // The whole document needs no visibility callback, which libxml2 would call for every node.
                    let all = if case .all = selection { true } else { false }
                    return xmlC14NExecute(
                        document,
                        all ? nil : isVisible,
                        all ? nil : Unmanaged.passUnretained(visibility).toOpaque(),
                        Int32(XML_C14N_EXCLUSIVE_1_0.rawValue),
                        inclusivePrefixes.isEmpty ? nil : $0.baseAddress,
                        0,
                        output
                    )
                }
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
