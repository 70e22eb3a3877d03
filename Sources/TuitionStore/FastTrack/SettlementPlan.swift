import Foundation
import PostgresNIO
import TuitionCore

/// The fast-track's plan (`FastTrackJob.plan`) in one statement, written as its named steps, each a CTE reading the
/// ones before it: the ledger facts of every enrollment as of the effective time, the entitlement, the checks, the
/// waterfall's layers (`allocate_pro_rata` is its pro-rata rule) and the return of post-effective payments, then one
/// INSERT of every settlement. The steps are constant SQL; every value is a parameter, bound once (`query`) and named
/// in the steps.
enum SettlementPlan {
    /// The plan of case `id`; `risk` is the risk-control policy in force at the effective time, if any.
    static func query(
        case id: UUID, institution: UUID, effectiveAt: Date, reserve: Int64, operating: Int64,
        risk: (id: UUID, coveredShareBasisPoints: Int, remaining: Int64)?, checks: SettlementChecks
    ) -> PostgresQuery {
        var binds = PostgresBindings(capacity: 13)
        binds.append(id)
        binds.append(institution)
        binds.append(effectiveAt)
        binds.append(Int(consumptionSpikeWindow))
        binds.append(reserve)
        binds.append(operating)
        binds.append(risk?.coveredShareBasisPoints ?? 0)
        binds.append(risk?.remaining ?? 0)
        binds.append(checks.clean)
        binds.append(checks.spike)
        binds.append(checks.disputes)
        binds.append(checks.spikeAndDisputes)
        binds.append(risk?.id)
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    // The parameters, in the order `query` binds them.
    private static let caseID = "$1"
    private static let institution = "$2"
    private static let effectiveAt = "$3"
    private static let spikeWindowSeconds = "$4"
    private static let reserve = "$5"
    private static let operating = "$6"
    private static let riskShareBasisPoints = "$7"
    private static let riskRemaining = "$8"
    private static let cleanChecks = "$9"
    private static let spikeChecks = "$10"
    private static let disputeChecks = "$11"
    private static let spikeAndDisputeChecks = "$12"
    private static let riskPolicy = "$13"

    static let sql =
        "WITH "
        + [
            consumedLessons, tuitionCover, riskPaid, addedBack, facts, entitled, reserveSplit, afterReserve, riskSplit, planned, returns,
            returnSplit,
        ]
        .joined(separator: ",\n") + "\n" + insertSettlements

    /// Per enrollment: lessons recorded in the consumption-spike window before the effective time, disputed ones, and
    /// the window's undisputed ones.
    private static let consumedLessons = """
        consumed AS (
            SELECT enrollment_id,
                (sum(lessons) FILTER (WHERE recorded_at >= \(effectiveAt) - make_interval(secs => \(spikeWindowSeconds))
                                        AND recorded_at < \(effectiveAt)))::bigint AS recent,
                (sum(lessons) FILTER (WHERE status = 'disputed' AND recorded_at < \(effectiveAt)))::bigint AS disputed_lessons,
                (sum(lessons) FILTER (WHERE status <> 'disputed'
                                        AND recorded_at >= \(effectiveAt) - make_interval(secs => \(spikeWindowSeconds))
                                        AND recorded_at < \(effectiveAt)))::bigint AS recent_undisputed
            FROM lessons WHERE institution_id = \(institution) GROUP BY enrollment_id)
        """

    /// Each enrollment's tuition policy in force at the effective time (the lowest id).
    private static let tuitionCover = """
        tuition_cover AS (
            SELECT DISTINCT ON (enrollment_id) enrollment_id, id, remaining_fen FROM policies
            WHERE institution_id = \(institution) AND kind = 'student_tuition'
              AND policy_in_force(period_start, period_end, cancelled_at, \(effectiveAt))
            ORDER BY enrollment_id, id)
        """

    /// What the risk-control policy already paid on each enrollment, through guardians' claims before the mark.
    private static let riskPaid = """
        risk_paid AS (
            SELECT enrollment_id, sum(insurer_paid_fen)::bigint AS paid FROM claims
            WHERE institution_id = \(institution) AND policy_id = \(riskPolicy)::uuid AND status = 'paid'
            GROUP BY enrollment_id)
        """

    /// What guardians' claims added back on each enrollment before the mark: contested lessons a person found not given
    /// (sql/0039), contested no longer.
    private static let addedBack = """
        added_back AS (
            SELECT enrollment_id, sum(added_back_fen)::bigint AS fen FROM claims
            WHERE institution_id = \(institution) AND status = 'paid' AND added_back_fen > 0
            GROUP BY enrollment_id)
        """

    /// The enrollment's position (the view `enrollment_positions`, the one definition) and its checks. Its unconsumed
    /// tuition is the entitlement with earlier claim payouts (`returned_fen`) and add-backs counted back in: what the
    /// risk-control policy's covered share is a share of (`RiskShareTerms.cap`).
    private static let facts = """
        facts AS (
            SELECT p.enrollment_id AS id, p.institution_id, p.guardian_id, p.escrow_held_fen AS escrow_held,
                p.entitlement_fen AS entitled, p.entitlement_fen + p.returned_fen + coalesce(ab.fen, 0) AS unconsumed,
                coalesce(rp.paid, 0) AS risk_paid,
                p.return_due_fen AS return_due, p.price_per_lesson_fen AS price,
                7 * coalesce(l.recent, 0) > 60 * c.lessons_per_week AS spike,
                coalesce(l.disputed_lessons, 0) > 0 AS disputed,
                coalesce(l.disputed_lessons, 0) AS disputed_lessons, coalesce(l.recent_undisputed, 0) AS recent_undisputed,
                tp.id AS tuition_policy_id, coalesce(tp.remaining_fen, 0) AS tuition_cover, coalesce(ab.fen, 0) AS added_back
            FROM enrollment_positions p
            JOIN courses c ON c.id = p.course_id
            LEFT JOIN consumed l ON l.enrollment_id = p.enrollment_id
            LEFT JOIN tuition_cover tp ON tp.enrollment_id = p.enrollment_id
            LEFT JOIN risk_paid rp ON rp.enrollment_id = p.enrollment_id
            LEFT JOIN added_back ab ON ab.enrollment_id = p.enrollment_id
            WHERE p.institution_id = \(institution))
        """

    /// Layer 1: the escrow held for each entitled enrollment.
    private static let entitled = """
        entitled AS (
            SELECT f.*, least(f.escrow_held, f.entitled) AS escrow_part FROM facts f WHERE f.entitled > 0)
        """

    /// Layer 2: the reserve, pro rata to what escrow left.
    private static let reserveSplit = proRataSplit("reserve_split", pool: reserve, weight: "entitled - escrow_part", over: "entitled")

    /// Each enrollment's claim on the risk-control policy: what the reserve left, at most its covered share of the
    /// entitlement and what that share leaves after the policy's earlier payouts (`WaterfallEnrollment.riskShareLeft`).
    private static let afterReserve = """
        after_reserve AS (
            SELECT e.*, r.part AS reserve_part,
                least(e.entitled - e.escrow_part - r.part, (e.entitled * \(riskShareBasisPoints)) / 10000,
                    greatest(0, (e.unconsumed * \(riskShareBasisPoints)) / 10000 - e.risk_paid)) AS risk_cap
            FROM entitled e JOIN reserve_split r ON r.id = e.id)
        """

    /// Layer 3: the risk-control policy's remaining sum, pro rata to the claims on it.
    private static let riskSplit = proRataSplit("risk_split", pool: riskRemaining, weight: "risk_cap", over: "after_reserve")

    /// Layer 4: the enrollment's tuition policy, up to what is left. And what a person may add back to a referred
    /// settlement (`contestedValue`: the disputed lessons' value, and the burst's undisputed ones when there is a
    /// burst, less what earlier claims added back), of which the risk-control policy pays its covered share (`RiskShareTerms.cap`), the tuition policy the rest.
    private static let planned = """
        planned AS (
            SELECT x.*, CASE WHEN x.risk_part > 0 THEN least(x.contested,
                    greatest(0, ((x.unconsumed + x.contested) * \(riskShareBasisPoints)) / 10000 - x.risk_paid - x.risk_part))
                ELSE 0 END AS risk_contested
            FROM (
                SELECT ar.*, rs.part AS risk_part,
                    least(ar.entitled - ar.escrow_part - ar.reserve_part - rs.part, ar.tuition_cover) AS tuition_part,
                    CASE WHEN ar.spike OR ar.disputed
                        THEN greatest(0, ar.price * (ar.disputed_lessons + CASE WHEN ar.spike THEN ar.recent_undisputed ELSE 0 END)
                            - ar.added_back)
                        ELSE 0 END AS contested
                FROM after_reserve ar JOIN risk_split rs ON rs.id = ar.id) x)
        """

    /// Payments made at or after the effective time go back in full: first from the escrow held for them.
    private static let returns = """
        returns AS (
            SELECT f.*, least(f.escrow_held, f.return_due) AS return_escrow FROM facts f WHERE f.return_due > 0)
        """

    /// Then from the operating account, pro rata to what escrow left; what neither holds is uncovered.
    private static let returnSplit = proRataSplit(
        "return_split", pool: operating, weight: "return_due - return_escrow", over: "returns")

    /// The waterfall's pro-rata rule as a step named `name`: `pool` (a parameter), at most the sum of the weights,
    /// split by `allocate_pro_rata` over the rows of step `rows` in id order, each weighing `weight`.
    private static func proRataSplit(_ name: String, pool: String, weight: String, over rows: String) -> String {
        """
        \(name) AS (
            SELECT a.id, a.part FROM (
                SELECT least(\(pool)::bigint, coalesce(sum(\(weight)), 0))::bigint AS pool,
                    array_agg(id ORDER BY id) AS ids, array_agg(\(weight) ORDER BY id) AS weights
                FROM \(rows)) x
            CROSS JOIN LATERAL allocate_pro_rata(x.pool, x.ids, x.weights) a)
        """
    }

    /// One settlement per entitled enrollment (its layers, uncovered rest, checks and decision) and one per payment
    /// owed back.
    private static let insertSettlements = """
        INSERT INTO defunct_settlements (case_id, enrollment_id, institution_id, guardian_id, entitlement_fen, escrow_fen,
            reserve_fen, risk_policy_fen, tuition_policy_fen, uncovered_fen, tuition_policy_id, checks, decision, contested_fen,
            risk_contested_fen, return_due_fen, return_escrow_fen, return_operating_fen, return_uncovered_fen)
        SELECT \(caseID), id, institution_id, guardian_id, entitled, escrow_part, reserve_part, risk_part, tuition_part,
            entitled - escrow_part - reserve_part - risk_part - tuition_part,
            CASE WHEN tuition_part > 0 THEN tuition_policy_id END,
            (CASE WHEN spike AND disputed THEN \(spikeAndDisputeChecks) WHEN spike THEN \(spikeChecks)
                  WHEN disputed THEN \(disputeChecks) ELSE \(cleanChecks) END)::jsonb,
            CASE WHEN spike OR disputed THEN 'refer' ELSE 'approve' END, contested, risk_contested, 0, 0, 0, 0
        FROM planned
        UNION ALL
        SELECT \(caseID), r.id, r.institution_id, r.guardian_id, 0, 0, 0, 0, 0, 0, NULL, '[]'::jsonb, 'approve', 0, 0,
            r.return_due, r.return_escrow, s.part, r.return_due - r.return_escrow - s.part
        FROM returns r JOIN return_split s ON s.id = r.id
        """
}
