internal import CLibXML2
internal import COpenSSL

import struct Foundation.Data
import struct Foundation.Date
import class Foundation.NSLock
import typealias Foundation.TimeInterval

/// Why one signature failed, in the order the checks run; the first is what `firstFailure` reports.
public enum SignatureFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The Signature element is not exactly what the platform writes (see `ProfileSignature`).
    case signatureIsNotInProfile(String)
    /// The X509Certificate is not a certificate at all (one that is, but not in DER, is not in the profile).
    case signerCertificateIsMalformed
    /// The signature's RFC 3161 timestamp does not verify; its time is unknown.
    case timestampIsInvalid(TimeStampFailure)
    /// The certificate does not chain to the trust anchor (OpenSSL's reason).
    case signerCertificateDoesNotChainToTrustAnchor(String)
    /// The certificate chains, but was not issued for signing documents (a CA's, a time-stamping authority's).
    case signerCertificateIsNotForSigningDocuments
    /// The chain holds, but a certificate in it was expired or not yet valid at the timestamp's time.
    case signerCertificateWasNotValidAtSigningTime(String)
    /// The signer's certificate was revoked at or before the timestamp's time.
    case signerCertificateWasRevokedBeforeSigning(revokedAt: Date)
    /// The certificate's key is not the kind the signature method names (or not P-256 / RSA of 2048 to 4096 bits).
    case signerKeyDoesNotMatchSignatureMethod
    /// The document (minus this Signature) no longer has the digest the signature covers.
    case digestDoesNotMatchDocument
    /// The XAdES signed properties (the signing time) no longer have their digest.
    case digestDoesNotMatchSignedProperties
    /// The SignatureValue is not a value of the right shape (for ECDSA: r‖s with a low s).
    case signatureValueIsMalformed
    /// The SignatureValue does not verify over the canonical SignedInfo with the signer's key.
    case signatureValueDoesNotMatchSignedInfo
    /// The claimed XAdES SigningTime is after the timestamp, or long before it.
    case signingTimeDisagreesWithTimestamp

    public var description: String {
        switch self {
        case .signatureIsNotInProfile(let reason): "signature is not in the profile: \(reason)"
        case .signerCertificateIsMalformed: "signer certificate is malformed"
        case .timestampIsInvalid(let failure): "timestamp is invalid: \(failure)"
        case .signerCertificateDoesNotChainToTrustAnchor(let reason):
            "signer certificate does not chain to the trust anchor: \(reason)"
        case .signerCertificateIsNotForSigningDocuments: "signer certificate is not for signing documents"
        case .signerCertificateWasNotValidAtSigningTime(let reason):
            "signer certificate was not valid at signing time: \(reason)"
        case .signerCertificateWasRevokedBeforeSigning: "signer certificate was revoked before the signing time"
        case .signerKeyDoesNotMatchSignatureMethod: "signer key does not match the signature method"
        case .digestDoesNotMatchDocument: "digest does not match the document"
        case .digestDoesNotMatchSignedProperties: "digest does not match the signed properties"
        case .signatureValueIsMalformed: "signature value is malformed"
        case .signatureValueDoesNotMatchSignedInfo: "signature value does not match SignedInfo"
        case .signingTimeDisagreesWithTimestamp: "signing time disagrees with the timestamp"
        }
    }
}

/// The outcome of one check of one signature.
public enum CheckOutcome: String, Sendable, Hashable {
    case passed
    case failed
    /// Not run because something it depends on was missing or failed first.
    case notChecked
}

/// What verification found for one `ds:Signature`, in document order (0 = the institution's,
/// 1 = the guardian's countersignature).
public struct SignatureReport: Sendable, Hashable {
    public let position: Int
    public let algorithm: SignatureAlgorithm?
    public let signerCertificate: Certificate?
    /// The time of the signature's verified RFC 3161 timestamp: the trusted signing time, at which validity and
    /// revocation are judged. Nil (unknown) when the timestamp does not verify.
    public let signingTime: Date?
    /// The XAdES SigningTime the signer claims (covered by the signature, but only as trustworthy as the signer).
    public let claimedSigningTime: Date?
    public let timestamp: CheckOutcome
    public let chain: CheckOutcome
    public let validityAtSigningTime: CheckOutcome
    public let digest: CheckOutcome
    public let signatureValue: CheckOutcome
    /// Every failure found, in check order.
    public let failures: [SignatureFailure]
    /// The signature's document DigestValue and its SignatureValue as base64 without line breaks, when in the profile.
    public let digestValue: String?
    public let signatureValue64: String?

