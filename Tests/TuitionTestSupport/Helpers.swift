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
