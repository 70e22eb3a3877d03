import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// Whose certificate: an institution's or a guardian's.
public enum CertificateHolder: Sendable, Hashable {
    case institution(Institution.ID)
    case guardian(Guardian.ID)

    public var kind: String {
        switch self {
        case .institution: "institution"
        case .guardian: "guardian"
        }
    }
    var institution: UUID? { if case .institution(let id) = self { id.uuid } else { nil } }
    var guardian: UUID? { if case .guardian(let id) = self { id.uuid } else { nil } }
}

/// A certificate (DER) with its private key sealed under the key-encryption key, as stored.
public struct SealedCertificate: Sendable {
    public var certificateDER: [UInt8]
    public var sealedKey: [UInt8]

    public init(certificateDER: [UInt8], sealedKey: [UInt8]) {
        self.certificateDER = certificateDER
        self.sealedKey = sealedKey
    }
}

/// A holder's signing certificate as stored.
public struct StoredSigningCertificate: Sendable {
    public var serial: String
    public var sealed: SealedCertificate
    public var notAfter: Date
    public var revokedAt: Date?
    public var revocationReason: String?
    public var algorithm: String
}

/// A signing certificate just issued, to store for its holder.
public struct NewSigningCertificate: Sendable {
    public var serial: String
    public var holder: CertificateHolder
    public var algorithm: String
    public var subject: String
    public var sealed: SealedCertificate
    public var notBefore: Date
    public var notAfter: Date
    public var issuedAt: Date

    public init(
        serial: String, holder: CertificateHolder, algorithm: String, subject: String, sealed: SealedCertificate, notBefore: Date,
        notAfter: Date, issuedAt: Date
    ) {
        self.serial = serial
        self.holder = holder
        self.algorithm = algorithm
        self.subject = subject
        self.sealed = sealed
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.issuedAt = issuedAt
    }
}