    /// RFC 2253 subject of the signer's certificate, when there is one.
    public var signerSubject: String? { signerCertificate?.subjectName }
    public var firstFailure: SignatureFailure? { failures.first }
    public var isValid: Bool { failures.isEmpty }
}

extension SignatureReport {
    /// The same report with the validity check failed by `failure`, the first failure (see `judgingRevocations`).
    fileprivate func failingValidity(_ failure: SignatureFailure) -> SignatureReport {
        SignatureReport(
            position: position, algorithm: algorithm, signerCertificate: signerCertificate, signingTime: signingTime,
            claimedSigningTime: claimedSigningTime, timestamp: timestamp, chain: chain, validityAtSigningTime: .failed, digest: digest,
            signatureValue: signatureValue, failures: [failure] + failures, digestValue: digestValue, signatureValue64: signatureValue64)
    }
}

/// What verification found for a whole document.
public struct VerificationReport: Sendable, Hashable {
    public enum Failure: Sendable, Hashable, CustomStringConvertible {
        case documentHasNoSignature
        /// The platform never writes comments or processing instructions, and C14N ignores comments: refused.
        case documentHasCommentOrProcessingInstruction
        /// A Signature is somewhere else than the root's last child (the institution's) or the single Object of
        /// it that holds the countersignature, or there are more than two.
        case signatureIsOutOfPlace
        case signature(position: Int, SignatureFailure)
        /// The document is not a TuitionGuard contract naming its parties (甲方 licence, 乙方 guardian). A document
        /// failure, found before any signature is checked; its signatures are then not checked at all.
        case documentNamesNoParties
        /// Signature 0 is not an institution certificate for the document's 甲方 licence number.
        case firstSignatureIsNotPartyA
        /// Signature 1 is not a guardian certificate for the document's 乙方 guardian.
        case countersignatureIsNotPartyB

        public var description: String {
            switch self {
            case .documentHasNoSignature: "document has no signature"
            case .documentHasCommentOrProcessingInstruction: "document has a comment or processing instruction"
            case .signatureIsOutOfPlace: "a signature is out of place"
            case .signature(let position, let failure): "signature \(position): \(failure)"
            case .documentNamesNoParties: "document names no parties"
            case .firstSignatureIsNotPartyA: "signature 0 is not the institution of party A (甲方)"
            case .countersignatureIsNotPartyB: "signature 1 is not the guardian of party B (乙方)"
            }
        }
    }

    public let signatures: [SignatureReport]
    /// Failures of the document as a whole, checked before the signatures'.
    public let documentFailures: [Failure]
    /// Failures of the parties, checked after the signatures'.
    public let partyFailures: [Failure]

    init(signatures: [SignatureReport], documentFailures: [Failure] = [], partyFailures: [Failure] = []) {
        self.signatures = signatures
        self.documentFailures = documentFailures
        self.partyFailures = partyFailures
    }

    /// The first failure: the document's, then each signature's in document order, then the parties'.
    public var firstFailure: Failure? {
        if let failure = documentFailures.first { return failure }
        if signatures.isEmpty { return .documentHasNoSignature }
        for report in signatures {
            if let failure = report.firstFailure { return .signature(position: report.position, failure) }
        }
        return partyFailures.first
    }

    public var isValid: Bool { firstFailure == nil }
    /// Valid, and signed by both parties: the institution of 甲方, then the guardian of 乙方 nested in it.
    public var isFullySigned: Bool { isValid && signatures.count == 2 }
}

/// Verifies the enveloped signatures of a contract against one trust anchor (the platform CA), each at the time
/// of its own RFC 3161 timestamp, so a verdict does not depend on when or from which C14N-equivalent copy it is made.
public struct XMLSignatureVerifier: Sendable {
    public let trustAnchor: Certificate
    /// Revocation times by certificate serial (uppercase hexadecimal), e.g. from the platform's CRL.
    public let revocations: [String: Date]
    /// The anchor's certificate store, the signers found to chain to it and the time-stamping certificate last
    /// checked, kept across verifications and shared by copies of the verifier (see `TrustCache`).
    private let trust: TrustCache
    /// How long before its timestamp a signature may claim to have been made.
    static let signingTimeTolerance: TimeInterval = 600

    public init(trustAnchor: Certificate, revocations: [String: Date] = [:]) {
        self.trustAnchor = trustAnchor
        self.revocations = revocations
        self.trust = TrustCache(anchor: trustAnchor)
    }

    /// The same trust anchor and caches, judging revocation by `revocations`.
    public func with(revocations: [String: Date]) -> XMLSignatureVerifier {
        XMLSignatureVerifier(trust: trust, revocations: revocations)
    }

