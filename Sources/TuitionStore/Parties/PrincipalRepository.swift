import Crypto
import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension TokenRecord {
    static let columns = """
        p.id, p.role, coalesce(p.district_code, p.institution_id::text, p.guardian_id::text, p.insurer_id::text),
        p.label, p.created_at, p.expires_at, p.revoked_at
        """

    init(row: PostgresRow) throws {
        let (id, role, entity, label, created, expires, revoked) = try row.decode((UUID, String, String, String, Date, Date, Date?).self)
        try self.init(
            principalId: id,
            role: decodeEnum(role),
            entityId: entity,
            label: label,
            createdAt: created,
            expiresAt: expires,
            revokedAt: revoked)
    }
}

/// A new token, shown once.
public struct IssuedToken: Sendable {
    public let principal: Principal
    public let token: String
    public let expiresAt: Date
}

/// Who holds a live token, and, for an institution's token, the institution's status (a defunct institution reads
/// but does not write).
public struct TokenHolder: Sendable, Hashable {
    public let principal: Principal
    public let institutionStatus: InstitutionStatus?
}

/// A request that changes tokens came with a token that is no longer live (revoked, expired, or its institution
/// blacklisted), though a holder cache still knew it.
public struct TokenNoLongerLive: Error, Sendable {}

/// The entity whose tokens a principal manages, one column per kind (nil for the others, which then match nothing).
private struct TokenOwner {
    var district: String?
    var institution: UUID?
    var guardian: UUID?
    var insurer: UUID?

    init(_ principal: Principal) {
        switch principal.entity {
        case .regulator(let code): district = code.value
        case .institution(let id): institution = id.uuid
        case .guardian(let id): guardian = id.uuid
        case .insurer(let id): insurer = id.uuid
        }
    }
}

/// Bearer tokens: random, shown once, stored only as their SHA-256. A token lives `lifetime` (90 days unless
/// configured), until revoked by its holder or the regulator, or until its institution is blacklisted.
public struct PrincipalRepository: Sendable {
    public static let defaultLifetime: TimeInterval = 90 * 86_400

    let store: Store
    let lifetime: TimeInterval

    public init(store: Store, lifetime: TimeInterval = PrincipalRepository.defaultLifetime) {
        self.store = store
        self.lifetime = lifetime
    }

    /// Creates a principal for `entity` and returns its token; the token is not kept.
    public func create(for entity: PrincipalEntity, label: String = "") async throws -> (principal: Principal, token: String) {
        let issued = try await issue(for: entity, label: label)
        return (issued.principal, issued.token)
    }

    /// As `create(for:label:)`, also saying when the token expires.
    public func issue(for entity: PrincipalEntity, label: String) async throws -> IssuedToken {
        try await store.transaction { connection in try await issue(for: entity, label: label, on: connection) }
    }

    /// A parent's sign-up: the guardian, its bank account and its first token in one transaction, so a failure
    /// leaves nothing behind and the client's retry creates one guardian, not two.
    public func signUpGuardian(name: String, phone: String, label: String) async throws -> IssuedToken {
        try await store.transaction { connection in
            let guardian = try await PartyRepository(store: store).createGuardian(name: name, phone: phone, on: connection)
            return try await issue(for: .guardian(guardian), label: label, on: connection)
        }
    }

    func issue(for entity: PrincipalEntity, label: String, on connection: PostgresConnection) async throws -> IssuedToken {
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
        let now = store.dependencies.now()
        try await connection.query(
            """
            INSERT INTO principals (id, role, district_code, institution_id, guardian_id, insurer_id, token_sha256, label, created_at,
                expires_at)
            VALUES (\(id), \(entity.role.rawValue), \(district), \(institution), \(guardian), \(insurer),
                \(Self.digest(token)), \(label), \(now), \(now.addingTimeInterval(lifetime)))
            """, logger: store.logger)
        return IssuedToken(principal: Principal(id: id, entity: entity), token: token, expiresAt: now.addingTimeInterval(lifetime))
    }

    /// The principal holding a live token, or nil (unknown, expired, revoked, or its institution blacklisted).
    public func principal(forToken token: String) async throws -> Principal? {
        try await holder(forToken: token)?.principal
    }

    /// The holder of a live token. The lookup goes by the token's SHA-256 through a unique index, and the stored hash
    /// is then compared in constant time, so neither step's timing says anything about a token someone else holds.
    /// Holders are cached for a few seconds (`TokenHolderCache`).
    public func holder(forToken token: String) async throws -> TokenHolder? {
        let digest = Self.digest(token)
        let now = store.dependencies.now()
        if let cached = store.tokenHolders.holder(forDigest: digest, now: now) { return cached }
        let generation = store.tokenHolders.generation
        guard let (holder, expiresAt) = try await lookUp(digest, now: now) else { return nil }
        store.tokenHolders.remember(holder, digest: digest, tokenExpiresAt: expiresAt, lookedUpIn: generation)
        return holder
    }

