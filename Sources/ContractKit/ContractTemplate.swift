internal import CLibXML2

import class Foundation.FileManager
import class Foundation.NSLock
import struct Foundation.URL

/// Why a contract could not be rendered from its template. Field errors name the field path.
public enum ContractRenderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A binding point that is not optional got no value (or an empty one).
    case fieldMissing(String)
    /// A value was given for a field the template has no binding point for (a typo, or the wrong template).
    case fieldUnknown(String)
    /// The value does not fit the field's type in the XSD, or holds characters XML cannot carry.
    case fieldInvalid(field: String, reason: String)
    /// The rendered document does not match the XSD for a reason no single field explains.
    case documentDoesNotMatchSchema([XMLDiagnostic])
    /// The template files are unusable (unreadable, no root attributes, version mismatch…).
    case templateInvalid(String)
    /// No template with this id and version is installed.
    case templateNotFound(id: String, version: Int?)

    public var description: String {
        switch self {
        case .fieldMissing(let field): "contract field \(field) is missing"
        case .fieldUnknown(let field): "contract field \(field) is not in the template"
        case .fieldInvalid(let field, let reason): "contract field \(field) is invalid: \(reason)"
        case .documentDoesNotMatchSchema(let diagnostics):
            "rendered contract does not match the schema: " + diagnostics.map(\.description).joined(separator: "; ")
        case .templateInvalid(let reason): "contract template is invalid: \(reason)"
        case .templateNotFound(let id, let version): "no contract template \(id)\(version.map { " v\($0)" } ?? "")"
        }
    }
}

/// One version of a contract template: the XML with its binding points and the XSD a rendering must satisfy.
/// Templates are trusted files shipped in `contract-templates/<id>/v<version>/`, never changed once published:
/// a contract records the template's id, version and SHA-256 so it can always be re-rendered and re-checked.
public struct ContractTemplate: Sendable, Hashable {
    /// The namespace of contract documents.
    public static let namespace = "urn:tuitionguard:contract:1"

    public let id: String
    public let version: Int
    public let document: [UInt8]
    public let schema: [UInt8]
    /// Lowercase hex SHA-256 of `contract.xml` followed by `contract.xsd`, byte for byte
    /// (`cat contract.xml contract.xsd | sha256sum`).
    public let sha256: String
    /// The binding points' field paths in document order (a field bound twice appears once).
    public let fields: [String]

    /// Reads the id and version from the template's root attributes and the binding points from its elements.
    public init(document: [UInt8], schema: [UInt8]) throws {
        let parsed = try XMLDocument.parse(document)
        guard let root = parsed.rootElement, XMLTree.isElement(root, "contract", in: Self.namespace) else {
            throw ContractRenderError.templateInvalid("the root must be contract in \(Self.namespace)")
        }
        guard let id = XMLTree.attribute(root, "templateId"), !id.isEmpty,
            let version = XMLTree.attribute(root, "templateVersion").flatMap(Int.init), version > 0
        else {
            throw ContractRenderError.templateInvalid("the root needs templateId and a positive templateVersion")
        }
        _ = try XMLSchema(bytes: schema)
        self.id = id
        self.version = version
        self.document = document
        self.schema = schema
        self.sha256 = hex(try OpenSSL.sha256(document + schema))
        var seen: Set<String> = []
        self.fields = ContractRenderer.bindingPoints(root).map(\.field).filter { seen.insert($0).inserted }
    }

    /// Loads `contract.xml` and `contract.xsd` from one version's directory.
    public static func load(directory: URL) throws -> ContractTemplate {
        func read(_ name: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else {
                throw ContractRenderError.templateInvalid("cannot read \(directory.path)/\(name)")
            }
            return [UInt8](data)
        }
        return try ContractTemplate(document: try read("contract.xml"), schema: try read("contract.xsd"))
    }
}

/// Fills a template's binding points and validates the result. Compiles the XSD once; not thread-safe
/// (libxml2 schemas are not), so use one renderer per task, or a `TemplateLibrary` that lends them out.
public final class ContractRenderer {
    public let template: ContractTemplate
    private let schema: XMLSchema
    /// The template parsed once; each rendering starts from a deep copy of it.
    private let parsed: XMLDocument

    public init(template: ContractTemplate) throws {
        self.template = template
        self.schema = try XMLSchema(bytes: template.schema)
        self.parsed = try XMLDocument.parse(template.document)
    }

