import ContractKit
import Foundation
import TuitionCore
import TuitionStore
import TuitionWire

extension Contracts {
    /// The institution signs its draft contract; its certificate is issued on its first signature.
    public func signAsInstitution(_ id: Contract.ID, institution: Institution.ID, algorithm: KeyAlgorithm = .ecdsaP256) async throws
        -> ContractRecord
    {
        try await sign(id, as: .institution, scope: Scope(.institution(institution)), algorithm: algorithm)
    }

    /// The guardian countersigns the institution-signed contract; its certificate is issued on its first countersignature.
    /// The contract is then `signed`, its `contract_signed` event queued in the same transaction, and the enrollment payable.
    public func countersign(_ id: Contract.ID, guardian: Guardian.ID, algorithm: KeyAlgorithm = .ecdsaP256) async throws -> ContractRecord {
        try await sign(id, as: .guardian, scope: Scope(.guardian(guardian)), algorithm: algorithm)
    }

    private func sign(_ id: Contract.ID, as signer: ContractSigner, scope: Scope, algorithm: KeyAlgorithm) async throws -> ContractRecord {
        let setup = try requireSetup()
        return try await store.transaction { (transaction: StoreTransaction) in
            guard let contract = try await rows.awaitingSignature(id, scope: scope, on: transaction) else { throw NotFound() }
            if let rejection = checkSignature(signer, status: contract.status, institution: contract.institutionStatus) { throw rejection }
            let now = store.dependencies.now()
            let (holder, subject) = Self.signingParty(signer, of: contract)
            let (xmlSigner, serial) = try await certificates.signer(
                for: holder, subject: subject, algorithm: algorithm, kek: setup.keyEncryptionKey, at: now, on: transaction)
            // Only the CA's certificate is needed here (the trust anchor): its key stays sealed.
            guard let anchor = try await certificates.authorityCertificate(on: transaction) else {
                throw CertificateAuthorityNotInitialised()
            }
            let signature = try await signAndVerify(
                contract, as: signer, with: xmlSigner, anchor: anchor, id: id, serial: serial, algorithm: algorithm, at: now,
                on: transaction)
            try await rows.record(signature, on: transaction)
            if signer == .guardian {
                try await store.enqueue(
                    EvidenceEvent(
                        kind: .contractSigned, occurredAt: now, institution: contract.institutionId, enrollment: contract.enrollmentId,
                        amount: contract.amount, reference: "contract:\(id):\(signature.documentSha256)"),
                    on: transaction)
            }
            guard let record = try await rows.contract(id, scope: scope, on: transaction) else { throw NotFound() }
            return record
        }
    }

    /// Whose certificate signs, and the subject it must carry.
    static func signingParty(_ signer: ContractSigner, of contract: ContractAwaitingSignature) -> (CertificateHolder, CertificateSubject) {
        switch signer {
        case .institution:
            (
                .institution(contract.institutionId),
                ContractParties.institutionSubject(name: contract.institutionName, licenceNumber: contract.licenceNumber)
            )
        case .guardian: (.guardian(contract.guardianId), ContractParties.guardianSubject(name: contract.guardianName))
        }
    }

    /// Signs, then verifies the signed tree whose serialization is stored, every signature, chain and all (the
    /// check right after signing, made once with the full verifier rather than also in the signer).
    func signAndVerify(
        _ contract: ContractAwaitingSignature, as signer: ContractSigner, with xmlSigner: XMLSigner, anchor: Certificate, id: Contract.ID,
        serial: String, algorithm: KeyAlgorithm, at now: Date, on transaction: StoreTransaction
    ) async throws -> ContractSignatureWrite {
        let document = try XMLDocument.parse(contract.document)
        try xmlSigner.sign(document, selfCheck: false)
        let report = try await verifyWithRevocations(document, anchor: anchor, on: transaction)
        let signed = document.serialized()
        guard report.isValid, report.signatures.count == signer.position + 1, let made = report.signatures.last,
            let timestampedAt = made.signingTime
        else {
            throw ContractSignatureFailed(reason: report.firstFailure?.description ?? "unexpected number of signatures")
        }
        return ContractSignatureWrite(
            contract: id, signer: signer, institutionId: contract.institutionId, certificateSerial: serial, algorithm: algorithm.rawValue,
            digestValue: made.digestValue ?? "", signatureValue: made.signatureValue64 ?? "", signedDocument: signed,
            documentSha256: try sha256Hex(signed), signedAt: now, timestampedAt: timestampedAt)
    }
}
