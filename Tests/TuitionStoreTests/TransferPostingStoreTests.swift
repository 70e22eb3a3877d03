import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// Issue 14: the posted totals of restricted accounts have one poster, the transfers' INSERT (`transfers_post_totals`,
/// sql/0020). Every writer only inserts transfers; these tests hold the trigger to what the writers relied on.
@Suite struct TransferPostingStoreTests {
    /// Restricted accounts whose posted totals differ from the sums of their transfers, described (none: all agree).
    static func unposted(_ store: Store) async throws -> [String] {
        let rows = try await store.query(
            """
            SELECT a.kind || ' ' || a.id || ': posted ' || a.debits_fen || '/' || a.credits_fen || ', transfers ' || d.fen || '/' || c.fen
            FROM accounts a
            CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) AS fen FROM transfers WHERE debit_account_id = a.id) d
            CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) AS fen FROM transfers WHERE credit_account_id = a.id) c
            WHERE a.restricted AND (a.debits_fen <> d.fen OR a.credits_fen <> c.fen)
            """)
        var found: [String] = []
        for try await line in rows.decode(String.self) { found.append(line) }
        return found
    }

    /// The institution's restricted accounts' totals by kind, and the number of transfers.
    static func snapshot(_ store: Store, _ institution: Institution.ID) async throws -> (totals: [String: [Int64]], transfers: Int) {
        var totals: [String: [Int64]] = [:]
        let rows = try await store.query(
            "SELECT kind, debits_fen, credits_fen FROM accounts WHERE institution_id = \(institution.uuid) AND restricted")
        for try await (kind, debits, credits) in rows.decode((String, Int64, Int64).self) { totals[kind] = [debits, credits] }
        var transfers = 0
        for try await count in try await store.query("SELECT count(*)::int FROM transfers").decode(Int.self) { transfers = count }
        return (totals, transfers)
    }

    /// A world whose enrollment (10 lessons at ¥80) is paid: ¥800 in escrow.
    static func paidWorld(_ store: Store) async throws -> World {
        let world = try await World.make(store, lessons: 10)
        _ = try await store.transaction {
            try await EnrollmentRepository(store: store).pay(
                world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: $0)
        }
        return world
    }