    private init(trust: TrustCache, revocations: [String: Date]) {
        self.trustAnchor = trust.anchor
        self.revocations = revocations
        self.trust = trust
    }

    /// Parses `bytes` with the hardened parser (throws `XMLParseError`), then verifies.
    public func verify(_ bytes: [UInt8], maxBytes: Int = XMLDocument.defaultMaxBytes) throws -> VerificationReport {
        verify(try XMLDocument.parse(bytes, maxBytes: maxBytes))
    }

    public func verify(_ document: XMLDocument) -> VerificationReport {
        guard let root = document.rootElement else { return VerificationReport(signatures: []) }
        var documentFailures: [VerificationReport.Failure] = []
        if XMLTree.hasCommentOrProcessingInstruction(document.pointer) {
            documentFailures.append(.documentHasCommentOrProcessingInstruction)
        }
        // A document that is not a contract naming its parties fails whatever its signatures say: found first, it costs
        // no C14N and no cryptography.
        guard let parties = ContractParties.named(in: document) else {
            return VerificationReport(signatures: [], documentFailures: documentFailures + [.documentNamesNoParties])
        }
        let elements = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)
        // More signatures than a contract has are refused before any of them costs a C14N pass.
        guard elements.count <= 2 else {
            return VerificationReport(signatures: [], documentFailures: documentFailures + [.signatureIsOutOfPlace])
        }
        var profiles: [ProfileSignature?] = []
        let reports = elements.enumerated().map { position, element in
            let (report, profile) = verifySignature(element, in: document, position: position)
            profiles.append(profile)
            return report
        }
        let lastChild = XMLTree.elementChildren(of: root).last
        let placed =
            (elements.first.map { $0 == lastChild } ?? true)
            && (elements.count < 2 || profiles[0].map { $0.countersignature == elements[1] } ?? true)
        if !placed { documentFailures.append(.signatureIsOutOfPlace) }
        return VerificationReport(
            signatures: reports, documentFailures: documentFailures, partyFailures: ContractParties.check(parties, reports))
    }

    /// `report`, made by a verifier of the same anchor without revocations, judged with this verifier's revocations:
    /// what `verify` with them reports, without a second pass of C14N and cryptography. Revocation decides only the
    /// validity check, which ran for a signature exactly when the checks before it (profile, certificate, timestamp,
    /// chain) had passed, so its failure comes first; the validity period it checks too had passed already.
    public func judgingRevocations(of report: VerificationReport) -> VerificationReport {
        let signatures = report.signatures.map { signature in
            guard signature.validityAtSigningTime == .passed, let certificate = signature.signerCertificate,
                let time = signature.signingTime, let failure = validityFailure(of: certificate, at: time)
            else { return signature }
            return signature.failingValidity(failure)
        }
        return VerificationReport(signatures: signatures, documentFailures: report.documentFailures, partyFailures: report.partyFailures)
    }

    private func verifySignature(_ element: xmlNodePtr, in document: XMLDocument, position: Int)
        -> (SignatureReport, ProfileSignature?)
    {
        var check = SignatureCheck()
        var profile: ProfileSignature? = nil
        do {
            profile = try ProfileSignature(element, position: position)
        } catch {
            check.failures.append(error)
        }
        guard let profile else { return (check.report(position: position, profile: nil, certificate: nil), nil) }
        // A signer signs many contracts: one already found to chain to the anchor is neither parsed nor chained again.
        let chainedSigner = trust.chainedSigner(profile.certificateDER)
        var certificate = chainedSigner
        if chainedSigner == nil {
            do {
                certificate = try Certificate(derRepresentation: profile.certificateDER)
            } catch is CertificateIsNotDER {
                // No digest covers KeyInfo: the certificate has one encoding, like every other part of the profile.
                check.failures.append(.signatureIsNotInProfile("X509Certificate is not DER (it re-encodes to other bytes)"))
                return (check.report(position: position, profile: nil, certificate: nil), nil)
            } catch {
                check.failures.append(.signerCertificateIsMalformed)
            }
        }
        checkTimestamp(of: profile, in: document, into: &check)
        if let certificate { checkCertificate(certificate, of: profile, alreadyChained: chainedSigner != nil, into: &check) }
        checkCryptography(of: profile, in: document, certificate: certificate, into: &check)
        return (check.report(position: position, profile: profile, certificate: certificate), profile)
    }

    /// The RFC 3161 token over the SignatureValue; its time is the signing time every later check judges by.
    private func checkTimestamp(of profile: ProfileSignature, in document: XMLDocument, into check: inout SignatureCheck) {
        let imprint =
            (try? ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtree(profile.signatureValueElement)))
            .flatMap { try? OpenSSL.sha256($0) } ?? []
        switch TimeStampVerifier.verify(profile.timestampToken, imprint: imprint, trust: trust) {
        case .success(let stamped):
            check.timestamp = .passed
            check.time = stamped
        case .failure(let failure):
            check.record(.timestampIsInvalid(failure), in: \.timestamp)
        }
    }

    /// The signer's chain to the anchor, then (with a timestamp) its validity and revocation at the timestamp's time.
    private func checkCertificate(
        _ certificate: Certificate, of profile: ProfileSignature, alreadyChained: Bool, into check: inout SignatureCheck
    ) {
        if !alreadyChained {
            if let reason = trust.chainFailure(certificate) {
                check.record(.signerCertificateDoesNotChainToTrustAnchor(reason), in: \.chain)
                return
            }
            guard certificate.isDocumentSigner else {
                check.record(.signerCertificateIsNotForSigningDocuments, in: \.chain)
                return
            }
            trust.rememberChained(certificate, der: profile.certificateDER)
        }
        check.chain = .passed
        guard let time = check.time else { return }
        check.record(validityFailure(of: certificate, at: time), in: \.validity)
    }

    private func validityFailure(of certificate: Certificate, at time: Date) -> SignatureFailure? {
        if let reason = Self.validityFailure([certificate, trustAnchor], at: time) {
            return .signerCertificateWasNotValidAtSigningTime(reason)
        }
        if let revokedAt = revocations[certificate.serialNumber], revokedAt <= time {
            return .signerCertificateWasRevokedBeforeSigning(revokedAt: revokedAt)
        }
        return nil
    }

    /// Both digests, the signature value (only with a certificate), and the claimed SigningTime against the token's.
    private func checkCryptography(
        of profile: ProfileSignature, in document: XMLDocument, certificate: Certificate?, into check: inout SignatureCheck
    ) {
        let (digestFailure, signatureFailure) = Self.cryptographicChecks(profile, in: document, certificate: certificate)
        check.record(digestFailure, in: \.digest)
        if certificate != nil { check.record(signatureFailure, in: \.signatureValue) }
        if let time = check.time,
            profile.claimedSigningTime > time || profile.claimedSigningTime < time.addingTimeInterval(-Self.signingTimeTolerance)
        {
            check.failures.append(.signingTimeDisagreesWithTimestamp)
        }
    }

    /// The digest checks (document and signed properties) and the signature-value check (only with a certificate).
    static func cryptographicChecks(_ profile: ProfileSignature, in document: XMLDocument, certificate: Certificate?)
        -> (digest: SignatureFailure?, signature: SignatureFailure?)
    {
        func digest(_ selection: ExclusiveC14N.Selection) -> [UInt8]? {
            (try? ExclusiveC14N.canonicalize(document.pointer, selection: selection)).flatMap { try? OpenSSL.sha256($0) }
        }
        let digestFailure: SignatureFailure?
        if digest(.excludingSubtree(profile.element)) != profile.digestValue {
            digestFailure = .digestDoesNotMatchDocument
        } else if digest(.onlySubtree(profile.signedProperties)) != profile.propertiesDigestValue {
            digestFailure = .digestDoesNotMatchSignedProperties
        } else {
            digestFailure = nil
        }
        guard let certificate else { return (digestFailure, nil) }

        guard let key = try? certificate.publicKey, Self.keyFits(key, profile.algorithm) else {
            return (digestFailure, .signerKeyDoesNotMatchSignatureMethod)
        }
        guard let signedInfo = try? ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtree(profile.signedInfo)) else {
            return (digestFailure, .signatureValueDoesNotMatchSignedInfo)
        }
        switch SignaturePrimitives.verify(signedInfo, signature: profile.signatureValue, with: key, algorithm: profile.algorithm) {
        case nil: return (digestFailure, .signatureValueIsMalformed)
        case false?: return (digestFailure, .signatureValueDoesNotMatchSignedInfo)
        case true?: return (digestFailure, nil)
        }
    }

    private static func keyFits(_ key: PublicKey, _ algorithm: SignatureAlgorithm) -> Bool {
        switch algorithm {
        case .ecdsaSHA256: key.algorithm == .ecdsaP256
        case .rsaSHA256: EVP_PKEY_get_base_id(key.pointer) == EVP_PKEY_RSA && (2048...4096).contains(EVP_PKEY_get_bits(key.pointer))
        }
    }

    /// Nil when every certificate of the chain was valid at `time` (whole seconds, as X.509 has them); otherwise
    /// OpenSSL's wording of the first that was not.
    static func validityFailure(_ chain: [Certificate], at time: Date) -> String? {
        let second = Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down))
        for (index, certificate) in chain.enumerated() {
            let subject = index == 0 ? "certificate" : "CA certificate"
            if second < certificate.notValidBefore { return "\(subject) is not yet valid" }
            if second > certificate.notValidAfter { return "\(subject) has expired" }
        }
        return nil
    }
}

