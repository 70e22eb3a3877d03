import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension DefunctCaseRecord {
    static let columns = """
        dc.id, dc.institution_id, dc.district_code, dc.effective_at, dc.reason, dc.marked_at, dc.status, dc.planned_at,
        dc.enrollments_total, dc.enrollments_done, dc.entitled_fen, dc.paid_escrow_fen, dc.paid_reserve_fen,
        dc.paid_risk_policy_fen, dc.paid_tuition_policy_fen, dc.referred_count, dc.referred_fen, dc.uncovered_fen, dc.completed_at,
        dc.blocked_reason, dc.blocked_at, dc.return_due_fen, dc.paid_return_fen, dc.return_uncovered_fen,
        dc.reserve_balance_fen, dc.operating_balance_fen, dc.risk_policy_id
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        try self.init(
            id: .init(cell(0, UUID.self)),
            institutionId: .init(cell(1, UUID.self)),
            districtCode: cell(2),
            effectiveAt: cell(3),
            reason: cell(4),
            markedAt: cell(5),
            status: decodeEnum(cell(6, String.self)),
            plannedAt: cell(7, Date?.self),
            enrollmentsTotal: cell(8),
            enrollmentsDone: cell(9),
            entitledFen: Money(fen: cell(10)),
            paidEscrowFen: Money(fen: cell(11)),
            paidReserveFen: Money(fen: cell(12)),
            paidRiskPolicyFen: Money(fen: cell(13)),
            paidTuitionPolicyFen: Money(fen: cell(14)),
            referredCount: cell(15),
            referredFen: Money(fen: cell(16)),
            uncoveredFen: Money(fen: cell(17)),
            completedAt: cell(18, Date?.self),
            blockedReason: cell(19, String?.self),
            blockedAt: cell(20, Date?.self),
            returnDueFen: Money(fen: cell(21)),
            paidReturnFen: Money(fen: cell(22)),
            returnUncoveredFen: Money(fen: cell(23)),
            plannedReserveFen: cell(24, Int64?.self).map(Money.init(fen:)),
            plannedOperatingFen: cell(25, Int64?.self).map(Money.init(fen:)),
            riskPolicyId: cell(26, UUID?.self).map(Policy.ID.init))
    }
}

extension SettlementRecord {
    static let columns = """
        s.case_id, s.enrollment_id, s.guardian_id, s.entitlement_fen, s.escrow_fen, s.reserve_fen, s.risk_policy_fen,
        s.tuition_policy_fen, s.uncovered_fen, s.tuition_policy_id, s.checks::text, s.status, s.settled_at, s.contested_fen,
        s.return_due_fen, s.return_escrow_fen, s.return_operating_fen, s.return_uncovered_fen
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        try self.init(
            caseId: .init(cell(0, UUID.self)),
            enrollmentId: .init(cell(1, UUID.self)),
            guardianId: .init(cell(2, UUID.self)),
            entitlementFen: Money(fen: cell(3)),
            escrowFen: Money(fen: cell(4)),
            reserveFen: Money(fen: cell(5)),
            riskPolicyFen: Money(fen: cell(6)),
            tuitionPolicyFen: Money(fen: cell(7)),
            uncoveredFen: Money(fen: cell(8)),
            tuitionPolicyId: cell(9, UUID?.self).map(Policy.ID.init),
            checks: decodeChecks(cell(10, String.self)),
            status: decodeEnum(cell(11, String.self)),
            settledAt: cell(12, Date?.self),
            contestedFen: Money(fen: cell(13)),
            returnDueFen: Money(fen: cell(14)),
            returnEscrowFen: Money(fen: cell(15)),
            returnOperatingFen: Money(fen: cell(16)),
            returnUncoveredFen: Money(fen: cell(17)))
    }
}

