internal import CLibXML2

/// One message libxml2 reported (a parser, schema or canonicalization error), with its position.
public struct XMLDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Level: String, Sendable, Hashable {
        case warning, error, fatal
    }

    public let level: Level
    public let message: String
    /// 1-based; 0 when libxml2 did not know the position.
    public let line: Int
    /// 1-based; 0 when libxml2 did not know the position.
    public let column: Int

    public init(level: Level, message: String, line: Int, column: Int) {
        self.level = level
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Collects what libxml2 reports during one operation; handed to libxml2 as an opaque pointer.
final class LibXMLErrorCollector {
    var diagnostics: [XMLDiagnostic] = []
    /// The tree node each diagnostic is about (schema validation sets it), parallel to `diagnostics`.
    var nodes: [UnsafeMutableRawPointer?] = []
    var doctypeSeen = false

    func append(_ error: UnsafePointer<xmlError>) {
        let level: XMLDiagnostic.Level =
            switch error.pointee.level {
            case XML_ERR_WARNING: .warning
            case XML_ERR_FATAL: .fatal
            default: .error
            }
        var message = error.pointee.message.map { String(cString: $0) } ?? "libxml2 error \(error.pointee.code)"
        while message.last?.isNewline == true { message.removeLast() }
        // Hostile input can make libxml2 report the same problem endlessly; the first few are enough.
        guard diagnostics.count < 20 else { return }
        diagnostics.append(
            XMLDiagnostic(level: level, message: message, line: Int(error.pointee.line), column: Int(error.pointee.int2))
        )
        nodes.append(error.pointee.node)
    }

    var errors: [XMLDiagnostic] { diagnostics.filter { $0.level != .warning } }
}

/// Structured handler for calls without a parser context: the user data is the collector itself.
private let collectDirectly: xmlStructuredErrorFunc = { userData, error in
    guard let userData, let error else { return }
    Unmanaged<LibXMLErrorCollector>.fromOpaque(userData).takeUnretainedValue().append(error)
}

/// Structured handler installed on a parser context: libxml2 passes the context, whose `_private`
/// holds the collector.
let collectFromParserContext: xmlStructuredErrorFunc = { userData, error in
    guard let userData, let error else { return }
    let context = userData.assumingMemoryBound(to: xmlParserCtxt.self)
    guard let state = context.pointee._private else { return }
    Unmanaged<LibXMLErrorCollector>.fromOpaque(state).takeUnretainedValue().append(error)
}

/// A document that names an external resource must never make libxml2 fetch it: every load is refused.
private let refuseExternalEntity: xmlExternalEntityLoader = { _, _, _ in nil }

private let libXMLInitialized: Void = {
    xmlInitParser()
    xmlSetExternalEntityLoader(refuseExternalEntity)
}()

/// Runs `body` with libxml2's per-thread error handlers pointed at `collector`, then restores them.
/// libxml2 calls without a context of their own (C14N, tree building, schema internals) report through
/// these handlers, which print to stderr by default.
func withLibXML<T>(_ collector: LibXMLErrorCollector, _ body: () throws -> T) rethrows -> T {
    _ = libXMLInitialized
    let structured = cx_structuredErrorFunc()
    let structuredContext = cx_structuredErrorContext()
    let generic = cx_genericErrorFunc()
    let genericContext = cx_genericErrorContext()
    xmlSetStructuredErrorFunc(Unmanaged.passUnretained(collector).toOpaque(), collectDirectly)
    cx_dropGenericErrors()
    defer {
        xmlSetStructuredErrorFunc(structuredContext, structured)
        xmlSetGenericErrorFunc(genericContext, generic)
    }
    return try withExtendedLifetime(collector) { try body() }
}

/// The handler `withLibXML` installs, for APIs (schemas) that take a structured handler of their own.
var directErrorHandler: xmlStructuredErrorFunc { collectDirectly }