    private func lookUp(_ digest: Data, now: Date) async throws -> (TokenHolder, expiresAt: Date)? {
        let rows = try await store.execute(PrincipalByTokenStatement(digest: digest, now: now))
        for try await (id, stored, district, institution, guardian, insurer, status, expiresAt) in rows {
            guard constantTimeEquals(stored, digest) else { return nil }
            let entity: PrincipalEntity? =
                if let district, let code = DistrictCode(district) { .regulator(code) } else if let institution {
                    .institution(.init(institution))
                } else if let guardian { .guardian(.init(guardian)) } else if let insurer { .insurer(.init(insurer)) } else { nil }
            let institutionStatus: InstitutionStatus? = try status.map { try decodeEnum($0) }
            // A blacklisted institution's tokens are revoked when it is blacklisted; this holds for any left over.
            if institutionStatus == .blacklisted { return nil }
            return entity.map { (TokenHolder(principal: Principal(id: id, entity: $0), institutionStatus: institutionStatus), expiresAt) }
        }
        return nil
    }

    /// Who may manage a token: a holder of a token of the same entity (any token of the same institution, guardian or
    /// insurer: one lost or stolen is revoked with another), or the regulator of the district it belongs to (a
    /// regulator's token of that district, or a token of an institution registered there).
    func manageable(_ id: UUID, by principal: Principal, on connection: PostgresConnection) async throws -> TokenRecord? {
        try await manageable(id, by: principal, owner: TokenOwner(principal), on: connection)
    }

    /// `manageable` for a rotation, which hands the new token to the caller: only the token's own holder or its
    /// district's regulator may rotate it. Another holder of the same entity may revoke it, never take it over — a
    /// stolen token rotating its entity's other tokens would leave their holders with none.
    func rotatable(_ id: UUID, by principal: Principal, on connection: PostgresConnection) async throws -> TokenRecord? {
        var owner = TokenOwner(principal)
        (owner.institution, owner.guardian, owner.insurer) = (nil, nil, nil)
        return try await manageable(id, by: principal, owner: owner, on: connection)
    }