/// What a verifier keeps between verifications, shared by its copies: its trust anchor's certificate store (built
/// once; OpenSSL's stores are safe to verify against from several threads), the signer certificates found to chain
/// to it (parsed once: OpenSSL 3 decodes a certificate's key slowly, and the chain does not depend on the contract
/// or the time), and the last time-stamping certificate whose chain and key usage held. Only what is a function of
/// the certificate's exact bytes and the anchor is kept; validity and revocation, which depend on the signing time,
/// are judged every time.
final class TrustCache: @unchecked Sendable {
    let anchor: Certificate
    /// Nil only when OpenSSL could not allocate one: every chain then fails with that reason.
    private let store: OpaquePointer?
    private let lock = NSLock()
    private var signers: [[UInt8]: Certificate] = [:]
    private var timeStamper: (certificate: Certificate, der: [UInt8])?
    /// A verifier living as long as the service meets a bounded number of signers between two clears.
    private static let signerLimit = 4_096

    init(anchor: Certificate) {
        self.anchor = anchor
        self.store = cx_anchor_store(anchor.pointer)
    }

    deinit {
        if let store { X509_STORE_free(store) }
    }

    func chainedSigner(_ der: [UInt8]) -> Certificate? {
        lock.lock()
        defer { lock.unlock() }
        return signers[der]
    }

