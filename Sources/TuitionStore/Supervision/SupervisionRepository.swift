import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// The regulator's side of supervision: sanctions (suspend, reinstate, blacklist), annual inspections, and the credit
/// grade they and the warnings, complaints and reviews feed.
public struct SupervisionRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    // MARK: Sanctions

    /// Suspends, reinstates or blacklists an institution of `district`. Suspended and blacklisted institutions fail
    /// `InstitutionStatus.isOperating`, so they take no new enrollments, payments or lessons; blacklisting is final.
    public func sanction(_ id: Institution.ID, action: SanctionAction, note: String, district: DistrictCode) async throws
        -> SanctionRecord
    {
        try await store.transactionChangingAuthority { connection in
            // Blacklisting revokes the institution's tokens. A money write holds its token's row before the institution
            // (the key claim, then the money lock): the tokens are taken first here too, or the two would deadlock.
            if action == .blacklist {
                try await connection.run(
                    """
                    SELECT count(*) FROM (
                        SELECT 1 FROM principals p JOIN institutions i ON i.id = p.institution_id
                        WHERE p.institution_id = \(id.uuid) AND i.district_code = \(district.value) AND p.revoked_at IS NULL
                        ORDER BY p.id FOR UPDATE OF p) AS held
                    """, logger: logger)
            }
            let rows = try await connection.query(
                "SELECT status FROM institutions WHERE id = \(id.uuid) AND district_code = \(district.value) FOR UPDATE",
                logger: logger)
            var found: InstitutionStatus?
            for try await status in rows.decode(String.self) { found = try decodeEnum(status) }
            guard let current = found else { throw NotFound() }
            let next = try nextStatus(current, action: action, hasUnresolvedWarnings: try await hasUnresolvedWarnings(id, on: connection))
            let now = store.dependencies.now()
            let sanctionID = store.dependencies.newID()
            try await connection.query(
                """
                WITH changed AS (UPDATE institutions SET status = \(next.rawValue) WHERE id = \(id.uuid))
                INSERT INTO institution_sanctions (id, institution_id, action, note, created_at)
                VALUES (\(sanctionID), \(id.uuid), \(action.rawValue), \(note), \(now))
                """, logger: logger)
            try await EvidenceQueue(store: store).enqueue(
                EvidenceEvent(kind: .institutionStatusChanged, occurredAt: now, institution: id, reference: next.rawValue),
                on: connection)
            if next == .blacklisted { try await onBlacklisted(id, note: note, on: connection) }
            _ = try await recomputeCredit(institutions: [id.uuid], on: connection)
            return SanctionRecord(id: sanctionID, institutionId: id, action: action, note: note, status: next, createdAt: now)
        }
    }

    /// Called inside the blacklisting transaction, after the status change and before the commit: the institution's
    /// signing certificates are revoked, so it signs nothing more (what it signed before stays valid), and so are its
    /// API tokens: blacklisting is final, the institution does nothing more through the API.
    func onBlacklisted(_ id: Institution.ID, note: String, on connection: PostgresConnection) async throws {
        try await CertificateRepository(store: store).revokeInstitution(id, reason: "blacklisted: " + note, on: connection)
        try await PrincipalRepository(store: store).revokeInstitution(id, on: connection)
    }

    func nextStatus(_ current: InstitutionStatus, action: SanctionAction, hasUnresolvedWarnings: Bool) throws -> InstitutionStatus {
        if current == .blacklisted { throw Rejection.institutionIsBlacklisted }
        if current == .defunct { throw Rejection.institutionNotOperating }
        switch action {
        case .suspend:
            guard current.isOperating else { throw Rejection.institutionAlreadySuspended }
            return .suspended
        case .reinstate:
            guard current == .suspended else { throw Rejection.institutionNotSuspended }
            return hasUnresolvedWarnings ? .warned : .active
        case .blacklist:
            return .blacklisted
        }
    }

    func hasUnresolvedWarnings(_ id: Institution.ID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM warnings WHERE institution_id = \(id.uuid) AND status <> 'resolved')", logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    // MARK: Inspections

    /// Records (or corrects) the year's inspection of an institution of `district`, and regrades it.
    public func recordInspection(_ new: NewInspection, institution id: Institution.ID, district: DistrictCode) async throws
        -> InspectionRecord
    {
        guard (2000...2100).contains(new.year), (1...5).contains(new.starRating) else { throw Rejection.inspectionInvalid }
        let note = try validOptionalText(new.note, maxScalars: 2_000)
        return try await store.transaction { connection in
            let now = store.dependencies.now()
            let rows = try await connection.query(
                """
                INSERT INTO institution_inspections (institution_id, year, result, star_rating, note, recorded_at)
                SELECT i.id, \(new.year), \(new.result.rawValue), \(new.starRating), \(note), \(now)
                FROM institutions i WHERE i.id = \(id.uuid) AND i.district_code = \(district.value)
                ON CONFLICT (institution_id, year) DO UPDATE SET result = EXCLUDED.result, star_rating = EXCLUDED.star_rating,
                    note = EXCLUDED.note, recorded_at = EXCLUDED.recorded_at
                RETURNING institution_id
                """, logger: logger)
            var inserted = false
            for try await _ in rows { inserted = true }
            guard inserted else { throw NotFound() }
            _ = try await recomputeCredit(institutions: [id.uuid], on: connection)
            return InspectionRecord(
                institutionId: id, year: new.year, result: new.result, starRating: new.starRating, note: note, recordedAt: now)
        }
    }

    // MARK: Credit

    /// The institution's credit grade if `scope` may see the institution, computed now if it has none yet.
    public func credit(_ id: Institution.ID, scope: Scope) async throws -> CreditRecord? {
        let visible = try await store.query(
            """
            SELECT i.id FROM institutions i
            WHERE i.id = \(id.uuid) AND (i.id = \(scope.institution) OR i.district_code = \(scope.district))
            """)
        var found = false
        for try await _ in visible { found = true }
        guard found else { return nil }
        if let stored = try await storedCredit(id) { return stored }
        _ = try await store.transaction { connection in try await recomputeCredit(institutions: [id.uuid], on: connection) }
        return try await storedCredit(id)
    }

    func storedCredit(_ id: Institution.ID) async throws -> CreditRecord? {
        let rows = try await store.query(
            "SELECT grade, points, components::text, computed_at FROM credit_grades WHERE institution_id = \(id.uuid)")
        for try await (grade, points, components, computed) in rows.decode((String, Int, String, Date).self) {
            return CreditRecord(
                institutionId: id, grade: try decodeEnum(grade), points: points,
                components: try JSONDecoder().decode([CreditComponent].self, from: Data(components.utf8)), computedAt: computed)
        }
        return nil
    }

    public func recomputeCredit(_ target: EvaluationTarget) async throws -> Int {
        try await store.transaction { connection in
            switch target {
            case .all: try await recomputeCredit(institutions: nil, on: connection)
            case .district(let code): try await recomputeCredit(institutions: nil, district: code.value, on: connection)
            case .institution(let id): try await recomputeCredit(institutions: [id.uuid], on: connection)
            case .institutions(let ids): try await recomputeCredit(institutions: ids.map(\.uuid), on: connection)
            }
        }
    }

    /// Regrades the given institutions (all of `district`, or all, when nil): one query gathers every input,
    /// `creditScore` scores each, one statement stores the grades. Returns how many were graded.
    @discardableResult
    func recomputeCredit(
        institutions ids: [UUID]?, district: String? = nil, gathered: [InstitutionFiguresRow]? = nil, on connection: PostgresConnection
    ) async throws -> Int {
        let now = store.dependencies.now()
        let inputs = try await creditInputs(institutions: ids, district: district, gathered: gathered, now: now, on: connection)
        guard !inputs.isEmpty else { return 0 }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let scores = inputs.map { creditScore($0.inputs) }
        let components = try scores.map { String(decoding: try encoder.encode($0.components), as: UTF8.self) }
        // A grade of a final status (defunct, blacklisted: D) is final too; one computed from a status read before that
        // status committed does not replace it, another final one does (a blacklisted institution marked defunct).
        let final = inputs.map { [.defunct, .blacklisted].contains($0.inputs.status) }
        try await connection.query(
            """
            INSERT INTO credit_grades (institution_id, grade, points, components, computed_at, final)
            SELECT g.id, g.grade, g.points, g.components::jsonb, \(now), g.final
            FROM unnest(\(inputs.map { $0.institution })::uuid[], \(scores.map(\.grade.rawValue))::text[], \(scores.map(\.points))::int[],
                \(components)::text[], \(final)::boolean[]) AS g(id, grade, points, components, final)
            ON CONFLICT (institution_id) DO UPDATE SET grade = EXCLUDED.grade, points = EXCLUDED.points,
                components = EXCLUDED.components, computed_at = EXCLUDED.computed_at, final = EXCLUDED.final
            WHERE NOT credit_grades.final OR EXCLUDED.final
            """, logger: logger)
        return inputs.count
    }

    /// Every input of the credit grade of the given institutions, in one query: the reserve and the risk cover from
    /// `institution_figures` (sql/0017), the inspection, warnings, complaints and reviews beside them. `gathered` are
    /// the institutions' rows of `institution_figures` already read in this transaction (an evaluation's), graded
    /// without reading them again; their status and mode are read now, as an evaluation may just have moved them.
    func creditInputs(
        institutions ids: [UUID]?, district: String?, gathered: [InstitutionFiguresRow]? = nil, now: Date, on connection: PostgresConnection
    ) async throws -> [(institution: UUID, inputs: CreditInputs)] {
        let rows = try await connection.query(
            """
            WITH figures AS MATERIALIZED (
                SELECT f.institution_id, f.reserve_fen, f.unconsumed_fen, f.risk_excuses_reserve
                FROM institution_figures(\(district)::text, \(ids)::uuid[], \(now)::timestamptz) f
                WHERE \(gathered?.map(\.institution))::uuid[] IS NULL
                UNION ALL
                SELECT * FROM unnest(\(gathered?.map(\.institution))::uuid[], \(gathered?.map(\.cover.reserveHeld.fen))::bigint[],
                    \(gathered?.map(\.cover.unconsumed.fen))::bigint[], \(gathered?.map(\.cover.riskPolicyExcusesReserve))::boolean[])
                    AS g(institution_id, reserve_fen, unconsumed_fen, risk_excuses_reserve)),
            inst AS MATERIALIZED (
                SELECT f.institution_id AS id, i.supervision_mode, i.status, f.risk_excuses_reserve,
                    f.reserve_fen::numeric * 10000 >= f.unconsumed_fen::numeric * i.reserve_ratio_bp AS reserve_covers
                FROM figures f JOIN institutions i ON i.id = f.institution_id),
            inspection AS (
                SELECT DISTINCT ON (n.institution_id) n.institution_id, n.result, n.star_rating
                FROM institution_inspections n JOIN inst ON inst.id = n.institution_id
                ORDER BY n.institution_id, n.year DESC),
            warned AS (
                SELECT w.institution_id, count(*)::int AS opened, count(*) FILTER (WHERE w.escalated_at IS NOT NULL)::int AS escalated
                FROM warnings w JOIN inst ON inst.id = w.institution_id
                WHERE w.opened_at > \(now)::timestamptz - interval '365 days' GROUP BY w.institution_id),
            upheld AS (
                SELECT c.institution_id, count(*)::int AS upheld FROM complaints c JOIN inst ON inst.id = c.institution_id
                WHERE c.status = 'upheld' AND c.closed_at > \(now)::timestamptz - interval '365 days' GROUP BY c.institution_id),
            reviewed AS (
                SELECT r.institution_id, count(*)::int AS reviews,
                    round(avg((r.teaching + r.environment + r.curriculum) * 100 / 3.0))::int AS average
                FROM reviews r JOIN inst ON inst.id = r.institution_id GROUP BY r.institution_id)
            SELECT inst.id, inst.supervision_mode, inst.status, inst.risk_excuses_reserve, inst.reserve_covers,
                inspection.result AS inspection, inspection.star_rating, coalesce(warned.opened, 0) AS warnings_opened,
                coalesce(warned.escalated, 0) AS warnings_escalated, coalesce(upheld.upheld, 0) AS upheld,
                coalesce(reviewed.reviews, 0) AS reviews, coalesce(reviewed.average, 0) AS review_average
            FROM inst
                LEFT JOIN inspection ON inspection.institution_id = inst.id
                LEFT JOIN warned ON warned.institution_id = inst.id
                LEFT JOIN upheld ON upheld.institution_id = inst.id
                LEFT JOIN reviewed ON reviewed.institution_id = inst.id
            """, logger: logger)
        var inputs: [(institution: UUID, inputs: CreditInputs)] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            inputs.append((try cells["id"].decode(UUID.self), try Self.creditInputs(cells)))
        }
        return inputs
    }

    static func creditInputs(_ cells: PostgresRandomAccessRow) throws -> CreditInputs {
        CreditInputs(
            mode: try decodeEnum(try cells["supervision_mode"].decode(String.self)),
            status: try decodeEnum(try cells["status"].decode(String.self)),
            riskPolicyInForce: try cells["risk_excuses_reserve"].decode(Bool.self),
            reserveCoversRequirement: try cells["reserve_covers"].decode(Bool.self),
            inspection: try cells["inspection"].decode(String?.self).map { try decodeEnum($0) },
            starRating: try cells["star_rating"].decode(Int?.self),
            warningsLastYear: try cells["warnings_opened"].decode(Int.self),
            escalatedLastYear: try cells["warnings_escalated"].decode(Int.self),
            upheldComplaintsLastYear: try cells["upheld"].decode(Int.self), reviews: try cells["reviews"].decode(Int.self),
            averageReviewHundredths: try cells["review_average"].decode(Int.self))
    }
}
