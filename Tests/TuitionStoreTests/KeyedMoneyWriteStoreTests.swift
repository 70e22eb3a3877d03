import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// The single-enrollment money writes that claim their Idempotency-Key and keep their response in their own two
/// statements (`KeyedMoneyWrites.swift`): the response they keep is the one a read after the write gives, a replay
/// gets it and moves nothing, and a refused or unseen request keeps no key.
@Suite struct KeyedMoneyWriteStoreTests {
    static func encode<Record: Encodable>(_ record: Record) throws -> Data { try JSONEncoder().encode(record) }

    @Test func aKeyedPaymentKeepsTheResponseOfWhatItWroteAndAReplayMovesNothing() async throws {
        try await TestDatabase.withStore("keyedpayment") { store in
            let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
            let enrollments = EnrollmentRepository(store: store)
            let principal = try await PrincipalRepository(store: store).create(for: .guardian(world.guardian)).principal
            let claim = KeyClaim(
                owner: principal.entity.idempotencyOwner, principal: principal.id, key: "pay-1", digest: Data([1]), status: 201)
            func pay(_ claim: KeyClaim) async throws -> KeyedWrite<EnrollmentRecord> {
                try await store.transaction {
                    try await enrollments.pay(
                        world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, claim: claim,
                        encode: Self.encode, on: $0)
                }
            }
            guard case .ran(let paid, let response) = try await pay(claim) else {
                Issue.record("the payment did not run")
                return
            }
            let read = try #require(try await enrollments.enrollment(world.enrollment.id, scope: scopeOf(.guardian(world.guardian))))
            #expect(paid == read && paid.paidFen == world.enrollment.amountFen && paid.escrowHeldFen == world.enrollment.amountFen)
            #expect(try response.status == 201 && JSONDecoder().decode(EnrollmentRecord.self, from: response.body) == read)

            guard case .answered(.replay(let replayed)) = try await pay(claim) else {
                Issue.record("no replay")
                return
            }
            #expect(replayed == response)
            var other = claim
            other.digest = Data([2])
            guard case .answered(.conflict) = try await pay(other) else {
                Issue.record("no conflict")
                return
            }
            let statement = try #require(
                try await StatementRepository(store: store).enrollmentStatement(
                    world.enrollment.id, scope: scopeOf(.guardian(world.guardian))))
            #expect(statement.transfers.map(\.kind) == [.payment])
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func aKeyedLessonRecordKeepsTheResponseOfWhatItWroteAndARefusalKeepsNoKey() async throws {
        try await TestDatabase.withStore("keyedlessons") { store in
            let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
            let enrollments = EnrollmentRepository(store: store)
            _ = try await store.transaction {
                try await enrollments.pay(world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: $0)
            }
            let principal = try await PrincipalRepository(store: store).create(for: .institution(world.institution.id)).principal
            let claim = KeyClaim(
                owner: principal.entity.idempotencyOwner, principal: principal.id, key: "lesson-1", digest: Data([1]), status: 201)
            let today = BusinessDate(shanghaiDateOf: Date())
            func record(_ lessons: Int, _ claim: KeyClaim) async throws -> KeyedWrite<LessonRecord> {
                try await store.transaction {
                    try await enrollments.recordLessons(
                        world.enrollment.id, institution: world.institution.id, lessons: lessons, takenOn: today, claim: claim,
                        encode: Self.encode, on: $0)
                }
            }
            // Refused by the core: the transaction rolls back, the key with it, so the key can carry another request.
            await #expect(throws: Rejection.lessonsExceedRemaining) { _ = try await record(41, claim) }
            var second = claim
            second.digest = Data([2])
            guard case .ran(let recorded, let response) = try await record(2, second) else {
                Issue.record("not recorded")
                return
            }
            let page = try #require(
                try await enrollments.lessons(
                    of: world.enrollment.id, scope: scopeOf(.institution(world.institution.id)), page: PageRequest()))
            #expect(page.items == [recorded] && recorded.valueFen == Money(fen: 16_000) && recorded.status == .recorded)
            #expect(try response.status == 201 && JSONDecoder().decode(LessonRecord.self, from: response.body) == recorded)
            guard case .answered(.replay(let replayed)) = try await record(2, second) else {
                Issue.record("no replay")
                return
            }
            #expect(replayed == response)

            // An enrollment the institution does not own is not found, and keeps no key.
            var unseen = claim
            unseen.key = "lesson-unseen"
            await #expect(throws: NotFound.self) {
                _ = try await store.transaction {
                    try await enrollments.recordLessons(
                        world.enrollment.id, institution: .init(UUID()), lessons: 1, takenOn: today, claim: unseen,
                        encode: Self.encode, on: $0)
                }
            }
            guard case .ran = try await record(1, unseen) else {
                Issue.record("the unseen request kept its key")
                return
            }
            let read = try #require(try await enrollments.enrollment(world.enrollment.id, scope: scopeOf(.guardian(world.guardian))))
            #expect(read.lessonsConsumed == 3 && read.releasedFen == Money(fen: 24_000))
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func aRevokedTokenMovesNoMoneyThroughAKeyedWrite() async throws {
        try await TestDatabase.withStore("keyedrevoked") { store in
            let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
            let tokens = PrincipalRepository(store: store)
            let principal = try await tokens.create(for: .guardian(world.guardian)).principal
            _ = try await tokens.revoke(principal.id, by: principal)
            let claim = KeyClaim(
                owner: principal.entity.idempotencyOwner, principal: principal.id, key: "pay-revoked", digest: Data([1]), status: 201)
            let outcome = try await store.transaction {
                try await EnrollmentRepository(store: store).pay(
                    world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, claim: claim, encode: Self.encode,
                    on: $0)
            }
            guard case .answered(.tokenNoLongerLive) = outcome else {
                Issue.record("the revoked token was let through")
                return
            }
            let read = try #require(
                try await EnrollmentRepository(store: store).enrollment(world.enrollment.id, scope: scopeOf(.guardian(world.guardian))))
            #expect(read.paidFen == .zero)
        }
    }

