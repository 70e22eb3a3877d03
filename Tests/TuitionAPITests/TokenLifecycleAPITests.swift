import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// Issue #11: tokens expire, are revoked and rotated, follow the institution's sanctions, and cannot be guessed at
/// speed; idempotency keys belong to the entity, not to one of its tokens.
@Suite struct TokenLifecycleAPITests {
    @Test func aTokenExpiresAfterItsLifetime() async throws {
        let clock = TestClock()
        try await API.run("tokenexpiry", clock: clock) { api, _ in
            let world = try await World.make(api.store)
            let issued = try await PrincipalRepository(store: api.store).issue(for: .guardian(world.guardian), label: "app")
            #expect(abs(issued.expiresAt.timeIntervalSince(clock.now) - 90 * 86_400) < 1)
            #expect(try await api.call(.get, "/v1/me", token: issued.token).status == .ok)
            clock.advance(by: 90 * 86_400 - 60)
            #expect(try await api.call(.get, "/v1/me", token: issued.token).status == .ok)
            clock.advance(by: 120)
            let expired = try await api.call(.get, "/v1/me", token: issued.token)
            #expect(expired.status == .unauthorized && expired.code == "unauthenticated")
            // A shorter configured lifetime holds too.
            let brief = try await PrincipalRepository(store: api.store, lifetime: 3_600).create(for: .guardian(world.guardian)).token
            clock.advance(by: 3_601)
            #expect(try await api.call(.get, "/v1/me", token: brief).status == .unauthorized)
        }
    }

