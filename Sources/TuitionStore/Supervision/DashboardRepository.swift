import Crypto
import Foundation
import PostgresNIO
import TuitionCore

/// A district at a glance, for its regulator. Every figure comes from one set-based query over the district.
public struct DashboardOverview: Sendable {
    public struct StatusGradeCount: Sendable, Hashable {
        public var status: InstitutionStatus
        /// "A"…"D", or "none" for an institution not graded yet.
        public var grade: String
        public var count: Int
    }

    public struct WarningCount: Sendable, Hashable {
        public var bucket: DeadlineBucket
        public var severity: String
        public var count: Int
    }

    public struct ClaimCount: Sendable, Hashable {
        public var status: ClaimStatus
        public var count: Int
        public var claimed: Money
        public var paid: Money
    }

    public var district: DistrictCode
    public var districtName: String
    public var today: BusinessDate
    public var institutions: [StatusGradeCount]
    /// Escrow and reserve balances of the district's institutions that are not defunct: the funds under supervision.
    public var escrowHeld: Money
    public var reserveHeld: Money
    /// Summed over institutions, each institution's cover capped at what it owes.
    public var coverage: TuitionCoverage
    public var institutionsWithShortfall: Int
    public var openWarnings: [WarningCount]
    public var escalatedWarnings: Int
    /// The first cases, for the overview's table; `defunctTotals` counts every case of the district.
    public var defunctCases: [DefunctCaseRow]
    public var defunctTotals: DefunctCaseTotals
    public var claims: [ClaimCount]
}

/// Every defunct case of a district, counted: how many are still running or completed, and what they left uncovered.
public struct DefunctCaseTotals: Sendable, Hashable {
    public var running: Int
    public var completed: Int
    public var uncovered: Money
}

/// One institution's row in the dashboard's list, with its coverage (nil for a defunct institution: its loss is
/// reported by its defunct case).
public struct DashboardInstitutionRow: Sendable, Hashable {
    public var id: Institution.ID
    public var licenceNumber: String
    public var name: String
    public var status: InstitutionStatus
    public var grade: String?
    public var supervisionMode: SupervisionMode
    public var coverage: TuitionCoverage?
    public var unresolvedWarnings: Int
}

public struct DashboardWarningRow: Sendable, Hashable {
    public var id: UUID
    public var institutionName: String
    public var licenceNumber: String
    public var rule: String
    public var severity: String
    public var status: String
    public var deadline: BusinessDate
    public var openedAt: Date
}

public struct DefunctCaseRow: Sendable, Hashable {
    public var id: UUID
    public var institutionName: String
    public var licenceNumber: String
    public var status: String
    public var effectiveAt: Date
    public var enrollmentsTotal: Int
    public var enrollmentsDone: Int
    public var entitled: Money
    /// Paid through the four layers of the waterfall.
    public var paid: Money
    public var referredCount: Int
    public var uncovered: Money
    /// Why the job stopped, when the case is blocked.
    public var blockedReason: String? = nil

    /// Progress in percent, rounded down; a case with no enrollments is complete.
    public var progressPercent: Int { enrollmentsTotal == 0 ? 100 : enrollmentsDone * 100 / enrollmentsTotal }
}

public struct DashboardClaimRow: Sendable, Hashable {
    public var id: Claim.ID
    public var number: String
    public var institutionName: String
    public var reason: String
    public var status: ClaimStatus
    public var claimed: Money
    public var approved: Money
    public var paid: Money
    public var createdAt: Date
}

/// Filters of the dashboard's institution list.
public struct DashboardInstitutionFilter: Sendable, Hashable {
    public var status: InstitutionStatus?
    /// "A"…"D" or "none".
    public var grade: String?
    public var mode: SupervisionMode?
    /// Only institutions whose unconsumed tuition is not fully covered.
    public var shortfallOnly: Bool

    public init(status: InstitutionStatus? = nil, grade: String? = nil, mode: SupervisionMode? = nil, shortfallOnly: Bool = false) {
        self.status = status
        self.grade = grade
        self.mode = mode
        self.shortfallOnly = shortfallOnly
    }
}

public struct DashboardWarningFilter: Sendable, Hashable {
    /// "open", "escalated" or "resolved"; nil for all.
    public var status: String?
    public var severity: String?
    public var rule: String?
    public var due: DeadlineBucket?
    /// One institution's warnings, by licence number.
    public var licenceNumber: String?

