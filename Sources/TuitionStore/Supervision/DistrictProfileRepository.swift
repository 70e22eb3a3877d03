import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

public struct DistrictProfileRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Longest approving authority accepted (the column's CHECK agrees).
    public static let approvingAuthorityMaxCharacters = 100

    public func profile(_ code: DistrictCode) async throws -> DistrictProfile {
        for try await authority in try await store.query(
            "SELECT approving_authority FROM districts WHERE code = \(code.value)"
        ).decode(String?.self) {
            return DistrictProfile(code: code.value, approvingAuthority: authority)
        }
        return DistrictProfile(code: code.value, approvingAuthority: nil)
    }

    /// Refuses an empty, over-long or control-character name as `approvingAuthorityInvalid`.
    public func setApprovingAuthority(_ name: String, district code: DistrictCode) async throws -> DistrictProfile {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        // Counted as PostgreSQL counts (code points): a name of combining marks is short in characters, long in these.
        guard !trimmed.isEmpty, trimmed.unicodeScalars.count <= Self.approvingAuthorityMaxCharacters,
            !trimmed.unicodeScalars.contains(where: {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
            })
        else { throw Rejection.approvingAuthorityInvalid }
        try await store.query(
            """
            INSERT INTO districts (code, approving_authority) VALUES (\(code.value), \(trimmed))
            ON CONFLICT (code) DO UPDATE SET approving_authority = EXCLUDED.approving_authority
            """)
        return DistrictProfile(code: code.value, approvingAuthority: trimmed)
    }
}
