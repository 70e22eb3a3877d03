import ContractKit
import Foundation
import TuitionCore
import TuitionStore

/// The platform CA and the signing certificates it issues: keys are made and opened here, stored only sealed
/// under the key-encryption key through `CertificateRepository`. Keys leave this type only inside an `XMLSigner`.
public struct Certificates: Sendable {
    let store: Store
    var rows: CertificateRepository { CertificateRepository(store: store) }
    /// Keys already opened, by their sealed bytes (see `OpenedKeys`); a fresh cache unless the caller shares one.
    let opened: OpenedKeys

    public init(store: Store) { self.init(store: store, opened: OpenedKeys()) }

    init(store: Store, opened: OpenedKeys) {
        self.store = store
        self.opened = opened
    }

    /// Validity of the platform CA and of the certificates it issues.
    static let authorityYears = 10.0
    static let signerYears = 2.0
    static let year: TimeInterval = 365 * 86_400
    static let timeStampAuthorityCommonName = "TuitionGuard Time-Stamping Authority"
    /// Revocation reasons that replace a certificate rather than end its holder's signing for good.
    static let replacementReasons: Set<String> = ["expired", "superseded"]

    // MARK: The platform CA

    /// Creates the platform CA (P-256, self-signed, 10 years) unless one exists; either way returns its
    /// certificate, after checking that `kek` opens its key. Safe to run twice and concurrently.
    public func initializeAuthority(kek: KeyEncryptionKey, commonName: String = "TuitionGuard Platform CA") async throws -> (
        certificate: Certificate, created: Bool
    ) {
        if let existing = try await authority(kek: kek) {
            _ = try await timeStampAuthority(kek: kek)
            return (existing.certificate, false)
        }
        let now = store.dependencies.now()
        let key = try PrivateKey.generate(.ecdsaP256)
        let authority = try CertificateAuthority.create(
            subject: CertificateSubject(commonName: commonName, organization: "TuitionGuard"), privateKey: key,
            validity: DateInterval(start: now.addingTimeInterval(-86_400), duration: Self.authorityYears * Self.year))
        let sealed = SealedCertificate(
            certificateDER: authority.certificate.derRepresentation,
            sealedKey: try kek.seal(Array(key.pemRepresentation.utf8), context: "platform-ca"))
        if try await rows.insertPlatformAuthority(sealed, at: now) {
            _ = try await timeStampAuthority(kek: kek)
            return (authority.certificate, true)
        }
        guard let winner = try await self.authority(kek: kek) else { throw CertificateAuthorityNotInitialised() }
        return (winner.certificate, false)
    }

    /// The CA certificate, public; nil before `ca init`.
    public func authorityCertificate() async throws -> Certificate? {
        try await rows.platformAuthority().map { try Certificate(derRepresentation: $0.certificateDER) }
    }

    /// The CA certificate in the caller's transaction, without opening its key; nil before `ca init`.
    func authorityCertificate(on transaction: StoreTransaction) async throws -> Certificate? {
        guard let sealed = try await rows.platformAuthority(on: transaction) else { return nil }
        return try opened.certificate(sealed.certificateDER)
    }

    /// The CA with its key opened; nil before `ca init`.
    func authority(kek: KeyEncryptionKey, on transaction: StoreTransaction? = nil) async throws -> CertificateAuthority? {
        guard let sealed = try await rows.platformAuthority(on: transaction) else { return nil }
        return try CertificateAuthority(
            certificate: try Certificate(derRepresentation: sealed.certificateDER),
            privateKey: try Self.openKey(sealed, kek: kek, context: "platform-ca"))
    }

    static func openKey(_ sealed: SealedCertificate, kek: KeyEncryptionKey, context: String) throws -> PrivateKey {
        try PrivateKey(pemRepresentation: String(decoding: try kek.open(sealed.sealedKey, context: context), as: UTF8.self))
    }

    /// `openKey` through the cache of keys this `Certificates` (and the use case holding it) opened before.
    func openedKey(_ sealed: SealedCertificate, kek: KeyEncryptionKey, context: String) throws -> PrivateKey {
        try opened.key(sealed.sealedKey, context: context) { try Self.openKey(sealed, kek: kek, context: context) }
    }

    // MARK: The time-stamping authority