    /// The rendered, validated contract as a document (for signing in memory).
    ///
    /// Every element of the template carrying a `field` attribute is a binding point: its value goes in as
    /// a text node (libxml2 escapes it; nothing is concatenated into markup), then the `field` and `optional`
    /// attributes are removed. An optional binding point without a value is removed whole. Comments and
    /// processing instructions are dropped, since no signature covers them. The root gets `templateSha256`.
    public func renderDocument(_ values: [String: String]) throws -> XMLDocument {
        guard let copy = xmlCopyDoc(parsed.pointer, 1) else {
            throw ContractRenderError.templateInvalid("libxml2 could not copy the template")
        }
        let document = XMLDocument(owning: copy)
        guard let root = document.rootElement else { preconditionFailure("parsed document without a root element") }
        Self.removeTopLevelCommentsAndInstructions(of: document)
        Self.removeUnsignedNodes(root)
        let points = Self.bindingPoints(root)
        let known = Set(points.map(\.field))
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw ContractRenderError.fieldUnknown(unknown)
        }
        var fieldOfNode: [UnsafeMutableRawPointer: String] = [:]
        for point in points {
            xmlUnsetProp(point.element, "field")
            xmlUnsetProp(point.element, "optional")
            guard let value = values[point.field], !value.isEmpty else {
                guard point.optional else { throw ContractRenderError.fieldMissing(point.field) }
                Self.remove(point.element)
                continue
            }
            try Self.bind(value, to: point, in: document)
            fieldOfNode[UnsafeMutableRawPointer(point.element)] = point.field
        }
        xmlSetProp(root, "templateSha256", template.sha256)
        try validate(document, fieldOfNode: fieldOfNode)
        return document
    }

    private static func removeTopLevelCommentsAndInstructions(of document: XMLDocument) {
        var topLevel = document.pointer.pointee.children
        while let node = topLevel {
            topLevel = node.pointee.next
            if node.pointee.type == XML_COMMENT_NODE || node.pointee.type == XML_PI_NODE {
                xmlUnlinkNode(node)
                xmlFreeNode(node)
            }
        }
    }

    /// Puts a value into its binding point as a text node, after refusing control and bidirectional characters.
    /// A coded binding point (`labels="offline=线下;online=线上"`) reads as its Chinese label; the code stays in the
    /// `code` attribute for programs.
    private static func bind(_ value: String, to point: BindingPoint, in document: XMLDocument) throws {
        try checkCharacters(of: value, field: point.field)
        var shown = value
        if let labels = XMLTree.attribute(point.element, "labels") {
            xmlUnsetProp(point.element, "labels")
            guard let label = Self.label(of: value, in: labels) else {
                throw ContractRenderError.fieldInvalid(field: point.field, reason: "'\(value)' is not one of the codes \(labels)")
            }
            xmlSetProp(point.element, "code", value)
            shown = label
        }
        guard let text = xmlNewDocText(document.pointer, shown) else {
            throw ContractRenderError.templateInvalid("libxml2 could not make a text node")
        }
        xmlAddChild(point.element, text)
    }

    private static func checkCharacters(of value: String, field: String) throws {
        if let bad = value.unicodeScalars.first(where: {
            $0.value < 0x20 || $0.value == 0x7f || $0.value >= 0xfffe && $0.value <= 0xffff
        }) {
            throw ContractRenderError.fieldInvalid(
                field: field, reason: "control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
        // Bidirectional embeddings, overrides and isolates make a reader see text in another order than the
        // one signed (e.g. an amount's digits reversed).
        if let bad = value.unicodeScalars.first(where: isBidirectionalControl) {
            throw ContractRenderError.fieldInvalid(
                field: field, reason: "bidirectional control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
    }

    /// Schema validation; an error on a bound node names its field.
    private func validate(_ document: XMLDocument, fieldOfNode: [UnsafeMutableRawPointer: String]) throws {
        let collector = LibXMLErrorCollector()
        do {
            try schema.validate(document, collector: collector)
        } catch {
            for (diagnostic, node) in zip(collector.diagnostics, collector.nodes) where diagnostic.level != .warning {
                if let node, let field = fieldOfNode[node] {
                    throw ContractRenderError.fieldInvalid(field: field, reason: diagnostic.message)
                }
            }
            throw ContractRenderError.documentDoesNotMatchSchema(collector.errors)
        }
    }

    /// The rendered, validated contract as UTF-8 bytes.
    public func render(_ values: [String: String]) throws -> [UInt8] {
        try renderDocument(values).serialized()
    }

    struct BindingPoint {
        let element: xmlNodePtr
        let field: String
        let optional: Bool
    }

    static func bindingPoints(_ root: xmlNodePtr) -> [BindingPoint] {
        var points: [BindingPoint] = []
        func walk(_ node: xmlNodePtr) {
            if let field = XMLTree.attribute(node, "field") {
                points.append(BindingPoint(element: node, field: field, optional: XMLTree.attribute(node, "optional") == "true"))
            }
            for child in XMLTree.elementChildren(of: node) { walk(child) }
        }
        walk(root)
        return points
    }

    /// Removes comments and processing instructions under `node`.
    private static func removeUnsignedNodes(_ node: xmlNodePtr) {
        var cursor = node.pointee.children
        while let child = cursor {
            cursor = child.pointee.next
            switch child.pointee.type {
            case XML_COMMENT_NODE, XML_PI_NODE:
                xmlUnlinkNode(child)
                xmlFreeNode(child)
            case XML_ELEMENT_NODE: removeUnsignedNodes(child)
            default: break
            }
        }
    }

    /// Removes an element and the indentation before it, so the rendered text has no blank lines.
    /// The label of `code` in a `code=label;…` list.
    static func label(of code: String, in labels: String) -> String? {
        for pair in labels.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == code { return String(parts[1]) }
        }
        return nil
    }

    /// U+202A–U+202E (embeddings, overrides), U+2066–U+2069 (isolates), U+200E, U+200F, U+061C (marks).
    static func isBidirectionalControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: true
        default: false
        }
    }

    private static func remove(_ element: xmlNodePtr) {
        if let previous = element.pointee.prev, previous.pointee.type == XML_TEXT_NODE,
            XMLTree.textContent(previous).allSatisfy(\.isWhitespace)
        {
            xmlUnlinkNode(previous)
            xmlFreeNode(previous)
        }
        xmlUnlinkNode(element)
        xmlFreeNode(element)
    }
}

