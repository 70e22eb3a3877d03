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
        let rows = try await store.client.execute(PrincipalByTokenStatement(digest: Self.digest(token)), logger: store.logger)
        for try await (id, district, institution, guardian, insurer) in rows {
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

/// `principal(forToken:)`: the live principal holding a token, by the token's SHA-256; runs on every request.
struct PrincipalByTokenStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT id, district_code, institution_id, guardian_id, insurer_id FROM principals
        WHERE token_sha256 = $1 AND revoked_at IS NULL
        """
    typealias Row = (UUID, String?, UUID?, UUID?, UUID?)

    var digest: Data

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        try bindings.append(digest)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
