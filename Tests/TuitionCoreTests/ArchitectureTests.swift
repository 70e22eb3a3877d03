import Foundation
import Testing

/// DESIGN.md: dependencies point inward — core ← evidence log, contract kit, QR ← wire types ← store ← use cases ← API ←
/// CLI. The core, the evidence log and the contract kit know nothing of storage or HTTP; the wire types (the HTTP bodies)
/// know the core and Foundation only; storage neither signs (no ContractKit) nor knows the use cases or HTTP; nothing
/// above storage sees the database driver; nothing but the CLI knows the command line. Each module's imports are read from its sources, so a forbidden import fails here even when the
/// package manifest would allow it.
@Suite struct ArchitectureTests {
    /// The modules each of ours may not import.
    static let forbidden: [String: Set<String>] = [
        "TuitionCore": outward(of: "TuitionCore").union(["PostgresNIO", "Crypto", "CLibXML2", "COpenSSL"]),
        "EvidenceLog": outward(of: "EvidenceLog").union(["PostgresNIO", "TuitionCore"]),
        "ContractKit": outward(of: "ContractKit").union(["PostgresNIO", "TuitionCore"]),
        "QRImage": outward(of: "QRImage").union(["PostgresNIO", "TuitionCore"]),
        "TuitionWire": outward(of: "TuitionWire").union(["PostgresNIO", "EvidenceLog", "ContractKit", "QRImage", "Crypto"]),
        "TuitionStore": outward(of: "TuitionStore").union(["ContractKit"]),
        "TuitionUseCases": outward(of: "TuitionUseCases").union(driver),
        "TuitionAPI": outward(of: "TuitionAPI").union(driver),
        "tuitionguard": [],
    ]

    /// Modules that may import nothing but these, whatever the list above forgets: the wire types are plain values.
    static let allowed: [String: Set<String>] = ["TuitionWire": ["TuitionCore", "Foundation"]]

    /// The database driver, which only storage (and the CLI's tools) may see.
    static let driver: Set<String> = ["PostgresNIO", "_ConnectionPoolModule"]

    /// Innermost first.
    static let layers = [
        ["TuitionCore", "EvidenceLog", "ContractKit", "QRImage"], ["TuitionWire"], ["TuitionStore"], ["TuitionUseCases"], ["TuitionAPI"],
        ["tuitionguard"],
    ]

