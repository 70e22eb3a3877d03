import Foundation
import Testing

/// Issue 14, one home per rule: storage reads an institution's unconsumed tuition from `institution_figures` or
/// `enrollment_positions`, account balances from `account_totals`, and "in force" from `policy_in_force` (sql/0009,
/// 0016, 0017); account totals are posted only by the transfers' INSERT (`transfers_post_totals`, sql/0020). A Store
/// file that derives any of them again, or posts totals itself, fails here.
@Suite struct OneHomeSourceScanTests {
    /// The one file that may read figures its own way: `InvariantAudit.swift` is the independent auditor, which
    /// re-derives every account's totals from the transfers to check the one home against them. It may not post
    /// totals (`postingRule` has no exemption).
    static let exempt: Set<String> = ["InvariantAudit.swift"]

    /// What a re-derivation looks like, with a line it must catch (so the scan itself cannot silently stop matching).
    static let rules: [(name: String, pattern: String, example: String)] = [
        (
            "unconsumed tuition summed per institution", #"sum\(\s*([a-z_]+\.)?outstanding_fen"#,
            "SELECT e.institution_id, sum(e.outstanding_fen)"
        ),
        ("an enrollment's position from its counters", #"paid_fen\s*-\s*"#, "e.paid_fen - e.refunded_fen"),
        ("the value of lessons consumed", #"lessons_consumed\s*\)?(::bigint)?\s*\*"#, "e.lessons_consumed * e.price_per_lesson_fen"),
        ("an account's posted totals", #"(debits_fen|credits_fen)"#, "sum(a.credits_fen - a.debits_fen)"),
        ("a policy's period compared by hand", #"period_(start|end)\s*(<|>|<=|>=)"#, "p.period_start <= $2 AND p.period_end > $2"),
        ("a cancellation checked by hand", #"cancelled_at\s+IS\s+NULL"#, "p.cancelled_at IS NULL"),
    ]

    /// Posting an account's totals by hand, which no Store file may do, the auditor included.
    static let postingRule = (
        name: "an account's totals posted by hand", pattern: #"(debits_fen|credits_fen)\s*=(?!=)"#,
        example: "UPDATE accounts SET debits_fen = debits_fen + 1"
    )

    static var storeSources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/TuitionStore")
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        let expression = try! NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { number, line in
            let line = String(line)
            let range = NSRange(line.startIndex..., in: line)
            return expression.firstMatch(in: line, range: range) == nil ? nil : "line \(number + 1): \(line)"
        }
    }

    @Test func eachPatternCatchesItsExample() {
        for rule in Self.rules + [Self.postingRule] {
            #expect(!Self.matches(rule.pattern, in: rule.example).isEmpty, "\(rule.name)")
        }
        // The auditor's comparison of posted totals with its own sums is a read, not a posting.
        #expect(Self.matches(Self.postingRule.pattern, in: "WHERE debits <> debits_fen OR credits <> credits_fen").isEmpty)
    }

    /// Every Swift file of the Store, recursively (storage is split into capability folders).
    static func storeFiles() -> [URL] {
        let found = FileManager.default.enumerator(at: storeSources, includingPropertiesForKeys: nil)?.allObjects ?? []
        return found.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    @Test func noStoreFilePostsAccountTotalsItself() throws {
        let files = Self.storeFiles()
        #expect(files.count > 20, "the scan reads the Store sources")
        for file in files {
            let found = Self.matches(Self.postingRule.pattern, in: try String(contentsOf: file, encoding: .utf8))
            #expect(found.isEmpty, "\(file.lastPathComponent): \(Self.postingRule.name): \(found.joined(separator: "; "))")
        }
    }

    @Test func noStoreFileDerivesAFigureThatHasItsOneHome() throws {
        let files = Self.storeFiles().filter { !Self.exempt.contains($0.lastPathComponent) }
        #expect(files.count > 20, "the scan reads the Store sources")
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            for rule in Self.rules {
                let found = Self.matches(rule.pattern, in: text)
                #expect(found.isEmpty, "\(file.lastPathComponent) derives \(rule.name) itself: \(found.joined(separator: "; "))")
            }
        }
    }
}
