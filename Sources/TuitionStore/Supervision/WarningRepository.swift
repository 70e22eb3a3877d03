import Foundation
import PostgresNIO
import TuitionCore

/// A warning as the API shows it.
public struct WarningRecord: Codable, Sendable, Hashable {
    @LowercaseUUID public var id: UUID
    public var institutionId: Institution.ID
    public var districtCode: String
    public var rule: WarningRule
    public var severity: WarningSeverity
    public var status: WarningStatus
    /// The figures that opened the warning, and the latest ones while it stays unresolved.
    public var figures: [String: WarningFigure]
    public var latestFigures: [String: WarningFigure]
    public var deadline: BusinessDate
    public var openedAt: Date
    public var evaluatedAt: Date
    public var resolvedAt: Date?
    public var resolvedBy: String?
    public var resolutionNote: String?
    public var escalatedAt: Date?

    static let columns = """
        w.id, w.institution_id, w.district_code, w.rule, w.severity, w.status, w.figures::text, w.latest_figures::text,
        w.deadline::text, w.opened_at, w.evaluated_at, w.resolved_at, w.resolved_by, w.resolution_note, w.escalated_at
        """

    init(row: PostgresRow) throws {
        let (id, institution, district, rule, severity, status, figures, latest, deadline, opened, evaluated) =
            try row.decode((UUID, UUID, String, String, String, String, String, String, String, Date, Date).self)
        let columns = row.makeRandomAccess()
        self.id = id
        self.institutionId = .init(institution)
        self.districtCode = district
        self.rule = try decodeEnum(rule)
        self.severity = try decodeEnum(severity)
        self.status = try decodeEnum(status)
        self.figures = try JSONDecoder().decode([String: WarningFigure].self, from: Data(figures.utf8))
        self.latestFigures = try JSONDecoder().decode([String: WarningFigure].self, from: Data(latest.utf8))
        self.deadline = try decodeDate(deadline)
        self.openedAt = opened
        self.evaluatedAt = evaluated
        self.resolvedAt = try columns[11].decode(Date?.self)
        self.resolvedBy = try columns[12].decode(String?.self)
        self.resolutionNote = try columns[13].decode(String?.self)
        self.escalatedAt = try columns[14].decode(Date?.self)
    }
}

/// What one evaluation did.
public struct WarningEvaluation: Codable, Sendable, Hashable {
    public var institutions: Int
    public var opened: Int
    /// Unresolved warnings whose condition still holds: their latest figures and severity were refreshed.
    public var stillOpen: Int
    public var escalated: Int
    public var resolved: Int
    /// Institutions that went `active → warned` or `warned → active`.
    public var statusChanges: Int
}

/// Which institutions an evaluation covers.
public enum EvaluationTarget: Sendable, Hashable {
    case all
    case district(DistrictCode)
    case institution(Institution.ID)
    /// A batch of institutions (the evaluations that feeding events ask for, coalesced).
    case institutions([Institution.ID])
}

