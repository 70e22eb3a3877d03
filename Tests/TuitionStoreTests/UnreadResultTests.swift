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
        let unread = try StoreStatement.all(#"\w+\.query\("#).filter { statement in
            let head = statement.sql.drop(while: { " \n\"".contains($0) }).uppercased()
            // A WITH statement returns rows only from its last part; the CTEs' RETURNING feeds that part.
            let returnsRows = head.hasPrefix("SELECT") || (!head.hasPrefix("WITH") && statement.sql.uppercased().contains("RETURNING"))
            return returnsRows && !statement.isArgument
        }
        #expect(unread.isEmpty, "row-returning statements whose rows are never read: \(unread.map(\.place))")
    }

    /// A statement sent outside a transaction commits on its own: when the connection is lost after it ran, the request
    /// can only answer "nothing was written" (503, retry), since no COMMIT was claimed. So a statement that inserts a new
    /// row runs in a transaction (`Store.firstRow(ofWrite:)`), whose COMMIT the request's tracker follows (504, outcome
    /// unknown), unless a retry cannot insert it twice (`ON CONFLICT`, or rows made only by a state change it makes).
    @Test func noInsertOfANewRowCommitsOnItsOwn() throws {
        let guardedByItsStateChange = ["FastTrackJob.swift"]  // the completion: `WHERE status = 'running'` inserts once
        let unguarded = try StoreStatement.all(#"store\.(?:query|execute)\("#).filter { statement in
            let sql = statement.sql.uppercased()
            return sql.contains("INSERT INTO") && !sql.contains("ON CONFLICT") && !guardedByItsStateChange.contains(statement.file)
        }
        #expect(unguarded.isEmpty, "inserts committed outside a transaction: \(unguarded.map(\.place))")
    }
}

/// A statement of the store as its source writes it: a call whose first argument is a string literal.
struct StoreStatement {
    var file: String
    var line: Int
    var sql: String
    /// The call is an argument (`returning(try await …)`), bound (`let rows = try await …`) or iterated: its rows are read.
    var isArgument: Bool
    var place: String { "\(file):\(line)" }

    /// Every call of `call` (a pattern up to its opening parenthesis) at the start of a statement in Sources/TuitionStore.
    static func all(_ call: String) throws -> [StoreStatement] {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TuitionStore")
        let statementStart = try Regex(#"(?m)^[ \t]*(_ = |let \w+ = |for try await _ in )?try await "# + call)
        var statements: [StoreStatement] = []
        for case let file as URL in FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: statementStart) {
                // The statement's text: a one-line literal, or a multi-line one up to its closing quotes.
                let body = text[match.range.upperBound...].drop(while: \.isWhitespace)
                let sql =
                    body.hasPrefix("\"\"\"")
                    ? String(body.dropFirst(3).components(separatedBy: "\"\"\"").first ?? "")
                    : String(body.prefix(while: { $0 != "\n" }))
                // A closure's only expression is not an argument: `mappingRejections { try await …query(…) }` would hand
                // its rows out unread, and a refusal read later escapes the mapping.
                let before = text[..<match.range.lowerBound].last(where: { !$0.isWhitespace })
                let bound = text[match.range].contains("let ") || text[match.range].contains("for try await")
                let passed = before.map { "(=,".contains($0) } ?? false
                let line = text[..<match.range.lowerBound].filter { $0 == "\n" }.count + 1
                statements.append(StoreStatement(file: file.lastPathComponent, line: line, sql: sql, isArgument: bound || passed))
            }
        }
        return statements
    }
}
