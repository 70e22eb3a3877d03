import Foundation
import Logging
import PostgresNIO
import TuitionCore
import TuitionWire

/// A proposal one party makes and another answers: an institution's order to a guardian (`enrollment_proposals`), an
/// insurer's risk-control policy to an institution (`risk_policy_proposals`). Both tables keep `id`, the addressee's
/// id, `status` and `answered_at`, and are answered the same way.
protocol ProposalRow {
    /// The table, and the alias its `columns` are qualified with.
    static var table: String { get }
    static var alias: String { get }
    /// The column naming the party the proposal is made to.
    static var addressee: String { get }
    static var columns: String { get }
    var status: ProposalStatus { get }
    init(row: PostgresRow) throws
}

extension EnrollmentProposalRecord: ProposalRow {
    static let table = "enrollment_proposals"
    static let alias = "ep"
    static let addressee = "guardian_id"
}

extension RiskPolicyProposalRecord: ProposalRow {
    static let table = "risk_policy_proposals"
    static let alias = "rp"
    static let addressee = "institution_id"
}

/// Answering a proposal: the one made to the answering party is locked while open (another party's is not found, an
/// answered one is `proposal_not_open`), then marked accepted or rejected.
struct ProposalAnswers<Row: ProposalRow> {
    let connection: PostgresConnection
    let logger: Logger

    func lockOpen(_ id: UUID, addressee: UUID) async throws -> Row {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: Row.columns) FROM \(unescaped: Row.table) \(unescaped: Row.alias)
            WHERE \(unescaped: Row.alias).id = \(id) AND \(unescaped: Row.alias).\(unescaped: Row.addressee) = \(addressee) FOR UPDATE
            """, logger: logger)
        var found: Row?
        for try await row in rows { found = try Row(row: row) }
        guard let proposal = found else { throw NotFound() }
        guard proposal.status == .proposed else { throw Rejection.proposalNotOpen }
        return proposal
    }

    @discardableResult
    func answer(_ id: UUID, status: ProposalStatus, at now: Date) async throws -> Row {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: Row.table) \(unescaped: Row.alias) SET status = \(status.rawValue), answered_at = \(now)
            WHERE \(unescaped: Row.alias).id = \(id) RETURNING \(unescaped: Row.columns)
            """, logger: logger)
        for try await row in rows { return try Row(row: row) }
        throw NotFound()
    }
}