/// The rows of the platform CA, its time-stamping authority and the signing certificates it issued. Keys are
/// stored only sealed; making, opening and using them is the use cases' (`TuitionUseCases.Certificates`).
public struct CertificateRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    // MARK: The platform CA and TSA

    /// The platform CA's certificate and sealed key; nil before `ca init`.
    public func platformAuthority(on transaction: StoreTransaction? = nil) async throws -> SealedCertificate? {
        try await sealedSingleton("SELECT certificate_der, private_key_sealed FROM platform_ca WHERE id = 1", on: transaction)
    }

    /// The platform time-stamping authority's certificate and sealed key; nil before it is first needed.
    public func platformTimeStampAuthority(on transaction: StoreTransaction? = nil) async throws -> SealedCertificate? {
        try await sealedSingleton("SELECT certificate_der, private_key_sealed FROM platform_tsa WHERE id = 1", on: transaction)
    }

    private func sealedSingleton(_ query: PostgresQuery, on transaction: StoreTransaction?) async throws -> SealedCertificate? {
        let rows = try await store.query(query, on: transaction)
        var found: SealedCertificate?
        for try await (der, sealed) in rows.decode((Data, Data).self) {
            found = SealedCertificate(certificateDER: [UInt8](der), sealedKey: [UInt8](sealed))
        }
        return found
    }

    /// Stores the platform CA unless one exists; whether this one was stored.
    public func insertPlatformAuthority(_ sealed: SealedCertificate, at now: Date) async throws -> Bool {
        var inserted = false
        for try await _ in try await store.query(
            """
            INSERT INTO platform_ca (id, certificate_der, private_key_sealed, created_at)
            VALUES (1, \(Data(sealed.certificateDER)), \(Data(sealed.sealedKey)), \(now))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """)
        { inserted = true }
        return inserted
    }

    /// Stores the platform time-stamping authority unless one exists.
    public func insertPlatformTimeStampAuthority(_ sealed: SealedCertificate, at now: Date, on transaction: StoreTransaction) async throws {
        try await transaction.connection.run(
            """
            INSERT INTO platform_tsa (id, certificate_der, private_key_sealed, created_at)
            VALUES (1, \(Data(sealed.certificateDER)), \(Data(sealed.sealedKey)), \(now)) ON CONFLICT (id) DO NOTHING
            """, logger: store.logger)
    }

    // MARK: Signing certificates

    /// Every certificate the holder was ever issued, live and revoked.
    public func signingCertificates(of holder: CertificateHolder, on transaction: StoreTransaction) async throws
        -> [StoredSigningCertificate]
    {
        let rows = try await transaction.connection.query(
            """
            SELECT serial, certificate_der, private_key_sealed, not_after, revoked_at, revocation_reason, algorithm
            FROM certificates WHERE institution_id = \(holder.institution) OR guardian_id = \(holder.guardian)
            """, logger: store.logger)
        var found: [StoredSigningCertificate] = []
        for try await (serial, der, sealed, notAfter, revokedAt, reason, algorithm) in rows.decode(
            (String, Data, Data, Date, Date?, String?, String).self)
        {
            found.append(
                StoredSigningCertificate(
                    serial: serial, sealed: SealedCertificate(certificateDER: [UInt8](der), sealedKey: [UInt8](sealed)),
                    notAfter: notAfter, revokedAt: revokedAt, revocationReason: reason, algorithm: algorithm))
        }
        return found
    }

    /// Retires one certificate (`expired`, `superseded`): its holder gets a new one.
    public func retire(serial: String, reason: String, at now: Date, on transaction: StoreTransaction) async throws {
        try await transaction.connection.run(
            "UPDATE certificates SET revoked_at = \(now), revocation_reason = \(reason) WHERE serial = \(serial)", logger: store.logger)
    }

    /// Stores a new signing certificate unless the holder got a live one of that algorithm meanwhile; whether it was.
    public func insert(_ certificate: NewSigningCertificate, on transaction: StoreTransaction) async throws -> Bool {
        let holder = certificate.holder
        let conflict =
            holder.institution != nil
            ? "(institution_id, algorithm) WHERE revoked_at IS NULL AND institution_id IS NOT NULL"
            : "(guardian_id, algorithm) WHERE revoked_at IS NULL AND guardian_id IS NOT NULL"
        let rows = try await transaction.connection.query(
            """
            INSERT INTO certificates (serial, holder, institution_id, guardian_id, algorithm, subject, certificate_der,
                private_key_sealed, not_before, not_after, issued_at)
            VALUES (\(certificate.serial), \(holder.kind), \(holder.institution), \(holder.guardian), \(certificate.algorithm),
                \(certificate.subject), \(Data(certificate.sealed.certificateDER)), \(Data(certificate.sealed.sealedKey)),
                \(certificate.notBefore), \(certificate.notAfter), \(certificate.issuedAt))
            ON CONFLICT \(unescaped: conflict) DO NOTHING RETURNING serial
            """, logger: store.logger)
        var inserted = false
        for try await _ in rows { inserted = true }
        return inserted
    }

    // MARK: Revocation

    /// Revokes every live certificate of the institution inside the caller's transaction (blacklisting, the
    /// defunct mark); it signs nothing more, while what it signed before stays valid. Returns how many.
    @discardableResult
    func revokeInstitution(_ id: Institution.ID, reason: String, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE certificates SET revoked_at = \(store.dependencies.now()), revocation_reason = \(reason.isEmpty ? "revoked" : reason)
            WHERE institution_id = \(id.uuid) AND revoked_at IS NULL RETURNING serial
            """, logger: store.logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    /// As `revokeInstitution(_:reason:on:)`, in a transaction of its own.
    @discardableResult
    public func revokeInstitution(_ id: Institution.ID, reason: String) async throws -> Int {
        try await store.transaction { (connection: PostgresConnection) in try await revokeInstitution(id, reason: reason, on: connection) }
    }

    /// When each of these certificates was revoked, for those that were (for `XMLSignatureVerifier`); read in
    /// `transaction` when the caller is in one.
    public func revocations(serials: [String], on transaction: StoreTransaction? = nil) async throws -> [String: Date] {
        guard !serials.isEmpty else { return [:] }
        var found: [String: Date] = [:]
        for try await (serial, revokedAt) in try await store.query(
            "SELECT serial, revoked_at FROM certificates WHERE serial = ANY(\(serials)) AND revoked_at IS NOT NULL", on: transaction
        ).decode((String, Date).self) {
            found[serial] = revokedAt
        }
        return found
    }

    /// Every revoked certificate with its time, in serial order (for the CA's revocation list).
    public func revokedCertificates() async throws -> [(serial: String, revokedAt: Date)] {
        var revoked: [(serial: String, revokedAt: Date)] = []
        for try await (serial, revokedAt) in try await store.query(
            "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL ORDER BY serial"
        ).decode((String, Date).self) {
            revoked.append((serial, revokedAt))
        }
        return revoked
    }

    /// The public records of these certificates, by serial.
    public func certificates(serials: [String]) async throws -> [String: CertificateRecord] {
        guard !serials.isEmpty else { return [:] }
        let rows = try await store.query(
            """
            SELECT serial, holder, algorithm, subject, not_before, not_after, revoked_at, revocation_reason
            FROM certificates WHERE serial = ANY(\(serials))
            """)
        var found: [String: CertificateRecord] = [:]
        for try await (serial, holder, algorithm, subject, notBefore, notAfter, revokedAt, reason) in rows.decode(
            (String, String, String, String, Date, Date, Date?, String?).self)
        {
            found[serial] = CertificateRecord(
                serial: serial, holder: holder, algorithm: algorithm, subject: subject, notBefore: notBefore, notAfter: notAfter,
                revokedAt: revokedAt, revocationReason: reason)
        }
        return found
    }
}