/// The regulator's defunct mark and the cases it opens. The fast-track job itself is `FastTrackJob`.
public struct DefunctRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    /// Marks an institution of the regulator's district defunct as of `effectiveAt` (now when nil) and opens its case.
    /// From this commit on the institution is frozen: its status is final, every money path refuses it
    /// (`institution_defunct`), and its signing certificates are revoked. The mark takes the institution's row for
    /// update, which every money path holds for share: a request racing the mark either commits first (and the plan
    /// counts it) or waits for the mark and is refused.
    /// The caller then runs `FastTrackJob.run` on the case.
    public func mark(_ institution: Institution.ID, district: String, effectiveAt: Date?, reason: String) async throws -> DefunctCaseRecord
    {
        let now = store.dependencies.now()
        let effective = effectiveAt ?? now
        guard effective <= now else { throw Rejection.effectiveTimeInFuture }
        let reason = try validFreeText(reason, maxScalars: 1000)
        return try await store.transactionChangingAuthority { connection in
            let rows = try await connection.query(
                """
                SELECT status FROM institutions WHERE id = \(institution.uuid) AND district_code = \(district) FOR UPDATE
                """, logger: logger)
            var found: String?
            for try await status in rows.decode(String.self) { found = status }
            guard let found else { throw NotFound() }
            guard try decodeEnum(found) as InstitutionStatus != .defunct else { throw Rejection.institutionAlreadyDefunct }
            let id = store.dependencies.newID()
            let inserted = try await connection.query(
                """
                WITH frozen AS (UPDATE institutions SET status = 'defunct' WHERE id = \(institution.uuid))
                INSERT INTO defunct_cases AS dc (id, institution_id, district_code, effective_at, reason, marked_at)
                VALUES (\(id), \(institution.uuid), \(district), \(ExactInstant(effective)), \(reason), \(ExactInstant(now)))
                RETURNING \(unescaped: DefunctCaseRecord.columns)
                """, logger: logger)
            var marked: DefunctCaseRecord?
            for try await row in inserted { marked = try DefunctCaseRecord(row: row) }
            guard let marked else { throw CorruptRow(value: "defunct case insert returned nothing") }
            try await CertificateRepository(store: store).revokeInstitution(institution, reason: "defunct: " + reason, on: connection)
            // Defunct is graded D, on the public page at once (warning evaluations no longer regrade it).
            try await SupervisionRepository(store: store).recomputeCredit(institutions: [institution.uuid], on: connection)
            try await EvidenceQueue(store: store).enqueue(
                EvidenceEvent(
                    kind: .institutionDefunct, occurredAt: now, institution: institution,
                    reference: "defunct:\(marked.id):effective:\(wholeMilliseconds(since1970: marked.effectiveAt))"),
                on: connection)
            return marked
        }
    }

    /// Who sees a case: the regulator of its district, the institution itself, and a guardian with a paid enrollment at
    /// the institution (a parent learns where the repayment stands, and the case id its settlements are read under);
    /// a guardian is not shown why a case is blocked, which names the database's refusal and may name others' enrollments.
    public func defunctCase(_ id: DefunctCase.ID, scope: Scope) async throws -> DefunctCaseRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: DefunctCaseRecord.columns) FROM defunct_cases dc
            WHERE dc.id = \(id.uuid) AND (dc.district_code = \(scope.district) OR dc.institution_id = \(scope.institution)
                OR dc.institution_id IN (SELECT e.institution_id FROM enrollments e WHERE e.guardian_id = \(scope.guardian) AND e.paid_fen > 0))
            """)
        for try await row in rows { return try DefunctCaseRecord(row: row).seen(by: scope) }
        return nil
    }

    /// The cases `scope` sees, in id order.
    public func cases(scope: Scope, page: PageRequest) async throws -> Page<DefunctCaseRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: DefunctCaseRecord.columns) FROM defunct_cases dc
            WHERE (dc.district_code = \(scope.district) OR dc.institution_id = \(scope.institution)
                OR dc.institution_id IN (SELECT e.institution_id FROM enrollments e WHERE e.guardian_id = \(scope.guardian) AND e.paid_fen > 0))
              AND dc.id > \(page.afterOrFloor)
            ORDER BY dc.id LIMIT \(page.limit + 1)
            """)
        var items: [DefunctCaseRecord] = []
        for try await row in rows { items.append(try DefunctCaseRecord(row: row).seen(by: scope)) }
        return page.page(items) { $0.id.uuid }
    }

    /// A case's settlements: the regulator and the institution see all of them, a guardian with an enrollment at the
    /// institution only its own. `nil` when the case is not visible at all.
    public func settlements(of id: DefunctCase.ID, scope: Scope, status: SettlementStatus?, page: PageRequest) async throws
        -> Page<SettlementRecord>?
    {
        let visible = try await store.query(
            """
            SELECT 1 FROM defunct_cases dc WHERE dc.id = \(id.uuid) AND (dc.district_code = \(scope.district)
                OR dc.institution_id = \(scope.institution)
                OR dc.institution_id IN (SELECT e.institution_id FROM enrollments e WHERE e.guardian_id = \(scope.guardian) AND e.paid_fen > 0))
            """)
        var found = false
        for try await _ in visible { found = true }
        guard found else { return nil }
        let rows = try await store.query(
            """
            SELECT \(unescaped: SettlementRecord.columns) FROM defunct_settlements s JOIN defunct_cases dc ON dc.id = s.case_id
            WHERE s.case_id = \(id.uuid) AND (dc.district_code = \(scope.district) OR dc.institution_id = \(scope.institution)
                OR s.guardian_id = \(scope.guardian))
              AND (\(status?.rawValue)::text IS NULL OR s.status = \(status?.rawValue)) AND s.enrollment_id > \(page.afterOrFloor)
            ORDER BY s.enrollment_id LIMIT \(page.limit + 1)
            """)
        var items: [SettlementRecord] = []
        for try await row in rows { items.append(try SettlementRecord(row: row)) }
        return page.page(items) { $0.enrollmentId.uuid }
    }

    /// A case as an operator at the console sees it, whoever's it is.
    public func caseForOperator(_ id: DefunctCase.ID) async throws -> DefunctCaseRecord? {
        try await FastTrackJob(store: store).find(id)
    }

    /// Cases whose job has not finished: run again at start-up, so a crash mid-way is finished later.
    public func unfinishedCases() async throws -> [DefunctCase.ID] {
        var ids: [DefunctCase.ID] = []
        for try await id in try await store.query("SELECT id FROM defunct_cases WHERE status = 'running' ORDER BY id").decode(UUID.self) {
            ids.append(.init(id))
        }
        return ids
    }

    /// The effective time of the institution's defunct mark, if it has one.
    func effectiveTime(of institution: Institution.ID, on connection: PostgresConnection) async throws -> Date? {
        let rows = try await connection.query(
            "SELECT effective_at FROM defunct_cases WHERE institution_id = \(institution.uuid)", logger: logger)
        for try await effective in rows.decode(Date.self) { return effective }
        return nil
    }
}

func decodeChecks(_ json: String) throws -> [ClaimCheckRecord] {
    do {
        return try JSONDecoder().decode([ClaimCheckRecord].self, from: Data(json.utf8))
    } catch {
        throw CorruptRow(value: json)
    }
}

extension DefunctCaseRecord {
    /// The case as `scope` may read it: a guardian is not told why it is blocked (the database's refusal, which may
    /// name other guardians' enrollments).
    func seen(by scope: Scope) -> DefunctCaseRecord {
        guard scope.guardian != nil else { return self }
        var record = self
        record.blockedReason = nil
        return record
    }
}