/// The installed templates, loaded once, lending out one compiled renderer per concurrent user.
public final class TemplateLibrary: @unchecked Sendable {
    public let templates: [ContractTemplate]
    private let lock = NSLock()
    private var idle: [String: [ContractRenderer]] = [:]

    public init(templates: [ContractTemplate]) {
        self.templates = templates.sorted { ($0.id, $0.version) < ($1.id, $1.version) }
    }

    /// Every `<root>/<name>/v<N>/` that holds a `contract.xml`.
    public static func load(root: URL) throws -> TemplateLibrary {
        let manager = FileManager.default
        var templates: [ContractTemplate] = []
        let names = (try? manager.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names.sorted() {
            let folder = root.appendingPathComponent(name)
            for version in ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? []).sorted() where version.hasPrefix("v") {
                let directory = folder.appendingPathComponent(version)
                guard manager.fileExists(atPath: directory.appendingPathComponent("contract.xml").path) else { continue }
                let template = try ContractTemplate.load(directory: directory)
                guard "v\(template.version)" == version else {
                    throw ContractRenderError.templateInvalid("\(directory.path) holds templateVersion \(template.version)")
                }
                templates.append(template)
            }
        }
        return TemplateLibrary(templates: templates)
    }

    /// The given version, or the latest version of `id` when `version` is nil.
    public func template(id: String, version: Int? = nil) throws -> ContractTemplate {
        let candidates = templates.filter { $0.id == id && (version == nil || $0.version == version) }
        guard let found = candidates.last else { throw ContractRenderError.templateNotFound(id: id, version: version) }
        return found
    }

    /// Runs `body` with a renderer of `template` that no one else uses meanwhile.
    public func withRenderer<T>(_ template: ContractTemplate, _ body: (ContractRenderer) throws -> T) throws -> T {
        let key = "\(template.id)/\(template.version)"
        lock.lock()
        let lent = idle[key]?.popLast()
        lock.unlock()
        let renderer = try lent ?? ContractRenderer(template: template)
        defer {
            lock.lock()
            idle[key, default: []].append(renderer)
            lock.unlock()
        }
        return try body(renderer)
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
