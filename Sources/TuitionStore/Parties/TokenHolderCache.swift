import Foundation
import Synchronization

/// The holders of recently used tokens, for a few seconds, so a request does not pay a query to authenticate.
///
/// A revocation, a rotation or an institution status change made through this process forgets every entry at once.
/// One made by another process (a second service behind the load balancer) shows after at most `lifetime`; money
/// moves are not exposed to that window, because the idempotency claim re-checks the token and its institution in
/// the transaction (`ClaimKeyStatement`). An entry never outlives its token's own expiry.
public final class TokenHolderCache: Sendable {
    struct Entry {
        var holder: TokenHolder
        var tokenExpiresAt: Date
        var cachedAt: ContinuousClock.Instant
    }

    public static let defaultLifetime: Duration = .seconds(2)
    let lifetime: Duration
    let capacity: Int
    /// `generation` counts `forgetAll` calls: a lookup that read the database before one must not store its answer.
    private let state = Mutex<(generation: Int, entries: [Data: Entry])>((0, [:]))

    public init(lifetime: Duration = defaultLifetime, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func holder(forDigest digest: Data, now: Date) -> TokenHolder? {
        let instant = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.entries[digest] else { return nil }
            guard now < entry.tokenExpiresAt, instant < entry.cachedAt.advanced(by: lifetime) else {
                state.entries[digest] = nil
                return nil
            }
            return entry.holder
        }
    }

    /// The generation to hand back to `remember` with the answer of a lookup started now.
    var generation: Int { state.withLock { $0.generation } }

    func remember(_ holder: TokenHolder, digest: Data, tokenExpiresAt: Date, lookedUpIn generation: Int) {
        guard lifetime > .zero else { return }
        let entry = Entry(holder: holder, tokenExpiresAt: tokenExpiresAt, cachedAt: ContinuousClock.now)
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[digest] = entry
        }
    }

    /// Forgets every holder: called after anything that may end a token or change what its holder may do.
    public func forgetAll() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }
}
