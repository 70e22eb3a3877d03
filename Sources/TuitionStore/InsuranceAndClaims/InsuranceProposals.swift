import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension RiskPolicyProposalRecord {
    static let columns = """
        rp.id, rp.product_id, rp.insurer_id, rp.institution_id, rp.sum_insured_fen, rp.premium_fen, rp.period_start::text,
        rp.period_end::text, rp.status, rp.created_at, rp.answered_at
        """

    init(row: PostgresRow) throws {
        let (id, product, insurer, institution, sum, premium, start, end, status, created, answered) = try row.decode(
            (UUID, UUID, UUID, UUID, Int64, Int64, String, String, String, Date, Date?).self)
        try self.init(
            id: .init(id),
            productId: .init(product),
            insurerId: .init(insurer),
            institutionId: .init(institution),
            sumInsuredFen: Money(fen: sum),
            premiumFen: Money(fen: premium),
            periodStart: decodeDate(start),
            periodEnd: decodeDate(end),
            status: decodeEnum(status),
            createdAt: created,
            answeredAt: answered)
    }
}

/// Consent to risk-control policies: the insurer proposes, the institution accepts (paying the premium) or rejects.
extension InsuranceRepository {
    /// The insurer proposes a risk-control policy on one of its own `institution_risk` products. The terms are checked
    /// now and again on acceptance; nothing moves.
    public func proposeRiskPolicy(_ new: NewRiskPolicy, insurer: Insurer.ID) async throws -> RiskPolicyProposalRecord {
        try await store.transaction { connection in try await proposeRiskPolicy(new, insurer: insurer, on: connection) }
    }

    public func proposeRiskPolicy(_ new: NewRiskPolicy, insurer: Insurer.ID, on transaction: StoreTransaction) async throws
        -> RiskPolicyProposalRecord
    {
        let connection = transaction.connection
        // Another insurer's product is not found, as if it did not exist.
        guard let product = try await fetchProduct(new.productId, on: connection), product.insurerId == insurer else { throw NotFound() }
        let status = try await EnrollmentRepository(store: store).institutionStatus(new.institutionId, on: connection)
        if let closed = refusal(of: status) { throw closed }
        let premium = try checkRiskTerms(
            product: product.product, institution: new.institutionId, sumInsured: new.sumInsuredFen, periodStart: new.periodStart,
            periodEnd: new.periodEnd)
        let proposal = try await mappingRejections {
            let rows = try await connection.query(
                """
                INSERT INTO risk_policy_proposals AS rp (id, product_id, insurer_id, institution_id, sum_insured_fen, premium_fen,
                    period_start, period_end, created_at)
                VALUES (\(store.dependencies.newID()), \(product.id.uuid), \(insurer.uuid), \(new.institutionId.uuid),
                    \(new.sumInsuredFen.fen), \(premium.fen), \(new.periodStart.description)::date, \(new.periodEnd.description)::date,
                    \(store.dependencies.now()))
                RETURNING \(unescaped: RiskPolicyProposalRecord.columns)
                """, logger: logger)
            // Read inside: a constraint's refusal arrives with the rows.
            for try await row in rows { return Optional(try RiskPolicyProposalRecord(row: row)) }
            return nil
        }
        if let proposal { return proposal }
        throw CorruptRow(value: "risk policy proposal insert returned nothing")
    }

    /// Who sees a proposal: the insurer that made it, the institution it is made to, the district's regulator.
    public func riskPolicyProposal(_ id: Policy.ID, scope: Scope) async throws -> RiskPolicyProposalRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: RiskPolicyProposalRecord.columns) FROM risk_policy_proposals rp
                JOIN institutions i ON i.id = rp.institution_id
            WHERE rp.id = \(id.uuid) AND (rp.insurer_id = \(scope.insurer) OR rp.institution_id = \(scope.institution)
                OR i.district_code = \(scope.district))
            """)
        for try await row in rows { return try RiskPolicyProposalRecord(row: row) }
        return nil
    }

    public func riskPolicyProposals(scope: Scope, page: PageRequest) async throws -> Page<RiskPolicyProposalRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: RiskPolicyProposalRecord.columns) FROM risk_policy_proposals rp
                JOIN institutions i ON i.id = rp.institution_id
            WHERE (rp.insurer_id = \(scope.insurer) OR rp.institution_id = \(scope.institution) OR i.district_code = \(scope.district))
              AND rp.id > \(page.afterOrFloor)
            ORDER BY rp.id LIMIT \(page.limit + 1)
            """)
        var items: [RiskPolicyProposalRecord] = []
        for try await row in rows { items.append(try RiskPolicyProposalRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    /// The institution accepts a proposal made to it: the premium leaves its bank for the insurer and the policy (with
    /// the proposal's id) is in force from its period's start. `key` makes the premium idempotent: the same key again
    /// returns the policy it issued.
    public func acceptRiskPolicy(_ id: Policy.ID, institution: Institution.ID, key: String, on transaction: StoreTransaction)
        async throws -> PolicyRecord
    {
        let connection = transaction.connection
        if let issued = try await policy(premiumKey: key, scope: Scope(institution: institution.uuid), on: connection) { return issued }
        let proposals = ProposalAnswers<RiskPolicyProposalRecord>(connection: connection, logger: logger)
        let proposal = try await proposals.lockOpen(id.uuid, addressee: institution.uuid)
        guard let product = try await fetchProduct(proposal.productId, on: connection) else { throw NotFound() }
        let status = try await EnrollmentRepository(store: store).institutionStatus(institution, on: connection)
        if let closed = refusal(of: status) { throw closed }
        let policy = try await issue(
            product: product.product, insured: .institution(institution), institution: institution, sumInsured: proposal.sumInsuredFen,
            periodStart: proposal.periodStart, periodEnd: proposal.periodEnd, tuitionPaid: .zero, payer: .institutionBank, key: key,
            id: id.uuid, on: connection)
        try await proposals.answer(id.uuid, status: .accepted, at: store.dependencies.now())
        return policy
    }

    /// The institution turns a proposal made to it down; nothing moves.
    public func rejectRiskPolicy(_ id: Policy.ID, institution: Institution.ID) async throws -> RiskPolicyProposalRecord {
        try await store.transaction { connection in
            let proposals = ProposalAnswers<RiskPolicyProposalRecord>(connection: connection, logger: logger)
            _ = try await proposals.lockOpen(id.uuid, addressee: institution.uuid)
            return try await proposals.answer(id.uuid, status: .rejected, at: store.dependencies.now())
        }
    }

    // MARK: Steps

    /// The terms a risk-control policy must meet (`checkPolicyTerms`, never backdated) and its premium.
    private func checkRiskTerms(
        product: InsuranceProduct, institution: Institution.ID, sumInsured: Money, periodStart: BusinessDate, periodEnd: BusinessDate
    ) throws -> Money {
        if let rejection = checkPolicyTerms(
            product: product, insured: .institution(institution), sumInsured: sumInsured, periodStart: periodStart.shanghaiMidnight,
            periodEnd: periodEnd.shanghaiMidnight, tuitionPaid: .zero)
        {
            throw rejection
        }
        guard periodStart >= BusinessDate(shanghaiDateOf: store.dependencies.now()) else { throw Rejection.policyStartsInThePast }
        return premium(for: product, sumInsured: sumInsured)
    }
}
