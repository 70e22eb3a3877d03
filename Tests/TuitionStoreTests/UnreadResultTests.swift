import Foundation
import PostgresNIO
import Testing
import TuitionTestSupport

@testable import TuitionStore

/// A statement whose rows the caller does not need (a lock taken with `SELECT … FOR UPDATE`, a check function) must
/// still fail its transaction when it fails. PostgresNIO throws such a failure only while the rows are read, and
/// PostgreSQL answers the COMMIT of an aborted transaction with a ROLLBACK, not an error: read unread, the caller
/// would believe what it wrote was kept. `PostgresConnection.run` reads them.
@Suite struct UnreadResultTests {
    @Test func aFailingStatementRunForItsEffectFailsItsTransactionAndKeepsNothing() async throws {
        try await TestDatabase.withStore("unreadresult") { store in
            try await store.query("CREATE TABLE unread_probe (n int)")
            await #expect(throws: PSQLError.self) {
                try await store.transaction { connection in
                    try await connection.query("INSERT INTO unread_probe VALUES (1)", logger: store.logger)
                    try await connection.run("SELECT 1 / (SELECT count(*)::int - 1 FROM unread_probe)", logger: store.logger)
                }
            }
            let rows = try await store.query("SELECT count(*)::int FROM unread_probe")
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }

    /// The class: no statement in the store is a row-returning one whose rows are left unread. A statement that starts
    /// with SELECT or WITH, or says RETURNING, must be read (`for try await`), bound (`let rows =`) or `run`.
    @Test func noRowReturningStatementIsLeftUnread() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TuitionStore")
        let statementStart = try Regex(#"(?m)^[ \t]*(?:_ = )?try await \w+\.query\("#)
        var unread: [String] = []
        for case let file as URL in FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: statementStart) {
                let rest = text[match.range.upperBound...]
                // The statement's text: a one-line literal, or a multi-line one up to its closing quotes.
                let body = rest.drop(while: \.isWhitespace)
                let sql =
                    body.hasPrefix("\"\"\"")
                    ? String(body.dropFirst(3).components(separatedBy: "\"\"\"").first ?? "")
                    : String(body.prefix(while: { $0 != "\n" }))
                // An argument (`returning(try await …)`, `let rows = try await …`) is read by whoever receives it. A
                // closure's only expression is flagged: `mappingRejections { try await …query(…) }` would hand its rows
                // out unread, and a refusal read later escapes the mapping.
                let before = text[..<match.range.lowerBound].last(where: { !$0.isWhitespace })
                let isArgument = before.map { "(=,".contains($0) } ?? false
                let head = sql.drop(while: { " \n\"".contains($0) }).uppercased()
                // A WITH statement returns rows only from its last part; the CTEs' RETURNING feeds that part.
                let returnsRows = head.hasPrefix("SELECT") || (!head.hasPrefix("WITH") && sql.uppercased().contains("RETURNING"))
                if returnsRows && !isArgument {
                    let line = text[..<match.range.lowerBound].filter { $0 == "\n" }.count + 1
                    unread.append("\(file.lastPathComponent):\(line)")
                }
            }
        }
        #expect(unread.isEmpty, "row-returning statements whose rows are never read: \(unread)")
    }
}