    /// Every module further out than `module`, and the frameworks only those use.
    static func outward(of module: String) -> Set<String> {
        let frameworks: [String: Set<String>] = [
            "TuitionStore": ["PostgresNIO", "_ConnectionPoolModule"],
            "TuitionAPI": ["Hummingbird", "HummingbirdAuth", "HTTPTypes", "Mustache", "Prometheus", "Metrics", "ServiceLifecycle"],
            "tuitionguard": ["ArgumentParser"],
        ]
        guard let layer = layers.firstIndex(where: { $0.contains(module) }) else { return [] }
        let outer = layers[(layer + 1)...].flatMap { $0 }
        return Set(outer).union(outer.flatMap { frameworks[$0] ?? [] })
    }

    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
    }

    /// `import X`, `public import X`, `@preconcurrency import X`, `import struct X.Y`: the imported module X.
    static func imports(in file: URL) throws -> [(line: Int, module: String)] {
        let pattern = try Regex(
            #"^\s*(?:@\w+\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?import\s+(?:(?:struct|class|enum|protocol|typealias|func|let|var)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#
        )
        let text = try String(contentsOf: file, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            guard let match = try? pattern.firstMatch(in: String(line)), let module = match.output[1].substring else { return nil }
            return (index + 1, String(module))
        }
    }

    static func swiftFiles(of module: String) -> [URL] {
        let root = sources.appendingPathComponent(module)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    /// Whether `module` may import `imported`: not forbidden, and on its allow-list if it has one.
    static func mayImport(_ module: String, _ imported: String) -> Bool {
        !(forbidden[module] ?? []).contains(imported) && (allowed[module]?.contains(imported) ?? true)
    }

    static func violations(of module: String) throws -> [String] {
        try swiftFiles(of: module).flatMap { file in
            try imports(in: file).filter { !mayImport(module, $0.module) }.map {
                "\(file.lastPathComponent):\($0.line) imports \($0.module)"
            }
        }
    }

    @Test(arguments: forbidden.keys.sorted())
    func dependenciesPointInward(module: String) throws {
        #expect(!Self.swiftFiles(of: module).isEmpty, "no sources found for \(module) under \(Self.sources.path)")
        let found = try Self.violations(of: module)
        #expect(found.isEmpty, "\(module): \(found.joined(separator: "; "))")
    }

    @Test func theCheckCatchesAForbiddenImport() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("Forbidden-\(UUID().uuidString).swift")
        try "import Foundation\n@preconcurrency public import PostgresNIO\nimport struct Hummingbird.Router\n".write(
            to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let found = try Self.imports(in: file).map(\.module)
        #expect(found == ["Foundation", "PostgresNIO", "Hummingbird"])
        #expect(Self.forbidden["TuitionCore"]!.isSuperset(of: ["PostgresNIO", "Hummingbird", "TuitionStore", "TuitionAPI"]))
        #expect(
            Self.forbidden["TuitionStore"]!.isSuperset(of: [
                "Hummingbird", "TuitionUseCases", "TuitionAPI", "ArgumentParser", "ContractKit",
            ]))
        #expect(Self.forbidden["TuitionUseCases"]!.isSuperset(of: ["TuitionAPI", "Hummingbird", "tuitionguard", "PostgresNIO"]))
        #expect(Self.forbidden["TuitionAPI"]!.isSuperset(of: ["tuitionguard", "ArgumentParser", "PostgresNIO"]))
        #expect(!Self.forbidden["TuitionAPI"]!.contains("TuitionUseCases") && !Self.forbidden["TuitionUseCases"]!.contains("TuitionStore"))
        // The wire types: the core and Foundation, nothing else, not even a module the lists above do not name.
        #expect(found.filter { !Self.mayImport("TuitionWire", $0) } == ["PostgresNIO", "Hummingbird"])
        for module in ["TuitionStore", "TuitionAPI", "EvidenceLog", "ContractKit", "Hummingbird", "NIOCore", "Logging"] {
            #expect(!Self.mayImport("TuitionWire", module), "TuitionWire may import \(module)")
        }
        #expect(Self.mayImport("TuitionWire", "TuitionCore") && Self.mayImport("TuitionWire", "Foundation"))
        #expect(!Self.forbidden["TuitionStore"]!.contains("TuitionWire") && Self.forbidden["TuitionCore"]!.contains("TuitionWire"))
    }

    /// Every module of ours sits in one layer, so a new module cannot escape the check.
    @Test func everyModuleHasALayer() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { name in
            !name.hasPrefix(".") && !Self.swiftFiles(of: name).isEmpty
        }
        let layered = Set(Self.layers.flatMap { $0 })
        #expect(Set(modules).isSubset(of: layered), "modules without a layer: \(Set(modules).subtracting(layered).sorted())")
        #expect(
            Set(modules) == Set(Self.forbidden.keys),
            "modules without a rule: \(Set(modules).symmetricDifference(Self.forbidden.keys).sorted())")
    }

    /// Money moves only through the use cases (`MoneyMovements`), which schedule the warning re-evaluation
    /// themselves: a route calling the store's money functions directly could forget it.
    @Test func routesMoveMoneyOnlyThroughTheUseCases() throws {
        let storeMoneyCalls = try Regex(
            #"\.(enrollments|claims|insurance)\.(pay|recordLessons|recordClassSession|refund|topUpReserve|acceptRiskPolicy|buyTuitionPolicy|file)\("#
        )
        let found = try Self.swiftFiles(of: "TuitionAPI").flatMap { file in
            try String(contentsOf: file, encoding: .utf8).split(separator: "\n").enumerated()
                .filter { (try? storeMoneyCalls.firstMatch(in: String($0.element))) != nil }
                .map { "\(file.lastPathComponent):\($0.offset + 1)" }
        }
        #expect(found.isEmpty, "money moved past the use cases at \(found.joined(separator: ", "))")
    }

    /// Transactions belong to the use cases: a route handed one could write past them.
    @Test func noRouteTouchesAStoreTransaction() throws {
        let transactions = try Regex(#"StoreTransaction|\.transaction\s*\{|on: connection\b"#)
        for example in ["{ (transaction: StoreTransaction) in", "try await store.transaction {", "file(body, on: connection)"] {
            #expect(try transactions.firstMatch(in: example) != nil, "the check no longer sees \(example)")
        }
        let found = try Self.swiftFiles(of: "TuitionAPI").flatMap { file in
            try String(contentsOf: file, encoding: .utf8).split(separator: "\n").enumerated()
                .filter { (try? transactions.firstMatch(in: String($0.element))) != nil }
                .map { "\(file.lastPathComponent):\($0.offset + 1)" }
        }
        #expect(found.isEmpty, "a transaction in the API at \(found.joined(separator: ", "))")
    }
}
