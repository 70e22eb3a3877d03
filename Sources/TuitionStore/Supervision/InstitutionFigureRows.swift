import Foundation
import PostgresNIO
import TuitionCore

/// One institution's row of `institution_figures` (sql/0017), the one home of its unconsumed tuition, balances and
/// cover. Readers select `columns` from `institution_figures(…) f` and decode by name.
struct InstitutionFiguresRow: Sendable {
    var institution: UUID
    var districtCode: String
    var status: InstitutionStatus
    var mode: SupervisionMode
    var reserveRatioBasisPoints: Int
    var licenceValidUntil: BusinessDate?
    var cover: InstitutionCover

    static let columns = """
        f.institution_id, f.district_code, f.status, f.supervision_mode, f.reserve_ratio_bp,
        f.licence_valid_until::text AS licence_valid_until, f.unconsumed_fen, f.escrow_fen, f.reserve_fen, f.risk_cover_fen,
        f.tuition_cover_fen, f.risk_excuses_reserve, f.risk_policy_ends::text AS risk_policy_ends
        """

    init(_ cells: PostgresRandomAccessRow) throws {
        institution = try cells["institution_id"].decode(UUID.self)
        districtCode = try cells["district_code"].decode(String.self)
        status = try decodeEnum(try cells["status"].decode(String.self))
        mode = try decodeEnum(try cells["supervision_mode"].decode(String.self))
        reserveRatioBasisPoints = try cells["reserve_ratio_bp"].decode(Int.self)
        licenceValidUntil = try cells["licence_valid_until"].decode(String?.self).flatMap(BusinessDate.init)
        cover = InstitutionCover(
            unconsumed: Money(fen: try cells["unconsumed_fen"].decode(Int64.self)),
            escrowHeld: Money(fen: try cells["escrow_fen"].decode(Int64.self)),
            reserveHeld: Money(fen: try cells["reserve_fen"].decode(Int64.self)),
            riskCover: Money(fen: try cells["risk_cover_fen"].decode(Int64.self)),
            tuitionCover: Money(fen: try cells["tuition_cover_fen"].decode(Int64.self)),
            riskPolicyExcusesReserve: try cells["risk_excuses_reserve"].decode(Bool.self),
            riskPolicyEnds: try cells["risk_policy_ends"].decode(String?.self).flatMap(BusinessDate.init))
    }
}

extension WarningThresholds {
    /// The columns of the view `warning_thresholds` (sql/0017), the one home of a district's thresholds.
    static let columns = """
        t.escrow_coverage_min_bp, t.sales_spike_ratio_bp, t.sales_spike_min_fen, t.lessons_over_schedule_ratio_bp,
        t.lessons_over_schedule_min, t.refund_grace_days, t.expiry_notice_days, t.deadline_days
        """

    init(_ cells: PostgresRandomAccessRow) throws {
        self.init(
            escrowCoverageMinBasisPoints: try cells["escrow_coverage_min_bp"].decode(Int.self),
            salesSpikeRatioBasisPoints: try cells["sales_spike_ratio_bp"].decode(Int.self),
            salesSpikeMinimum: Money(fen: try cells["sales_spike_min_fen"].decode(Int64.self)),
            lessonsOverScheduleRatioBasisPoints: try cells["lessons_over_schedule_ratio_bp"].decode(Int.self),
            lessonsOverScheduleMinimum: try cells["lessons_over_schedule_min"].decode(Int.self),
            refundGraceDays: try cells["refund_grace_days"].decode(Int.self),
            expiryNoticeDays: try cells["expiry_notice_days"].decode(Int.self),
            deadlineDays: try cells["deadline_days"].decode(Int.self))
    }
}
