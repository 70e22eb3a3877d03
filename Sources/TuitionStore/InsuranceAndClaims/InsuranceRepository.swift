import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension InsuranceProductRecord {
    static let columns = "ip.id, ip.insurer_id, ip.kind, ip.premium_rate_bp, ip.covered_share_bp, ip.limit_fen, ip.created_at"

    init(row: PostgresRow) throws {
        let (id, insurer, kind, rate, share, limit, created) =
            try row.decode((UUID, UUID, String, Int, Int?, Int64?, Date).self)
        try self.init(
            id: .init(id),
            insurerId: .init(insurer),
            kind: decodeEnum(kind),
            premiumRateBasisPoints: rate,
            coveredShareBasisPoints: share,
            limitFen: limit.map(Money.init(fen:)),
            createdAt: created)
    }
}

extension PolicyRecord {
    static let columns = """
        p.id, p.number, p.product_id, p.insurer_id, p.kind, p.institution_id, p.enrollment_id, p.guardian_id,
        p.sum_insured_fen, p.remaining_fen, p.premium_fen, p.period_start, p.period_end, p.cancelled_at, p.created_at
        """

    init(row: PostgresRow, now: Date) throws {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        try self.init(
            id: .init(cell(0, UUID.self)),
            number: cell(1),
            productId: .init(cell(2, UUID.self)),
            insurerId: .init(cell(3, UUID.self)),
            kind: decodeEnum(cell(4, String.self)),
            institutionId: .init(cell(5, UUID.self)),
            enrollmentId: cell(6, UUID?.self).map(Enrollment.ID.init),
            guardianId: cell(7, UUID?.self).map(Guardian.ID.init),
            sumInsuredFen: Money(fen: cell(8)),
            remainingFen: Money(fen: cell(9)),
            premiumFen: Money(fen: cell(10)),
            periodStart: cell(11),
            periodEnd: cell(12),
            cancelledAt: cell(13, Date?.self),
            status: .active,
            createdAt: cell(14))
        status = try policy.policyStatus(at: now)
    }

    /// The core's policy, for the rules that decide on it.
    var policy: Policy {
        get throws {
            let insured: InsuredParty
            switch (kind, enrollmentId, guardianId) {
            case (.institutionRisk, nil, nil): insured = .institution(institutionId)
            case (.studentTuition, let enrollment?, let guardian?): insured = .enrollment(enrollment, guardian: guardian)
            default: throw CorruptRow(value: "policy \(id) insures no party of its kind")
            }
            return Policy(
                id: id, number: number, product: productId, kind: kind, insured: insured, sumInsured: sumInsuredFen,
                remaining: remainingFen, premium: premiumFen, periodStart: periodStart, periodEnd: periodEnd, cancelledAt: cancelledAt)
        }
    }
}