    public init(
        status: String? = "open", severity: String? = nil, rule: String? = nil, due: DeadlineBucket? = nil, licenceNumber: String? = nil
    ) {
        self.status = status
        self.severity = severity
        self.rule = rule
        self.due = due
        self.licenceNumber = licenceNumber
    }
}

/// The regulator's dashboard: figures and lists over one district.
public struct DashboardRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    public func overview(district: DistrictCode) async throws -> DashboardOverview {
        let now = store.dependencies.now()
        let today = BusinessDate(shanghaiDateOf: now)
        // The figures are independent: run them side by side on the pool.
        async let name = districtName(district)
        async let institutions = institutionCounts(district)
        async let coverage = coverageRows(district, now: now)
        async let warnings = warningCounts(district, today: today)
        async let defunct = defunctCases(district: district, status: nil, after: nil, limit: 20)
        async let defunctTotals = defunctCaseTotals(district)
        async let claims = claimCounts(district)
        let rows = try await coverage
        let coverages = rows.map(\.coverage)
        let short = coverages.filter { $0.uncovered.isPositive }.count
        // The district's cover is the sum of each institution's capped cover, layer by layer: one institution's
        // surplus does not pay another's students. Sums are checked: an absurd figure is refused, not a crash.
        let total = TuitionCoverage(
            unconsumed: try Money.sum(coverages.map(\.unconsumed)), escrow: try Money.sum(coverages.map(\.escrowApplied)),
            reserve: try Money.sum(coverages.map(\.reserveApplied)), insurance: try Money.sum(coverages.map(\.insuranceApplied)))
        let escrow = try Money.sum(coverages.map(\.escrow))
        let reserve = try Money.sum(coverages.map(\.reserve))
        let (warningCounts, escalated) = try await warnings
        return DashboardOverview(
            district: district, districtName: try await name, today: today, institutions: try await institutions,
            escrowHeld: escrow,
            reserveHeld: reserve, coverage: total, institutionsWithShortfall: short, openWarnings: warningCounts,
            escalatedWarnings: escalated, defunctCases: try await defunct.items, defunctTotals: try await defunctTotals,
            claims: try await claims)
    }

    func defunctCaseTotals(_ district: DistrictCode) async throws -> DefunctCaseTotals {
        let rows = try await store.query(
            """
            SELECT count(*) FILTER (WHERE status = 'running')::int, count(*) FILTER (WHERE status = 'completed')::int,
                   coalesce(sum(uncovered_fen + return_uncovered_fen), 0)::bigint
            FROM defunct_cases WHERE district_code = \(district.value)
            """)
        for try await (running, completed, uncovered) in rows.decode((Int, Int, Int64).self) {
            return DefunctCaseTotals(running: running, completed: completed, uncovered: Money(fen: uncovered))
        }
        return DefunctCaseTotals(running: 0, completed: 0, uncovered: .zero)
    }

    func districtName(_ district: DistrictCode) async throws -> String {
        for try await name in try await store.query("SELECT name FROM districts WHERE code = \(district.value)").decode(String.self) {
            return name
        }
        return ""
    }

    func institutionCounts(_ district: DistrictCode) async throws -> [DashboardOverview.StatusGradeCount] {
        let rows = try await store.query(
            """
            SELECT i.status, coalesce(g.grade, 'none'), count(*)::int
            FROM institutions i LEFT JOIN credit_grades g ON g.institution_id = i.id
            WHERE i.district_code = \(district.value)
            GROUP BY 1, 2
            """)
        var counts: [DashboardOverview.StatusGradeCount] = []
        for try await (status, grade, count) in rows.decode((String, String, Int).self) {
            counts.append(.init(status: try decodeEnum(status), grade: grade, count: count))
        }
        return counts
    }

    func warningCounts(_ district: DistrictCode, today: BusinessDate) async throws -> ([DashboardOverview.WarningCount], Int) {
        let rows = try await store.query(
            """
            SELECT status,
                   CASE WHEN deadline < \(today.description)::date THEN 'overdue'
                        WHEN deadline <= \(today.description)::date + 3 THEN 'within_3_days'
                        WHEN deadline <= \(today.description)::date + 7 THEN 'within_7_days'
                        ELSE 'later' END,
                   severity, count(*)::int
            FROM warnings
            WHERE district_code = \(district.value) AND status IN ('open', 'escalated')
            GROUP BY 1, 2, 3
            """)
        var counts: [DashboardOverview.WarningCount] = []
        var escalated = 0
        for try await (status, bucket, severity, count) in rows.decode((String, String, String, Int).self) {
            if status == "escalated" {
                escalated += count
            } else {
                counts.append(.init(bucket: try decodeEnum(bucket), severity: severity, count: count))
            }
        }
        return (counts, escalated)
    }

    func claimCounts(_ district: DistrictCode) async throws -> [DashboardOverview.ClaimCount] {
        let rows = try await store.query(
            """
            SELECT c.status, count(*)::int, sum(c.claimed_fen), sum(c.paid_fen)
            FROM claims c JOIN institutions i ON i.id = c.institution_id
            WHERE i.district_code = \(district.value)
            GROUP BY 1
            """)
        var counts: [DashboardOverview.ClaimCount] = []
        for try await (status, count, claimed, paid) in rows.decode((String, Int, Decimal, Decimal).self) {
            counts.append(
                .init(status: try decodeEnum(status), count: count, claimed: try Money(summed: claimed), paid: try Money(summed: paid)))
        }
        return counts
    }

    struct CoverageRow {
        var institution: UUID
        var coverage: TuitionCoverage
    }

    /// Every institution of the district that is not defunct, with its cover from `institution_figures` (sql/0017).
    func coverageRows(_ district: DistrictCode, now: Date) async throws -> [CoverageRow] {
        let rows = try await store.query(
            """
            SELECT \(unescaped: InstitutionFiguresRow.columns)
            FROM institution_figures(\(district.value)::text, NULL::uuid[], \(now)::timestamptz) f
            WHERE f.status <> 'defunct'
            """)
        var result: [CoverageRow] = []
        for try await row in rows {
            let figures = try InstitutionFiguresRow(row.makeRandomAccess())
            result.append(CoverageRow(institution: figures.institution, coverage: figures.cover.coverage))
        }
        return result
    }

    // MARK: Lists

    public func institutions(
        district: DistrictCode, filter: DashboardInstitutionFilter, after: UUID?, limit: Int
    ) async throws -> Page<DashboardInstitutionRow> {
        let page = PageRequest(after: after, limit: limit)
        // Without the shortfall filter the page is known before any figure: only its institutions' figures are computed.
        let ids = filter.shortfallOnly ? nil : try await pageIDs(district: district, filter: filter, page: page)
        let rows = try await store.query(
            """
            SELECT \(unescaped: InstitutionFiguresRow.columns), i.licence_number, i.name, g.grade,
                (SELECT count(*)::int FROM warnings w WHERE w.institution_id = i.id AND w.status <> 'resolved') AS unresolved_warnings
            FROM institution_figures(\(district.value)::text, \(ids)::uuid[], \(store.dependencies.now())::timestamptz) f
                JOIN institutions i ON i.id = f.institution_id
                LEFT JOIN credit_grades g ON g.institution_id = i.id
            WHERE (\(filter.status?.rawValue)::text IS NULL OR f.status = \(filter.status?.rawValue))
              AND (\(filter.grade)::text IS NULL OR coalesce(g.grade, 'none') = \(filter.grade))
              AND (\(filter.mode?.rawValue)::text IS NULL OR f.supervision_mode = \(filter.mode?.rawValue))
              AND (NOT \(filter.shortfallOnly) OR (f.status <> 'defunct' AND f.escrow_fen::numeric + f.reserve_fen
                  + f.risk_cover_fen + f.tuition_cover_fen < f.unconsumed_fen))
              AND i.id > \(page.afterOrFloor)
            ORDER BY i.id LIMIT \(page.limit + 1)
            """)
        var items: [DashboardInstitutionRow] = []
        for try await row in rows { items.append(try Self.institutionRow(row.makeRandomAccess())) }
        return page.page(items) { $0.id.uuid }
    }

    /// The ids of the list's page when no figure filters it.
    func pageIDs(district: DistrictCode, filter: DashboardInstitutionFilter, page: PageRequest) async throws -> [UUID] {
        let rows = try await store.query(
            """
            SELECT i.id FROM institutions i LEFT JOIN credit_grades g ON g.institution_id = i.id
            WHERE i.district_code = \(district.value)
              AND (\(filter.status?.rawValue)::text IS NULL OR i.status = \(filter.status?.rawValue))
              AND (\(filter.grade)::text IS NULL OR coalesce(g.grade, 'none') = \(filter.grade))
              AND (\(filter.mode?.rawValue)::text IS NULL OR i.supervision_mode = \(filter.mode?.rawValue))
              AND i.id > \(page.afterOrFloor)
            ORDER BY i.id LIMIT \(page.limit + 1)
            """)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) { ids.append(id) }
        return ids
    }

    /// A row of the institution list, by column name; a defunct institution's cover is left to its defunct case.
    static func institutionRow(_ cells: PostgresRandomAccessRow) throws -> DashboardInstitutionRow {
        let figures = try InstitutionFiguresRow(cells)
        return DashboardInstitutionRow(
            id: .init(figures.institution), licenceNumber: try cells["licence_number"].decode(String.self),
            name: try cells["name"].decode(String.self), status: figures.status, grade: try cells["grade"].decode(String?.self),
            supervisionMode: figures.mode, coverage: figures.status == .defunct ? nil : figures.cover.coverage,
            unresolvedWarnings: try cells["unresolved_warnings"].decode(Int.self))
    }

    /// Warnings ordered by deadline; the cursor is the last row's `deadline.id`.
    public func warnings(
        district: DistrictCode, filter: DashboardWarningFilter, after cursor: String?, limit: Int
    ) async throws -> Page<DashboardWarningRow> {
        let limit = min(max(limit, 1), 200)
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
        let (from, through) = filter.due?.daysFromToday ?? (nil, nil)
        var afterDeadline = "0001-01-01"
        var afterID = uuidFloor
        if let cursor {
            let parts = cursor.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let date = BusinessDate(String(parts[0])), let id = UUID(uuidString: String(parts[1])) else {
                throw DashboardQueryError.badCursor
            }
            (afterDeadline, afterID) = (date.description, id)
        }
        let rows = try await store.query(
            """
            SELECT w.id, i.name, i.licence_number, w.rule, w.severity, w.status, w.deadline::text, w.opened_at
            FROM warnings w JOIN institutions i ON i.id = w.institution_id
            WHERE w.district_code = \(district.value)
              AND (\(filter.status)::text IS NULL OR w.status = \(filter.status))
              AND (\(filter.severity)::text IS NULL OR w.severity = \(filter.severity))
              AND (\(filter.rule)::text IS NULL OR w.rule = \(filter.rule))
              AND (\(filter.licenceNumber)::text IS NULL OR i.licence_number = \(filter.licenceNumber))
              AND (\(from)::int IS NULL OR w.deadline >= \(today.description)::date + \(from)::int)
              AND (\(through)::int IS NULL OR w.deadline <= \(today.description)::date + \(through)::int)
              AND (w.deadline, w.id) > (\(afterDeadline)::date, \(afterID))
            ORDER BY w.deadline, w.id
            LIMIT \(limit + 1)
            """)
        var items: [DashboardWarningRow] = []
        for try await (id, name, licence, rule, severity, status, deadline, opened) in rows.decode(
            (UUID, String, String, String, String, String, String, Date).self)
        {
            items.append(
                DashboardWarningRow(
                    id: id, institutionName: name, licenceNumber: licence, rule: rule, severity: severity, status: status,
                    deadline: try decodeDate(deadline), openedAt: opened))
        }
        guard items.count > limit else { return Page(items: items, next: nil) }
        items.removeLast(items.count - limit)
        let last = items[items.count - 1]
        return Page(items: items, next: "\(last.deadline).\(last.id.uuidString.lowercased())")
    }

    public func claims(district: DistrictCode, status: ClaimStatus?, after: UUID?, limit: Int) async throws -> Page<DashboardClaimRow> {
        let page = PageRequest(after: after, limit: limit)
        let rows = try await store.query(
            """
            SELECT c.id, c.number, i.name, c.reason, c.status, c.claimed_fen, c.approved_fen, c.paid_fen, c.created_at
            FROM claims c JOIN institutions i ON i.id = c.institution_id
            WHERE i.district_code = \(district.value)
              AND (\(status?.rawValue)::text IS NULL OR c.status = \(status?.rawValue))
              AND c.id > \(page.afterOrFloor)
            ORDER BY c.id LIMIT \(page.limit + 1)
            """)
        var items: [DashboardClaimRow] = []
        for try await (id, number, name, reason, status, claimed, approved, paid, created) in rows.decode(
            (UUID, String, String, String, String, Int64, Int64, Int64, Date).self)
        {
            items.append(
                DashboardClaimRow(
                    id: .init(id), number: number, institutionName: name, reason: reason, status: try decodeEnum(status),
                    claimed: Money(fen: claimed), approved: Money(fen: approved), paid: Money(fen: paid), createdAt: created))
        }
        return page.page(items) { $0.id.uuid }
    }

    /// The district's defunct cases with fast-track progress.
    public func defunctCases(district: DistrictCode, status: String?, after: UUID?, limit: Int) async throws -> Page<DefunctCaseRow> {
        let page = PageRequest(after: after, limit: limit)
        let rows = try await store.query(
            """
            SELECT d.id, i.name, i.licence_number, d.status, d.effective_at, d.enrollments_total, d.enrollments_done,
                   d.entitled_fen,
                   (d.paid_escrow_fen + d.paid_reserve_fen + d.paid_risk_policy_fen + d.paid_tuition_policy_fen + d.paid_return_fen)::bigint,
                   d.referred_count, d.uncovered_fen + d.return_uncovered_fen, d.blocked_reason
            FROM defunct_cases d JOIN institutions i ON i.id = d.institution_id
            WHERE d.district_code = \(district.value)
              AND (\(status)::text IS NULL OR d.status = \(status))
              AND d.id > \(page.afterOrFloor)
            ORDER BY d.id LIMIT \(page.limit + 1)
            """)
        var items: [DefunctCaseRow] = []
        for try await (id, name, licence, status, effective, total, done, entitled, paid, referred, uncovered, blocked) in rows.decode(
            (UUID, String, String, String, Date, Int, Int, Int64, Int64, Int, Int64, String?).self)
        {
            items.append(
                DefunctCaseRow(
                    id: id, institutionName: name, licenceNumber: licence, status: status, effectiveAt: effective, enrollmentsTotal: total,
                    enrollmentsDone: done, entitled: Money(fen: entitled), paid: Money(fen: paid), referredCount: referred,
                    uncovered: Money(fen: uncovered), blockedReason: blocked))
        }
        return page.page(items) { $0.id }
    }
}

