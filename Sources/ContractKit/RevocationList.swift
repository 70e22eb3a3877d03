internal import COpenSSL

import struct Foundation.Date

#if canImport(Glibc)
    import Glibc
#endif

/// Why a CRL that its issuer signed is not used.
public enum RevocationListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Past its nextUpdate, or without one: revocations made since it was issued may be missing from it.
    case revocationListIsOutOfDate(nextUpdate: Date?)
    /// Its thisUpdate is after now: it comes from the future, or a clock is wrong.
    case revocationListIsNotYetValid(thisUpdate: Date)

    public var description: String {
        switch self {
        case .revocationListIsOutOfDate(let nextUpdate?):
            "the revocation list is out of date (next update was due \(XAdESTime.format(nextUpdate))); fetch a current one"
        case .revocationListIsOutOfDate(nil): "the revocation list has no next update, so it cannot be known to be current"
        case .revocationListIsNotYetValid(let thisUpdate):
            "the revocation list was issued in the future (\(XAdESTime.format(thisUpdate))); check the clock"
        }
    }
}

/// A CA's X.509 revocation list, checked against its issuer and the time, read as revocation times by serial.
public struct RevocationList: Sendable {
    /// Revocation times by certificate serial (uppercase hexadecimal, as `Certificate.serialNumber`).
    public let revokedAt: [String: Date]
    /// When the CRL was issued, and when the next is due (X.509's thisUpdate and nextUpdate).
    public let thisUpdate: Date
    public let nextUpdate: Date?

    /// Reads a PEM CRL and refuses one that `issuer` did not sign (`CryptoError`), and one that is not current at `now`
    /// (`RevocationListError`): a list past its nextUpdate may lack later revocations, like OpenSSL's `-crl_check`.
    public init(pemRepresentation: String, issuer: Certificate, now: Date) throws {
        ERR_clear_error()
        let crl = try OpenSSL.withReadBIO(Array(pemRepresentation.utf8), "reading a PEM CRL") {
            PEM_read_bio_X509_CRL($0, nil, cx_no_password, nil)
        }
        guard let crl else { throw CryptoError.drain("reading a PEM CRL") }
        defer { X509_CRL_free(crl) }
        guard let key = try? issuer.publicKey, X509_CRL_verify(crl, key.pointer) == 1 else {
            throw CryptoError.drain("checking the CRL's signature")
        }
        thisUpdate = Certificate.date(X509_CRL_get0_lastUpdate(crl))
        nextUpdate = X509_CRL_get0_nextUpdate(crl).map { Certificate.date($0) }
        guard thisUpdate <= now else { throw RevocationListError.revocationListIsNotYetValid(thisUpdate: thisUpdate) }
        guard let nextUpdate, now <= nextUpdate else { throw RevocationListError.revocationListIsOutOfDate(nextUpdate: nextUpdate) }
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