/// Insurers' products and the policies issued on them. Issuing a policy (a guardian buying one, an institution
/// accepting an insurer's proposal: InsuranceProposals.swift) writes, in the caller's transaction, the premium
/// transfer into the insurer's claims account, the policy row and its `policy_issued` evidence event.
public struct InsuranceRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    // MARK: Products

    public func createProduct(_ new: NewInsuranceProduct, insurer: Insurer.ID) async throws -> InsuranceProductRecord {
        if let rejection = checkProductTerms(
            kind: new.kind, premiumRateBasisPoints: new.premiumRateBasisPoints, coveredShareBasisPoints: new.coveredShareBasisPoints,
            limit: new.limitFen)
        {
            throw rejection
        }
        let product = try await mappingRejections {
            try await store.firstRow(
                ofWrite: """
                    INSERT INTO insurance_products AS ip (id, insurer_id, kind, premium_rate_bp, covered_share_bp, limit_fen, created_at)
                    VALUES (\(store.dependencies.newID()), \(insurer.uuid), \(new.kind.rawValue), \(new.premiumRateBasisPoints),
                        \(new.coveredShareBasisPoints), \(new.limitFen?.fen), \(store.dependencies.now()))
                    RETURNING \(unescaped: InsuranceProductRecord.columns)
                    """, InsuranceProductRecord.init(row:))
        }
        if let product { return product }
        throw CorruptRow(value: "product insert returned nothing")
    }

    /// Products are offers: every principal may read them all (a guardian picks a tuition product to buy).
    public func products(kind: InsuranceProductKind?, page: PageRequest) async throws -> Page<InsuranceProductRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: InsuranceProductRecord.columns) FROM insurance_products ip
            WHERE (\(kind?.rawValue)::text IS NULL OR ip.kind = \(kind?.rawValue)) AND ip.id > \(page.afterOrFloor)
            ORDER BY ip.id LIMIT \(page.limit + 1)
            """)
        var items: [InsuranceProductRecord] = []
        for try await row in rows { items.append(try InsuranceProductRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    func fetchProduct(_ id: InsuranceProduct.ID, on connection: PostgresConnection) async throws -> InsuranceProductRecord? {
        let rows = try await connection.query(
            "SELECT \(unescaped: InsuranceProductRecord.columns) FROM insurance_products ip WHERE ip.id = \(id.uuid)", logger: logger)
        for try await row in rows { return try InsuranceProductRecord(row: row) }
        return nil
    }

    // MARK: Issuing

    /// The guardian buys a tuition policy for one of its paid enrollments; the premium leaves its bank.
    /// The sum insured may not exceed what was paid for the enrollment, and an enrollment owed nothing any more (every
    /// lesson given or refunded) is insured by no policy: no claim on it could ever be paid, and its premium would be
    /// charged for nothing. `key` makes the premium idempotent.
    public func buyTuitionPolicy(
        _ new: NewTuitionPolicy, enrollment id: Enrollment.ID, guardian: Guardian.ID, key: String, on transaction: StoreTransaction
    ) async throws -> PolicyRecord {
        let connection = transaction.connection
        let scope = Scope(guardian: guardian.uuid)
        if let issued = try await policy(premiumKey: key, scope: scope, on: connection) { return issued }
        // The enrollment is locked so two purchases for it queue behind each other.
        let (enrollment, status) = try await EnrollmentRepository(store: store).lockForMoney(id, scope: scope, on: connection)
        guard let product = try await fetchProduct(new.productId, on: connection) else { throw NotFound() }
        if let closed = refusal(of: status) { throw closed }
        guard enrollment.position.isPaid else { throw Rejection.enrollmentNotPaid }
        guard enrollment.position.outstanding.isPositive else { throw Rejection.sumInsuredExceedsCover }
        return try await issue(
            product: product.product, insured: .enrollment(id, guardian: guardian), institution: enrollment.institutionId,
            sumInsured: new.sumInsuredFen, periodStart: new.periodStart, periodEnd: new.periodEnd, tuitionPaid: enrollment.paidFen,
            payer: .guardianBank, key: key, on: connection)
    }

    /// Checks the terms, charges the premium and writes the policy (with `id` when a proposal chose it).
    func issue(
        product: InsuranceProduct, insured: InsuredParty, institution: Institution.ID, sumInsured: Money, periodStart: BusinessDate,
        periodEnd: BusinessDate, tuitionPaid: Money, payer: AccountKind, key: String, id chosen: UUID? = nil,
        on connection: PostgresConnection
    ) async throws -> PolicyRecord {
        let now = store.dependencies.now()
        let (start, end) = (periodStart.shanghaiMidnight, periodEnd.shanghaiMidnight)
        if let rejection = checkPolicyTerms(
            product: product, insured: insured, sumInsured: sumInsured, periodStart: start, periodEnd: end, tuitionPaid: tuitionPaid)
        {
            throw rejection
        }
        // Cover is never backdated: a policy bought after the event would insure a known loss. Not even to the start of
        // the day it is bought: cover starting today starts when it is bought.
        guard periodStart >= BusinessDate(shanghaiDateOf: now) else { throw Rejection.policyStartsInThePast }
        let coverStart = max(start, now)
        let amount = premium(for: product, sumInsured: sumInsured)
        let transfer = PlannedTransfer(kind: .premium, from: payer, to: .insurerClaims, amount: amount)
        let id = chosen ?? store.dependencies.newID()
        let guardian: Guardian.ID?
        let enrollment: Enrollment.ID?
        switch insured {
        case .institution: (guardian, enrollment) = (nil, nil)
        case .enrollment(let insuredEnrollment, let insuredGuardian): (guardian, enrollment) = (insuredGuardian, insuredEnrollment)
        }
        // A guardian's premium is its own money leaving for the insurer: it is filed under no institution, so the
        // institution's transfer list and the enrollment's statement show only tuition.
        let transferID = try await EnrollmentRepository(store: store).post(
            transfer, key: key, institution: guardian == nil ? institution : nil, guardian: guardian, insurer: product.insurer,
            enrollment: nil, at: now, on: connection)
        let issued: PolicyRecord? = try await mappingRejections {
            let rows = try await connection.query(
                """
                INSERT INTO policies AS p (id, number, product_id, insurer_id, kind, institution_id, enrollment_id, guardian_id,
                    sum_insured_fen, remaining_fen, premium_fen, premium_transfer_id, period_start, period_end, created_at)
                VALUES (\(id), 'TGP' || to_char(\(now) AT TIME ZONE 'Asia/Shanghai', 'YYYY') || lpad(nextval('policy_numbers')::text, 8, '0'),
                    \(product.id.uuid), \(product.insurer.uuid), \(product.kind.rawValue), \(institution.uuid), \(enrollment?.uuid),
                    \(guardian?.uuid), \(sumInsured.fen), \(sumInsured.fen), \(amount.fen), \(transferID), \(coverStart), \(end), \(now))
                RETURNING \(unescaped: PolicyRecord.columns)
                """, logger: logger)
            // The database reports a refused row while the rows are read, so they are read inside the mapping.
            for try await row in rows { return try PolicyRecord(row: row, now: now) }
            return nil
        }
        guard let issued else { throw CorruptRow(value: "policy insert returned nothing") }
        // The public log carries the cover (sum insured) and the premium that moved, not the guardian.
        let evidence = EvidenceQueue(store: store)
        try await evidence.enqueue(
            EvidenceEvent(
                kind: .policyIssued, occurredAt: now, institution: institution, enrollment: enrollment, amount: sumInsured,
                reference: "policy:\(issued.id)"),
            on: connection)
        try await evidence.enqueue(
            EvidenceEvent(
                kind: .premiumPaid, occurredAt: now, institution: institution, enrollment: enrollment, amount: amount,
                reference: "policy:\(issued.id)"),
            on: connection)
        return issued
    }

    // MARK: Reading

    /// Who sees a policy: its insurer; the institution it insures (risk-control policies only: a guardian's tuition
    /// policy is not the institution's business); the guardian of the insured enrollment, and of any paid enrollment at
    /// an institution a risk-control policy insures (its guardians are the policy's beneficiaries, and file claims on it
    /// by its id; an order not paid yet is not enough); the regulator of the district of the policy's institution.
    public func policy(_ id: Policy.ID, scope: Scope) async throws -> PolicyRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: PolicyRecord.columns) FROM policies p JOIN institutions i ON i.id = p.institution_id
            WHERE p.id = \(id.uuid) AND (p.insurer_id = \(scope.insurer)
                OR (p.kind = 'institution_risk' AND p.institution_id = \(scope.institution))
                OR p.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district)
                OR (p.kind = 'institution_risk'
                    AND p.institution_id IN (
                        SELECT e.institution_id FROM enrollments e WHERE e.guardian_id = \(scope.guardian) AND e.paid_fen > 0)))
            """)
        let now = store.dependencies.now()
        for try await row in rows { return try PolicyRecord(row: row, now: now) }
        return nil
    }

    public func policies(scope: Scope, page: PageRequest) async throws -> Page<PolicyRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: PolicyRecord.columns) FROM policies p JOIN institutions i ON i.id = p.institution_id
            WHERE (p.insurer_id = \(scope.insurer)
                OR (p.kind = 'institution_risk' AND p.institution_id = \(scope.institution))
                OR p.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district)
                OR (p.kind = 'institution_risk'
                    AND p.institution_id IN (
                        SELECT e.institution_id FROM enrollments e WHERE e.guardian_id = \(scope.guardian) AND e.paid_fen > 0)))
              AND p.id > \(page.afterOrFloor)
            ORDER BY p.id LIMIT \(page.limit + 1)
            """)
        let now = store.dependencies.now()
        var items: [PolicyRecord] = []
        for try await row in rows { items.append(try PolicyRecord(row: row, now: now)) }
        return page.page(items) { $0.id.uuid }
    }

    /// The policy whose premium moved under `key`, if `scope` accepted or bought it.
    func policy(premiumKey key: String, scope: Scope, on connection: PostgresConnection) async throws -> PolicyRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: PolicyRecord.columns) FROM policies p JOIN transfers t ON t.id = p.premium_transfer_id
            WHERE t.idempotency_key = \(key) AND (p.guardian_id = \(scope.guardian)
                OR (p.kind = 'institution_risk' AND p.institution_id = \(scope.institution)))
            """, logger: logger)
        for try await row in rows { return try PolicyRecord(row: row, now: store.dependencies.now()) }
        return nil
    }
}

extension BusinessDate {
    /// 00:00 in Shanghai (UTC+8, no daylight saving since 1991) on this date.
    var shanghaiMidnight: Date { Date(timeIntervalSince1970: TimeInterval(daysSinceEpoch * 86_400 - 8 * 3_600)) }
}