    private func manageable(_ id: UUID, by principal: Principal, owner: TokenOwner, on connection: PostgresConnection) async throws
        -> TokenRecord?
    {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: TokenRecord.columns) FROM principals p LEFT JOIN institutions i ON i.id = p.institution_id
            WHERE p.id = \(id) AND (p.id = \(principal.id) OR p.institution_id = \(owner.institution)
                OR p.guardian_id = \(owner.guardian) OR p.insurer_id = \(owner.insurer)
                OR p.district_code = \(owner.district) OR i.district_code = \(owner.district))
            FOR UPDATE OF p
            """, logger: store.logger)
        for try await row in rows { return try TokenRecord(row: row) }
        return nil
    }

    /// The caller's and the target's rows, locked for update together in id order before anything else is read of them:
    /// blacklisting locks an institution's tokens in that order too, and a revocation that took the caller's row for
    /// share first and the target's for update after deadlocked with it, and with itself (a double click on a
    /// self-revocation, two tokens revoking each other), each holding what the other waited for.
    private func lockInIdOrder(_ caller: Principal, _ target: UUID, on connection: PostgresConnection) async throws {
        try await connection.run(
            "SELECT count(*) FROM (SELECT 1 FROM principals WHERE id IN (\(caller.id), \(target)) ORDER BY id FOR UPDATE) AS locked",
            logger: store.logger)
    }

    /// The caller of a request that changes tokens, checked live inside its transaction: the holder cache may still
    /// hold, for a few seconds, a token another instance of the service revoked, and no new token comes of such a one.
    private func requireLive(_ caller: Principal, on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            """
            SELECT 1 FROM principals p LEFT JOIN institutions i ON i.id = p.institution_id
            WHERE p.id = \(caller.id) AND p.revoked_at IS NULL AND p.expires_at > \(store.dependencies.now())
              AND i.status IS DISTINCT FROM 'blacklisted'
            FOR SHARE OF p
            """, logger: store.logger)
        for try await _ in rows { return }
        throw TokenNoLongerLive()
    }

    /// A blacklisted institution gets no new token (blacklisting revoked all of them), nor does a defunct one, which
    /// writes nothing more (and may have been blacklisted before its mark: the status no longer says). The institution's
    /// row is held until the transaction ends, so neither can happen in between.
    private func refuseClosedInstitution(_ entity: PrincipalEntity, on connection: PostgresConnection) async throws {
        guard case .institution(let id) = entity else { return }
        let rows = try await connection.query(
            "SELECT status FROM institutions WHERE id = \(id.uuid) FOR SHARE", logger: store.logger)
        for try await status in rows.decode(String.self) {
            if status == InstitutionStatus.blacklisted.rawValue { throw Rejection.institutionIsBlacklisted }
            if status == InstitutionStatus.defunct.rawValue { throw Rejection.institutionDefunct }
        }
    }

    /// A new token for `entity` (an institution's, issued by its regulator), once the caller's own token is found live
    /// and the institution neither blacklisted nor defunct.
    public func issue(for entity: PrincipalEntity, label: String, by caller: Principal) async throws -> IssuedToken {
        try await store.transaction { connection in
            try await requireLive(caller, on: connection)
            try await refuseClosedInstitution(entity, on: connection)
            return try await issue(for: entity, label: label, on: connection)
        }
    }

    /// Revokes a token its holder, another holder of the same entity or its district's regulator names; nil when
    /// `principal` may not see it. Revoking a revoked token changes nothing.
    public func revoke(_ id: UUID, by principal: Principal) async throws -> TokenRecord? {
        try await store.transactionChangingAuthority { connection in
            try await lockInIdOrder(principal, id, on: connection)
            try await requireLive(principal, on: connection)
            guard var token = try await manageable(id, by: principal, on: connection) else { return nil }
            if token.revokedAt == nil {
                let now = store.dependencies.now()
                try await connection.query("UPDATE principals SET revoked_at = \(now) WHERE id = \(id)", logger: store.logger)
                token.revokedAt = now
            }
            return token
        }
    }

    /// Replaces a live token with a new one for the same entity, in one transaction: the old token stops working the
    /// moment the new one exists. Nil when `principal` may not rotate it (`rotatable`) or it is no longer live;
    /// refused, as issuing is, for a blacklisted or defunct institution.
    public func rotate(_ id: UUID, by principal: Principal) async throws -> IssuedToken? {
        try await store.transactionChangingAuthority { connection in
            try await lockInIdOrder(principal, id, on: connection)
            try await requireLive(principal, on: connection)
            let now = store.dependencies.now()
            guard let old = try await rotatable(id, by: principal, on: connection), old.revokedAt == nil, old.expiresAt > now,
                let entity = PrincipalEntity(role: old.role, entityId: old.entityId)
            else { return nil }
            try await refuseClosedInstitution(entity, on: connection)
            try await connection.query("UPDATE principals SET revoked_at = \(now) WHERE id = \(id)", logger: store.logger)
            return try await issue(for: entity, label: "rotated from \(id.uuidString.lowercased())", on: connection)
        }
    }

    /// The tokens `principal` may manage (`manageable`): its entity's, and for a regulator every token of its district.
    public func tokens(visibleTo principal: Principal, page: PageRequest) async throws -> Page<TokenRecord> {
        let owner = TokenOwner(principal)
        let rows = try await store.query(
            """
            SELECT \(unescaped: TokenRecord.columns) FROM principals p LEFT JOIN institutions i ON i.id = p.institution_id
            WHERE (p.id = \(principal.id) OR p.institution_id = \(owner.institution) OR p.guardian_id = \(owner.guardian)
                OR p.insurer_id = \(owner.insurer) OR p.district_code = \(owner.district) OR i.district_code = \(owner.district))
              AND p.id > \(page.afterOrFloor)
            ORDER BY p.id LIMIT \(page.limit + 1)
            """)
        var items: [TokenRecord] = []
        for try await row in rows { items.append(try TokenRecord(row: row)) }
        return page.page(items) { $0.principalId }
    }

    /// Revokes every live token of an institution, inside the caller's transaction (blacklisting).
    func revokeInstitution(_ id: Institution.ID, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE principals SET revoked_at = \(store.dependencies.now()) WHERE institution_id = \(id.uuid) AND revoked_at IS NULL",
            logger: store.logger)
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

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: Data, _ b: Data) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

extension PrincipalEntity {
    /// The entity a stored principal row names, from its role and entity id.
    init?(role: Role, entityId: String) {
        switch role {
        case .regulator:
            guard let code = DistrictCode(entityId) else { return nil }
            self = .regulator(code)
        case .institution:
            guard let id = Institution.ID(entityId) else { return nil }
            self = .institution(id)
        case .guardian:
            guard let id = Guardian.ID(entityId) else { return nil }
            self = .guardian(id)
        case .insurer:
            guard let id = Insurer.ID(entityId) else { return nil }
            self = .insurer(id)
        }
    }
}

/// `holder(forToken:)`: the live principal holding a token, by the token's SHA-256; runs on every request.
struct PrincipalByTokenStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT p.id, p.token_sha256, p.district_code, p.institution_id, p.guardian_id, p.insurer_id, i.status, p.expires_at
        FROM principals p LEFT JOIN institutions i ON i.id = p.institution_id
        WHERE p.token_sha256 = $1 AND p.revoked_at IS NULL AND p.expires_at > $2
        """
    typealias Row = (UUID, Data, String?, UUID?, UUID?, UUID?, String?, Date)

    var digest: Data
    var now: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        try bindings.append(digest)
        bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
