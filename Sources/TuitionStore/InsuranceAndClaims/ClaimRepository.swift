import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension ClaimCheckRecord {
    init(_ result: ClaimCheckResult) {
        self.init(
            check: result.check,
            outcome: result.outcome,
            code: result.code)
    }
}

extension ClaimRecord {
    static let columns = """
        cl.id, cl.number, cl.guardian_id, cl.enrollment_id, cl.institution_id, cl.policy_id, cl.insurer_id, cl.reason,
        cl.claimed_fen, cl.entitlement_fen, cl.approvable_fen, cl.approved_fen, cl.paid_fen, cl.status, cl.checks::text,
        cl.decision_reason, cl.event_time, cl.created_at, cl.decided_at, cl.paid_at, cl.contested_fen, cl.defunct_case_id,
        cl.layer, cl.superseded_by, cl.escrow_paid_fen, cl.added_back_fen
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        try self.init(
            id: .init(cell(0, UUID.self)),
            number: cell(1),
            guardianId: .init(cell(2, UUID.self)),
            enrollmentId: .init(cell(3, UUID.self)),
            institutionId: .init(cell(4, UUID.self)),
            policyId: .init(cell(5, UUID.self)),
            insurerId: .init(cell(6, UUID.self)),
            reason: decodeEnum(cell(7, String.self)),
            claimedFen: Money(fen: cell(8)),
            entitlementFen: Money(fen: cell(9)),
            approvableFen: Money(fen: cell(10)),
            approvedFen: Money(fen: cell(11)),
            paidFen: Money(fen: cell(12)),
            status: decodeEnum(cell(13, String.self)),
            checks: decodeChecks(cell(14, String.self)),
            decisionReason: cell(15, String?.self),
            eventTime: cell(16),
            createdAt: cell(17),
            decidedAt: cell(18, Date?.self),
            paidAt: cell(19, Date?.self),
            contestedFen: Money(fen: cell(20)),
            defunctCaseId: cell(21, UUID?.self).map(DefunctCase.ID.init),
            layer: cell(22, String?.self),
            supersededBy: cell(23, UUID?.self).map(Claim.ID.init),
            paidFromEscrowFen: Money(fen: cell(24)),
            addedBackFen: Money(fen: cell(25)))
    }
}

/// Guardians' claims against policies. Filing runs the core's `assessClaim` on facts read from the ledger under the
/// enrollment's lock and stores every check; the insurer approves or rejects, then pays with one payout transfer.
public struct ClaimRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    // MARK: Filing

    /// The guardian files a claim, in the caller's transaction (the API's idempotent request). The claim is stored
    /// `verified` when every check passes, `referred` when one needs a person, `rejected` when one fails.
    ///
    /// The event time of an `institution_defunct` claim is the effective time of the institution's defunct mark
    /// (refused when there is none); a `refund_refused` claim's is the filing time.
    public func file(_ new: NewClaim, guardian: Guardian.ID, on transaction: StoreTransaction) async throws -> ClaimRecord {
        let connection = transaction.connection
        try checkAmount(new.claimedFen, atMost: PlatformLimits.claimMaximum)
        // The enrollment is locked so filing, paying and other money movements on it queue behind each other.
        let (enrollment, institutionStatus) = try await EnrollmentRepository(store: store).lockForMoney(
            new.enrollmentId, scope: Scope(guardian: guardian.uuid), on: connection)
        // From the defunct mark on, the fast-track alone claims on the institution's enrollments (DESIGN §2): its plan
        // shares the policies out pro rata, and a claim of one guardian's own would take another's share.
        guard institutionStatus != .defunct else { throw Rejection.institutionDefunct }
        // A claim names only a policy covering the claimant's own enrollment; any other is not found, as if it did not
        // exist: no insurer id, nothing in anyone's queue, no oracle for the policy ids the public log carries.
        guard let policyRecord = try await fetchPolicy(new.policyId, lock: false, on: connection),
            try policyRecord.policy.covers(enrollment: enrollment.id, institution: enrollment.institutionId)
        else { throw NotFound() }
        let now = store.dependencies.now()
        let eventTime = try await eventTime(of: new.reason, institution: enrollment.institutionId, now: now, on: connection)
        let facts = try await ledgerFacts(of: enrollment, on: connection)
        let request = ClaimRequest(
            claimant: guardian, enrollment: enrollment.id, reason: new.reason, claimed: new.claimedFen, eventTime: eventTime)
        let riskShare = try await riskShareTerms(of: policyRecord, on: enrollment, on: connection)
        let assessment = assessClaim(request, facts: facts, policy: try policyRecord.policy, riskShare: riskShare)
        let filed = try await insert(
            FiledClaim(request: request, assessment: assessment, policy: policyRecord, institution: enrollment.institutionId),
            at: now, on: connection)
        try await EvidenceQueue(store: store).enqueue(
            EvidenceEvent(
                kind: .claimFiled, occurredAt: now, institution: enrollment.institutionId, enrollment: enrollment.id,
                amount: new.claimedFen, reference: "claim:\(filed.id):\(filed.status.rawValue)"),
            on: connection)
        return filed
    }

    /// When the insured event happened: the institution's defunct mark for `institution_defunct` (refused when there
    /// is none), the filing time for `refund_refused`.
    private func eventTime(
        of reason: ClaimReason, institution: Institution.ID, now: Date, on connection: PostgresConnection
    ) async throws -> Date {
        switch reason {
        case .refundRefused: return now
        case .institutionDefunct:
            guard let effective = try await DefunctRepository(store: store).effectiveTime(of: institution, on: connection)
            else { throw Rejection.institutionNotDefunct }
            return effective
        }
    }

    /// A claim as filed: the request, what the checks decided and the policy it names.
    private struct FiledClaim {
        var request: ClaimRequest
        var assessment: ClaimAssessment
        var policy: PolicyRecord
        var institution: Institution.ID

        /// `verified` when every check passes, `referred` (with the codes) when one needs a person, `rejected` (with
        /// the code) when one fails.
        var outcome: (status: ClaimStatus, reason: String?) {
            switch assessment.decision {
            case .approve: (.verified, nil)
            case .refer(let codes): (.referred, codes.map(\.rawValue).joined(separator: ","))
            case .reject(let code): (.rejected, code.rawValue)
            }
        }
    }

    /// Stores a filed claim with every check; a rejected one is decided at once.
    private func insert(_ claim: FiledClaim, at now: Date, on connection: PostgresConnection) async throws -> ClaimRecord {
        let (status, decisionReason) = claim.outcome
        let request = claim.request
        let assessment = claim.assessment
        let checks = String(decoding: try JSONEncoder().encode(assessment.checks.map(ClaimCheckRecord.init)), as: UTF8.self)
        let id = store.dependencies.newID()
        let filed: ClaimRecord? = try await mappingRejections {
            let rows = try await connection.query(
                """
                INSERT INTO claims AS cl (id, number, guardian_id, enrollment_id, institution_id, policy_id, insurer_id, reason,
                    claimed_fen, entitlement_fen, approvable_fen, status, checks, decision_reason, event_time, created_at, decided_at,
                    contested_fen)
                VALUES (\(id), 'TGC' || to_char(\(now) AT TIME ZONE 'Asia/Shanghai', 'YYYY') || lpad(nextval('claim_numbers')::text, 8, '0'),
                    \(request.claimant.uuid), \(request.enrollment.uuid), \(claim.institution.uuid), \(claim.policy.id.uuid),
                    \(claim.policy.insurerId.uuid), \(request.reason.rawValue), \(request.claimed.fen), \(assessment.entitlement.fen),
                    \(assessment.approvable.fen), \(status.rawValue), \(checks)::jsonb, \(decisionReason), \(request.eventTime), \(now),
                    \(status == .rejected ? now : nil), \(assessment.contested.fen))
                RETURNING \(unescaped: ClaimRecord.columns)
                """, logger: logger)
            // The database reports a refused row while the rows are read, so they are read inside the mapping.
            for try await row in rows { return try ClaimRecord(row: row) }
            return nil
        }
        guard let filed else { throw CorruptRow(value: "claim insert returned nothing") }
        return filed
    }

    /// What the checks need to know about an enrollment, from the ledger and the lessons table.
    func ledgerFacts(of enrollment: EnrollmentRecord, on connection: PostgresConnection) async throws -> EnrollmentLedgerFacts {
        let rows = try await connection.query(
            """
            SELECT c.lessons_per_week,
                (SELECT coalesce(sum(cl.added_back_fen), 0)::bigint FROM claims cl
                 WHERE cl.enrollment_id = \(enrollment.id.uuid) AND cl.status = 'paid')
            FROM courses c WHERE c.id = \(enrollment.courseId.uuid)
            """, logger: logger)
        var found: (Int, Int64)?
        for try await row in rows.decode((Int, Int64).self) { found = row }
        guard let (lessonsPerWeek, addedBack) = found else { throw CorruptRow(value: "enrollment \(enrollment.id) has no course") }
        var lessons: [LessonEntry] = []
        for try await (count, recordedAt, status) in try await connection.query(
            "SELECT lessons, recorded_at, status FROM lessons WHERE enrollment_id = \(enrollment.id.uuid) ORDER BY id", logger: logger
        ).decode((Int, Date, String).self) {
            lessons.append(LessonEntry(lessons: count, recordedAt: recordedAt, status: try decodeEnum(status)))
        }
        return EnrollmentLedgerFacts(
            enrollment: enrollment.id, institution: enrollment.institutionId, guardian: enrollment.guardianId,
            pricePerLesson: enrollment.pricePerLessonFen, lessonsBought: enrollment.lessonsBought, lessonsPerWeek: lessonsPerWeek,
            paid: enrollment.paidFen, paidAt: enrollment.paidAt, refunded: enrollment.refundedFen, claimPayouts: enrollment.returnedFen,
            addedBack: Money(fen: addedBack), lessons: lessons)
    }

    /// For a risk-control policy, its product's covered share and what the policy has paid on the enrollment so far, by
    /// guardians' claims and the fast-track's alike (`nil` for a tuition policy, which covers the whole enrollment).
    func riskShareTerms(
        of policy: PolicyRecord, on enrollment: EnrollmentRecord, on connection: PostgresConnection
    ) async throws -> RiskShareTerms? {
        guard policy.kind == .institutionRisk else { return nil }
        let rows = try await connection.query(
            """
            SELECT ip.covered_share_bp,
                (SELECT coalesce(sum(cl.insurer_paid_fen), 0)::bigint FROM claims cl
                 WHERE cl.guardian_id = \(enrollment.guardianId.uuid) AND cl.enrollment_id = \(enrollment.id.uuid)
                   AND cl.policy_id = p.id AND cl.status = 'paid')
            FROM policies p JOIN insurance_products ip ON ip.id = p.product_id
            WHERE p.id = \(policy.id.uuid)
            """, logger: logger)
        for try await (share, paid) in rows.decode((Int, Int64).self) {
            return RiskShareTerms(coveredShareBasisPoints: share, paidOnEnrollment: Money(fen: paid))
        }
        throw CorruptRow(value: "risk-control policy \(policy.id) has no product")
    }

    func fetchPolicy(_ id: Policy.ID, lock: Bool, on connection: PostgresConnection) async throws -> PolicyRecord? {
        let rows = try await connection.query(
            "SELECT \(unescaped: PolicyRecord.columns) FROM policies p WHERE p.id = \(id.uuid) \(unescaped: lock ? "FOR UPDATE" : "")",
            logger: logger)
        for try await row in rows { return try PolicyRecord(row: row, now: store.dependencies.now()) }
        return nil
    }

    // MARK: Deciding

    /// The insurer approves a verified or referred claim, all or part: `amount` is positive and at most what the checks
    /// found approvable; a referred claim may be approved up to the contested value more (disputed and burst lessons a
    /// person found not given), with a reason.
    public func approve(_ id: Claim.ID, insurer: Insurer.ID, amount: Money, reason: String? = nil) async throws -> ClaimRecord {
        try await approve(id, scope: Scope(insurer: insurer.uuid), amount: amount, reason: reason)
    }

    /// A district's regulator decides a referred claim on one of its institutions as the insurer would (the person the
    /// referral asks for may be the bureau's), always with a reason; the insurer still pays it.
    public func approve(_ id: Claim.ID, regulator district: DistrictCode, amount: Money, reason: String?) async throws -> ClaimRecord {
        try await approve(id, scope: Scope(district: district.value), amount: amount, reason: reason)
    }

    private func approve(_ id: Claim.ID, scope: Scope, amount: Money, reason: String?) async throws -> ClaimRecord {
        try await store.transaction { connection in
            guard let claim = try await fetch(id, scope: scope, lock: true, on: connection) else { throw NotFound() }
            let awaiting = scope.insurer != nil ? [ClaimStatus.verified, .referred] : [.referred]
            guard awaiting.contains(claim.status) else { throw Rejection.claimNotAwaitingDecision }
            guard scope.insurer != nil || reason != nil else { throw Rejection.additionNeedsReason }
            guard amount.isPositive, amount.fen <= claim.approvableFen.fen + claim.contestedFen.fen else {
                throw Rejection.approvalExceedsApprovable
            }
            guard amount <= claim.approvableFen || reason != nil else { throw Rejection.additionNeedsReason }
            // A guardian's own claim at a defunct institution could never be paid (`pay`); it may still be rejected.
            if claim.defunctCaseId == nil, try await isDefunct(claim.institutionId, on: connection) { throw Rejection.institutionDefunct }
            return try await decide(claim, status: .approved, approved: amount, reason: reason, on: connection)
        }
    }

    /// The insurer rejects a verified or referred claim with a reason.
    public func reject(_ id: Claim.ID, insurer: Insurer.ID, reason: String) async throws -> ClaimRecord {
        try await store.transaction { connection in
            guard let claim = try await fetch(id, scope: Scope(insurer: insurer.uuid), lock: true, on: connection) else { throw NotFound() }
            guard claim.status == .verified || claim.status == .referred else { throw Rejection.claimNotAwaitingDecision }
            let rejected = try await decide(claim, status: .rejected, approved: .zero, reason: reason, on: connection)
            try await countOnCase(claim, paid: .zero, on: connection)
            return rejected
        }
    }

    private func decide(_ claim: ClaimRecord, status: ClaimStatus, approved: Money, reason: String?, on connection: PostgresConnection)
        async throws -> ClaimRecord
    {
        let now = store.dependencies.now()
        let decided: ClaimRecord? = try await mappingRejections {
            let rows = try await connection.query(
                """
                UPDATE claims AS cl SET status = \(status.rawValue), approved_fen = \(approved.fen), decided_at = \(now),
                    decision_reason = coalesce(\(reason), cl.decision_reason)
                WHERE cl.id = \(claim.id.uuid) RETURNING \(unescaped: ClaimRecord.columns)
                """, logger: logger)
            for try await row in rows { return try ClaimRecord(row: row) }
            return nil
        }
        guard let decided else { throw NotFound() }
        try await EvidenceQueue(store: store).enqueue(
            EvidenceEvent(
                kind: .claimDecided, occurredAt: now, institution: claim.institutionId, enrollment: claim.enrollmentId,
                amount: status == .approved ? approved : nil, reference: "claim:\(claim.id):\(status.rawValue)"),
            on: connection)
        return decided
    }

    // MARK: Paying

    /// The insurer pays an approved claim, in the caller's transaction, by layer (`ClaimPayoutLayers`): what the escrow
    /// holds for the enrollment first (escrow → guardian's bank, key `claim:<id>:escrow`), then the insurer the rest
    /// (insurer claims account → guardian's bank, key `claim:<id>`); the policy's remaining sum goes down by the
    /// insurer's part. Paying a paid claim returns it and moves nothing.
    public func pay(_ id: Claim.ID, insurer: Insurer.ID, on transaction: StoreTransaction) async throws -> ClaimRecord {
        let connection = transaction.connection
        guard let seen = try await fetch(id, scope: Scope(insurer: insurer.uuid), on: connection) else { throw NotFound() }
        // The enrollment and its institution first (for update and share, as every money path takes them), then the
        // claim: the order a fast-track chunk takes them in, so the two never deadlock. A defunct mark cannot slip in
        // between, and the fast-track's plan either counts this payout or waits for it.
        let (enrollment, institutionStatus) = try await EnrollmentRepository(store: store).lockForMoney(
            seen.enrollmentId, scope: Scope(guardian: seen.guardianId.uuid), on: connection)
        guard var claim = try await fetch(id, scope: Scope(insurer: insurer.uuid), lock: true, on: connection) else { throw NotFound() }
        if claim.status == .paid || claim.status == .closed { return claim }
        guard claim.status == .approved else { throw Rejection.claimNotApproved }
        guard try await !fastTrackRunning(for: claim.institutionId, on: connection) else { throw Rejection.fastTrackInProgress }
        // A defunct institution's insurers pay only what its fast-track referred to them: a claim of the guardian's own,
        // approved before the mark, would take policy money the plan shared out to other guardians.
        guard institutionStatus != .defunct || claim.defunctCaseId != nil else { throw Rejection.institutionDefunct }
        guard let policy = try await fetchPolicy(claim.policyId, lock: true, on: connection) else { throw NotFound() }
        let available = try await available(on: policy, besides: claim, on: connection)
        let now = store.dependencies.now()
        // A case's claims are the insurance layers of its waterfall: the fast-track paid its escrow layer.
        let escrowHeld = claim.defunctCaseId == nil ? enrollment.position.escrowHeld : .zero
        // The policy cannot pay the approval in full any more (the fast-track or other claims used it up). A defunct
        // case's claim takes what is left, its approval lowered to that on the record and in the log: its guardian can
        // file nothing more, and the case counts the rest of its layer as uncovered. Any other claim could never be
        // paid, so it is closed with the reason rather than left approved for ever; its guardian may file again for
        // what is left.
        if ClaimPayoutLayers(paying: claim.approvedFen, approvable: claim.approvableFen, escrowHeld: escrowHeld).insurer > available {
            guard claim.defunctCaseId != nil, available.isPositive else {
                let reason = available.isPositive ? "policy_remaining_below_approval" : "policy_exhausted"
                return try await close(claim, reason: reason, at: now, on: connection)
            }
            let reason = withinReasonLimit(prefix: claim.decisionReason.map { $0 + "; " } ?? "", "policy_remaining_below_approval")
            claim = try await decide(claim, status: .approved, approved: available, reason: reason, on: connection)
        }
        let amount = claim.approvedFen
        // Refunds, lessons or another claim's payout since the approval may leave less owed than it grants. A guardian's
        // claim is then closed with the reason (it could never be paid, and an approved claim would block filing again on
        // this policy for what is still owed); a case's claim is refused, its figures left for a person to look at.
        let layers = ClaimPayoutLayers(paying: amount, approvable: claim.approvableFen, escrowHeld: escrowHeld)
        guard try await withinCeiling(claim, paying: layers, of: enrollment, policy: policy, at: now, on: connection) else {
            guard claim.defunctCaseId == nil else { throw Rejection.payoutExceedsEntitlement }
            return try await close(claim, reason: "entitlement_below_approval", at: now, on: connection)
        }
        let transfers = ClaimPayoutTransfers(
            escrow: try await postPayout(layers.escrow, from: .escrow, key: "claim:\(claim.id):escrow", of: claim, at: now, on: connection),
            insurer: try await postPayout(
                layers.insurer, from: .insurerClaims, key: "claim:\(claim.id)", of: claim, at: now, on: connection))
        let paid = try await markPaid(claim, layers: layers, transfers: transfers, at: now, on: connection)
        try await countOnCase(claim, paid: amount, on: connection)
        try await enqueuePaidEvents(claim, layers: layers, at: now, on: connection)
        return paid
    }

    /// What the policy can pay this claim: its remaining sum less the planned amounts of the other defunct cases' claims
    /// on it still awaiting a decision or payment (an approved one's approval, when lower). The fast-track shared the policy out among its referred claims too; a
    /// person adding back contested lessons on one of them must not take what the plan set aside for another guardian.
    private func available(on policy: PolicyRecord, besides claim: ClaimRecord, on connection: PostgresConnection) async throws -> Money {
        let rows = try await connection.query(
            """
            SELECT coalesce(sum(CASE WHEN status = 'approved' THEN least(claimed_fen, approved_fen) ELSE claimed_fen END), 0)::bigint
            FROM claims
            WHERE policy_id = \(policy.id.uuid) AND defunct_case_id IS NOT NULL AND id <> \(claim.id.uuid)
              AND status IN ('referred', 'verified', 'approved')
            """, logger: logger)
        var reserved: Int64 = 0
        for try await sum in rows.decode(Int64.self) { reserved = sum }
        return Money(fen: max(0, policy.remainingFen.fen - reserved))
    }

    /// The transfers of a claim's payout layers: none for a layer that paid nothing.
    private struct ClaimPayoutTransfers {
        var escrow: Int64?
        var insurer: Int64?
    }

    /// One payout layer's transfer to the guardian's bank; nothing for a layer that pays nothing.
    private func postPayout(
        _ amount: Money, from account: AccountKind, key: String, of claim: ClaimRecord, at now: Date,
        on connection: PostgresConnection
    ) async throws -> Int64? {
        guard amount.isPositive else { return nil }
        return try await EnrollmentRepository(store: store).post(
            PlannedTransfer(kind: .payout, from: account, to: .guardianBank, amount: amount), key: key, institution: claim.institutionId,
            guardian: claim.guardianId, insurer: claim.insurerId, enrollment: claim.enrollmentId, at: now, on: connection)
    }

    /// The escrow's layer is told as money returned from the institution's account, under its transfer key, as the
    /// fast-track tells its escrow layer; `claim_paid` carries the insurer's part (no amount when the escrow paid it all).
    private func enqueuePaidEvents(_ claim: ClaimRecord, layers: ClaimPayoutLayers, at now: Date, on connection: PostgresConnection)
        async throws
    {
        let queue = EvidenceQueue(store: store)
        if layers.escrow.isPositive {
            try await queue.enqueue(
                EvidenceEvent(
                    kind: .fundsReturned, occurredAt: now, institution: claim.institutionId, enrollment: claim.enrollmentId,
                    amount: layers.escrow, reference: "claim:\(claim.id):escrow"),
                on: connection)
        }
        try await queue.enqueue(
            EvidenceEvent(
                kind: .claimPaid, occurredAt: now, institution: claim.institutionId, enrollment: claim.enrollmentId,
                amount: layers.insurer.isPositive ? layers.insurer : nil, reference: "claim:\(claim.id)"),
            on: connection)
    }

    /// The enrollment's position bounds a payout, part by part: what it returns of what was owed is at most what is
    /// owed now (refunds and other claims' payouts since the approval count, so two claims on the same enrollment — a
    /// tuition and a risk policy, or the fast-track's — never repay it twice), and what it adds back at most the value of
    /// the contested lessons still contested now (`contestedValue` of today's facts: what earlier claims added back is
    /// no longer). Lessons count up to now, or up to the defunct time for a defunct institution. A risk-control policy
    /// pays at most what its covered share of the enrollment leaves (`RiskShareTerms`), counting what it paid before.
    private func withinCeiling(
        _ claim: ClaimRecord, paying layers: ClaimPayoutLayers, of enrollment: EnrollmentRecord, policy: PolicyRecord, at now: Date,
        on connection: PostgresConnection
    ) async throws -> Bool {
        let facts = try await ledgerFacts(of: enrollment, on: connection)
        let asOf = claim.reason == .institutionDefunct ? claim.eventTime : now
        let stillContested = layers.addedBack.isPositive ? contestedValue(of: facts, asOf: asOf) : .zero
        guard layers.owedPart <= entitlement(of: facts, asOf: asOf), layers.addedBack <= stillContested else { return false }
        guard let riskShare = try await riskShareTerms(of: policy, on: enrollment, on: connection) else { return true }
        // The policy's covered share of the contested lessons found not given, as the claim's contested figure took it.
        return try layers.escrow.plus(layers.insurer) <= riskShare.cap(of: facts, asOf: asOf, addedBack: stillContested)
    }

    /// Marks a claim paid by its layers' transfers, its approval in full: the policy's remaining sum goes down by the
    /// insurer's part, the enrollment's returned total up by what the payout returns of what was owed (not the add-back)
    /// and its escrow-returned total by the escrow's part; the claim records its add-back.
    private func markPaid(
        _ claim: ClaimRecord, layers: ClaimPayoutLayers, transfers: ClaimPayoutTransfers, at now: Date, on connection: PostgresConnection
    ) async throws -> ClaimRecord {
        let amount = try layers.escrow.plus(layers.insurer)
        let paid: ClaimRecord? = try await mappingRejections {
            let rows = try await connection.query(
                """
                WITH reduced AS (
                    UPDATE policies SET remaining_fen = remaining_fen - \(layers.insurer.fen) WHERE id = \(claim.policyId.uuid)),
                counted AS (
                    UPDATE enrollments SET returned_fen = returned_fen + \(layers.owedPart.fen),
                        escrow_returned_fen = escrow_returned_fen + \(layers.escrow.fen)
                    WHERE id = \(claim.enrollmentId.uuid))
                UPDATE claims AS cl SET status = 'paid', paid_fen = \(amount.fen), escrow_paid_fen = \(layers.escrow.fen),
                    added_back_fen = \(layers.addedBack.fen),
                    paid_at = \(now), payout_transfer_id = \(transfers.insurer), escrow_transfer_id = \(transfers.escrow)
                WHERE cl.id = \(claim.id.uuid) RETURNING \(unescaped: ClaimRecord.columns)
                """, logger: logger)
            for try await row in rows { return try ClaimRecord(row: row) }
            return nil
        }
        guard let paid else { throw CorruptRow(value: "claim payment updated nothing") }
        return paid
    }

    /// Closes a claim that can never be paid, with the reason and its evidence event.
    private func close(_ claim: ClaimRecord, reason: String, at now: Date, on connection: PostgresConnection) async throws -> ClaimRecord {
        let rows = try await connection.query(
            """
            UPDATE claims AS cl SET status = 'closed', decided_at = \(now), decision_reason = \(reason)
            WHERE cl.id = \(claim.id.uuid) RETURNING \(unescaped: ClaimRecord.columns)
            """, logger: logger)
        var closed: ClaimRecord?
        for try await row in rows { closed = try ClaimRecord(row: row) }
        guard let closed else { throw NotFound() }
        try await countOnCase(claim, paid: .zero, on: connection)
        try await EvidenceQueue(store: store).enqueue(
            EvidenceEvent(
                kind: .claimDecided, occurredAt: now, institution: claim.institutionId, enrollment: claim.enrollmentId,
                reference: "claim:\(claim.id):closed"),
            on: connection)
        return closed
    }

    /// A fast-track claim referred to a person is decided later: its case's figures follow, and so does its enrollment's
    /// settlement (the uncovered loss per enrollment). The layer's planned amount leaves the referred figure; what is
    /// paid joins the layer's paid figure (the settlement's layer becomes it), what is not the uncovered one, and what a
    /// person added back (disputed lessons found not given) the entitled one.
    private func countOnCase(_ claim: ClaimRecord, paid: Money, on connection: PostgresConnection) async throws {
        guard let caseID = claim.defunctCaseId, claim.layer != nil, claim.status == .referred || claim.status == .approved else {
            return
        }
        let planned = claim.claimedFen.fen
        let risk = claim.layer == "risk_policy" ? paid.fen : 0
        let tuition = claim.layer == "tuition_policy" ? paid.fen : 0
        try await connection.query(
            """
            UPDATE defunct_cases SET referred_fen = referred_fen - \(planned),
                paid_risk_policy_fen = paid_risk_policy_fen + \(risk), paid_tuition_policy_fen = paid_tuition_policy_fen + \(tuition),
                uncovered_fen = uncovered_fen + \(max(0, planned - paid.fen)), entitled_fen = entitled_fen + \(max(0, paid.fen - planned))
            WHERE id = \(caseID.uuid)
            """, logger: logger)
        try await connection.query(
            """
            UPDATE defunct_settlements SET
                risk_policy_fen = CASE WHEN \(claim.layer) = 'risk_policy' THEN \(paid.fen) ELSE risk_policy_fen END,
                tuition_policy_fen = CASE WHEN \(claim.layer) = 'tuition_policy' THEN \(paid.fen) ELSE tuition_policy_fen END,
                uncovered_fen = uncovered_fen + \(max(0, planned - paid.fen)),
                entitlement_fen = entitlement_fen + \(max(0, paid.fen - planned))
            WHERE case_id = \(caseID.uuid) AND enrollment_id = \(claim.enrollmentId.uuid)
            """, logger: logger)
    }

    /// `prefix` (a person's words) and then the system's `reason`, within the 1,000 characters a decision reason may have
    /// (`claims.decision_reason`): the person's words are cut, never the reason, so a long approval text cannot make the
    /// claim unpayable.
    private func withinReasonLimit(prefix: String, _ reason: String) -> String {
        let room = max(0, 1_000 - reason.unicodeScalars.count)
        return String(String.UnicodeScalarView(prefix.unicodeScalars.prefix(room))) + reason
    }

    /// Whether the institution is marked defunct (it then has a defunct case).
    private func isDefunct(_ institution: Institution.ID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT 1 FROM defunct_cases WHERE institution_id = \(institution.uuid)", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Whether the institution's defunct fast-track is still paying: its plan counts on what is left of the policies,
    /// so insurers' own payouts on that institution wait until it is done.
    private func fastTrackRunning(for institution: Institution.ID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT 1 FROM defunct_cases WHERE institution_id = \(institution.uuid) AND status <> 'completed'", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    // MARK: Reading

    /// Who sees a claim: its guardian, its insurer, the institution of its enrollment (read-only), and the regulator
    /// of that institution's district.
    func fetch(_ id: Claim.ID, scope: Scope, lock: Bool = false, on connection: PostgresConnection) async throws -> ClaimRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: ClaimRecord.columns) FROM claims cl JOIN institutions i ON i.id = cl.institution_id
            WHERE cl.id = \(id.uuid) AND (cl.guardian_id = \(scope.guardian) OR cl.insurer_id = \(scope.insurer)
                OR cl.institution_id = \(scope.institution) OR i.district_code = \(scope.district))
            \(unescaped: lock ? "FOR UPDATE OF cl" : "")
            """, logger: logger)
        for try await row in rows { return try ClaimRecord(row: row) }
        return nil
    }

    public func claim(_ id: Claim.ID, scope: Scope) async throws -> ClaimRecord? {
        try await store.withConnection { connection in try await fetch(id, scope: scope, on: connection) }
    }

    /// The claims `scope` sees, optionally of one status, in id order: the insurer's queue is `status=verified`.
    public func claims(scope: Scope, status: ClaimStatus?, page: PageRequest) async throws -> Page<ClaimRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: ClaimRecord.columns) FROM claims cl JOIN institutions i ON i.id = cl.institution_id
            WHERE (cl.guardian_id = \(scope.guardian) OR cl.insurer_id = \(scope.insurer)
                OR cl.institution_id = \(scope.institution) OR i.district_code = \(scope.district))
              AND (\(status?.rawValue)::text IS NULL OR cl.status = \(status?.rawValue)) AND cl.id > \(page.afterOrFloor)
            ORDER BY cl.id LIMIT \(page.limit + 1)
            """)
        var items: [ClaimRecord] = []
        for try await row in rows { items.append(try ClaimRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }
}
