internal import CLibXML2

/// Small read helpers over libxml2's tree, used by the signer and the verifier.
enum XMLTree {
    static func elementChildren(of node: xmlNodePtr) -> [xmlNodePtr] {
        var children: [xmlNodePtr] = []
        var cursor = node.pointee.children
        while let child = cursor {
            if child.pointee.type == XML_ELEMENT_NODE { children.append(child) }
            cursor = child.pointee.next
        }
        return children
    }

    /// True when `node` is an element with local name `name` in namespace `namespace`.
    static func isElement(_ node: xmlNodePtr, _ name: String, in namespace: String) -> Bool {
        guard node.pointee.type == XML_ELEMENT_NODE, let ns = node.pointee.ns, let href = ns.pointee.href,
            let localName = node.pointee.name
        else { return false }
        // Compared in place: the signer and the verifier look at every element of the contract this way.
        return xmlStrEqual(localName, name) == 1 && xmlStrEqual(href, namespace) == 1
    }

    /// All elements named `name` in `namespace`, in document order.
    static func descendants(of node: xmlNodePtr, named name: String, in namespace: String) -> [xmlNodePtr] {
        var found: [xmlNodePtr] = []
        func walk(_ node: xmlNodePtr) {
            if isElement(node, name, in: namespace) { found.append(node) }
            for child in elementChildren(of: node) { walk(child) }
        }
        walk(node)
        return found
    }

    /// An attribute without namespace, or nil when absent.
    static func attribute(_ node: xmlNodePtr, _ name: String) -> String? {
        guard let value = xmlGetNoNsProp(node, name) else { return nil }
        defer { cx_xmlFree(value) }
        return String(cString: value)
    }

    /// Names of the element's attributes (namespace declarations are not attributes in libxml2).
    static func attributeNames(_ node: xmlNodePtr) -> [String] {
        var names: [String] = []
        var cursor = node.pointee.properties
        while let attribute = cursor {
            names.append(attribute.pointee.name.map { String(cString: $0) } ?? "")
            cursor = attribute.pointee.next
        }
        return names
    }

    /// True when every namespace declared on the element is the one the element itself uses.
    static func declaresOnlyItsOwnNamespace(_ node: xmlNodePtr) -> Bool {
        var cursor = node.pointee.nsDef
        while let declaration = cursor {
            guard let own = node.pointee.ns, declaration == own else { return false }
            cursor = declaration.pointee.next
        }
        return true
    }

    static func textContent(_ node: xmlNodePtr) -> String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { cx_xmlFree(content) }
        return String(cString: content)
    }

    /// True for a text node of XML whitespace only.
    static func isWhitespace(_ node: xmlNodePtr) -> Bool {
        guard let content = node.pointee.content else { return true }
        var cursor = content
        while cursor.pointee != 0 {
            switch cursor.pointee {
            case 0x20, 0x09, 0x0a, 0x0d: cursor += 1
            default: return false
            }
        }
        return true
    }

    static func localName(_ node: xmlNodePtr) -> String { node.pointee.name.map { String(cString: $0) } ?? "" }

    /// The first comment or processing instruction in the document, at any depth, before or after the root.
    static func hasCommentOrProcessingInstruction(_ document: xmlDocPtr) -> Bool {
        func walk(_ first: xmlNodePtr?) -> Bool {
            var cursor = first
            while let node = cursor {
                switch node.pointee.type {
                case XML_COMMENT_NODE, XML_PI_NODE: return true
                case XML_ELEMENT_NODE: if walk(node.pointee.children) { return true }
                default: break
                }
                cursor = node.pointee.next
            }
            return false
        }
        return walk(document.pointee.children)
    }

    static func hasElementOrNonWhitespaceText(_ node: xmlNodePtr) -> Bool {
        var cursor = node.pointee.children
        while let child = cursor {
            switch child.pointee.type {
            case XML_ELEMENT_NODE: return true
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if textContent(child).contains(where: { !$0.isWhitespace }) { return true }
            default: break
            }
            cursor = child.pointee.next
        }
        return false
    }
}
