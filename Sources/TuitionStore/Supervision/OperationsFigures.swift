import Foundation
import PostgresNIO
import TuitionCore

/// Figures `/metrics` reads from the database at scrape time.
public struct OperationsFigures: Sendable, Hashable {
    public struct TransferKind: Sendable, Hashable {
        public var kind: String
        public var count: Int64
    }

    public struct OpenWarnings: Sendable, Hashable {
        public var district: String
        public var severity: String
        public var count: Int
    }

    public struct FastTrack: Sendable, Hashable {
        public var district: String
        public var licenceNumber: String
        public var status: String
        public var enrollmentsTotal: Int
        public var enrollmentsDone: Int
        public var uncoveredFen: Int64
    }

    public var transfers: [TransferKind]
    public var openWarnings: [OpenWarnings]
    public var fastTrack: [FastTrack]
}

public struct OperationsRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Ledger transfers by kind are counted from the table, not by the process: the table is append-only, so its
    /// counts only grow (the series behave as counters), and they include transfers written by other processes and
    /// by set-based SQL (the fast-track's payouts), which a counter at a post site would miss.
    public func figures() async throws -> OperationsFigures {
        async let transfers = transferCounts()
        async let warnings = openWarnings()
        async let fastTrack = fastTrackProgress()
        return OperationsFigures(transfers: try await transfers, openWarnings: try await warnings, fastTrack: try await fastTrack)
    }

    func transferCounts() async throws -> [OperationsFigures.TransferKind] {
        let rows = try await store.query(
            "SELECT kind, count(*) FROM transfers GROUP BY kind ORDER BY kind")
        var result: [OperationsFigures.TransferKind] = []
        for try await (kind, count) in rows.decode((String, Int64).self) {
            result.append(.init(kind: kind, count: count))
        }
        return result
    }

    func openWarnings() async throws -> [OperationsFigures.OpenWarnings] {
        let rows = try await store.query(
            "SELECT district_code, severity, count(*)::int FROM warnings WHERE status = 'open' GROUP BY 1, 2 ORDER BY 1, 2")
        var result: [OperationsFigures.OpenWarnings] = []
        for try await (district, severity, count) in rows.decode((String, String, Int).self) {
            result.append(.init(district: district, severity: severity, count: count))
        }
        return result
    }

    /// Every defunct case, running or completed: cases are rare, and a completed case's figures stay worth seeing.
    func fastTrackProgress() async throws -> [OperationsFigures.FastTrack] {
        let rows = try await store.query(
            """
            SELECT d.district_code, i.licence_number, d.status, d.enrollments_total, d.enrollments_done, d.uncovered_fen
            FROM defunct_cases d JOIN institutions i ON i.id = d.institution_id ORDER BY d.id
            """)
        var result: [OperationsFigures.FastTrack] = []
        for try await (district, licence, status, total, done, uncovered) in rows.decode(
            (String, String, String, Int, Int, Int64).self)
        {
            result.append(
                .init(
                    district: district, licenceNumber: licence, status: status, enrollmentsTotal: total,
                    enrollmentsDone: done, uncoveredFen: uncovered))
        }
        return result
    }
}
