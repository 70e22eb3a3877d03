import Foundation
import TuitionCore
import TuitionStore

/// The named rejection `body` ends with, or nil when it succeeds. Any other error is rethrown, so the test
/// that expected a business refusal fails on it.
public func rejection(_ body: () async throws -> Void) async throws -> Rejection? {
    do {
        try await body()
        return nil
    } catch let rejection as Rejection {
        return rejection
    }
}

/// What `entity`'s principal may see, without making a token.
public func scopeOf(_ entity: PrincipalEntity) -> Scope { Scope(Principal(id: UUID(), entity: entity)) }

/// What `tuitionguard audit` reports: the ledger's invariants re-derived from its transfers, then the ledger reconciled
/// with its evidence log; each breach is printed too.
public func auditBreaches(_ store: Store) async throws -> [String] {
    let found = try await InvariantAudit(store: store).breaches() + LedgerLogReconciliation(store: store).breaches()
    for breach in found { print("audit breach: \(breach)") }
    return found
}

/// Whether `store`'s pool answers `SELECT 1` within 30 tries of a second each, asked again each second as the
/// background services and `/ready` ask: the pool opens a connection in a closed one's place when a lease asks for it.
public func poolAnswersAgain(_ store: Store) async -> Bool {
    for _ in 0..<30 {
        let answer = try? await withDeadline(.seconds(1)) {
            var value = 0
            for try await one in try await store.query("SELECT 1").decode(Int.self) { value = one }
            return value
        }
        if answer == 1 { return true }
    }
    return false
}
