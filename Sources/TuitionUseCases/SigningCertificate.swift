import ContractKit
import Foundation
import TuitionCore
import TuitionStore

extension Certificates {
    /// The holder's signer for `algorithm`, issuing a certificate on first use (an institution at its first
    /// signature, a guardian at its first countersignature). A certificate near its end, or one whose subject no
    /// longer fits the holder, is replaced. A holder with a revoked certificate gets no new one: revocation is for good.
    func signer(
        for holder: CertificateHolder, subject: CertificateSubject, algorithm: KeyAlgorithm, kek: KeyEncryptionKey, at now: Date,
        on transaction: StoreTransaction
    ) async throws -> (signer: XMLSigner, serial: String) {
        for _ in 0..<2 {
            let held = try await rows.signingCertificates(of: holder, on: transaction)
            guard !held.contains(where: { $0.revokedAt != nil && !Self.replacementReasons.contains($0.revocationReason ?? "") }) else {
                throw Rejection.signingCertificateRevoked
            }
            if let live = held.last(where: { $0.revokedAt == nil && $0.algorithm == algorithm.rawValue }) {
                if let reason = retirement(of: live, subject: subject, at: now) {
                    try await rows.retire(serial: live.serial, reason: reason, at: now, on: transaction)
                } else {
                    let authority = try await timeStampAuthority(kek: kek, on: transaction)
                    let signer = try XMLSigner(
                        privateKey: try openedKey(live.sealed, kek: kek, context: live.serial),
                        certificate: try opened.certificate(live.sealed.certificateDER), timeStampAuthority: authority)
                    return (signer, live.serial)
                }
            }
            if let issued = try await issue(for: holder, subject: subject, algorithm: algorithm, kek: kek, at: now, on: transaction) {
                return issued
            }
            // Another transaction issued one meanwhile: read it.
        }
        throw CertificateStorageFailed(description: "no certificate could be issued or read for \(holder)")
    }

    /// Why a live certificate is replaced before signing, or nil when it still serves: a holder renamed since, or a
    /// certificate of the subject form before the parties were named in it (OU = role, full name attribute), is
    /// `superseded`; one within a day of its end is `expired`.
    func retirement(of certificate: StoredSigningCertificate, subject: CertificateSubject, at now: Date) -> String? {
        let fits = (try? opened.certificate(certificate.sealed.certificateDER).subject) == subject
        if !fits { return "superseded" }
        return certificate.notAfter > now.addingTimeInterval(86_400) ? nil : "expired"
    }

    private func issue(
        for holder: CertificateHolder, subject: CertificateSubject, algorithm: KeyAlgorithm, kek: KeyEncryptionKey, at now: Date,
        on transaction: StoreTransaction
    ) async throws -> (signer: XMLSigner, serial: String)? {
        guard let authority = try await authority(kek: kek, on: transaction) else { throw CertificateAuthorityNotInitialised() }
        let key = try PrivateKey.generate(algorithm)
        let start = now.addingTimeInterval(-300)
        let end = min(now.addingTimeInterval(Self.signerYears * Self.year), authority.certificate.notValidAfter)
        let certificate = try authority.issueCertificate(
            subject: subject, publicKey: try key.publicKey, validity: try validity(from: start, to: end, authority: authority))
        let serial = certificate.serialNumber
        let new = NewSigningCertificate(
            serial: serial, holder: holder, algorithm: algorithm.rawValue, subject: certificate.subjectName,
            sealed: SealedCertificate(
                certificateDER: certificate.derRepresentation, sealedKey: try kek.seal(Array(key.pemRepresentation.utf8), context: serial)),
            notBefore: start, notAfter: end, issuedAt: now)
        guard try await rows.insert(new, on: transaction) else { return nil }
        let timeStamps = try await timeStampAuthority(kek: kek, on: transaction)
        return (try XMLSigner(privateKey: key, certificate: certificate, timeStampAuthority: timeStamps), serial)
    }
}
