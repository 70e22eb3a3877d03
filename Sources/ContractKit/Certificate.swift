internal import COpenSSL

import struct Foundation.Date

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The subject fields the platform puts in certificates.
///
/// X.509 bounds a common name to 64 characters, while an institution's registered name may have 200 and a
/// guardian's 100: the certificate's CN holds the first 64 characters (Unicode scalars, as OpenSSL counts
/// them) and the X.520 `name` attribute (2.5.4.41, bound 32,768) the whole name, so any accepted name signs.
public struct CertificateSubject: Sendable, Hashable {
    /// The signer's full name.
    public var commonName: String
    public var organization: String?
    /// Which party the certificate signs for (`institution`, `guardian`), as its organizational unit.
    public var role: String?

    /// X.509's upper bound on a common name, in characters.
    public static let commonNameCharacters = 64

    public init(commonName: String, organization: String? = nil, role: String? = nil) {
        self.commonName = commonName
        self.organization = organization
        self.role = role
    }

    /// The RDNs in the order they are written: O, OU, CN (the first 64 characters), name (the full name).
    var nameEntries: [(String, String)] {
        var entries: [(String, String)] = []
        if let organization { entries.append(("O", organization)) }
        if let role { entries.append(("OU", role)) }
        let scalars = commonName.unicodeScalars
        entries.append(("CN", String(String.UnicodeScalarView(scalars.prefix(Self.commonNameCharacters)))))
        entries.append(("name", commonName))
        return entries
    }
}

/// Bytes that OpenSSL reads as a certificate but that are not its DER encoding.
public struct CertificateIsNotDER: Error, Sendable, Hashable, CustomStringConvertible {
    public init() {}
    public var description: String { "the certificate is not in DER: it re-encodes to other bytes" }
}

/// An X.509 certificate held by OpenSSL; immutable once built.
public final class Certificate: @unchecked Sendable, Hashable, CustomStringConvertible {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        X509_free(pointer)
    }

    /// Exactly one certificate in DER: bytes OpenSSL reads but would encode otherwise (BER lengths, trailing bytes) throw
    /// `CertificateIsNotDER`. The CA's signature covers only the to-be-signed part, so the wrapper around it could
    /// otherwise take many encodings of one certificate, and a document carrying it would change where no digest looks.
    public convenience init(derRepresentation der: [UInt8]) throws {
        ERR_clear_error()
        let certificate: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let certificate else { throw CryptoError.drain("reading a DER certificate") }
        // OpenSSL re-encodes everything but the to-be-signed part, whose bytes as read it keeps for the signature check.
        guard (try? OpenSSL.der("encoding a certificate") { i2d_X509(certificate, $0) }) == der else {
            X509_free(certificate)
            ERR_clear_error()
            throw CertificateIsNotDER()
        }
        self.init(owning: certificate)
    }

    /// The first certificate in a PEM text.
    public convenience init(pemRepresentation: String) throws {
        ERR_clear_error()
        let certificate = try OpenSSL.withReadBIO(Array(pemRepresentation.utf8), "reading a PEM certificate") {
            PEM_read_bio_X509($0, nil, cx_no_password, nil)
        }
        guard let certificate else { throw CryptoError.drain("reading a PEM certificate") }
        self.init(owning: certificate)
    }

    public var derRepresentation: [UInt8] {
        (try? OpenSSL.der("encoding a certificate") { i2d_X509(pointer, $0) }) ?? []
    }

    public var pemRepresentation: String {
        let bytes = (try? OpenSSL.writtenBytes("writing a PEM certificate") { PEM_write_bio_X509($0, pointer) == 1 }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// RFC 2253 text of the subject, UTF-8 left unescaped, e.g. `CN=张三,O=某某培训学校`.
    public var subjectName: String { Self.rfc2253(X509_get_subject_name(pointer)) }
    public var issuerName: String { Self.rfc2253(X509_get_issuer_name(pointer)) }

    public var subject: CertificateSubject {
        let name = X509_get_subject_name(pointer)
        return CertificateSubject(
            commonName: Self.entry(name, NID_name) ?? Self.entry(name, NID_commonName) ?? "",
            organization: Self.entry(name, NID_organizationName),
            role: Self.entry(name, NID_organizationalUnitName)
        )
    }

    /// Uppercase hexadecimal, as `openssl x509 -serial` prints it.
    public var serialNumber: String {
        guard let bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(pointer), nil) else { return "" }
        defer { BN_free(bn) }
        return OpenSSL.takeString(BN_bn2hex(bn)) ?? ""
    }

    public var notValidBefore: Date { Self.date(X509_get0_notBefore(pointer)) }
    public var notValidAfter: Date { Self.date(X509_get0_notAfter(pointer)) }

    public var publicKey: PublicKey {
        get throws {
            guard let key = X509_get_pubkey(pointer) else { throw CryptoError.drain("reading a certificate's key") }
            return PublicKey(owning: key)
        }
    }

    /// True when the certificate may issue others (basicConstraints CA:TRUE).
    public var isCertificateAuthority: Bool { X509_check_ca(pointer) != 0 }

    /// True for a certificate issued, as the platform CA issues a signer's, to sign documents: not a CA, key usage
    /// digitalSignature or nonRepudiation, and no extended key usage (a time-stamping authority's carries one).
    public var isDocumentSigner: Bool {
        let usage = X509_get_key_usage(pointer)
        let signing = UInt32(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)
        return !isCertificateAuthority && usage != UInt32.max && usage & signing != 0
            && X509_get_extended_key_usage(pointer) == UInt32.max
    }

    public var description: String { "Certificate(\(subjectName), serial \(serialNumber))" }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool {
        lhs.derRepresentation == rhs.derRepresentation
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(derRepresentation)
    }

    private static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        let bytes =
            (try? OpenSSL.writtenBytes("printing a name") {
                X509_NAME_print_ex($0, name, 0, cx_nameFlagsRFC2253UTF8()) >= 0
            }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func entry(_ name: OpaquePointer?, _ nid: Int32) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let count = ASN1_STRING_to_UTF8(&utf8, data)
        guard count >= 0, let utf8 else { return nil }
        defer { cx_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(count)), as: UTF8.self)
    }

    /// An X.509 time (UTCTime or GeneralizedTime, whole seconds); 1970 when unreadable.
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: Double(timegm(&parts)))
    }
}
