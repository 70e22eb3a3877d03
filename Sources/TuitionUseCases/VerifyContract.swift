import ContractKit
import Foundation
import TuitionCore
import TuitionStore
import TuitionWire

extension Contracts {
    /// Verifies an uploaded document against the platform CA and its revocations, each signature at the time of its
    /// own timestamp, so any C14N-equivalent copy gets the same verdict. The stored contract is found through the
    /// signatures' values, not the bytes.
    public func verify(_ bytes: [UInt8]) async throws -> ContractVerification {
        guard let authority = try await certificates.authorityCertificate() else { throw CertificateAuthorityNotInitialised() }
        let document = try XMLDocument.parse(bytes)
        let report = try await verifyWithRevocations(document, anchor: authority)
        // Only a copy that verifies whole identifies a contract: a tampered one (even where no signature's digest
        // reaches, like a comment) matches nothing, so its answer carries no contract's id or status.
        let match =
            report.isValid ? try await rows.contract(carryingAnyOf: report.signatures.compactMap(\.signatureValue64)) : nil
        let known = try await CertificateRepository(store: store).certificates(
            serials: report.signatures.compactMap { $0.signerCertificate?.serialNumber })
        // Signatures that verify do not make a contract the record disowns: a countersigned contract's copy with the
        // guardian's signature cut off, or a contract void (replaced by a later one before it was countersigned).
        let disowned = report.isValid ? Self.disowned(fullySigned: report.isFullySigned, status: match?.status) : nil
        return ContractVerification(
            valid: report.isValid && disowned == nil, fullySigned: report.isFullySigned,
            firstFailure: disowned ?? report.firstFailure?.description,
            documentSha256: try sha256Hex(bytes), contractId: match?.id, contractStatus: match?.status,
            signatures: report.signatures.map {
                Self.signature($0, revokedAt: $0.signerCertificate.flatMap { known[$0.serialNumber]?.revokedAt })
            })
    }

    static let countersignatureRemoved =
        "countersignature removed: the contract of record is countersigned by the guardian, this copy is not"
    static let contractVoid = "contract void: replaced by a later contract for its enrollment before it was countersigned"

    /// Why a copy whose signatures verify is still not a valid contract of record, or nil when it is one.
    static func disowned(fullySigned: Bool, status: ContractStatus?) -> String? {
        switch status {
        case .void?: contractVoid
        case .signed? where !fullySigned: countersignatureRemoved
        default: nil
        }
    }

    static func signature(_ signature: SignatureReport, revokedAt: Date?) -> ContractVerification.Signature {
        ContractVerification.Signature(
            position: signature.position, signer: signature.signerSubject, certificateSerial: signature.signerCertificate?.serialNumber,
            algorithm: signature.algorithm?.name, algorithmURI: signature.algorithm?.rawValue,
            signingTime: signature.signingTime.map(XAdESTime.format),
            claimedSigningTime: signature.claimedSigningTime.map(XAdESTime.format),
            timestamp: signature.timestamp.rawValue, chain: signature.chain.rawValue,
            validityAtSigningTime: signature.validityAtSigningTime.rawValue, digest: signature.digest.rawValue,
            signatureValue: signature.signatureValue.rawValue, certificateRevokedAt: revokedAt.map(XAdESTime.format),
            failures: signature.failures.map(\.description))
    }

    /// Verifies with the platform's revocations of the signers' certificates: once without, then, when a signer's
    /// certificate was revoked (rare), that report judged again with them (no second C14N or cryptography), so the
    /// rule lives in `XMLSignatureVerifier` alone. Read in `transaction` when the caller is in one.
    func verifyWithRevocations(_ document: XMLDocument, anchor: Certificate, on transaction: StoreTransaction? = nil) async throws
        -> VerificationReport
    {
        let verifier = verifiers.verifier(trusting: anchor)
        let first = verifier.verify(document)
        let revocations = try await CertificateRepository(store: store).revocations(
            serials: first.signatures.compactMap { $0.signerCertificate?.serialNumber }, on: transaction)
        guard !revocations.isEmpty else { return first }
        return verifier.with(revocations: revocations).judgingRevocations(of: first)
    }
}

/// One verifier per trust anchor (the platform CA), kept for the use case's life so its certificate store and the
/// certificates already found to chain are reused; a new CA certificate gets a new verifier.
final class AnchorVerifiers: @unchecked Sendable {
    private let lock = NSLock()
    private var current: (anchor: Certificate, verifier: XMLSignatureVerifier)?

    func verifier(trusting anchor: Certificate) -> XMLSignatureVerifier {
        lock.lock()
        defer { lock.unlock() }
        if let current, current.anchor == anchor { return current.verifier }
        let verifier = XMLSignatureVerifier(trustAnchor: anchor)
        current = (anchor, verifier)
        return verifier
    }
}