    func rememberChained(_ certificate: Certificate, der: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        if signers.count >= Self.signerLimit { signers.removeAll() }
        signers[der] = certificate
    }

    /// The time-stamping certificate whose chain to the anchor and key usage were last found to hold.
    var knownTimeStamper: (certificate: Certificate, der: [UInt8])? {
        lock.lock()
        defer { lock.unlock() }
        return timeStamper
    }

    func rememberTimeStamper(_ certificate: Certificate) {
        lock.lock()
        defer { lock.unlock() }
        timeStamper = (certificate, certificate.derRepresentation)
    }

    /// Nil when `leaf` chains to the anchor (the only trust anchor); otherwise OpenSSL's reason. Validity periods
    /// are not checked here, so a chain failure and an expiry are told apart.
    func chainFailure(_ leaf: Certificate) -> String? {
        defer { ERR_clear_error() }
        guard let store else { return "cannot create a certificate store" }
        guard let context = X509_STORE_CTX_new() else { return "cannot start verification" }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, nil) == 1 else { return "cannot start verification" }
        if X509_verify_cert(context) == 1 { return nil }
        return String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(context))))
    }

    /// Runs `body` with the store (nil when there is none).
    func withStore<T>(_ body: (OpaquePointer?) -> T) -> T { body(store) }
}

/// One signature's checks as they run: each outcome, and the failures in the order found.
private struct SignatureCheck {
    var failures: [SignatureFailure] = []
    var timestamp = CheckOutcome.notChecked
    /// The timestamp's time, once the token verified.
    var time: Date? = nil
    var chain = CheckOutcome.notChecked
    var validity = CheckOutcome.notChecked
    var digest = CheckOutcome.notChecked
    var signatureValue = CheckOutcome.notChecked

    /// A check that ran: passed without a failure, failed (and the failure kept) with one.
    mutating func record(_ failure: SignatureFailure?, in outcome: WritableKeyPath<SignatureCheck, CheckOutcome>) {
        guard let failure else {
            self[keyPath: outcome] = .passed
            return
        }
        self[keyPath: outcome] = .failed
        failures.append(failure)
    }

    func report(position: Int, profile: ProfileSignature?, certificate: Certificate?) -> SignatureReport {
        SignatureReport(
            position: position,
            algorithm: profile?.algorithm,
            signerCertificate: certificate,
            signingTime: time,
            claimedSigningTime: profile?.claimedSigningTime,
            timestamp: timestamp,
            chain: chain,
            validityAtSigningTime: validity,
            digest: digest,
            signatureValue: signatureValue,
            failures: failures,
            digestValue: profile.map { Data($0.digestValue).base64EncodedString() },
            signatureValue64: profile.map { Data($0.signatureValue).base64EncodedString() }
        )
    }
}
