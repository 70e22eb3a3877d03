import Crypto
import Foundation
import PostgresNIO
import TuitionCore

/// Bearer tokens: random, shown once, stored only as their SHA-256.
public struct PrincipalRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Creates a principal for `entity` and returns its token; the token is not kept.
    public func create(for entity: PrincipalEntity, label: String = "") async throws -> (principal: Principal, token: String) {
        let token = Self.newToken()
        let id = store.dependencies.newID()
        var district: String?
        var institution: UUID?
        var guardian: UUID?
        var insurer: UUID?
        switch entity {
        case .regulator(let code): district = code.value
        case .institution(let value): institution = value.uuid
        case .guardian(let value): guardian = value.uuid
        case .insurer(let value): insurer = value.uuid
        }
        try await store.query(
            """
            INSERT INTO principals (id, role, district_code, institution_id, guardian_id, insurer_id, token_sha256, label, created_at)
            VALUES (\(id), \(entity.role.rawValue), \(district), \(institution), \(guardian), \(insurer),
                \(Self.digest(token)), \(label), \(store.dependencies.now()))
            """)
        return (Principal(id: id, entity: entity), token)
    }

    public func principal(forToken token: String) async throws -> Principal? {
        let rows = try await store.query(
            """
            SELECT id, district_code, institution_id, guardian_id, insurer_id FROM principals
            WHERE token_sha256 = \(Self.digest(token)) AND revoked_at IS NULL
            """)
        for try await (id, district, institution, guardian, insurer) in rows.decode((UUID, String?, UUID?, UUID?, UUID?).self) {
            let entity: PrincipalEntity? =
                if let district, let code = DistrictCode(district) { .regulator(code) } else if let institution {
                    .institution(.init(institution))
                } else if let guardian { .guardian(.init(guardian)) } else if let insurer { .insurer(.init(insurer)) } else { nil }
            return entity.map { Principal(id: id, entity: $0) }
        }
        return nil
    }

    static func newToken() -> String {
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max) }
        return "tg_"
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }
}
