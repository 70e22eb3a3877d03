internal import CLibXML2
internal import COpenSSL

import struct Foundation.Date
import class Foundation.NSLock

/// Why one signature failed, in the order the checks run; the first is what `firstFailure` reports.
public enum SignatureFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The Signature element does not follow the profile (algorithms, one whole-document reference…).
    case signatureIsNotInProfile(String)
    /// KeyInfo carries no X509Certificate.
    case signerCertificateIsMissing
    /// The X509Certificate is not canonical base64 of one DER certificate.
    case signerCertificateIsMalformed
    /// The certificate does not chain to the trust anchor (OpenSSL's reason).
    case signerCertificateDoesNotChainToTrustAnchor(String)
    /// The chain holds, but a certificate in it was expired or not yet valid at the signing time.
    case signerCertificateWasNotValidAtSigningTime(String)
    /// The certificate's key is not the kind the signature method names (or not P-256 / RSA ≥ 2048).
    case signerKeyDoesNotMatchSignatureMethod
    /// The document (minus this Signature) no longer has the digest the signature covers.
    case digestDoesNotMatchDocument
    /// The SignatureValue is not canonical base64 of a value of the right shape.
    case signatureValueIsMalformed
    /// The SignatureValue does not verify over the canonical SignedInfo with the signer's key.
    case signatureValueDoesNotMatchSignedInfo

    public var description: String {
        switch self {
        case .signatureIsNotInProfile(let reason): "signature is not in the profile: \(reason)"
        case .signerCertificateIsMissing: "signer certificate is missing"
        case .signerCertificateIsMalformed: "signer certificate is malformed"
        case .signerCertificateDoesNotChainToTrustAnchor(let reason):
            "signer certificate does not chain to the trust anchor: \(reason)"
        case .signerCertificateWasNotValidAtSigningTime(let reason):
            "signer certificate was not valid at signing time: \(reason)"
        case .signerKeyDoesNotMatchSignatureMethod: "signer key does not match the signature method"
        case .digestDoesNotMatchDocument: "digest does not match the document"
        case .signatureValueIsMalformed: "signature value is malformed"
        case .signatureValueDoesNotMatchSignedInfo: "signature value does not match SignedInfo"
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
    public let signingTime: Date
    public let chain: CheckOutcome
    public let validityAtSigningTime: CheckOutcome
    public let digest: CheckOutcome
    public let signatureValue: CheckOutcome
    /// Every failure found, in check order.
    public let failures: [SignatureFailure]
    /// The signature's DigestValue and SignatureValue as base64 (whitespace removed), when it is in the profile.
    public let digestValue: String?
    public let signatureValue64: String?

    /// RFC 2253 subject of the signer's certificate, when there is one.
    public var signerSubject: String? { signerCertificate?.subjectName }
    public var firstFailure: SignatureFailure? { failures.first }
    public var isValid: Bool { failures.isEmpty }
}

/// What verification found for a whole document.
public struct VerificationReport: Sendable, Hashable {
    public enum Failure: Sendable, Hashable, CustomStringConvertible {
        case documentHasNoSignature
        case signature(position: Int, SignatureFailure)

        public var description: String {
            switch self {
            case .documentHasNoSignature: "document has no signature"
            case .signature(let position, let failure): "signature \(position): \(failure)"
            }
        }
    }

    public let signatures: [SignatureReport]

    /// The first failure of the first failing signature, in document order.
    public var firstFailure: Failure? {
        if signatures.isEmpty { return .documentHasNoSignature }
        for report in signatures {
            if let failure = report.firstFailure { return .signature(position: report.position, failure) }
        }
        return nil
    }

    public var isValid: Bool { firstFailure == nil }
}

/// Verifies every enveloped signature of a document against one trust anchor (the platform CA).
public struct XMLSignatureVerifier: Sendable {
    public let trustAnchor: Certificate
    /// Signer certificates already found to chain to the anchor: a signer signs many contracts, and the chain
    /// (a signature check by the CA's key) does not depend on the contract or the time.
    private let chained = ChainCache()

    public init(trustAnchor: Certificate) {
        self.trustAnchor = trustAnchor
    }

    /// Parses `bytes` with the hardened parser (throws `XMLParseError`), then verifies.
    public func verify(_ bytes: [UInt8], at signingTime: Date, maxBytes: Int = XMLDocument.defaultMaxBytes) throws
        -> VerificationReport
    {
        verify(try XMLDocument.parse(bytes, maxBytes: maxBytes), signingTimes: [signingTime])
    }

    public func verify(_ document: XMLDocument, at signingTime: Date) -> VerificationReport {
        verify(document, signingTimes: [signingTime])
    }

    /// `signingTimes[i]` is when signature `i` was made; a signature beyond the list uses the last time.
    public func verify(_ document: XMLDocument, signingTimes: [Date]) -> VerificationReport {
        precondition(!signingTimes.isEmpty, "at least one signing time")
        guard let root = document.rootElement else { return VerificationReport(signatures: []) }
        let elements = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)
        let reports = elements.enumerated().map { position, element in
            verifySignature(
                element,
                in: document,
                position: position,
                at: signingTimes[min(position, signingTimes.count - 1)]
            )
        }
        return VerificationReport(signatures: reports)
    }

    private func verifySignature(_ element: xmlNodePtr, in document: XMLDocument, position: Int, at time: Date)
        -> SignatureReport
    {
        var failures: [SignatureFailure] = []
        let profile: ProfileSignature?
        do {
            profile = try ProfileSignature(element)
        } catch {
            profile = nil
            failures.append(error)
        }

        var certificate: Certificate? = nil
        var certificateDER: [UInt8] = []
        if let profile {
            if profile.certificateTexts.isEmpty {
                failures.append(.signerCertificateIsMissing)
            } else {
                let parsed = profile.certificateTexts.map { text in
                    decodeCanonicalBase64(text).flatMap { der in (try? Certificate(derRepresentation: der)).map { (der, $0) } }
                }
                if parsed.contains(where: { $0 == nil }) {
                    failures.append(.signerCertificateIsMalformed)
                } else {
                    // xmlsec may carry the issuer too; the signer is the certificate that is not a CA.
                    let all = parsed.compactMap { $0 }
                    let signer = all.first { !$0.1.isCertificateAuthority } ?? all.first
                    certificate = signer?.1
                    certificateDER = signer?.0 ?? []
                }
            }
        }

        var chain = CheckOutcome.notChecked
        var validity = CheckOutcome.notChecked
        if let certificate {
            let der = certificateDER
            let reason = chained.contains(der) ? nil : Self.chainFailure(certificate, anchor: trustAnchor, at: nil)
            if let reason {
                chain = .failed
                failures.append(.signerCertificateDoesNotChainToTrustAnchor(reason))
            } else {
                chained.insert(der)
                chain = .passed
                if let reason = Self.validityFailure([certificate, trustAnchor], at: time) {
                    validity = .failed
                    failures.append(.signerCertificateWasNotValidAtSigningTime(reason))
                } else {
                    validity = .passed
                }
            }
        }

        var digest = CheckOutcome.notChecked
        var signatureValue = CheckOutcome.notChecked
        if let profile {
            let (digestFailure, signatureFailure) = Self.cryptographicChecks(profile, in: document, certificate: certificate)
            if let digestFailure {
                digest = .failed
                failures.append(digestFailure)
            } else {
                digest = .passed
            }
            if certificate != nil {
                if let signatureFailure {
                    signatureValue = .failed
                    failures.append(signatureFailure)
                } else {
                    signatureValue = .passed
                }
            }
        }
        return SignatureReport(
            position: position,
            algorithm: profile?.algorithm,
            signerCertificate: certificate,
            signingTime: time,
            chain: chain,
            validityAtSigningTime: validity,
            digest: digest,
            signatureValue: signatureValue,
            failures: failures,
            digestValue: profile.map { encodeBase64($0.digestValue).filter { !$0.isWhitespace } },
            signatureValue64: profile.map { $0.signatureValueText.filter { !$0.isWhitespace } }
        )
    }

    /// The digest check and the signature-value check (the latter only with a certificate).
    static func cryptographicChecks(_ profile: ProfileSignature, in document: XMLDocument, certificate: Certificate?)
        -> (digest: SignatureFailure?, signature: SignatureFailure?)
    {
        let digestFailure: SignatureFailure?
        if let canonical = try? ExclusiveC14N.canonicalize(
            document.pointer,
            selection: .excludingSubtree(profile.element),
            inclusivePrefixes: profile.referencePrefixes
        ), let computed = try? OpenSSL.sha256(canonical), computed == profile.digestValue {
            digestFailure = nil
        } else {
            digestFailure = .digestDoesNotMatchDocument
        }
        guard let certificate else { return (digestFailure, nil) }

        guard let key = try? certificate.publicKey, Self.keyFits(key, profile.algorithm) else {
            return (digestFailure, .signerKeyDoesNotMatchSignatureMethod)
        }
        guard let value = decodeCanonicalBase64(profile.signatureValueText) else {
            return (digestFailure, .signatureValueIsMalformed)
        }
        guard
            let signedInfo = try? ExclusiveC14N.canonicalize(
                document.pointer,
                selection: .onlySubtree(profile.signedInfo),
                inclusivePrefixes: profile.signedInfoPrefixes
            )
        else {
            return (digestFailure, .signatureValueDoesNotMatchSignedInfo)
        }
        switch SignaturePrimitives.verify(signedInfo, signature: value, with: key, algorithm: profile.algorithm) {
        case nil: return (digestFailure, .signatureValueIsMalformed)
        case false?: return (digestFailure, .signatureValueDoesNotMatchSignedInfo)
        case true?: return (digestFailure, nil)
        }
    }

    private static func keyFits(_ key: PublicKey, _ algorithm: SignatureAlgorithm) -> Bool {
        switch algorithm {
        case .ecdsaSHA256: key.algorithm == .ecdsaP256
        case .rsaSHA256: EVP_PKEY_get_base_id(key.pointer) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key.pointer) >= 2048
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

    /// Nil when `leaf` chains to `anchor` (the only trust anchor); otherwise OpenSSL's reason. Without a
    /// time, validity periods are not checked, so a chain failure and an expiry are told apart.
    static func chainFailure(_ leaf: Certificate, anchor: Certificate, at time: Date?) -> String? {
        defer { ERR_clear_error() }
        guard let store = X509_STORE_new() else { return "cannot create a certificate store" }
        defer { X509_STORE_free(store) }
        guard X509_STORE_add_cert(store, anchor.pointer) == 1, let context = X509_STORE_CTX_new() else {
            return "cannot load the trust anchor"
        }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, nil) == 1 else { return "cannot start verification" }
        let parameters = X509_STORE_CTX_get0_param(context)
        if let time {
            X509_VERIFY_PARAM_set_time(parameters, time_t(time.timeIntervalSince1970.rounded(.down)))
        } else {
            X509_VERIFY_PARAM_set_flags(parameters, UInt(X509_V_FLAG_NO_CHECK_TIME))
        }
        if X509_verify_cert(context) == 1 { return nil }
        let code = X509_STORE_CTX_get_error(context)
        return String(cString: X509_verify_cert_error_string(Int(code)))
    }
}

/// A bounded set of certificates (DER) that chain to a verifier's trust anchor, shared by copies of the verifier.
final class ChainCache: @unchecked Sendable {
    private let lock = NSLock()
    private var known: Set<[UInt8]> = []

    func contains(_ der: [UInt8]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return known.contains(der)
    }

    func insert(_ der: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        if known.count >= 4_096 { known.removeAll() }
        known.insert(der)
    }
}