/// Runs the early-warning rules and keeps the warnings table and institutions' `active ↔ warned` status in step.
///
/// An evaluation is three set-based steps in one transaction: one query gathers every covered institution's figures
/// (ledger, accounts, sales, lessons, refunds, licence, risk policy); the rules in `TuitionCore/Warnings.swift` decide
/// on each row (one definition of each rule, the one the unit tests prove); one statement then opens new warnings,
/// refreshes those still holding and resolves those whose condition cleared, another escalates those past their
/// deadline, and a third moves institutions between `active` and `warned`. Running it twice changes nothing the
/// second time. Evaluations are serialized by an advisory lock: a whole-district one excludes all others, one
/// institution's excludes only the same institution's.
public struct WarningRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    var logger: Logger { store.logger }

    /// The advisory lock key of evaluations (`'warnings'` as text bytes).
    static let lockKey: Int64 = 0x7761_726E_696E_6773

    // MARK: Evaluation

    public func evaluate(_ target: EvaluationTarget) async throws -> WarningEvaluation {
        try await store.transaction { connection in try await evaluate(target, on: connection) }
    }

    func evaluate(_ target: EvaluationTarget, on connection: PostgresConnection) async throws -> WarningEvaluation {
        let (district, institutions): (String?, [UUID]?) =
            switch target {
            case .all: (nil, nil)
            case .district(let code): (code.value, nil)
            case .institution(let id): (nil, [id.uuid])
            case .institutions(let ids): (nil, ids.map(\.uuid))
            }
        let locked: PostgresRowSequence
        if let institutions {
            // Per-institution locks in one fixed order (of their keys), so two batches cannot deadlock.
            locked = try await connection.query(
                """
                SELECT pg_advisory_xact_lock_shared(\(Self.lockKey))
                """, logger: logger)
            for try await _ in locked {}
            let each = try await connection.query(
                """
                SELECT pg_advisory_xact_lock(\(Int32(truncatingIfNeeded: Self.lockKey)), key)
                FROM (SELECT DISTINCT hashtext(id::text) AS key FROM unnest(\(institutions)::uuid[]) AS id) keys ORDER BY key
                """, logger: logger)
            for try await _ in each {}
        } else {
            locked = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            for try await _ in locked {}
        }
        let now = store.dependencies.now()
        let today = BusinessDate(shanghaiDateOf: now)
        let gathered = try await figures(district: district, institutions: institutions, now: now, today: today, on: connection)

        var findings: [(institution: UUID, district: String, finding: WarningFinding, deadline: BusinessDate, suppressDays: Int)] = []
        for (figures, district, thresholds) in gathered {
            for finding in evaluateWarnings(figures, thresholds: thresholds, today: today) {
                findings.append(
                    (
                        figures.institution.uuid, district, finding, warningDeadline(openedOn: today, thresholds: thresholds),
                        thresholds.deadlineDays
                    ))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let evaluated = gathered.map { $0.0.institution.uuid }
        let figureTexts = try findings.map { String(decoding: try encoder.encode($0.finding.figures), as: UTF8.self) }

        // New ids are time-ordered like the application's (48 bits of milliseconds, then random bits), so pages list
        // warnings in the order they opened. A regulator's resolution holds off a new warning of the same rule for
        // the district's deadline days: the regulator accepted an explanation, the condition gets that long to clear.
        let written = try await connection.query(
            """
            WITH evaluated AS (SELECT unnest(\(evaluated)::uuid[]) AS institution_id),
            findings AS (
                SELECT * FROM unnest(\(findings.map { $0.institution })::uuid[], \(findings.map { $0.district })::text[],
                    \(findings.map { $0.finding.rule.rawValue })::text[], \(findings.map { $0.finding.severity.rawValue })::text[],
                    \(figureTexts)::text[], \(findings.map { $0.deadline.description })::text[], \(findings.map { $0.suppressDays })::int[])
                    AS f(institution_id, district_code, rule, severity, figures, deadline, suppress_days)),
            upserted AS (
                INSERT INTO warnings AS w (id, institution_id, district_code, rule, severity, status, figures, latest_figures,
                    deadline, opened_at, evaluated_at)
                SELECT uuid_v7_at(\(now)),
                    f.institution_id, f.district_code, f.rule, f.severity, 'open', f.figures::jsonb, f.figures::jsonb,
                    f.deadline::date, \(now), \(now)
                FROM findings f
                WHERE NOT EXISTS (
                    SELECT 1 FROM warnings r
                    WHERE r.institution_id = f.institution_id AND r.rule = f.rule AND r.resolved_by = 'regulator'
                        AND r.resolved_at > \(now)::timestamptz - make_interval(days => f.suppress_days))
                ON CONFLICT (institution_id, rule) WHERE status <> 'resolved' DO UPDATE
                    SET severity = EXCLUDED.severity, latest_figures = EXCLUDED.latest_figures, evaluated_at = EXCLUDED.evaluated_at
                RETURNING (xmax = 0) AS inserted),
            resolved AS (
                UPDATE warnings w SET status = 'resolved', resolved_at = \(now), resolved_by = 'cleared', evaluated_at = \(now)
                FROM evaluated e
                WHERE w.institution_id = e.institution_id AND w.status <> 'resolved'
                    AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.institution_id = w.institution_id AND f.rule = w.rule)
                RETURNING 1)
            SELECT (SELECT count(*) FROM upserted WHERE inserted)::int, (SELECT count(*) FROM upserted WHERE NOT inserted)::int,
                (SELECT count(*) FROM resolved)::int
            """, logger: logger)
        var counts = (0, 0, 0)
        for try await row in written.decode((Int, Int, Int).self) { counts = row }

        let escalated = try await connection.query(
            """
            UPDATE warnings SET status = 'escalated', escalated_at = \(now)
            WHERE status = 'open' AND deadline < \(today.description)::date AND institution_id = ANY(\(evaluated)::uuid[])
            RETURNING 1
            """, logger: logger)
        var escalatedCount = 0
        for try await _ in escalated { escalatedCount += 1 }

        let statusRows = try await connection.query(
            """
            WITH target AS (
                SELECT i.id, CASE WHEN EXISTS (SELECT 1 FROM warnings w WHERE w.institution_id = i.id AND w.status <> 'resolved')
                    THEN 'warned' ELSE 'active' END AS status
                FROM institutions i WHERE i.id = ANY(\(evaluated)::uuid[]) AND i.status IN ('active', 'warned'))
            UPDATE institutions i SET status = t.status FROM target t WHERE i.id = t.id AND i.status <> t.status
            RETURNING i.id
            """, logger: logger)
        var statusChanges = 0
        for try await _ in statusRows { statusChanges += 1 }

        // Warnings feed the credit grade: regrade what was evaluated, in the same transaction.
        try await SupervisionRepository(store: store).recomputeCredit(institutions: evaluated, on: connection)

        return WarningEvaluation(
            institutions: evaluated.count, opened: counts.0, stillOpen: counts.1, escalated: escalatedCount, resolved: counts.2,
            statusChanges: statusChanges)
    }

    /// Every covered institution's figures and its district's thresholds, in one query.
    func figures(district: String?, institutions: [UUID]?, now: Date, today: BusinessDate, on connection: PostgresConnection) async throws
        -> [(InstitutionFigures, String, WarningThresholds)]
    {
        let rows = try await connection.query(
            """
            WITH inst AS (
                SELECT i.id, i.district_code, i.supervision_mode, i.reserve_ratio_bp, i.licence_valid_until,
                    COALESCE(s.escrow_coverage_min_bp, 10000) AS escrow_coverage_min_bp,
                    COALESCE(s.sales_spike_ratio_bp, 30000) AS sales_spike_ratio_bp,
                    COALESCE(s.sales_spike_min_fen, 1000000) AS sales_spike_min_fen,
                    COALESCE(s.lessons_over_schedule_ratio_bp, 15000) AS lessons_over_schedule_ratio_bp,
                    COALESCE(s.lessons_over_schedule_min, 10) AS lessons_over_schedule_min,
                    COALESCE(s.refund_grace_days, 30) AS refund_grace_days,
                    COALESCE(s.expiry_notice_days, 30) AS expiry_notice_days,
                    COALESCE(s.deadline_days, 15) AS deadline_days
                FROM institutions i LEFT JOIN district_warning_settings s ON s.district_code = i.district_code
                WHERE i.status IN ('active', 'warned', 'suspended')
                    AND (\(district)::text IS NULL OR i.district_code = \(district))
                    AND (\(institutions)::uuid[] IS NULL OR i.id = ANY(\(institutions)::uuid[]))),
            ledger AS (
                SELECT e.institution_id,
                    sum(pos.outstanding_fen)::bigint AS unconsumed,
                    count(*) FILTER (WHERE o.overdue)::int AS overdue,
                    coalesce(sum((e.lessons_bought - e.lessons_consumed - e.lessons_refunded) * e.price_per_lesson_fen)
                        FILTER (WHERE o.overdue), 0)::bigint AS overdue_fen,
                    min(e.term_end) FILTER (WHERE o.overdue) AS oldest_overdue
                FROM enrollments e JOIN inst ON inst.id = e.institution_id
                    JOIN enrollment_positions pos ON pos.enrollment_id = e.id
                    CROSS JOIN LATERAL (SELECT e.paid_fen > 0 AND e.term_end < \(today.description)::date - inst.refund_grace_days
                        AND e.lessons_consumed + e.lessons_refunded < e.lessons_bought AS overdue) o
                GROUP BY e.institution_id),
            held AS (
                SELECT a.institution_id,
                    coalesce(sum(a.credits_fen - a.debits_fen) FILTER (WHERE a.kind = 'escrow'), 0)::bigint AS escrow,
                    coalesce(sum(a.credits_fen - a.debits_fen) FILTER (WHERE a.kind = 'reserve'), 0)::bigint AS reserve
                FROM accounts a JOIN inst ON inst.id = a.institution_id
                WHERE a.kind IN ('escrow', 'reserve')
                GROUP BY a.institution_id),
            sales AS (
                SELECT t.institution_id,
                    coalesce(sum(t.amount_fen) FILTER (WHERE t.created_at > \(now)::timestamptz - interval '7 days'), 0)::bigint AS recent,
                    coalesce(sum(t.amount_fen) FILTER (WHERE t.created_at <= \(now)::timestamptz - interval '7 days'), 0)::bigint AS prior
                FROM transfers t JOIN inst ON inst.id = t.institution_id
                WHERE t.kind = 'payment' AND t.created_at > \(now)::timestamptz - interval '63 days' AND t.created_at <= \(now)
                GROUP BY t.institution_id),
            recent_lessons AS (
                SELECT l.institution_id, l.enrollment_id, sum(l.lessons) AS lessons
                FROM lessons l JOIN inst ON inst.id = l.institution_id
                WHERE l.recorded_at > \(now)::timestamptz - interval '7 days' AND l.recorded_at <= \(now)
                GROUP BY l.institution_id, l.enrollment_id),
            lesson_load AS (
                SELECT r.institution_id, sum(r.lessons)::int AS recorded, sum(c.lessons_per_week)::int AS scheduled
                FROM recent_lessons r JOIN enrollments e ON e.id = r.enrollment_id JOIN courses c ON c.id = e.course_id
                GROUP BY r.institution_id),
            risk AS (
                -- In force and covering the reserve requirement: a token policy does not excuse a missing reserve.
                SELECT p.institution_id,
                    bool_or(p.period_start <= \(now) AND p.period_end > \(now) AND p.remaining_fen > 0
                        AND risk_cover_excuses_reserve(p.remaining_fen, pr.covered_share_bp, coalesce(ledger.unconsumed, 0),
                            inst.reserve_ratio_bp)) AS in_force,
                    (max(p.period_end) AT TIME ZONE 'Asia/Shanghai')::date AS ends
                FROM policies p JOIN inst ON inst.id = p.institution_id JOIN insurance_products pr ON pr.id = p.product_id
                    LEFT JOIN ledger ON ledger.institution_id = p.institution_id
                WHERE p.kind = 'institution_risk' AND p.cancelled_at IS NULL
                GROUP BY p.institution_id)
            SELECT inst.id, inst.district_code, inst.supervision_mode, inst.reserve_ratio_bp, coalesce(ledger.unconsumed, 0),
                coalesce(held.escrow, 0), coalesce(held.reserve, 0), coalesce(risk.in_force, false), coalesce(sales.recent, 0),
                coalesce(sales.prior, 0), coalesce(lesson_load.recorded, 0), coalesce(lesson_load.scheduled, 0),
                coalesce(ledger.overdue, 0), coalesce(ledger.overdue_fen, 0), ledger.oldest_overdue::text,
                inst.licence_valid_until::text, risk.ends::text,
                inst.escrow_coverage_min_bp, inst.sales_spike_ratio_bp, inst.sales_spike_min_fen, inst.lessons_over_schedule_ratio_bp,
                inst.lessons_over_schedule_min, inst.refund_grace_days, inst.expiry_notice_days, inst.deadline_days
            FROM inst
                LEFT JOIN ledger ON ledger.institution_id = inst.id
                LEFT JOIN held ON held.institution_id = inst.id
                LEFT JOIN sales ON sales.institution_id = inst.id
                LEFT JOIN lesson_load ON lesson_load.institution_id = inst.id
                LEFT JOIN risk ON risk.institution_id = inst.id
            """, logger: logger)
        var gathered: [(InstitutionFigures, String, WarningThresholds)] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
            let figures = InstitutionFigures(
                institution: .init(try cell(0, UUID.self)), mode: try decodeEnum(try cell(2, String.self)),
                reserveRatioBasisPoints: try cell(3), unconsumed: Money(fen: try cell(4)), escrowHeld: Money(fen: try cell(5)),
                reserveHeld: Money(fen: try cell(6)), riskPolicyInForce: try cell(7), salesLast7Days: Money(fen: try cell(8)),
                salesPrior8Weeks: Money(fen: try cell(9)), lessonsLast7Days: try cell(10), lessonsScheduledLast7Days: try cell(11),
                overdueRefunds: try cell(12), overdueRefundAmount: Money(fen: try cell(13)),
                oldestOverdueTermEnd: try cell(14, String?.self).flatMap(BusinessDate.init),
                licenceValidUntil: try cell(15, String?.self).flatMap(BusinessDate.init),
                riskPolicyEnds: try cell(16, String?.self).flatMap(BusinessDate.init))
            let thresholds = WarningThresholds(
                escrowCoverageMinBasisPoints: try cell(17), salesSpikeRatioBasisPoints: try cell(18),
                salesSpikeMinimum: Money(fen: try cell(19)), lessonsOverScheduleRatioBasisPoints: try cell(20),
                lessonsOverScheduleMinimum: try cell(21), refundGraceDays: try cell(22), expiryNoticeDays: try cell(23),
                deadlineDays: try cell(24))
            gathered.append((figures, try cell(1, String.self), thresholds))
        }
        return gathered
    }

    // MARK: Settings

    public func thresholds(_ district: DistrictCode) async throws -> WarningThresholds {
        let rows = try await store.query(
            """
            SELECT escrow_coverage_min_bp, sales_spike_ratio_bp, sales_spike_min_fen, lessons_over_schedule_ratio_bp,
                lessons_over_schedule_min, refund_grace_days, expiry_notice_days, deadline_days
            FROM district_warning_settings WHERE district_code = \(district.value)
            """)
        for try await (escrow, spike, spikeMin, lessonsRatio, lessonsMin, grace, notice, deadline) in rows.decode(
            (Int, Int, Int64, Int, Int, Int, Int, Int).self)
        {
            return WarningThresholds(
                escrowCoverageMinBasisPoints: escrow, salesSpikeRatioBasisPoints: spike, salesSpikeMinimum: Money(fen: spikeMin),
                lessonsOverScheduleRatioBasisPoints: lessonsRatio, lessonsOverScheduleMinimum: lessonsMin, refundGraceDays: grace,
                expiryNoticeDays: notice, deadlineDays: deadline)
        }
        return .defaults
    }

    @discardableResult
    public func setThresholds(_ thresholds: WarningThresholds, district: DistrictCode) async throws -> WarningThresholds {
        if let rejection = thresholds.check() { throw rejection }
        _ = try await mappingRejections {
            try await store.query(
                """
                INSERT INTO district_warning_settings (district_code, escrow_coverage_min_bp, sales_spike_ratio_bp, sales_spike_min_fen,
                    lessons_over_schedule_ratio_bp, lessons_over_schedule_min, refund_grace_days, expiry_notice_days, deadline_days,
                    updated_at)
                VALUES (\(district.value), \(thresholds.escrowCoverageMinBasisPoints), \(thresholds.salesSpikeRatioBasisPoints),
                    \(thresholds.salesSpikeMinimum.fen), \(thresholds.lessonsOverScheduleRatioBasisPoints),
                    \(thresholds.lessonsOverScheduleMinimum), \(thresholds.refundGraceDays), \(thresholds.expiryNoticeDays),
                    \(thresholds.deadlineDays), \(store.dependencies.now()))
                ON CONFLICT (district_code) DO UPDATE SET escrow_coverage_min_bp = EXCLUDED.escrow_coverage_min_bp,
                    sales_spike_ratio_bp = EXCLUDED.sales_spike_ratio_bp, sales_spike_min_fen = EXCLUDED.sales_spike_min_fen,
                    lessons_over_schedule_ratio_bp = EXCLUDED.lessons_over_schedule_ratio_bp,
                    lessons_over_schedule_min = EXCLUDED.lessons_over_schedule_min, refund_grace_days = EXCLUDED.refund_grace_days,
                    expiry_notice_days = EXCLUDED.expiry_notice_days, deadline_days = EXCLUDED.deadline_days,
                    updated_at = EXCLUDED.updated_at
                """)
        }
        return thresholds
    }

    // MARK: Reading and resolving

    /// The warnings `scope` may see (a regulator's district, an institution's own), newest last, filtered.
    public func warnings(scope: Scope, status: WarningStatus?, rule: WarningRule?, institution: Institution.ID? = nil, page: PageRequest)
        async throws -> Page<WarningRecord>
    {
        let rows = try await store.query(
            """
            SELECT \(unescaped: WarningRecord.columns) FROM warnings w
            WHERE (w.institution_id = \(scope.institution) OR w.district_code = \(scope.district))
                AND (\(status?.rawValue)::text IS NULL OR w.status = \(status?.rawValue))
                AND (\(rule?.rawValue)::text IS NULL OR w.rule = \(rule?.rawValue))
                AND (\(institution?.uuid)::uuid IS NULL OR w.institution_id = \(institution?.uuid))
                AND w.id > \(page.afterOrFloor)
            ORDER BY w.id LIMIT \(page.limit + 1)
            """)
        var items: [WarningRecord] = []
        for try await row in rows { items.append(try WarningRecord(row: row)) }
        return page.page(items) { $0.id }
    }

    public func warning(_ id: UUID, scope: Scope) async throws -> WarningRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: WarningRecord.columns) FROM warnings w
            WHERE w.id = \(id) AND (w.institution_id = \(scope.institution) OR w.district_code = \(scope.district))
            """)
        for try await row in rows { return try WarningRecord(row: row) }
        return nil
    }

    /// The regulator resolves an unresolved warning of its district with a note; the institution goes back to
    /// `active` when nothing else is unresolved.
    public func resolve(_ id: UUID, district: DistrictCode, note: String) async throws -> WarningRecord {
        try await store.transaction { connection in
            let now = store.dependencies.now()
            let rows = try await connection.query(
                "SELECT status, institution_id FROM warnings WHERE id = \(id) AND district_code = \(district.value) FOR UPDATE",
                logger: logger)
            var found: (String, UUID)?
            for try await row in rows.decode((String, UUID).self) { found = row }
            guard let (status, institution) = found else { throw NotFound() }
            guard status != WarningStatus.resolved.rawValue else { throw Rejection.warningAlreadyResolved }
            try await connection.query(
                """
                UPDATE warnings SET status = 'resolved', resolved_at = \(now), resolved_by = 'regulator', resolution_note = \(note)
                WHERE id = \(id)
                """, logger: logger)
            try await connection.query(
                """
                UPDATE institutions i SET status = 'active'
                WHERE i.id = \(institution) AND i.status = 'warned'
                    AND NOT EXISTS (SELECT 1 FROM warnings w WHERE w.institution_id = i.id AND w.status <> 'resolved')
                """, logger: logger)
            let updated = try await connection.query(
                "SELECT \(unescaped: WarningRecord.columns) FROM warnings w WHERE w.id = \(id)", logger: logger)
            for try await row in updated { return try WarningRecord(row: row) }
            throw NotFound()
        }
    }
}