    /// A revocation in flight when a keyed write starts is waited out, and then seen: once its revocation is answered, the
    /// token has moved no money (before, the write's snapshot still found the token live and it paid after the revocation
    /// committed).
    @Test func aWriteRacingItsTokensRevocationWaitsAndMovesNothing() async throws {
        try await TestDatabase.withStore("keyedrevoking") { store in
            let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
            let principal = try await PrincipalRepository(store: store).create(for: .guardian(world.guardian)).principal
            let (held, holding) = AsyncStream<Void>.makeStream()
            let revoking = Task {
                try await store.transaction { transaction in
                    try await transaction.query("SELECT 1 FROM principals WHERE id = \(principal.id) FOR UPDATE", logger: store.logger)
                    try await transaction.query("UPDATE principals SET revoked_at = now() WHERE id = \(principal.id)", logger: store.logger)
                    holding.yield()
                    try await Task.sleep(for: .milliseconds(600))
                }
            }
            for await _ in held { break }
            let claim = KeyClaim(
                owner: principal.entity.idempotencyOwner, principal: principal.id, key: "pay-revoking", digest: Data([1]), status: 201)
            let outcome = try await store.transaction {
                try await EnrollmentRepository(store: store).pay(
                    world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, claim: claim, encode: Self.encode,
                    on: $0)
            }
            try await revoking.value
            guard case .answered(.tokenNoLongerLive) = outcome else {
                Issue.record("the token paid after its revocation committed")
                return
            }
            let read = try #require(
                try await EnrollmentRepository(store: store).enrollment(world.enrollment.id, scope: scopeOf(.guardian(world.guardian))))
            #expect(read.paidFen == .zero)
        }
    }

    /// A money write holds its token's row (the key claim) before its institution (the money lock); blacklisting, which
    /// revokes the tokens, takes them in the same order, so the two wait for each other instead of deadlocking. The write
    /// here is its locks alone, in its order, with the blacklisting in between.
    @Test func blacklistingWhileAMoneyWriteHoldsItsTokenDoesNotDeadlock() async throws {
        try await TestDatabase.withStore("keyedblacklist") { store in
            let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
            let principal = try await PrincipalRepository(store: store).create(for: .institution(world.institution.id)).principal
            let (held, holding) = AsyncStream<Void>.makeStream()
            let writing = Task {
                try await store.transaction { transaction in
                    try await transaction.query("SELECT 1 FROM principals WHERE id = \(principal.id) FOR SHARE", logger: store.logger)
                    holding.yield()
                    try await Task.sleep(for: .milliseconds(500))
                    try await transaction.query(
                        "SELECT 1 FROM institutions WHERE id = \(world.institution.id.uuid) FOR SHARE", logger: store.logger)
                }
            }
            for await _ in held { break }
            let sanction = try await SupervisionRepository(store: store).sanction(
                world.institution.id, action: .blacklist, note: "严重违规", district: world.district)
            try await writing.value
            #expect(sanction.status == .blacklisted)
        }
    }

    /// Revocations take the caller's and the target's rows in id order before reading either: a double click on a
    /// self-revocation, two tokens revoking each other and a blacklisting all at once each end in an answer (revoked,
    /// or the caller no longer live), never a deadlock.
    @Test func revocationsRacingEachOtherAndABlacklistingDoNotDeadlock() async throws {
        try await TestDatabase.withStore("revokerace") { store in
            let tokens = PrincipalRepository(store: store)
            for round in 0..<16 {
                let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
                let a = try await tokens.create(for: .institution(world.institution.id)).principal
                let b = try await tokens.create(for: .institution(world.institution.id)).principal
                let blacklisting = round % 2 == 1
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (target, caller) in [(a.id, a), (a.id, a), (b.id, a), (a.id, b), (b.id, b)] {
                        group.addTask {
                            do { _ = try await tokens.revoke(target, by: caller) } catch is TokenNoLongerLive {}
                        }
                    }
                    if blacklisting {
                        group.addTask {
                            _ = try await SupervisionRepository(store: store).sanction(
                                world.institution.id, action: .blacklist, note: "严重违规", district: world.district)
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}
