import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// Statements read from the ledger: per enrollment and per institution.
public struct StatementRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// The enrollment, its transfers and its refunds as of one moment: read in one snapshot, so a refund or payout
    /// committing meanwhile is in all three or in none.
    public func enrollmentStatement(_ id: Enrollment.ID, scope: Scope) async throws -> EnrollmentStatement? {
        try await store.readingOneSnapshot { connection in
            guard let enrollment = try await EnrollmentRepository(store: store).fetch(id, scope: scope, on: connection) else { return nil }
            var transfers: [TransferRecord] = []
            for try await row in try await connection.query(
                """
                SELECT \(unescaped: TransferRecord.columns) FROM transfers t \(unescaped: TransferRecord.joins)
                WHERE t.enrollment_id = \(id.uuid) ORDER BY t.id
                """, logger: store.logger)
            {
                transfers.append(try TransferRecord(row: row))
            }
            var refunds: [RefundRecord] = []
            for try await (refundID, lessons, amount, reason, created) in try await connection.query(
                "SELECT id, lessons, amount_fen, reason, created_at FROM refunds WHERE enrollment_id = \(id.uuid) ORDER BY id",
                logger: store.logger
            ).decode((UUID, Int, Int64, String, Date).self) {
                refunds.append(
                    RefundRecord(
                        id: .init(refundID), enrollmentId: id, lessons: lessons, amountFen: Money(fen: amount), reason: reason,
                        createdAt: created))
            }
            // What the enrollment row says must be what its transfers add up to (the audit checks it for every row).
            let paid = try Money.sum(transfers.filter { $0.kind == .payment }.map(\.amountFen))
            let refunded = try Money.sum(transfers.filter { $0.kind == .refund }.map(\.amountFen))
            guard paid == enrollment.paidFen && refunded == enrollment.refundedFen else {
                throw CorruptRow(value: "enrollment \(id) counters disagree with its transfers")
            }
            return EnrollmentStatement(enrollment: enrollment, transfers: transfers, refunds: refunds)
        }
    }

    public func institutionStatement(_ id: Institution.ID, scope: Scope) async throws -> InstitutionStatement? {
        guard let institution = try await PartyRepository(store: store).institution(id, scope: scope) else { return nil }
        // The unconsumed tuition is the institution's figure from its one home (`institution_figures`, sql/0017), read in
        // the same statement as the sums it is made of (paid − consumed − refunded − paid back).
        let rows = try await store.query(
            """
            SELECT
                (SELECT balance_fen FROM account_totals WHERE institution_id = \(id.uuid) AND kind = 'escrow'),
                (SELECT balance_fen FROM account_totals WHERE institution_id = \(id.uuid) AND kind = 'operating'),
                (SELECT balance_fen FROM account_totals WHERE institution_id = \(id.uuid) AND kind = 'reserve'),
                coalesce(sum(paid_fen), 0), coalesce(sum(consumed_fen), 0),
                coalesce(sum(refunded_fen), 0), coalesce(sum(returned_fen), 0),
                (SELECT f.unconsumed_fen
                    FROM institution_figures(NULL::text, \([id.uuid])::uuid[], \(store.dependencies.now())::timestamptz) f),
                count(*)::int
            FROM enrollment_positions WHERE institution_id = \(id.uuid)
            """)
        for try await (escrow, operating, reserve, paidSum, consumedSum, refundedSum, returnedSum, unconsumedFen, count)
            in rows.decode((Int64, Int64, Int64, Decimal, Decimal, Decimal, Decimal, Int64, Int).self)
        {
            let unconsumed = Money(fen: unconsumedFen)
            return InstitutionStatement(
                institutionId: id, supervisionMode: institution.supervisionMode, escrowFen: Money(fen: escrow),
                operatingFen: Money(fen: operating), reserveFen: Money(fen: reserve), paidFen: try Money(summed: paidSum),
                consumedFen: try Money(summed: consumedSum), refundedFen: try Money(summed: refundedSum),
                returnedFen: try Money(summed: returnedSum), unconsumedFen: unconsumed,
                reserveRequiredFen: reserveRequirement(unconsumed: unconsumed, ratioBasisPoints: institution.reserveRatioBasisPoints),
                enrollments: count)
        }
        return nil
    }

    /// An institution's transfers, newest last, paged by transfer id.
    public func institutionTransfers(_ id: Institution.ID, scope: Scope, after: Int64?, limit: Int) async throws -> (
        items: [TransferRecord], next: Int64?
    )? {
        guard try await PartyRepository(store: store).institution(id, scope: scope) != nil else { return nil }
        let limit = min(max(limit, 1), 200)
        var items: [TransferRecord] = []
        for try await row in try await store.query(
            """
            SELECT \(unescaped: TransferRecord.columns) FROM transfers t \(unescaped: TransferRecord.joins)
            WHERE t.institution_id = \(id.uuid) AND t.id > \(after ?? 0) ORDER BY t.id LIMIT \(limit + 1)
            """)
        {
            items.append(try TransferRecord(row: row))
        }
        guard items.count > limit else { return (items, nil) }
        items.removeLast()
        return (items, items.last?.id)
    }
}
