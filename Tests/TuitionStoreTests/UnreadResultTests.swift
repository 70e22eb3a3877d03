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
                let sql = rest.prefix(while: { $0 != "\n" }).contains("logger")
                    ? String(rest.prefix(while: { $0 != "\n" }))
                    : String(rest.prefix(2_000).split(separator: "logger:", maxSplits: 1).first ?? "")
                let head = sql.drop(while: { " \n\"".contains($0) }).uppercased()
                let returnsRows = head.hasPrefix("SELECT") || sql.uppercased().contains("RETURNING")
                    || (head.hasPrefix("WITH") && sql.uppercased().components(separatedBy: ")\n").last?.contains("SELECT") == true)
                if returnsRows {
                    let line = text[..<match.range.lowerBound].filter { $0 == "\n" }.count + 1
                    unread.append("\(file.lastPathComponent):\(line)")
                }
            }
        }
        #expect(unread.isEmpty, "row-returning statements whose rows are never read: \(unread)")
    }
}