    /// Payments (bank → escrow), single lessons and class sessions (escrow → operating), refunds (escrow → bank) and
    /// reserve top-ups (bank → reserve) on one institution, from many tasks at once, half of them in the opposite order
    /// and listing their class sessions backwards: none deadlocks (a deadlock is a database error, which fails the test;
    /// only the rules' refusals are expected), and every account's totals end equal to the sums of its transfers.
    @Test func concurrentPostingsToOneInstitutionKeepEveryTotalEqualToItsTransfers() async throws {
        try await TestDatabase.withStore("posting") { store in
            let world = try await World.make(store, lessons: 20)
            var created = [world.enrollment]
            for _ in 0..<7 { created.append(try await world.anotherEnrollment(store, lessons: 20)) }
            let orders = created
            let repository = EnrollmentRepository(store: store)
            for order in orders.prefix(4) {
                _ = try await store.transaction {
                    try await repository.pay(order.id, guardian: world.guardian, amount: order.amountFen, on: $0)
                }
            }
            let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
            let tasks = 12
            let kinds = try await withThrowingTaskGroup(of: [String].self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        let backwards = task % 2 == 1
                        let mine = backwards ? Array(orders.reversed()) : orders
                        var steps: [(String, (EnrollmentRecord) async throws -> Void)] = [
                            (
                                "pay",
                                { order in
                                    _ = try await store.transaction {
                                        try await repository.pay(order.id, guardian: world.guardian, amount: order.amountFen, on: $0)
                                    }
                                }
                            ),
                            (
                                "lesson",
                                { order in
                                    _ = try await store.transaction {
                                        try await repository.recordLessons(
                                            order.id, institution: world.institution.id, lessons: 1, takenOn: today, on: $0)
                                    }
                                }
                            ),
                            (
                                "session",
                                { _ in
                                    let session = NewClassSession(courseId: world.course.id, takenOn: today, enrollmentIds: mine.map(\.id))
                                    let record = try await store.transaction { (connection: PostgresConnection) in
                                        try await repository.recordClassSession(
                                            session, institution: world.institution.id, releaseKeyPrefix: "session:\(UUID())",
                                            on: connection)
                                    }
                                    if record.recorded == 0 { throw Rejection.lessonsExceedRemaining }
                                }
                            ),
                            (
                                "refund",
                                { order in
                                    _ = try await store.transaction {
                                        try await repository.refund(
                                            order.id, institution: world.institution.id, lessons: 1, reason: "", on: $0)
                                    }
                                }
                            ),
                            (
                                "topup",
                                { _ in
                                    _ = try await store.transaction {
                                        try await repository.topUpReserve(
                                            institution: world.institution.id, amount: Money(fen: 100), key: "topup:\(UUID())", on: $0)
                                    }
                                }
                            ),
                        ]
                        if backwards { steps.reverse() }
                        var done: [String] = []
                        for round in 0..<3 {
                            for (index, (kind, step)) in steps.enumerated() {
                                do {
                                    try await step(mine[(task + round + index) % mine.count])
                                    done.append(kind)
                                } catch is Rejection {}
                            }
                        }
                        return done
                    }
                }
                var kinds: [String: Int] = [:]
                for try await done in group { for kind in done { kinds[kind, default: 0] += 1 } }
                return kinds
            }
            for kind in ["pay", "lesson", "session", "refund", "topup"] { #expect(kinds[kind, default: 0] > 0, "no \(kind) went through") }
            #expect(try await Self.unposted(store) == [])
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// One INSERT of several transfers that together (not each alone) would take the escrow account negative is refused
    /// as a whole, mapped to `accountWouldGoNegative`: no transfer is kept and no total moves.
    @Test func aMultiRowInsertTakingARestrictedAccountNegativeIsRefusedWithNothingKept() async throws {
        try await TestDatabase.withStore("postingneg") { store in
            let world = try await Self.paidWorld(store)
            let before = try await Self.snapshot(store, world.institution.id)
            #expect(before.totals["escrow"] == [0, 80_000])
            await #expect(throws: Rejection.accountWouldGoNegative) {
                try await store.transaction { (connection: PostgresConnection) in
                    try await mappingRejections {
                        try await connection.run(
                            """
                            INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id,
                                created_at)
                            SELECT 'together:' || n, 'refund', e.id, g.id, 40001, \(world.institution.id.uuid), now()
                            FROM accounts e, accounts g, generate_series(1, 2) AS n
                            WHERE e.institution_id = \(world.institution.id.uuid) AND e.kind = 'escrow' AND g.guardian_id = \(world.guardian.uuid)
                            """, logger: store.logger)
                    }
                }
            }
            let after = try await Self.snapshot(store, world.institution.id)
            #expect(after.totals == before.totals && after.transfers == before.transfers)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// Issue #15: totals are posted at COMMIT (sql/0024). Two transactions each pay out 50,000 of the escrow's 80,000:
    /// each alone is fine, so both INSERTs go through; together they would overdraw. Both then commit at once: exactly
    /// one does, the other's COMMIT is refused with the same `accountWouldGoNegative` as a statement's, and it leaves
    /// nothing (no transfer, no total moved, no note pending).
    @Test func transactionsOverdrawingOnlyTogetherCommitOneAndRefuseTheOtherWhole() async throws {
        try await TestDatabase.withStore("postingcommit") { store in
            let world = try await Self.paidWorld(store)
            let before = try await Self.snapshot(store, world.institution.id)
            let bothInserted = Rendezvous(parties: 2)
            let outcomes = await withTaskGroup(of: Result<Void, any Error>.self) { group in
                for n in 0..<2 {
                    group.addTask {
                        do {
                            try await store.transaction { (connection: PostgresConnection) in
                                try await mappingRejections {
                                    try await connection.run(
                                        """
                                        INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen,
                                            institution_id, created_at)
                                        SELECT 'together:' || \(String(n)), 'refund', e.id, g.id, 50000, \(world.institution.id.uuid), now()
                                        FROM accounts e, accounts g
                                        WHERE e.institution_id = \(world.institution.id.uuid) AND e.kind = 'escrow'
                                          AND g.guardian_id = \(world.guardian.uuid)
                                        """, logger: store.logger)
                                }
                                await bothInserted.arrive()
                            }
                            return .success(())
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                var outcomes: [Result<Void, any Error>] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            let committed = outcomes.filter { if case .success = $0 { true } else { false } }.count
            let refused = outcomes.compactMap { outcome -> Rejection? in
                if case .failure(let error) = outcome { error as? Rejection } else { nil }
            }
            #expect(committed == 1)
            #expect(refused == [.accountWouldGoNegative], "the other COMMIT is refused with the domain's rejection: \(outcomes)")
            let after = try await Self.snapshot(store, world.institution.id)
            #expect(after.totals["escrow"] == [50_000, 80_000])
            #expect(after.transfers == before.transfers + 1)
            for try await pending in try await store.query("SELECT count(*)::int FROM account_postings_pending").decode(Int.self) {
                #expect(pending == 0)
            }
            #expect(try await Self.unposted(store) == [])
            // The fixture's raw refund is tied to no enrollment, which only the transfer-shape check minds.
            #expect(try await InvariantAudit(store: store).breaches().filter { !$0.hasPrefix("each transfer moves money") } == [])
        }
    }

    /// The fast-track's bulk inserts run with the ordinary triggers off (`ReferenceCheckedInserts`, replica mode): the
    /// posting still happens there, and still refuses a restricted account going negative.
    @Test func postingHoldsUnderTheBulkInsertsReplicaMode() async throws {
        try await TestDatabase.withStore("postingreplica") { store in
            let world = try await Self.paidWorld(store)
            func payOut(_ fen: Int64) async throws {
                _ = try await store.transaction { (connection: PostgresConnection) in
                    try await ReferenceCheckedInserts(logger: store.logger).run(into: "transfers", keyColumn: "id", on: connection) {
                        let rows = try await connection.query(
                            """
                            WITH written AS (
                                INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen,
                                    institution_id, created_at)
                                SELECT 'replica:' || gen_random_uuid(), 'payout', e.id, g.id, \(fen), \(world.institution.id.uuid), now()
                                FROM accounts e, accounts g
                                WHERE e.institution_id = \(world.institution.id.uuid) AND e.kind = 'escrow'
                                  AND g.guardian_id = \(world.guardian.uuid)
                                RETURNING id)
                            SELECT min(id) AS low, max(id) AS high FROM written
                            """, logger: store.logger)
                        return try await KeyRange<Int64>.read(rows)
                    }
                }
            }
            var relaxed = false
            for try await role in try await store.query("SELECT has_parameter_privilege('session_replication_role', 'SET')").decode(
                Bool.self)
            {
                relaxed = role
            }
            #expect(relaxed, "the test role may set replica mode, so the bulk path is the one tested")
            try await payOut(30_000)
            #expect(try await Self.snapshot(store, world.institution.id).totals["escrow"] == [30_000, 80_000])
            await #expect {
                try await payOut(50_001)
            } throws: { error in
                (error as? PSQLError)?.serverInfo?[.constraintName] == "restricted_account_not_negative"
            }
            #expect(try await Self.snapshot(store, world.institution.id).totals["escrow"] == [30_000, 80_000])
            #expect(try await Self.unposted(store) == [])
        }
    }
}

/// Lets `parties` tasks wait until all of them have arrived.
private actor Rendezvous {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive() async {
        arrived += 1
        if arrived == parties {
            for waiter in waiting { waiter.resume() }
            waiting = []
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}
