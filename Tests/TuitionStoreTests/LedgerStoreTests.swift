import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct LedgerStoreTests {
    @Test func paymentLessonsAndRefundMoveMoneyExactlyInEscrowMode() async throws {
        try await TestDatabase.withStore("escrowflow") { store in
            let world = try await World.make(store, mode: .escrow, pricePerLessonFen: 8_000, lessons: 40)
            let enrollments = EnrollmentRepository(store: store)
            let id = world.enrollment.id
            let paid = try await store.transaction {
                try await enrollments.pay(id, guardian: world.guardian, amount: Money(fen: 320_000), on: $0)
            }
            #expect(paid.paidFen == Money(fen: 320_000) && paid.escrowHeldFen == Money(fen: 320_000) && paid.status == .active)
            let today = BusinessDate(shanghaiDateOf: Date())
            _ = try await store.transaction {
                try await enrollments.recordLessons(id, institution: world.institution.id, lessons: 3, takenOn: today, on: $0)
            }
            let refund = try await store.transaction {
                try await enrollments.refund(id, institution: world.institution.id, lessons: nil, reason: "搬家", on: $0)
            }
            #expect(refund.lessons == 37 && refund.amountFen == Money(fen: 296_000))

            let statement = try #require(
                try await StatementRepository(store: store).institutionStatement(
                    world.institution.id, scope: scopeOf(.institution(world.institution.id))))
            #expect(statement.escrowFen == .zero)
            #expect(statement.operatingFen == Money(fen: 24_000))
            #expect(statement.unconsumedFen == .zero)
            let enrollmentStatement = try #require(
                try await StatementRepository(store: store).enrollmentStatement(
                    id, scope: scopeOf(.guardian(world.guardian))))
            #expect(enrollmentStatement.transfers.map(\.kind) == [.payment, .release, .refund])
            #expect(enrollmentStatement.enrollment.status == .closed)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func reserveModeKeepsPrepaidTuitionInOperatingAndTopsUpTheReserve() async throws {
        try await TestDatabase.withStore("reserveflow") { store in
            let world = try await World.make(store, mode: .reserve, pricePerLessonFen: 10_000, lessons: 30)
            let enrollments = EnrollmentRepository(store: store)
            _ = try await store.transaction {
                try await enrollments.pay(world.enrollment.id, guardian: world.guardian, amount: Money(fen: 300_000), on: $0)
            }
            _ = try await store.transaction {
                try await enrollments.topUpReserve(institution: world.institution.id, amount: Money(fen: 60_000), key: "topup-1", on: $0)
            }
            let statement = try #require(
                try await StatementRepository(store: store).institutionStatement(
                    world.institution.id, scope: scopeOf(.regulator(world.district))))
            #expect(statement.escrowFen == .zero && statement.operatingFen == Money(fen: 300_000))
            #expect(statement.reserveFen == Money(fen: 60_000))
            #expect(statement.reserveRequiredFen == Money(fen: 60_000))
            // The same transfer key never moves money twice: the database's unique index refuses it.
            await #expect(throws: PSQLError.self) {
                _ = try await store.transaction {
                    try await enrollments.topUpReserve(
                        institution: world.institution.id, amount: Money(fen: 60_000), key: "topup-1", on: $0)
                }
            }
            let after = try await StatementRepository(store: store).institutionStatement(
                world.institution.id, scope: scopeOf(.institution(world.institution.id)))
            #expect(after?.reserveFen == Money(fen: 60_000))
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func refusesWhatTheRulesRefuse() async throws {
        try await TestDatabase.withStore("refusals") { store in
            let world = try await World.make(store, lessons: 10)
            let enrollments = EnrollmentRepository(store: store)
            let id = world.enrollment.id
            let today = BusinessDate(shanghaiDateOf: Date())
            func lessons(_ count: Int) async throws {
                _ = try await store.transaction {
                    try await enrollments.recordLessons(id, institution: world.institution.id, lessons: count, takenOn: today, on: $0)
                }
            }
            #expect(try await rejection { try await lessons(1) } == .enrollmentNotPaid)
            #expect(
                try await rejection {
                    _ = try await store.transaction {
                        try await enrollments.pay(id, guardian: world.guardian, amount: Money(fen: 1), on: $0)
                    }
                } == .paymentDoesNotMatchOrder)
            _ = try await store.transaction { try await enrollments.pay(id, guardian: world.guardian, amount: Money(fen: 80_000), on: $0) }
            #expect(
                try await rejection {
                    _ = try await store.transaction {
                        try await enrollments.pay(id, guardian: world.guardian, amount: Money(fen: 80_000), on: $0)
                    }
                } == .enrollmentAlreadyPaid)
            try await lessons(8)
            #expect(try await rejection { try await lessons(3) } == .lessonsExceedRemaining)
            #expect(
                try await rejection {
                    _ = try await store.transaction {
                        try await enrollments.refund(id, institution: world.institution.id, lessons: 3, reason: "", on: $0)
                    }
                } == .refundExceedsUnconsumed)
            try await PartyRepository(store: store).setInstitutionStatus(world.institution.id, status: .suspended)
            #expect(try await rejection { try await lessons(1) } == .institutionNotOperating)
            // Another guardian's or institution's enrollment is simply not found.
            let stranger = try await PartyRepository(store: store).createGuardian(name: "李四")
            await #expect(throws: NotFound.self) {
                _ = try await store.transaction { try await enrollments.pay(id, guardian: stranger, amount: Money(fen: 80_000), on: $0) }
            }
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func districtCapsBindEnrollments() async throws {
        try await TestDatabase.withStore("caps") { store in
            let world = try await World.make(store, lessons: 10)
            let parties = PartyRepository(store: store)
            _ = try await parties.setChargeCaps(
                ChargeCaps(lessonsMax: 20, termMonthsMax: 2, amountMax: .yuan(1_000)), district: world.district)
            #expect(try await rejection { _ = try await world.anotherEnrollment(store, lessons: 21) } == .chargeCoversTooManyLessons)
            #expect(try await rejection { _ = try await world.anotherEnrollment(store, lessons: 13) } == .chargeTermTooLong)
            #expect(
                try await rejection {
                    _ = try await parties.setChargeCaps(
                        ChargeCaps(lessonsMax: 61, termMonthsMax: 3, amountMax: .yuan(5_000)), district: world.district)
                } == .districtCapAboveNationalCap)
        }
    }

    /// An order taken while its district's bureau lowers the caps waits for the change and is held to it: the bureau's
    /// answer and the order never disagree (before, the order read the old caps and was created above the new ones).
    @Test func anOrderRacingALoweredCapIsHeldToIt() async throws {
        try await TestDatabase.withStore("capsrace") { store in
            let world = try await World.make(store, lessons: 10)
            let (held, holding) = AsyncStream<Void>.makeStream()
            let lowering = Task {
                try await store.transaction { transaction in
                    try await transaction.query(
                        "UPDATE districts SET charge_lessons_max = 5 WHERE code = \(world.district.value)", logger: store.logger)
                    holding.yield()
                    try await Task.sleep(for: .milliseconds(600))
                }
            }
            for await _ in held { break }
            let refused = try await rejection { _ = try await world.anotherEnrollment(store, lessons: 8) }
            try await lowering.value
            #expect(refused == .chargeCoversTooManyLessons)
        }
    }

    @Test func theDatabaseRefusesBrokenRowsEvenIfTheApplicationWouldWriteThem() async throws {
        try await TestDatabase.withStore("constraints") { store in
            let world = try await World.make(store, lessons: 10)
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).pay(
                    world.enrollment.id, guardian: world.guardian, amount: Money(fen: 80_000), on: $0)
            }
            let id = world.enrollment.id.uuid
            let institution = world.institution.id.uuid
            let attempts: [(String, PostgresQuery)] = [
                ("transfers are append-only (update)", "UPDATE transfers SET amount_fen = 1"),
                ("transfers are append-only (delete)", "DELETE FROM transfers"),
                ("lessons consumed ≤ bought", "UPDATE enrollments SET lessons_consumed = 11, released_fen = 88000 WHERE id = \(id)"),
                ("release matches consumption", "UPDATE enrollments SET released_fen = 8000 WHERE id = \(id)"),
                ("paid once in full", "UPDATE enrollments SET paid_fen = 1 WHERE id = \(id)"),
                (
                    "restricted account never negative",
                    "UPDATE accounts SET debits_fen = credits_fen + 1 WHERE institution_id = \(institution) AND kind = 'escrow'"
                ),
                (
                    "positive transfer amounts",
                    """
                    INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, created_at)
                    SELECT 'neg', 'payment', 1, 2, -5, now()
                    """
                ),
                (
                    "unique idempotency keys",
                    """
                    INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, created_at)
                    SELECT idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, now() FROM transfers LIMIT 1
                    """
                ),
                ("escrow mode holds no reserve ratio", "UPDATE institutions SET reserve_ratio_bp = 100 WHERE id = \(institution)"),
            ]
            for (invariant, query) in attempts {
                await #expect(throws: PSQLError.self, "\(invariant)") { try await store.query(query) }
            }
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func theAuditCatchesABreachTheConstraintsCannotSee() async throws {
        try await TestDatabase.withStore("auditbreach") { store in
            let world = try await World.make(store, lessons: 10)
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).pay(
                    world.enrollment.id, guardian: world.guardian, amount: Money(fen: 80_000), on: $0)
            }
            struct RolledBack: Error { let breaches: [String] }
            // Rows written straight into the tables, bypassing the enrollment's counters (a transfer's INSERT still posts the
            // accounts' totals, sql/0020, so those are moved by hand): the audit must see each breach.
            do {
                try await store.transaction { connection in
                    try await connection.query(
                        """
                        INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen,
                            institution_id, enrollment_id, created_at)
                        SELECT 'rogue', 'payout', e.id, g.id, 60000, \(world.institution.id.uuid), \(world.enrollment.id.uuid), now()
                        FROM accounts e, accounts g
                        WHERE e.institution_id = \(world.institution.id.uuid) AND e.kind = 'escrow' AND g.guardian_id = \(world.guardian.uuid)
                        """, logger: store.logger)
                    // Every lesson consumed with no release: escrow would hold more than is still owed.
                    try await connection.query(
                        """
                        INSERT INTO lessons (id, enrollment_id, institution_id, lessons, taken_on, value_fen, recorded_at)
                        VALUES (\(UUID()), \(world.enrollment.id.uuid), \(world.institution.id.uuid), 10, current_date, 80000, now())
                        """, logger: store.logger)
                    try await connection.query(
                        """
                        UPDATE accounts SET credits_fen = credits_fen + 1
                        WHERE institution_id = \(world.institution.id.uuid) AND kind = 'operating'
                        """, logger: store.logger)
                    throw RolledBack(breaches: try await InvariantAudit(store: store).breaches(on: connection))
                }
            } catch let rolledBack as RolledBack {
                let found = rolledBack.breaches.joined(separator: "\n")
                #expect(found.contains("restricted totals match"))
                #expect(found.contains("escrow held"))
                #expect(found.contains("paid back"))
                #expect(found.contains("counters disagree"))
                #expect(found.contains("released 0 for lessons worth 80000"))
            }
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func aChangedMigrationIsRefused() async throws {
        try await TestDatabase.withStore("migrations") { store in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tg-migrations-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let original = try String(contentsOf: sqlDirectory.appendingPathComponent("0001_foundation.sql"), encoding: .utf8)
            try (original + "\n-- edited after it was applied\n").write(
                to: directory.appendingPathComponent("0001_foundation.sql"), atomically: true, encoding: .utf8)
            await #expect(throws: StoreError.self) {
                try await Migrator(directory: directory).migrate(client: store.client, logger: store.logger)
            }
        }
    }

    @Test func theRealMigrationsAreRecordedWithTheirChecksums() async throws {
        try await TestDatabase.withStore("recorded") { store in
            var names: [String] = []
            for try await name in try await store.query("SELECT name FROM schema_migrations ORDER BY version").decode(String.self) {
                names.append(name)
            }
            #expect(names.first == "0001_foundation.sql")
            // A second run applies nothing.
            #expect(try await Migrator(directory: sqlDirectory).migrate(client: store.client, logger: store.logger) == [])
        }
    }
}

@Suite struct SQLScriptTests {
    @Test func splitsOnlyAtTopLevelSemicolons() {
        let script = """
            -- header; not a statement
            CREATE TABLE a (x text DEFAULT 'semi;colon');
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'no; way'; END
            $$;
            /* block; comment */ SELECT "odd;name" FROM a;
            SELECT $tag$ a;b $tag$;
            """
        let statements = splitSQLStatements(script)
        #expect(statements.count == 4)
        #expect(statements[1].hasSuffix("$$"))
        #expect(statements[3] == "SELECT $tag$ a;b $tag$")
    }
}

let sqlDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("sql")