    @Test func theHolderRevokesAndRotatesItsOwnTokenAndTheRegulatorAnyOfItsDistrict() async throws {
        try await API.run("tokenrevoke") { api, _ in
            let cast = try await Cast.make(api)
            let other = try await Cast.make(api, district: "330205")
            func me(_ token: String) async throws -> Reply { try await api.call(.get, "/v1/me", token: token) }

            // Rotation: a new token for the same entity, never cached; the old one stops at once.
            let ownID = try await me(cast.guardian).string("principalId")
            let rotated = try await api.call(.post, "/v1/tokens/\(ownID)/rotation", token: cast.guardian)
            #expect(rotated.status == .created && rotated.string("entityId") == cast.world.guardian.description, "\(rotated.body)")
            let fresh = rotated.string("token")
            #expect(try await me(cast.guardian).status == .unauthorized)
            #expect(try await me(fresh).string("entityId") == cast.world.guardian.description)

            // Revocation by the holder.
            let freshID = rotated.string("principalId")
            #expect(try await api.call(.delete, "/v1/tokens/\(freshID)", token: fresh).status == .noContent)
            #expect(try await me(fresh).status == .unauthorized)

            // Another principal's token is not found, whoever asks, unless it is the regulator of its district.
            let institutionID = cast.institutionPrincipal.uuidString.lowercased()
            for token in [cast.insurer, other.regulator, other.institution] {
                #expect(try await api.call(.delete, "/v1/tokens/\(institutionID)", token: token).status == .notFound)
                #expect(try await api.call(.post, "/v1/tokens/\(institutionID)/rotation", token: token).status == .notFound)
            }
            #expect(try await me(cast.institution).status == .ok)
            let listed = try await api.call(.get, "/v1/tokens", token: cast.regulator)
            #expect(listed.body.contains(institutionID) && !listed.body.contains(cast.institution))
            #expect(!(try await api.call(.get, "/v1/tokens", token: other.regulator).body.contains(institutionID)))
            #expect(try await api.call(.delete, "/v1/tokens/\(institutionID)", token: cast.regulator).status == .noContent)
            #expect(try await me(cast.institution).status == .unauthorized)
            #expect(try await api.call(.delete, "/v1/tokens/\(institutionID)", token: cast.regulator).status == .noContent)
            #expect(try await api.call(.post, "/v1/tokens/\(institutionID)/rotation", token: cast.regulator).status == .notFound)
            let stored = try await api.store.query("SELECT revoked_at IS NOT NULL FROM principals WHERE id = \(cast.institutionPrincipal)")
            for try await revoked in stored.decode(Bool.self) { #expect(revoked) }
        }
    }

    @Test func blacklistingRevokesAndTheDefunctMarkRestrictsTheInstitutionsTokens() async throws {
        try await API.run("tokensanction") { api, _ in
            let cast = try await Cast.make(api)
            // Defunct: reads go on, every write is refused with a code of its own.
            let defunctWorld = try await World.make(api.store)
            let defunct = try await api.token(for: .institution(defunctWorld.institution.id))
            _ = try await DefunctRepository(store: api.store).mark(
                defunctWorld.institution.id, district: defunctWorld.district.value, effectiveAt: nil, reason: "停业")
            #expect(try await api.call(.get, "/v1/institutions/\(defunctWorld.institution.id)", token: defunct).status == .ok)
            let course = try await api.call(
                .post, "/v1/courses", token: defunct,
                json: #"{"title":"新课程","category":"academic","pricePerLessonFen":100,"lessonMinutes":45}"#)
            #expect(course.status == .conflict && course.code == "institution_defunct")
            let refund = try await api.call(
                .post, "/v1/enrollments/\(defunctWorld.enrollment.id)/refunds", token: defunct, json: #"{"lessons":1}"#,
                idempotencyKey: "refund")
            #expect(refund.code == "institution_defunct")

            // Suspended: the tokens work, but sell nothing new; refunds stay open.
            let path = "/v1/institutions/\(cast.world.institution.id)"
            #expect(try await api.call(.post, "\(path)/suspension", token: cast.regulator, json: #"{"note":"整改"}"#).status == .created)
            let suspendedCourse = try await api.call(
                .post, "/v1/courses", token: cast.institution,
                json: #"{"title":"新课程","category":"academic","pricePerLessonFen":100,"lessonMinutes":45}"#)
            #expect(suspendedCourse.code == "institution_not_operating", "\(suspendedCourse.body)")
            let suspendedRefund = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/refunds", token: cast.institution, json: #"{"lessons":1}"#,
                idempotencyKey: "refund-suspended")
            #expect(suspendedRefund.status == .created, "\(suspendedRefund.body)")

            // Blacklisted: every token of the institution is revoked, and no new one is issued.
            #expect(try await api.call(.post, "\(path)/blacklisting", token: cast.regulator, json: #"{"note":"卷款"}"#).status == .created)
            #expect(try await api.call(.get, path, token: cast.institution).status == .unauthorized)
            let reissue = try await api.call(.post, "\(path)/tokens", token: cast.regulator)
            #expect(reissue.status == .conflict && reissue.code == "institution_is_blacklisted")
        }
    }

    @Test func failedAuthenticationsAreLimitedPerAddress() async throws {
        try await API.run("tokenlimit") { api, _ in
            let world = try await World.make(api.store)
            let valid = try await api.token(for: .guardian(world.guardian))
            for attempt in 0..<20 {
                #expect(try await api.call(.get, "/v1/me", token: "tg_guess\(attempt)").status == .unauthorized)
            }
            let limited = try await api.call(.get, "/v1/me", token: "tg_guess21")
            #expect(limited.status == .tooManyRequests && limited.code == "too_many_failed_authentications")
            #expect(limited.contentType == "application/problem+json")
            // A valid token from the same address waits too: a good guess must not be told apart.
            let waiting = try await api.call(.get, "/v1/me", token: valid)
            #expect(waiting.status == .tooManyRequests)
            let seconds = Int(waiting.headers[.retryAfter] ?? "") ?? 0
            #expect((1...60).contains(seconds), "Retry-After: \(waiting.headers[.retryAfter] ?? "none")")
            // Requests without a token are not authentication attempts: public routes still answer.
            #expect(try await api.call(.get, "/health").status == .ok)
        }
    }

    /// The metrics scrape token is guessed like any other: wrong ones count against the address, and once it is over the
    /// limit even the right one waits.
    @Test func wrongMetricsScrapeTokensAreLimitedToo() async throws {
        try await API.run("metricslimit") { api, _ in
            for attempt in 0..<20 {
                #expect(try await api.call(.get, "/metrics", token: "scrape-guess-\(attempt)").status == .unauthorized)
            }
            let limited = try await api.call(.get, "/metrics", token: API.metricsToken)
            #expect(limited.status == .tooManyRequests && limited.code == "too_many_failed_authentications")
            #expect((1...60).contains(Int(limited.headers[.retryAfter] ?? "") ?? 0))
        }
    }

    @Test func twoTokensOfOneInstitutionShareItsIdempotencyKeys() async throws {
        try await API.run("idemscope") { api, _ in
            let world = try await World.make(api.store, mode: .reserve)
            let first = try await api.token(for: .institution(world.institution.id))
            let second = try await api.token(for: .institution(world.institution.id))
            let path = "/v1/institutions/\(world.institution.id)/reserve-topups"
            let one = try await api.call(.post, path, token: first, json: #"{"amountFen":5000}"#, idempotencyKey: "topup-1")
            let two = try await api.call(.post, path, token: second, json: #"{"amountFen":5000}"#, idempotencyKey: "topup-1")
            #expect(one.status == .created && two.status == .created && one.body == two.body)
            let changed = try await api.call(.post, path, token: second, json: #"{"amountFen":6000}"#, idempotencyKey: "topup-1")
            #expect(changed.status == .conflict && changed.code == "idempotency_key_reused")
            let rows = try await api.store.query("SELECT count(*)::int FROM transfers WHERE kind = 'reserve_topup'")
            for try await count in rows.decode(Int.self) { #expect(count == 1) }
            // Another institution's same key is its own.
            let otherWorld = try await World.make(api.store, mode: .reserve)
            let other = try await api.token(for: .institution(otherWorld.institution.id))
            let theirs = try await api.call(
                .post, "/v1/institutions/\(otherWorld.institution.id)/reserve-topups", token: other, json: #"{"amountFen":5000}"#,
                idempotencyKey: "topup-1")
            #expect(theirs.status == .created && theirs.body != one.body)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func storedTokenHashesAreComparedInConstantTime() {
        let a = Data(repeating: 7, count: 32)
        var b = a
        #expect(constantTimeEquals(a, b))
        b[31] ^= 1
        #expect(!constantTimeEquals(a, b))
        #expect(!constantTimeEquals(a, Data(repeating: 7, count: 31)))
    }

    /// Issue #15: authentication is cached for a few seconds, so a token revoked, or an institution marked defunct, by
    /// another process (another service behind the load balancer; here a direct SQL change no cache hears of) may still
    /// read for that long, but it moves no money: the idempotency claim re-checks the token in the transaction.
    @Test func aTokenEndedByAnotherProcessMovesNoMoneyWhileItsHolderIsStillCached() async throws {
        try await API.run("tokencache") { api, _ in
            let cast = try await Cast.make(api)
            let enrollment = cast.world.enrollment.id
            let today = BusinessDate(shanghaiDateOf: Date())
            func recordLesson(_ key: String) async throws -> Reply {
                try await api.call(
                    .post, "/v1/enrollments/\(enrollment)/lessons", token: cast.institution, json: #"{"lessons":1,"takenOn":"\#(today)"}"#,
                    idempotencyKey: key)
            }
            func lessonsRecorded() async throws -> Int {
                let rows = try await api.store.query("SELECT count(*)::int FROM lessons WHERE enrollment_id = \(enrollment.uuid)")
                for try await count in rows.decode(Int.self) { return count }
                return -1
            }
            let first = try await recordLesson("cached-1")
            #expect(first.status == .created)
            let before = try await lessonsRecorded()

            try await api.store.query("UPDATE principals SET revoked_at = now() WHERE id = \(cast.institutionPrincipal)")
            let revoked = try await recordLesson("cached-2")
            #expect(revoked.status == .unauthorized && revoked.code == "unauthenticated", "\(revoked.body)")
            #expect(try await lessonsRecorded() == before)

            try await api.store.query("UPDATE principals SET revoked_at = NULL WHERE id = \(cast.institutionPrincipal)")
            try await api.store.query("UPDATE institutions SET status = 'defunct' WHERE id = \(cast.world.institution.id.uuid)")
            let defunct = try await recordLesson("cached-3")
            #expect(defunct.status == .conflict && defunct.code == "institution_defunct", "\(defunct.body)")
            #expect(try await lessonsRecorded() == before)
            // The retry of a request that ran before the mark gets its first answer, and moves nothing.
            let replayed = try await recordLesson("cached-1")
            #expect(replayed.status == .created && replayed.body == first.body, "\(replayed.body)")
            #expect(try await lessonsRecorded() == before)
        }
    }

    /// A stolen token is revoked with another token of the same entity (before, only the token itself or a district's
    /// regulator could, and insurers and guardians have no district); a defunct or blacklisted institution gets no new
    /// token by rotation either; and a token ended by another process while its holder is still cached mints nothing.
    @Test func anEntityRevokesItsOwnTokensAndNoTokenComesOfAClosedInstitutionOrAnEndedToken() async throws {
        try await API.run("tokenentity") { api, _ in
            let cast = try await Cast.make(api)
            func me(_ token: String) async throws -> Reply { try await api.call(.get, "/v1/me", token: token) }
            let stolenID = try await me(cast.insurer).string("principalId")
            let insurerID = try await me(cast.insurer).string("entityId")
            let second = try await api.token(for: .insurer(.init(try #require(UUID(uuidString: insurerID)))))
            let listed = try await api.call(.get, "/v1/tokens", token: second)
            #expect(listed.status == .ok && listed.body.contains(stolenID), "\(listed.body)")
            // Revoked, not taken over: a thief's token could otherwise rotate its entity's other tokens into its own hands.
            let secondID = try await me(second).string("principalId")
            #expect(try await api.call(.post, "/v1/tokens/\(secondID)/rotation", token: cast.insurer).status == .notFound)
            #expect(try await me(second).status == .ok)
            #expect(try await api.call(.delete, "/v1/tokens/\(stolenID)", token: second).status == .noContent)
            #expect(try await me(cast.insurer).status == .unauthorized)
            // Another insurer's token is still not found.
            let otherInsurer = try await PartyRepository(store: api.store).createInsurer(name: "平安财险宁波分公司")
            let other = try await api.token(for: .insurer(otherInsurer))
            #expect(try await api.call(.delete, "/v1/tokens/\(secondID)", token: other).status == .notFound)
            #expect(try await me(second).status == .ok)

            // The regulator cannot renew a defunct institution's access by rotating its token.
            let institutionID = cast.institutionPrincipal.uuidString.lowercased()
            _ = try await DefunctRepository(store: api.store).mark(
                cast.world.institution.id, district: cast.world.district.value, effectiveAt: nil, reason: "停业")
            let rotated = try await api.call(.post, "/v1/tokens/\(institutionID)/rotation", token: cast.regulator)
            #expect(rotated.status == .conflict && rotated.code == "institution_defunct", "\(rotated.body)")
            #expect(try await me(cast.institution).status == .ok)

            // Revoked by another process a moment ago, the regulator's token is still cached here: it mints nothing.
            let regulatorID = try await me(cast.regulator).string("principalId")
            let world = try await World.make(api.store, district: cast.world.district.value)
            try await api.store.query("UPDATE principals SET revoked_at = now() WHERE id = \(try #require(UUID(uuidString: regulatorID)))")
            let issued = try await api.call(.post, "/v1/institutions/\(world.institution.id)/tokens", token: cast.regulator)
            #expect(issued.status == .unauthorized && issued.code == "unauthenticated", "\(issued.body)")
            let count = try await api.store.query(
                "SELECT count(*)::int FROM principals WHERE institution_id = \(world.institution.id.uuid)")
            for try await n in count.decode(Int.self) { #expect(n == 0) }
        }
    }

    @Test func theCacheForgetsEveryHolderWhenAuthorityChangesAndNeverOutlivesAToken() async throws {
        let clock = TestClock()
        try await API.run("tokencacheforget", clock: clock) { api, _ in
            let world = try await World.make(api.store)
            // A cache that keeps holders a minute, so the steps below never race its lifetime on a loaded machine.
            let cache = TokenHolderCache(lifetime: .seconds(60))
            let store = Store(client: api.store.client, logger: api.store.logger, dependencies: api.store.dependencies, tokenHolders: cache)
            let principals = PrincipalRepository(store: store, lifetime: 60)
            let issued = try await principals.create(for: .guardian(world.guardian))
            #expect(try await principals.holder(forToken: issued.token) != nil)
            // Revoked behind the cache's back: still cached until something forgets, then gone.
            try await api.store.query("UPDATE principals SET revoked_at = now() WHERE id = \(issued.principal.id)")
            #expect(try await principals.holder(forToken: issued.token) != nil)
            cache.forgetAll()
            #expect(try await principals.holder(forToken: issued.token) == nil)
            // A cached holder expires with its token.
            let brief = try await principals.create(for: .guardian(world.guardian))
            #expect(try await principals.holder(forToken: brief.token) != nil)
            clock.advance(by: 61)
            #expect(try await principals.holder(forToken: brief.token) == nil)
        }
    }
}