    /// The platform TSA with its key opened, created when missing (key sealed under `kek` with the context
    /// `platform-tsa`; certificate from the CA with the critical EKU timeStamping, valid as long as the CA, so its
    /// tokens stay checkable for the contracts' lifetime). Its clock is the store's.
    public func timeStampAuthority(kek: KeyEncryptionKey) async throws -> TimeStampAuthority {
        try await store.transaction { (transaction: StoreTransaction) in try await timeStampAuthority(kek: kek, on: transaction) }
    }

    func timeStampAuthority(kek: KeyEncryptionKey, on transaction: StoreTransaction) async throws -> TimeStampAuthority {
        let clock = store.dependencies.now
        for _ in 0..<2 {
            if let sealed = try await rows.platformTimeStampAuthority(on: transaction) {
                return try TimeStampAuthority(
                    certificate: try opened.certificate(sealed.certificateDER),
                    privateKey: try openedKey(sealed, kek: kek, context: "platform-tsa"), clock: clock)
            }
            guard let authority = try await authority(kek: kek, on: transaction) else { throw CertificateAuthorityNotInitialised() }
            let now = clock()
            let key = try PrivateKey.generate(.ecdsaP256)
            let certificate = try authority.issueTimeStampingCertificate(
                subject: CertificateSubject(commonName: Self.timeStampAuthorityCommonName, organization: "TuitionGuard"),
                publicKey: try key.publicKey,
                validity: try validity(
                    from: max(now.addingTimeInterval(-300), authority.certificate.notValidBefore), to: authority.certificate.notValidAfter,
                    authority: authority))
            let sealed = SealedCertificate(
                certificateDER: certificate.derRepresentation,
                sealedKey: try kek.seal(Array(key.pemRepresentation.utf8), context: "platform-tsa"))
            try await rows.insertPlatformTimeStampAuthority(sealed, at: now, on: transaction)
        }
        throw CertificateStorageFailed(description: "the time-stamping authority could be neither created nor read")
    }

    // MARK: Revocation

    /// The CA's revocation list (PEM): every certificate it revoked, valid for a day. Nil before `ca init`.
    public func revocationList(kek: KeyEncryptionKey) async throws -> String? {
        guard let authority = try await authority(kek: kek) else { return nil }
        let revoked = try await rows.revokedCertificates().map {
            CertificateAuthority.Revocation(serialNumber: $0.serial, revokedAt: $0.revokedAt)
        }
        let now = store.dependencies.now()
        return try authority.revocationList(revoked, now: now, nextUpdate: now.addingTimeInterval(86_400))
    }
}

/// Private keys opened from their sealed form, and certificates parsed from their DER, kept by those exact bytes for
/// the life of the use case that holds the cache. Opening a key (AES-GCM, then OpenSSL's PEM decoders, slow for RSA)
/// and decoding a certificate's key cost more than an ECDSA signature, and a signer signs many contracts. The cache is
/// only ever used with one key-encryption key (the use case's), so a key is found only by the sealed bytes that key
/// opened, under the same context; whether a certificate may sign (live, not revoked, subject) is still read from its
/// row every time. Bounded: cleared when full.
final class OpenedKeys: @unchecked Sendable {
    private struct Sealed: Hashable {
        let context: String
        let bytes: [UInt8]
    }

    private let lock = NSLock()
    private var keys: [Sealed: PrivateKey] = [:]
    private var certificates: [[UInt8]: Certificate] = [:]
    private static let limit = 4_096

    func key(_ sealed: [UInt8], context: String, open: () throws -> PrivateKey) throws -> PrivateKey {
        let entry = Sealed(context: context, bytes: sealed)
        if let key = lock.withLock({ keys[entry] }) { return key }
        let key = try open()
        lock.withLock {
            if keys.count >= Self.limit { keys.removeAll() }
            keys[entry] = key
        }
        return key
    }

    func certificate(_ der: [UInt8]) throws -> Certificate {
        if let certificate = lock.withLock({ certificates[der] }) { return certificate }
        let certificate = try Certificate(derRepresentation: der)
        lock.withLock {
            if certificates.count >= Self.limit { certificates.removeAll() }
            certificates[der] = certificate
        }
        return certificate
    }
}
