import Foundation

/// A SHA-256 value in the log: a leaf hash, an interior node hash or a root hash. Always 32 bytes.
///
/// Text forms: `hex` (64 lowercase digits, used in logs and test vectors) and `base64` (standard alphabet
/// with padding). In JSON a `LogHash` is its base64 string, as in Certificate Transparency's API
/// (RFC 6962 §4, RFC 9162 §5).
public struct LogHash: Hashable, Sendable {
    /// The number of bytes in every hash.
    public static let byteCount = 32

    /// The 32 bytes of the hash.
    public let bytes: [UInt8]

    /// Wraps 32 bytes. Throws ``EvidenceLogError/hashIsNot32Bytes(byteCount:)`` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount else { throw EvidenceLogError.hashIsNot32Bytes(byteCount: bytes.count) }
        self.bytes = Array(bytes)
    }

    /// For digests this module computed itself, whose length is known.
    init(trustedBytes bytes: [UInt8]) {
        assert(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    /// Parses 64 hexadecimal digits (either case).
    public init(hex: String) throws {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount else { throw EvidenceLogError.hexIsMalformed }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        var position = 0
        while position < digits.count {
            guard let high = Self.nibble(digits[position]), let low = Self.nibble(digits[position + 1]) else {
                throw EvidenceLogError.hexIsMalformed
            }
            bytes.append(high << 4 | low)
            position += 2
        }
        self.bytes = bytes
    }

    /// Parses standard base64 with padding, as it appears in JSON.
    public init(base64: String) throws {
        guard let data = Data(base64Encoded: base64) else { throw EvidenceLogError.base64IsMalformed }
        try self.init(bytes: data)
    }

    /// 64 lowercase hexadecimal digits.
    public var hex: String {
        let alphabet = Array("0123456789abcdef".utf8)
        var digits: [UInt8] = []
        digits.reserveCapacity(2 * bytes.count)
        for byte in bytes {
            digits.append(alphabet[Int(byte >> 4)])
            digits.append(alphabet[Int(byte & 0x0f)])
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Standard base64 with padding (44 characters).
    public var base64: String { Data(bytes).base64EncodedString() }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension LogHash: CustomStringConvertible {
    /// The hex form.
    public var description: String { hex }
}

extension LogHash: Codable {
    /// Decodes the base64 string form; any other length than 32 bytes is a `DecodingError`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(base64: text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a log hash is 32 bytes in standard base64, got \"\(text)\"")
        }
    }

    /// Encodes the base64 string form.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base64)
    }
}
