import Foundation
import PostgresNIO
import TuitionCore

/// A defunct case with its fast-track progress, as the API shows it.
public struct DefunctCaseRecord: Codable, Sendable, Hashable {
    public var id: DefunctCase.ID
    public var institutionId: Institution.ID
    public var districtCode: String
    public var effectiveAt: Date
    public var reason: String
    public var markedAt: Date
    public var status: DefunctCaseStatus
    public var plannedAt: Date?
    public var enrollmentsTotal: Int
    public var enrollmentsDone: Int
    public var entitledFen: Money
    public var paidEscrowFen: Money
    public var paidReserveFen: Money
    public var paidRiskPolicyFen: Money
    public var paidTuitionPolicyFen: Money
    public var referredCount: Int
    /// Insurance layers of referred enrollments, waiting for their insurers' decisions.
    public var referredFen: Money
    public var uncoveredFen: Money
    public var completedAt: Date?
    /// Why the job stopped, when `status` is `blocked`: a chunk the ledger refused, named.
    public var blockedReason: String?
    public var blockedAt: Date?
    /// Payments made at or after the effective time, owed back in full (the `return` layer): due, paid, not covered.
    public var returnDueFen: Money
    public var paidReturnFen: Money
    public var returnUncoveredFen: Money

    static let columns = """
        dc.id, dc.institution_id, dc.district_code, dc.effective_at, dc.reason, dc.marked_at, dc.status, dc.planned_at,
        dc.enrollments_total, dc.enrollments_done, dc.entitled_fen, dc.paid_escrow_fen, dc.paid_reserve_fen,
        dc.paid_risk_policy_fen, dc.paid_tuition_policy_fen, dc.referred_count, dc.referred_fen, dc.uncovered_fen, dc.completed_at,
        dc.blocked_reason, dc.blocked_at, dc.return_due_fen, dc.paid_return_fen, dc.return_uncovered_fen
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        self.id = .init(try cell(0, UUID.self))
        self.institutionId = .init(try cell(1, UUID.self))
        self.districtCode = try cell(2)
        self.effectiveAt = try cell(3)
        self.reason = try cell(4)
        self.markedAt = try cell(5)
        self.status = try decodeEnum(try cell(6, String.self))
        self.plannedAt = try cell(7, Date?.self)
        self.enrollmentsTotal = try cell(8)
        self.enrollmentsDone = try cell(9)
        self.entitledFen = Money(fen: try cell(10))
        self.paidEscrowFen = Money(fen: try cell(11))
        self.paidReserveFen = Money(fen: try cell(12))
        self.paidRiskPolicyFen = Money(fen: try cell(13))
        self.paidTuitionPolicyFen = Money(fen: try cell(14))
        self.referredCount = try cell(15)
        self.referredFen = Money(fen: try cell(16))
        self.uncoveredFen = Money(fen: try cell(17))
        self.completedAt = try cell(18, Date?.self)
        self.blockedReason = try cell(19, String?.self)
        self.blockedAt = try cell(20, Date?.self)
        self.returnDueFen = Money(fen: try cell(21))
        self.paidReturnFen = Money(fen: try cell(22))
        self.returnUncoveredFen = Money(fen: try cell(23))
    }

    /// Paid so far across all layers, the return of post-effective payments included.
    public var paidFen: Money {
        Money(fen: paidEscrowFen.fen + paidReserveFen.fen + paidRiskPolicyFen.fen + paidTuitionPolicyFen.fen + paidReturnFen.fen)
    }
}

/// One enrollment's waterfall in a defunct case: the plan and what became of it.
public struct SettlementRecord: Codable, Sendable, Hashable {
    public var caseId: DefunctCase.ID
    public var enrollmentId: Enrollment.ID
    public var guardianId: Guardian.ID
    public var entitlementFen: Money
    public var escrowFen: Money
    public var reserveFen: Money
    public var riskPolicyFen: Money
    public var tuitionPolicyFen: Money
    public var uncoveredFen: Money
    public var tuitionPolicyId: Policy.ID?
    public var checks: [ClaimCheckRecord]
    public var status: SettlementStatus
    public var settledAt: Date?
    /// What a person may add back to the referred claims: disputed and burst lessons' value.
    public var contestedFen: Money
    /// A payment made at or after the effective time, returned in full: from escrow, from operating, not covered.
    public var returnDueFen: Money
    public var returnEscrowFen: Money
    public var returnOperatingFen: Money
    public var returnUncoveredFen: Money

    static let columns = """
        s.case_id, s.enrollment_id, s.guardian_id, s.entitlement_fen, s.escrow_fen, s.reserve_fen, s.risk_policy_fen,
        s.tuition_policy_fen, s.uncovered_fen, s.tuition_policy_id, s.checks::text, s.status, s.settled_at, s.contested_fen,
        s.return_due_fen, s.return_escrow_fen, s.return_operating_fen, s.return_uncovered_fen
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        self.caseId = .init(try cell(0, UUID.self))
        self.enrollmentId = .init(try cell(1, UUID.self))
        self.guardianId = .init(try cell(2, UUID.self))
        self.entitlementFen = Money(fen: try cell(3))
        self.escrowFen = Money(fen: try cell(4))
        self.reserveFen = Money(fen: try cell(5))
        self.riskPolicyFen = Money(fen: try cell(6))
        self.tuitionPolicyFen = Money(fen: try cell(7))
        self.uncoveredFen = Money(fen: try cell(8))
        self.tuitionPolicyId = try cell(9, UUID?.self).map(Policy.ID.init)
        self.checks = try decodeChecks(try cell(10, String.self))
        self.status = try decodeEnum(try cell(11, String.self))
        self.settledAt = try cell(12, Date?.self)
        self.contestedFen = Money(fen: try cell(13))
        self.returnDueFen = Money(fen: try cell(14))
        self.returnEscrowFen = Money(fen: try cell(15))
        self.returnOperatingFen = Money(fen: try cell(16))
        self.returnUncoveredFen = Money(fen: try cell(17))
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
                VALUES (\(id), \(institution.uuid), \(district), \(effective), \(reason), \(now))
                RETURNING \(unescaped: DefunctCaseRecord.columns)
                """, logger: logger)
            var marked: DefunctCaseRecord?
            for try await row in inserted { marked = try DefunctCaseRecord(row: row) }
            guard let marked else { throw CorruptRow(value: "defunct case insert returned nothing") }
            try await CertificateRepository(store: store).revokeInstitution(institution, reason: "defunct: " + reason, on: connection)
            try await EvidenceQueue(store: store).enqueue(
                EvidenceEvent(
                    kind: .institutionDefunct, occurredAt: now, institution: institution,
                    reference: "defunct:\(marked.id):effective:\(Int64((effective.timeIntervalSince1970 * 1000).rounded(.down)))"),
                on: connection)
            return marked
        }
    }

    /// Who sees a case: the regulator of its district and the institution itself.
    public func defunctCase(_ id: DefunctCase.ID, scope: Scope) async throws -> DefunctCaseRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: DefunctCaseRecord.columns) FROM defunct_cases dc
            WHERE dc.id = \(id.uuid) AND (dc.district_code = \(scope.district) OR dc.institution_id = \(scope.institution))
            """)
        for try await row in rows { return try DefunctCaseRecord(row: row) }
        return nil
    }

    /// The cases `scope` sees, in id order.
    public func cases(scope: Scope, page: PageRequest) async throws -> Page<DefunctCaseRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: DefunctCaseRecord.columns) FROM defunct_cases dc
            WHERE (dc.district_code = \(scope.district) OR dc.institution_id = \(scope.institution)) AND dc.id > \(page.afterOrFloor)
            ORDER BY dc.id LIMIT \(page.limit + 1)
            """)
        var items: [DefunctCaseRecord] = []
        for try await row in rows { items.append(try DefunctCaseRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    /// A case's settlements: the regulator and the institution see all of them, a guardian only its own.
    /// `nil` when the case is not visible at all.
    public func settlements(of id: DefunctCase.ID, scope: Scope, status: SettlementStatus?, page: PageRequest) async throws
        -> Page<SettlementRecord>?
    {
        let visible = try await store.query(
            """
            SELECT 1 FROM defunct_cases dc WHERE dc.id = \(id.uuid) AND (dc.district_code = \(scope.district)
                OR dc.institution_id = \(scope.institution)
                OR EXISTS (SELECT 1 FROM defunct_settlements s WHERE s.case_id = dc.id AND s.guardian_id = \(scope.guardian)))
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
