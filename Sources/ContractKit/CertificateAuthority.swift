internal import COpenSSL

import struct Foundation.Date
import struct Foundation.DateInterval

/// A minimal certificate authority: a self-signed CA certificate and its key, issuing leaf certificates
/// for signers. Revocation, storage and key encryption live above this type.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let privateKey: PrivateKey

    /// Pairs an existing CA certificate with its key; refuses a key that does not match.
    public init(certificate: Certificate, privateKey: PrivateKey) throws {
        guard X509_check_private_key(certificate.pointer, privateKey.pointer) == 1 else {
            ERR_clear_error()
            throw CertificateAuthorityError.privateKeyDoesNotMatchCertificate
        }
        guard certificate.isCertificateAuthority else { throw CertificateAuthorityError.certificateIsNotACertificateAuthority }
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Creates a self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign and cRLSign) for `privateKey`.
    public static func create(
        subject: CertificateSubject,
        privateKey: PrivateKey,
        validity: DateInterval
    ) throws -> CertificateAuthority {
        let certificate = try buildCertificate(
            subject: subject,
            publicKey: privateKey.pointer,
            validity: validity,
            issuer: nil,
            signingKey: privateKey,
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        )
        return try CertificateAuthority(certificate: certificate, privateKey: privateKey)
    }

    /// Issues a signer's certificate (CA:FALSE; digitalSignature and nonRepudiation) for `publicKey`,
    /// signed with SHA-256 by the CA key. The validity must lie within the CA's own.
    public func issueCertificate(
        subject: CertificateSubject,
        publicKey: PublicKey,
        validity: DateInterval
    ) throws -> Certificate {
        try issueEndEntity(subject: subject, publicKey: publicKey, validity: validity, extendedKeyUsage: nil)
    }

    /// Issues the time-stamping authority's certificate: CA:FALSE, digitalSignature and nonRepudiation, and the
    /// critical extended key usage timeStamping that RFC 3161 requires of a TSA.
    public func issueTimeStampingCertificate(
        subject: CertificateSubject,
        publicKey: PublicKey,
        validity: DateInterval
    ) throws -> Certificate {
        try issueEndEntity(subject: subject, publicKey: publicKey, validity: validity, extendedKeyUsage: "critical,timeStamping")
    }

    /// A certificate that cannot issue others, for signing (digitalSignature, nonRepudiation), within the CA's validity.
    private func issueEndEntity(
        subject: CertificateSubject, publicKey: PublicKey, validity: DateInterval, extendedKeyUsage: String?
    ) throws -> Certificate {
        guard validity.start >= certificate.notValidBefore, validity.end <= certificate.notValidAfter else {
            throw CertificateAuthorityError.validityOutsideCertificateAuthority
        }
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature,nonRepudiation"),
        ]
        if let extendedKeyUsage { extensions.append((NID_ext_key_usage, extendedKeyUsage)) }
        extensions += [(NID_subject_key_identifier, "hash"), (NID_authority_key_identifier, "keyid:always")]
        return try Self.buildCertificate(
            subject: subject, publicKey: publicKey.pointer, validity: validity, issuer: certificate, signingKey: privateKey,
            extensions: extensions)
    }

    /// A revoked certificate as a revocation list names it.
    public struct Revocation: Sendable, Hashable {
        /// Uppercase hexadecimal, as `Certificate.serialNumber`.
        public var serialNumber: String
        public var revokedAt: Date
        public init(serialNumber: String, revokedAt: Date) {
            self.serialNumber = serialNumber
            self.revokedAt = revokedAt
        }
    }

    /// A PEM X.509 v2 CRL signed by the CA, valid from `now` until `nextUpdate`, for `openssl verify -crl_check`.
    public func revocationList(_ revocations: [Revocation], now: Date, nextUpdate: Date) throws -> String {
        ERR_clear_error()
        guard let crl = X509_CRL_new() else { throw CryptoError.drain("creating a CRL") }
        defer { X509_CRL_free(crl) }
        func check(_ ok: Bool, _ operation: String) throws {
            if !ok { throw CryptoError.drain(operation) }
        }
        try check(X509_CRL_set_version(crl, 1) == 1, "setting the CRL version")
        try check(X509_CRL_set_issuer_name(crl, X509_get_subject_name(certificate.pointer)) == 1, "setting the CRL issuer")
        for (time, setter) in [(now, X509_CRL_set1_lastUpdate), (nextUpdate, X509_CRL_set1_nextUpdate)] {
            guard let asn1 = ASN1_TIME_set(nil, time_t(time.timeIntervalSince1970)) else { throw CryptoError.drain("CRL time") }
            defer { ASN1_TIME_free(asn1) }
            try check(setter(crl, asn1) == 1, "setting a CRL time")
        }
        for revocation in revocations {
            guard let revoked = cx_revoked(revocation.serialNumber, time_t(revocation.revokedAt.timeIntervalSince1970)) else {
                throw CryptoError.drain("revoking \(revocation.serialNumber)")
            }
            guard X509_CRL_add0_revoked(crl, revoked) == 1 else {
                X509_REVOKED_free(revoked)
                throw CryptoError.drain("adding a revoked certificate")
            }
        }
        try check(X509_CRL_sort(crl) == 1, "sorting the CRL")
        try check(X509_CRL_sign(crl, privateKey.pointer, EVP_sha256()) > 0, "signing the CRL")
        let bytes = try OpenSSL.writtenBytes("writing the CRL") { PEM_write_bio_X509_CRL($0, crl) == 1 }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func buildCertificate(
        subject: CertificateSubject,
        publicKey: OpaquePointer,
        validity: DateInterval,
        issuer: Certificate?,
        signingKey: PrivateKey,
        extensions: [(Int32, String)]
    ) throws -> Certificate {
        ERR_clear_error()
        guard !subject.commonName.isEmpty else { throw CertificateAuthorityError.subjectHasNoCommonName }
        guard let x509 = X509_new() else { throw CryptoError.drain("creating a certificate") }
        let certificate = Certificate(owning: x509)
        func check(_ ok: Bool, _ operation: String) throws {
            if !ok { throw CryptoError.drain(operation) }
        }
        try check(X509_set_version(x509, 2) == 1, "setting the certificate version")

        // 127 random bits: positive, unique without coordination, as RFC 5280 asks of serials.
        var serial = [UInt8](repeating: 0, count: 16)
        try check(RAND_bytes(&serial, Int32(serial.count)) == 1, "drawing a serial number")
        serial[0] &= 0x7f
        serial[0] |= 0x40
        guard let bn = BN_bin2bn(serial, Int32(serial.count), nil) else { throw CryptoError.drain("serial number") }
        defer { BN_free(bn) }
        try check(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nil, "setting the serial number")

        try check(ASN1_TIME_set(X509_getm_notBefore(x509), time_t(validity.start.timeIntervalSince1970)) != nil, "notBefore")
        try check(ASN1_TIME_set(X509_getm_notAfter(x509), time_t(validity.end.timeIntervalSince1970)) != nil, "notAfter")

        guard let name = X509_NAME_new() else { throw CryptoError.drain("creating a name") }
        defer { X509_NAME_free(name) }
        for (field, value) in subject.nameEntries {
            try check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, value, -1, -1, 0) == 1, "setting \(field)")
        }
        try check(X509_set_subject_name(x509, name) == 1, "setting the subject")
        try check(
            X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.pointer) } ?? name) == 1,
            "setting the issuer"
        )
        try check(X509_set_pubkey(x509, publicKey) == 1, "setting the public key")

        var context = X509V3_CTX()
        cx_X509V3_set_ctx_nodb(&context)
        X509V3_set_ctx(&context, issuer?.pointer ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions {
            guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw CryptoError.drain("building extension \(nid)")
            }
            defer { X509_EXTENSION_free(extensionValue) }
            try check(X509_add_ext(x509, extensionValue, -1) == 1, "adding extension \(nid)")
        }
        try check(X509_sign(x509, signingKey.pointer, EVP_sha256()) > 0, "signing the certificate")
        return certificate
    }
}

public enum CertificateAuthorityError: Error, Sendable, Hashable {
    case privateKeyDoesNotMatchCertificate
    case certificateIsNotACertificateAuthority
    case subjectHasNoCommonName
    case validityOutsideCertificateAuthority
    case certificateIsNotForTimeStamping
}
