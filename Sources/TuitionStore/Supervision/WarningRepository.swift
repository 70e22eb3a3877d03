import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension WarningRecord {
    static let columns = """
        w.id, w.institution_id, w.district_code, w.rule, w.severity, w.status, w.figures::text, w.latest_figures::text,
        w.deadline::text, w.opened_at, w.evaluated_at, w.resolved_at, w.resolved_by, w.resolution_note, w.escalated_at
        """

    init(row: PostgresRow) throws {
        let (id, institution, district, rule, severity, status, figures, latest, deadline, opened, evaluated) =
            try row.decode((UUID, UUID, String, String, String, String, String, String, String, Date, Date).self)
        let columns = row.makeRandomAccess()
        try self.init(
            id: id,
            institutionId: .init(institution),
            districtCode: district,
            rule: decodeEnum(rule),
            severity: decodeEnum(severity),
            status: decodeEnum(status),
            figures: JSONDecoder().decode([String: WarningFigure].self, from: Data(figures.utf8)),
            latestFigures: JSONDecoder().decode([String: WarningFigure].self, from: Data(latest.utf8)),
            deadline: decodeDate(deadline),
            openedAt: opened,
            evaluatedAt: evaluated,
            resolvedAt: columns[11].decode(Date?.self),
            resolvedBy: columns[12].decode(String?.self),
            resolutionNote: columns[13].decode(String?.self),
            escalatedAt: columns[14].decode(Date?.self))
    }
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
    package static let lockKey: Int64 = 0x7761_726E_696E_6773

    // MARK: Evaluation

    public func evaluate(_ target: EvaluationTarget) async throws -> WarningEvaluation {
        try await foldUnconsumed()
        return try await store.transaction { connection in try await evaluate(target, on: connection) }
    }

    /// Folds the moves of unconsumed tuition committed since the last fold into the institutions' totals
    /// (`fold_institution_unconsumed`, sql/0023), in its own short transaction. The figures are right without it (readers
    /// add the moves not folded yet); folding keeps what they add small. Evaluations run after every burst of payments and
    /// lessons and on the schedule, so they fold as often as money moves.
    func foldUnconsumed() async throws {
        for try await _ in try await store.query("SELECT fold_institution_unconsumed()") {}
    }

    func evaluate(_ target: EvaluationTarget, on connection: PostgresConnection) async throws -> WarningEvaluation {
        let (district, institutions) = Self.scope(of: target)
        try await lock(institutions, on: connection)
        // A province's gathering hashes hundreds of thousands of recent lessons and enrollments: with the default 4 MB
        // its hashes spill to disk in batches (10,000 institutions / 2,000,000 enrollments: 9.7 s, 7.0 s with 64 MB).
        // Evaluations run one at a time, so this is one transaction's worth, given back at its end.
        for try await _ in try await connection.query("SELECT set_config('work_mem', '64MB', true)", logger: logger) {}
        let now = store.dependencies.now()
        let today = BusinessDate(shanghaiDateOf: now)
        let gathered = try await figures(district: district, institutions: institutions, now: now, today: today, on: connection)
        let findings = gathered.flatMap { evaluated in
            evaluateWarnings(evaluated.figures, thresholds: evaluated.thresholds, today: today).map {
                DueFinding(
                    institution: evaluated.figures.institution.uuid, district: evaluated.district, finding: $0,
                    deadline: warningDeadline(openedOn: today, thresholds: evaluated.thresholds),
                    suppressDays: evaluated.thresholds.deadlineDays)
            }
        }
        let evaluated = gathered.map(\.figures.institution.uuid)
        let counts = try await write(findings, evaluated: evaluated, now: now, on: connection)
        let escalated = try await escalate(district: district, institutions: institutions, now: now, today: today, on: connection)
        let statusChanges = try await moveStatuses(evaluated, at: now, on: connection)
        // Warnings feed the credit grade: regrade what was evaluated, in the same transaction, from the figures gathered.
        try await SupervisionRepository(store: store).recomputeCredit(
            institutions: evaluated, gathered: gathered.map(\.shared), on: connection)
        return WarningEvaluation(
            institutions: evaluated.count, opened: counts.opened, stillOpen: counts.stillOpen, escalated: escalated,
            resolved: counts.resolved, statusChanges: statusChanges)
    }

    static func scope(of target: EvaluationTarget) -> (district: String?, institutions: [UUID]?) {
        switch target {
        case .all: (nil, nil)
        case .district(let code): (code.value, nil)
        case .institution(let id): (nil, [id.uuid])
        case .institutions(let ids): (nil, ids.map(\.uuid))
        }
    }

    /// A whole evaluation takes the lock exclusively; a batch takes it shared, then one lock per institution in a
    /// fixed order (of their keys), so two batches cannot deadlock.
    func lock(_ institutions: [UUID]?, on connection: PostgresConnection) async throws {
        guard let institutions else {
            for try await _ in try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger) {}
            return
        }
        for try await _ in try await connection.query("SELECT pg_advisory_xact_lock_shared(\(Self.lockKey))", logger: logger) {}
        let each = try await connection.query(
            """
            SELECT pg_advisory_xact_lock(\(Int32(truncatingIfNeeded: Self.lockKey)), key)
            FROM (SELECT DISTINCT hashtext(id::text) AS key FROM unnest(\(institutions)::uuid[]) AS id) keys ORDER BY key
            """, logger: logger)
        for try await _ in each {}
    }

    /// A rule that fired for an institution, with the deadline a new warning gets and how long a regulator's
    /// resolution of the same rule holds it off.
    struct DueFinding {
        var institution: UUID
        var district: String
        var finding: WarningFinding
        var deadline: BusinessDate
        var suppressDays: Int
    }

    /// Opens new warnings, refreshes those still holding and resolves those whose condition cleared, in one statement.
    /// New ids are time-ordered like the application's (48 bits of milliseconds, then random bits), so pages list
    /// warnings in the order they opened. A regulator's resolution holds off a new warning of the same rule for
    /// the district's deadline days: the regulator accepted an explanation, the condition gets that long to clear
    /// (`resolution_holds_off`, sql/0021, mirrored by the core's `resolutionHoldsOff`).
    func write(_ findings: [DueFinding], evaluated: [UUID], now: Date, on connection: PostgresConnection) async throws
        -> (opened: Int, stillOpen: Int, resolved: Int)
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let figureTexts = try findings.map { String(decoding: try encoder.encode($0.finding.figures), as: UTF8.self) }
        let written = try await connection.query(
            """
            WITH evaluated AS (SELECT unnest(\(evaluated)::uuid[]) AS institution_id),
            findings AS (
                SELECT * FROM unnest(\(findings.map(\.institution))::uuid[], \(findings.map(\.district))::text[],
                    \(findings.map(\.finding.rule.rawValue))::text[], \(findings.map(\.finding.severity.rawValue))::text[],
                    \(figureTexts)::text[], \(findings.map(\.deadline.description))::text[], \(findings.map(\.suppressDays))::int[])
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
                    WHERE r.institution_id = f.institution_id AND r.rule = f.rule
                        AND resolution_holds_off(r.resolved_by, r.resolved_at, f.suppress_days, \(now)::timestamptz))
                ON CONFLICT (institution_id, rule) WHERE status <> 'resolved' DO UPDATE
                    SET severity = EXCLUDED.severity, latest_figures = EXCLUDED.latest_figures, evaluated_at = EXCLUDED.evaluated_at
                RETURNING (xmax = 0) AS inserted),
            resolved AS (
                UPDATE warnings w SET status = 'resolved', resolved_at = \(now), resolved_by = \(WarningResolver.cleared.rawValue),
                    evaluated_at = \(now)
                FROM evaluated e
                WHERE w.institution_id = e.institution_id AND w.status <> 'resolved'
                    AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.institution_id = w.institution_id AND f.rule = w.rule)
                RETURNING 1)
            SELECT (SELECT count(*) FROM upserted WHERE inserted)::int, (SELECT count(*) FROM upserted WHERE NOT inserted)::int,
                (SELECT count(*) FROM resolved)::int
            """, logger: logger)
        var counts = (opened: 0, stillOpen: 0, resolved: 0)
        for try await row in written.decode((Int, Int, Int).self) { counts = (row.0, row.1, row.2) }
        return counts
    }

    /// Escalates every warning of the evaluation's scope that escalates today (`warning_escalates`, sql/0021, mirrored
    /// by the core's `warningEscalates`: open and past the deadline), those of institutions the rules no longer watch
    /// (defunct, blacklisted) included: their warnings stay on the record and escalate by their deadlines as any other.
    /// Returns how many.
    func escalate(district: String?, institutions: [UUID]?, now: Date, today: BusinessDate, on connection: PostgresConnection)
        async throws -> Int
    {
        let escalated = try await connection.query(
            """
            UPDATE warnings w SET status = 'escalated', escalated_at = \(now)
            WHERE (\(district)::text IS NULL OR w.district_code = \(district))
              AND (\(institutions)::uuid[] IS NULL OR w.institution_id = ANY(\(institutions)::uuid[]))
              AND warning_escalates(w.status, w.deadline, \(today.description)::date)
            RETURNING 1
            """, logger: logger)
        var count = 0
        for try await _ in escalated { count += 1 }
        return count
    }

    /// Moves the evaluated institutions between `active` and `warned`, each move told in the log as a sanction's is;
    /// returns how many moved. The updated row's own condition is what READ COMMITTED re-checks when a sanction or a
    /// defunct mark commits first, so it names the statuses this may move from; `target`'s filter alone would let the
    /// evaluation overwrite the sanction.
    func moveStatuses(_ evaluated: [UUID], at now: Date, on connection: PostgresConnection) async throws -> Int {
        let moved = try await connection.query(
            """
            WITH target AS (
                SELECT i.id, CASE WHEN EXISTS (SELECT 1 FROM warnings w WHERE w.institution_id = i.id AND w.status <> 'resolved')
                    THEN 'warned' ELSE 'active' END AS status
                FROM institutions i WHERE i.id = ANY(\(evaluated)::uuid[]) AND i.status IN ('active', 'warned')),
            moved AS (
                UPDATE institutions i SET status = t.status FROM target t
                WHERE i.id = t.id AND i.status IN ('active', 'warned') AND i.status <> t.status
                RETURNING i.id, i.status)
            INSERT INTO evidence_queue (entry, queued_at)
            SELECT evidence_entry(\(EvidenceKind.institutionStatusChanged.rawValue), \(wholeMilliseconds(since1970: now)), id,
                reference => status), \(now)
            FROM moved ORDER BY id
            RETURNING 1
            """, logger: logger)
        var count = 0
        for try await _ in moved { count += 1 }
        return count
    }

    /// One covered institution's figures, its district and the district's thresholds.
    struct EvaluatedInstitution {
        /// Its row of `institution_figures`, which the credit grade reads too.
        var shared: InstitutionFiguresRow
        var figures: InstitutionFigures
        var district: String
        var thresholds: WarningThresholds
    }

    /// Every covered institution's figures and its district's thresholds: one statement (`gathering`), each row decoded
    /// by column name (`evaluated`).
    func figures(district: String?, institutions: [UUID]?, now: Date, today: BusinessDate, on connection: PostgresConnection)
        async throws -> [EvaluatedInstitution]
    {
        let rows = try await connection.query(
            Self.gathering(district: district, institutions: institutions, now: now, today: today), logger: logger)
        var gathered: [EvaluatedInstitution] = []
        for try await row in rows { gathered.append(try Self.evaluated(row.makeRandomAccess())) }
        return gathered
    }

    /// The gathering statement, in named steps: `inst`, the shared figures from `institution_figures` and the thresholds
    /// from `warning_thresholds` (sql/0017) of the institutions the rules watch; `scope`, the same institutions again;
    /// then what only the rules read beside them: `overdue` refunds, `sales` of the last 63 days, and `lesson_load`,
    /// the lessons of the last 7 days against their schedule. It stays one statement, so every figure is of one moment.
    static func gathering(district: String?, institutions: [UUID]?, now: Date, today: BusinessDate) -> PostgresQuery {
        """
        WITH inst AS MATERIALIZED (
            SELECT \(unescaped: InstitutionFiguresRow.columns), \(unescaped: WarningThresholds.columns)
            FROM institution_figures(\(district)::text, \(institutions)::uuid[], \(now)::timestamptz) f
                JOIN warning_thresholds t ON t.district_code = f.district_code
            WHERE f.status IN ('active', 'warned', 'suspended')),
        -- The same institutions again, not materialized, so the scans below may run in parallel (a scan of a
        -- materialized CTE may not).
        scope AS NOT MATERIALIZED (
            SELECT i.id FROM institutions i
            WHERE (\(district)::text IS NULL OR i.district_code = \(district))
                AND (\(institutions)::uuid[] IS NULL OR i.id = ANY(\(institutions)::uuid[]))),
        overdue AS (
            SELECT e.institution_id, count(*)::int AS overdue, sum(o.owed)::bigint AS overdue_fen, min(e.term_end) AS oldest_overdue
            FROM enrollments e JOIN institutions i ON i.id = e.institution_id
                JOIN warning_thresholds t ON t.district_code = i.district_code
                -- What the guardian is still owed, in money: an insurer's payout on a refused refund counts like a refund.
                CROSS JOIN LATERAL (SELECT enrollment_outstanding_fen(e.paid_fen, e.lessons_consumed, e.lessons_after_defunct,
                    e.price_per_lesson_fen, e.refunded_fen, e.returned_fen) AS owed) o
            WHERE e.institution_id IN (SELECT id FROM scope) AND e.paid_fen > 0
                AND e.term_end < \(today.description)::date - t.refund_grace_days
                AND o.owed > 0
                -- The shortest grace bounds the scan, so it reads only the enrollments whose term ended long enough ago.
                AND e.term_end < \(today.description)::date - (SELECT min(g.refund_grace_days) FROM warning_thresholds g)
            GROUP BY e.institution_id),
        sales AS (
            SELECT t.institution_id,
                coalesce(sum(t.amount_fen) FILTER (WHERE t.created_at > \(now)::timestamptz - interval '7 days'), 0)::bigint AS recent,
                coalesce(sum(t.amount_fen) FILTER (WHERE t.created_at <= \(now)::timestamptz - interval '7 days'), 0)::bigint AS prior
            FROM transfers t
            WHERE t.institution_id IN (SELECT id FROM scope) AND t.kind = 'payment'
                AND t.created_at > \(now)::timestamptz - interval '63 days' AND t.created_at <= \(now)
            GROUP BY t.institution_id),
        recent_lessons AS (
            SELECT l.institution_id, l.enrollment_id, sum(l.lessons) AS lessons
            FROM lessons l
            WHERE l.institution_id IN (SELECT id FROM scope)
                AND l.recorded_at > \(now)::timestamptz - interval '7 days' AND l.recorded_at <= \(now)
            GROUP BY l.institution_id, l.enrollment_id),
        lesson_load AS (
            SELECT r.institution_id, sum(r.lessons)::int AS recorded, sum(c.lessons_per_week)::int AS scheduled
            FROM recent_lessons r JOIN enrollments e ON e.id = r.enrollment_id JOIN courses c ON c.id = e.course_id
            GROUP BY r.institution_id)
        \(unescaped: Self.assembled)
        """
    }

    /// The last step: each watched institution with the columns only the rules read beside it, named for
    /// `figures(_:_:)`; an institution a step found nothing for reads zero.
    static let assembled = """
        SELECT inst.*, coalesce(sales.recent, 0) AS sales_recent_fen, coalesce(sales.prior, 0) AS sales_prior_fen,
            coalesce(lesson_load.recorded, 0) AS lessons_recorded, coalesce(lesson_load.scheduled, 0) AS lessons_scheduled,
            coalesce(overdue.overdue, 0) AS overdue, coalesce(overdue.overdue_fen, 0) AS overdue_fen,
            overdue.oldest_overdue::text AS oldest_overdue
        FROM inst
            LEFT JOIN overdue ON overdue.institution_id = inst.institution_id
            LEFT JOIN sales ON sales.institution_id = inst.institution_id
            LEFT JOIN lesson_load ON lesson_load.institution_id = inst.institution_id
        """

    /// One gathered row, by column name: the shared figures, the thresholds and the rules' own figures.
    static func evaluated(_ cells: PostgresRandomAccessRow) throws -> EvaluatedInstitution {
        let shared = try InstitutionFiguresRow(cells)
        return EvaluatedInstitution(
            shared: shared, figures: try figures(shared, cells), district: shared.districtCode, thresholds: try WarningThresholds(cells))
    }

    /// The rules' figures: the shared ones and those only the rules read, by column name.
    static func figures(_ shared: InstitutionFiguresRow, _ cells: PostgresRandomAccessRow) throws -> InstitutionFigures {
        InstitutionFigures(
            institution: .init(shared.institution), mode: shared.mode, reserveRatioBasisPoints: shared.reserveRatioBasisPoints,
            unconsumed: shared.cover.unconsumed, escrowHeld: shared.cover.escrowHeld, reserveHeld: shared.cover.reserveHeld,
            riskPolicyInForce: shared.cover.riskPolicyExcusesReserve,
            salesLast7Days: Money(fen: try cells["sales_recent_fen"].decode(Int64.self)),
            salesPrior8Weeks: Money(fen: try cells["sales_prior_fen"].decode(Int64.self)),
            lessonsLast7Days: try cells["lessons_recorded"].decode(Int.self),
            lessonsScheduledLast7Days: try cells["lessons_scheduled"].decode(Int.self),
            overdueRefunds: try cells["overdue"].decode(Int.self),
            overdueRefundAmount: Money(fen: try cells["overdue_fen"].decode(Int64.self)),
            oldestOverdueTermEnd: try cells["oldest_overdue"].decode(String?.self).flatMap(BusinessDate.init),
            licenceValidUntil: shared.licenceValidUntil, riskPolicyEnds: shared.cover.riskPolicyEnds)
    }

    // MARK: Settings

    /// The district's thresholds, from the view `warning_thresholds`: its settings, or the defaults.
    public func thresholds(_ district: DistrictCode) async throws -> WarningThresholds {
        let rows = try await store.query(
            "SELECT \(unescaped: WarningThresholds.columns) FROM warning_thresholds t WHERE t.district_code = \(district.value)")
        for try await row in rows { return try WarningThresholds(row.makeRandomAccess()) }
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
                UPDATE warnings SET status = 'resolved', resolved_at = \(now), resolved_by = \(WarningResolver.regulator.rawValue),
                    resolution_note = \(note)
                WHERE id = \(id)
                """, logger: logger)
            try await connection.run(
                """
                WITH moved AS (
                    UPDATE institutions i SET status = 'active'
                    WHERE i.id = \(institution) AND i.status = 'warned'
                        AND NOT EXISTS (SELECT 1 FROM warnings w WHERE w.institution_id = i.id AND w.status <> 'resolved')
                    RETURNING i.id, i.status)
                INSERT INTO evidence_queue (entry, queued_at)
                SELECT evidence_entry(\(EvidenceKind.institutionStatusChanged.rawValue), \(wholeMilliseconds(since1970: now)), id,
                    reference => status), \(now)
                FROM moved
                """, logger: logger)
            let updated = try await connection.query(
                "SELECT \(unescaped: WarningRecord.columns) FROM warnings w WHERE w.id = \(id)", logger: logger)
            for try await row in updated { return try WarningRecord(row: row) }
            throw NotFound()
        }
    }
}
