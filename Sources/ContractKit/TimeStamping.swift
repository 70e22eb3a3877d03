internal import COpenSSL

import struct Foundation.Calendar
import struct Foundation.Date
import struct Foundation.DateComponents
import struct Foundation.TimeZone

/// The platform's RFC 3161 time-stamping authority, built on OpenSSL's TS API: its own key, and a certificate
/// from the platform CA with the critical extended key usage timeStamping. Its clock is the one time source of
/// signing: a signature's XAdES `SigningTime` and its timestamp come from the same reading.
public struct TimeStampAuthority: Sendable {
    /// The TSA policy named in every token: a UUID-based OID (ITU-T X.667), needing no registration.
    public static let policy = "2.25.214624937117286356155707358458227364551"

    public let certificate: Certificate
    public let privateKey: PrivateKey
    public let clock: @Sendable () -> Date

    public init(certificate: Certificate, privateKey: PrivateKey, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        guard X509_check_private_key(certificate.pointer, privateKey.pointer) == 1 else {
            ERR_clear_error()
            throw CertificateAuthorityError.privateKeyDoesNotMatchCertificate
        }
        guard cx_is_time_stamping_certificate(certificate.pointer) == 1 else {
            throw CertificateAuthorityError.certificateIsNotForTimeStamping
        }
        self.certificate = certificate
        self.privateKey = privateKey
        self.clock = clock
    }

    /// A DER time-stamp token over `imprint` (a SHA-256 digest) at `time`, to the millisecond.
    public func timestamp(sha256 imprint: [UInt8], at time: Date) throws -> [UInt8] {
        ERR_clear_error()
        guard imprint.count == 32 else { throw CryptoError(operation: "time-stamping", reason: "the imprint is not a SHA-256 digest") }
        let whole = XAdESTime.milliseconds(time)
        let seconds = whole >= 0 ? whole / 1000 : (whole - 999) / 1000
        let micros = (whole - seconds * 1000) * 1000
        var output: UnsafeMutablePointer<UInt8>? = nil
        let count = cx_ts_stamp(
            certificate.pointer, privateKey.pointer, Self.policy, imprint, Int32(imprint.count), Int(seconds), Int(micros), &output)
        guard count > 0, let output else { throw CryptoError.drain("time-stamping") }
        defer { cx_OPENSSL_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(count)))
    }
}

/// Why a signature's time-stamp token was refused.
public enum TimeStampFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// Not one DER token exactly as a TSA encodes it (re-encoded, trailing bytes, BER).
    case tokenIsNotDER
    /// More or fewer certificates or signers than the TSA's one, CRLs, or unsigned attributes: room for unsigned data.
    case tokenHasUnexpectedParts
    /// The TSA's signature, its chain to the trust anchor, or the imprint over the SignatureValue failed.
    case tokenDoesNotVerify(String)
    /// The token's signer is not a time-stamping certificate (critical EKU timeStamping).
    case signerIsNotATimeStampingAuthority
    /// The TSA's certificate (or the anchor) was not valid at the token's own time.
    case authorityWasNotValidAtTimestamp
    /// The genTime is not a GeneralizedTime the verifier reads.
    case timeIsUnreadable

    public var description: String {
        switch self {
        case .tokenIsNotDER: "time-stamp token is not canonical DER"
        case .tokenHasUnexpectedParts: "time-stamp token carries unexpected parts"
        case .tokenDoesNotVerify(let reason): "time-stamp token does not verify: \(reason)"
        case .signerIsNotATimeStampingAuthority: "time-stamp token is not signed by a time-stamping authority"
        case .authorityWasNotValidAtTimestamp: "time-stamping certificate was not valid at the token's time"
        case .timeIsUnreadable: "time-stamp token's time is unreadable"
        }
    }
}

/// A library context without providers, made once for the process: tokens whose certificate is already known are
/// read in it so that OpenSSL does not decode that certificate's key again (see `cx_ts_verify`).
nonisolated(unsafe) private let keylessContext: OpaquePointer? = cx_keyless_context()

/// Checks time-stamp tokens against one trust anchor.
enum TimeStampVerifier {
    /// The token's time when it verifies over `imprint` and its TSA chains to the anchor of `trust` and was valid then.
    static func verify(_ token: [UInt8], imprint: [UInt8], trust: TrustCache) -> Result<Date, TimeStampFailure> {
        defer { ERR_clear_error() }
        var tsa: OpaquePointer? = nil
        var text: UnsafeMutablePointer<CChar>? = nil
        var wasKnown: Int32 = 0
        let known = trust.knownTimeStamper
        let knownDER = known?.der ?? []
        let outcome = trust.withStore { store in
            withExtendedLifetime(known) {
                cx_ts_verify(
                    token, token.count, store, trust.anchor.pointer, known?.certificate.pointer, knownDER, knownDER.count,
                    keylessContext, imprint, imprint.count, &tsa, &wasKnown, &text)
            }
        }
        switch Int(outcome) {
        case CX_TS_OK: break
        case CX_TS_NOT_DER: return .failure(.tokenIsNotDER)
        case CX_TS_UNEXPECTED_PARTS: return .failure(.tokenHasUnexpectedParts)
        default: return .failure(.tokenDoesNotVerify(CryptoError.drain("TS_RESP_verify_token").reason))
        }
        guard let tsa else { return .failure(.tokenDoesNotVerify("no signer")) }
        let certificate = Certificate(owning: tsa)
        guard let time = OpenSSL.takeString(text).flatMap(generalizedTime) else { return .failure(.timeIsUnreadable) }
        if wasKnown == 0 {
            guard cx_is_time_stamping_certificate(certificate.pointer) == 1 else { return .failure(.signerIsNotATimeStampingAuthority) }
            trust.rememberTimeStamper(certificate)
        }
        if XMLSignatureVerifier.validityFailure([certificate, trust.anchor], at: time) != nil {
            return .failure(.authorityWasNotValidAtTimestamp)
        }
        return .success(time)
    }

    /// `YYYYMMDDHHMMSS[.f…]Z` (RFC 3161 genTime) as a Date, to the millisecond.
    static func generalizedTime(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 15, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(8..<10),
            let minute = number(10..<12), let second = number(12..<14)
        else { return nil }
        var fraction = 0.0
        if bytes.count > 15 {
            guard bytes[14] == UInt8(ascii: "."), bytes.count > 16, bytes.count <= 26, let digits = number(15..<(bytes.count - 1))
            else { return nil }
            fraction = Double(digits) / pow10(bytes.count - 16)
        } else if bytes.count != 15 {
            return nil
        }
        if CivilDate.years.contains(year), (1...12).contains(month), (1...CivilDate.daysInMonth(year: year, month: month)).contains(day),
            hour < 24, minute < 60, second < 60
        {
            let days = CivilDate.days(year: year, month: month, day: day)
            let whole = Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60 + second))
            return whole.addingTimeInterval(fraction)
        }
        // Other years, and components a calendar normalizes (a leap second, month 13), as Foundation reads them.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let whole = calendar.date(from: components) else { return nil }
        return whole.addingTimeInterval(fraction)
    }

    private static func pow10(_ exponent: Int) -> Double {
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }
}
