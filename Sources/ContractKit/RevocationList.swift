internal import COpenSSL

import struct Foundation.Date

#if canImport(Glibc)
    import Glibc
#endif

/// A CA's X.509 revocation list, checked against its issuer, read as revocation times by serial.
public struct RevocationList: Sendable {
    /// Revocation times by certificate serial (uppercase hexadecimal, as `Certificate.serialNumber`).
    public let revokedAt: [String: Date]

    /// Reads a PEM CRL and refuses one that `issuer` did not sign.
    public init(pemRepresentation: String, issuer: Certificate) throws {
        ERR_clear_error()
        let crl = try OpenSSL.withReadBIO(Array(pemRepresentation.utf8), "reading a PEM CRL") {
            PEM_read_bio_X509_CRL($0, nil, cx_no_password, nil)
        }
        guard let crl else { throw CryptoError.drain("reading a PEM CRL") }
        defer { X509_CRL_free(crl) }
        guard let key = try? issuer.publicKey, X509_CRL_verify(crl, key.pointer) == 1 else {
            throw CryptoError.drain("checking the CRL's signature")
        }
        var found: [String: Date] = [:]
        if let entries = X509_CRL_get_REVOKED(crl) {
            for index in 0..<cx_sk_X509_REVOKED_num(entries) {
                guard let entry = cx_sk_X509_REVOKED_value(entries, index),
                    let bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(entry), nil)
                else { continue }
                defer { BN_free(bn) }
                var parts = tm()
                guard let serial = OpenSSL.takeString(BN_bn2hex(bn)), ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(entry), &parts) == 1
                else { continue }
                found[serial] = Date(timeIntervalSince1970: Double(timegm(&parts)))
            }
        }
        revokedAt = found
    }
}
