import Foundation
import Testing

/// Issue 14, one home per rule: storage reads an institution's unconsumed tuition from `institution_figures` or
/// `enrollment_positions`, account balances from `account_totals`, and "in force" from `policy_in_force` (sql/0009,
/// 0016, 0017). A Store file that derives any of them again fails here.
@Suite struct OneHomeSourceScanTests {
    /// Files still carrying their own copies while other work changes them (the fast-track's rewrite, ledger posting
    /// and its audit); each is to be pointed at the one home when that work lands.
    static let exempt: Set<String> = [
        "FastTrackJob.swift", "FastTrackChunk.swift", "InvariantAudit.swift", "EnrollmentRepository.swift", "ClassSessions.swift",
    ]

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
        for rule in Self.rules { #expect(!Self.matches(rule.pattern, in: rule.example).isEmpty, "\(rule.name)") }
    }

    @Test func noStoreFileDerivesAFigureThatHasItsOneHome() throws {
        // Recursive: storage is split into capability folders.
        let found = FileManager.default.enumerator(at: Self.storeSources, includingPropertiesForKeys: nil)?.allObjects ?? []
        let files = found.compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" && !Self.exempt.contains($0.lastPathComponent) }
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
