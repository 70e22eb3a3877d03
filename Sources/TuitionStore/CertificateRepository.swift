import ContractKit
import Foundation
import PostgresNIO
import TuitionCore

/// Whose certificate: an institution's or a guardian's.
public enum CertificateHolder: Sendable, Hashable {
    case institution(Institution.ID)
    case guardian(Guardian.ID)

    var kind: String {
        switch self {
        case .institution: "institution"
        case .guardian: "guardian"
        }
    }
    var institution: UUID? { if case .institution(let id) = self { id.uuid } else { nil } }
    var guardian: UUID? { if case .guardian(let id) = self { id.uuid } else { nil } }
}

/// A certificate as the API shows it: public data only, never its key.
public struct CertificateRecord: Codable, Sendable, Hashable {
    public var serial: String
    public var holder: String
    public var algorithm: String
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    public var revokedAt: Date?
    public var revocationReason: String?
}

/// The platform CA has not been created yet (`tuitionguard ca init`).
public struct CertificateAuthorityNotInitialised: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the platform CA is not initialised: run `tuitionguard ca init`" }
}

/// The platform CA and the signing certificates it issues, with their private keys sealed under the
/// key-encryption key. Keys leave this type only inside an `XMLSigner`, never as data.
public struct CertificateRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Validity of the platform CA and of the certificates it issues.
    static let authorityYears = 10.0
    static let signerYears = 2.0
    static let year: TimeInterval = 365 * 86_400

    // MARK: The platform CA

    /// Creates the platform CA (P-256, self-signed, 10 years) unless one exists; either way returns its
    /// certificate, after checking that `kek` opens its key. Safe to run twice and concurrently.
    public func initializeAuthority(kek: KeyEncryptionKey, commonName: String = "TuitionGuard Platform CA") async throws -> (
        certificate: Certificate, created: Bool
    ) {
        if let existing = try await store.client.withConnection({ try await self.authority(kek: kek, on: $0) }) {
            _ = try await timeStampAuthority(kek: kek)
            return (existing.certificate, false)
        }
        let now = store.dependencies.now()
        let key = try PrivateKey.generate(.ecdsaP256)
        let authority = try CertificateAuthority.create(
            subject: CertificateSubject(commonName: commonName, organization: "TuitionGuard"), privateKey: key,
            validity: DateInterval(start: now.addingTimeInterval(-86_400), duration: Self.authorityYears * Self.year))
        let sealed = try kek.seal(Array(key.pemRepresentation.utf8), context: "platform-ca")
        var inserted = false
        for try await _ in try await store.query(
            """
            INSERT INTO platform_ca (id, certificate_der, private_key_sealed, created_at)
            VALUES (1, \(Data(authority.certificate.derRepresentation)), \(Data(sealed)), \(now))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """)
        { inserted = true }
        if inserted {
            _ = try await timeStampAuthority(kek: kek)
            return (authority.certificate, true)
        }
        guard let winner = try await store.client.withConnection({ try await self.authority(kek: kek, on: $0) }) else {
            throw CertificateAuthorityNotInitialised()
        }
        return (winner.certificate, false)
    }

    /// The CA certificate, public; nil before `ca init`.
    public func authorityCertificate() async throws -> Certificate? {
        for try await der in try await store.query("SELECT certificate_der FROM platform_ca WHERE id = 1").decode(Data.self) {
            return try Certificate(derRepresentation: [UInt8](der))
        }
        return nil
    }

    /// The CA with its key opened; nil before `ca init`.
    func authority(kek: KeyEncryptionKey, on connection: PostgresConnection) async throws -> CertificateAuthority? {
        let rows = try await connection.query(
            "SELECT certificate_der, private_key_sealed FROM platform_ca WHERE id = 1", logger: store.logger)
        for try await (der, sealed) in rows.decode((Data, Data).self) {
            let pem = try kek.open([UInt8](sealed), context: "platform-ca")
            return try CertificateAuthority(
                certificate: try Certificate(derRepresentation: [UInt8](der)),
                privateKey: try PrivateKey(pemRepresentation: String(decoding: pem, as: UTF8.self)))
        }
        return nil
    }

    // MARK: The time-stamping authority

    static let timeStampAuthorityCommonName = "TuitionGuard Time-Stamping Authority"

    /// The platform TSA with its key opened, created when missing (key sealed under `kek` with the context
    /// `platform-tsa`; certificate from the CA with the critical EKU timeStamping, valid as long as the CA, so its
    /// tokens stay checkable for the contracts' lifetime). Its clock is the store's.
    public func timeStampAuthority(kek: KeyEncryptionKey) async throws -> TimeStampAuthority {
        try await store.client.withConnection { try await timeStampAuthority(kek: kek, on: $0) }
    }

    func timeStampAuthority(kek: KeyEncryptionKey, on connection: PostgresConnection) async throws -> TimeStampAuthority {
        let clock = store.dependencies.now
        for _ in 0..<2 {
            let rows = try await connection.query(
                "SELECT certificate_der, private_key_sealed FROM platform_tsa WHERE id = 1", logger: store.logger)
            for try await (der, sealed) in rows.decode((Data, Data).self) {
                let pem = try kek.open([UInt8](sealed), context: "platform-tsa")
                return try TimeStampAuthority(
                    certificate: try Certificate(derRepresentation: [UInt8](der)),
                    privateKey: try PrivateKey(pemRepresentation: String(decoding: pem, as: UTF8.self)), clock: clock)
            }
            guard let authority = try await authority(kek: kek, on: connection) else { throw CertificateAuthorityNotInitialised() }
            let now = clock()
            let key = try PrivateKey.generate(.ecdsaP256)
            let certificate = try authority.issueTimeStampingCertificate(
                subject: CertificateSubject(commonName: Self.timeStampAuthorityCommonName, organization: "TuitionGuard"),
                publicKey: try key.publicKey,
                validity: DateInterval(
                    start: max(now.addingTimeInterval(-300), authority.certificate.notValidBefore), end: authority.certificate.notValidAfter))
            let sealed = try kek.seal(Array(key.pemRepresentation.utf8), context: "platform-tsa")
            try await connection.query(
                """
                INSERT INTO platform_tsa (id, certificate_der, private_key_sealed, created_at)
                VALUES (1, \(Data(certificate.derRepresentation)), \(Data(sealed)), \(now)) ON CONFLICT (id) DO NOTHING
                """, logger: store.logger)
        }
        throw CorruptRow(value: "the time-stamping authority could be neither created nor read")
    }

    // MARK: Signers

    /// The holder's signer for `algorithm`, issuing a certificate on first use (an institution at its first
    /// signature, a guardian at its first countersignature). A certificate near its end is replaced. A holder
    /// with a revoked certificate gets no new one: revocation is for good.
    func signer(
        for holder: CertificateHolder, subject: CertificateSubject, algorithm: KeyAlgorithm, kek: KeyEncryptionKey, at now: Date,
        on connection: PostgresConnection
    ) async throws -> (signer: XMLSigner, serial: String) {
        for _ in 0..<2 {
            let rows = try await connection.query(
                """
                SELECT serial, certificate_der, private_key_sealed, not_after, revoked_at, revocation_reason, algorithm
                FROM certificates WHERE institution_id = \(holder.institution) OR guardian_id = \(holder.guardian)
                """, logger: store.logger)
            var live: (String, Data, Data, Date)?
            var revokedForGood = false
            for try await (serial, der, sealed, notAfter, revokedAt, reason, kind) in rows.decode(
                (String, Data, Data, Date, Date?, String?, String).self)
            {
                if revokedAt == nil {
                    if kind == algorithm.rawValue { live = (serial, der, sealed, notAfter) }
                } else if !Self.replacementReasons.contains(reason ?? "") {
                    revokedForGood = true
                }
            }
            guard !revokedForGood else { throw Rejection.signingCertificateRevoked }
            if let (serial, der, sealed, notAfter) = live {
                // A holder renamed since, or a certificate of the subject form before the parties were named in it
                // (OU = role, full name attribute), is superseded by a new one.
                let fits = (try? Certificate(derRepresentation: [UInt8](der)).subject) == subject
                if !fits {
                    try await connection.query(
                        "UPDATE certificates SET revoked_at = \(now), revocation_reason = 'superseded' WHERE serial = \(serial)",
                        logger: store.logger)
                } else if notAfter > now.addingTimeInterval(86_400) {
                    let key = try PrivateKey(
                        pemRepresentation: String(decoding: try kek.open([UInt8](sealed), context: serial), as: UTF8.self))
                    let authority = try await timeStampAuthority(kek: kek, on: connection)
                    return (
                        try XMLSigner(
                            privateKey: key, certificate: try Certificate(derRepresentation: [UInt8](der)), timeStampAuthority: authority),
                        serial
                    )
                } else {
                    try await connection.query(
                        "UPDATE certificates SET revoked_at = \(now), revocation_reason = 'expired' WHERE serial = \(serial)",
                        logger: store.logger)
                }
            }
            if let issued = try await issue(for: holder, subject: subject, algorithm: algorithm, kek: kek, at: now, on: connection) {
                return issued
            }
            // Another transaction issued one meanwhile: read it.
        }
        throw CorruptRow(value: "no certificate could be issued or read for \(holder)")
    }

    /// Revocation reasons that replace a certificate rather than end its holder's signing for good.
    static let replacementReasons: Set<String> = ["expired", "superseded"]

    private func issue(
        for holder: CertificateHolder, subject: CertificateSubject, algorithm: KeyAlgorithm, kek: KeyEncryptionKey, at now: Date,
        on connection: PostgresConnection
    ) async throws -> (signer: XMLSigner, serial: String)? {
        guard let authority = try await authority(kek: kek, on: connection) else { throw CertificateAuthorityNotInitialised() }
        let key = try PrivateKey.generate(algorithm)
        let start = now.addingTimeInterval(-300)
        let end = min(now.addingTimeInterval(Self.signerYears * Self.year), authority.certificate.notValidAfter)
        let certificate = try authority.issueCertificate(
            subject: subject, publicKey: try key.publicKey, validity: DateInterval(start: start, end: end))
        let serial = certificate.serialNumber
        let sealed = try kek.seal(Array(key.pemRepresentation.utf8), context: serial)
        let conflict =
            holder.institution != nil
            ? "(institution_id, algorithm) WHERE revoked_at IS NULL AND institution_id IS NOT NULL"
            : "(guardian_id, algorithm) WHERE revoked_at IS NULL AND guardian_id IS NOT NULL"
        let rows = try await connection.query(
            """
            INSERT INTO certificates (serial, holder, institution_id, guardian_id, algorithm, subject, certificate_der,
                private_key_sealed, not_before, not_after, issued_at)
            VALUES (\(serial), \(holder.kind), \(holder.institution), \(holder.guardian), \(algorithm.rawValue),
                \(certificate.subjectName), \(Data(certificate.derRepresentation)), \(Data(sealed)), \(start), \(end), \(now))
            ON CONFLICT \(unescaped: conflict) DO NOTHING RETURNING serial
            """, logger: store.logger)
        for try await _ in rows {
            let authority = try await timeStampAuthority(kek: kek, on: connection)
            return (try XMLSigner(privateKey: key, certificate: certificate, timeStampAuthority: authority), serial)
        }
        return nil
    }

    // MARK: Revocation

    /// Revokes every live certificate of the institution inside the caller's transaction (blacklisting, the
    /// defunct mark); it signs nothing more, while what it signed before stays valid. Returns how many.
    @discardableResult
    public func revokeInstitution(_ id: Institution.ID, reason: String, on connection: PostgresConnection) async throws -> Int {
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
        try await store.transaction { try await revokeInstitution(id, reason: reason, on: $0) }
    }

    /// When each of these certificates was revoked, for those that were (for `XMLSignatureVerifier`).
    public func revocations(serials: [String]) async throws -> [String: Date] {
        guard !serials.isEmpty else { return [:] }
        var found: [String: Date] = [:]
        for try await (serial, revokedAt) in try await store.query(
            "SELECT serial, revoked_at FROM certificates WHERE serial = ANY(\(serials)) AND revoked_at IS NOT NULL"
        ).decode((String, Date).self) {
            found[serial] = revokedAt
        }
        return found
    }

    /// The CA's revocation list (PEM): every certificate it revoked, valid for a day. Nil before `ca init`.
    public func revocationList(kek: KeyEncryptionKey) async throws -> String? {
        try await store.client.withConnection { connection in
            guard let authority = try await authority(kek: kek, on: connection) else { return nil }
            var revoked: [CertificateAuthority.Revocation] = []
            for try await (serial, revokedAt) in try await connection.query(
                "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL ORDER BY serial", logger: store.logger
            ).decode((String, Date).self) {
                revoked.append(CertificateAuthority.Revocation(serialNumber: serial, revokedAt: revokedAt))
            }
            let now = store.dependencies.now()
            return try authority.revocationList(revoked, now: now, nextUpdate: now.addingTimeInterval(86_400))
        }
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