public enum DashboardQueryError: Error {
    case badCursor
}

/// Dashboard sign-in sessions: a random id in the browser's cookie, its SHA-256 here, with an expiry.
public struct DashboardSessionRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Opens a session for a regulator's principal and returns the id to put in the cookie; it is not kept.
    public func open(for principal: Principal, lifetime: Duration) async throws -> String {
        let id = PrincipalRepository.newToken()
        let now = store.dependencies.now()
        let seconds = Double(lifetime.components.seconds)
        try await store.transaction { connection in
            // Expired sessions go when someone signs in: the table stays the size of the live sessions.
            try await connection.query("DELETE FROM dashboard_sessions WHERE expires_at <= \(now)", logger: store.logger)
            try await connection.query(
                """
                INSERT INTO dashboard_sessions (id_sha256, principal_id, created_at, expires_at)
                VALUES (\(PrincipalRepository.digest(id)), \(principal.id), \(now), \(now.addingTimeInterval(seconds)))
                """, logger: store.logger)
        }
        return id
    }

    /// The regulator behind a live session: not expired, its token neither revoked nor expired.
    public func principal(forSession id: String) async throws -> Principal? {
        guard id.utf8.count < 200 else { return nil }
        let rows = try await store.query(
            """
            SELECT p.id, p.district_code FROM dashboard_sessions s JOIN principals p ON p.id = s.principal_id
            WHERE s.id_sha256 = \(PrincipalRepository.digest(id)) AND s.expires_at > \(store.dependencies.now())
              AND p.revoked_at IS NULL AND p.expires_at > \(store.dependencies.now()) AND p.role = 'regulator'
            """)
        for try await (principal, district) in rows.decode((UUID, String?).self) {
            guard let district, let code = DistrictCode(district) else { return nil }
            return Principal(id: principal, entity: .regulator(code))
        }
        return nil
    }

    public func close(_ id: String) async throws {
        try await store.query("DELETE FROM dashboard_sessions WHERE id_sha256 = \(PrincipalRepository.digest(id))")
    }
}
