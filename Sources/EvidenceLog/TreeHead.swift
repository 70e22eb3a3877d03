import Foundation

/// A statement of the log's state: its size, its root and when the log made the statement.
///
/// JSON: `{"size": 8, "rootHash": "<base64 of 32 bytes>", "timestampMilliseconds": 1700000000000}`.
public struct TreeHead: Codable, Sendable, Hashable {
    /// The number of entries in the log.
    public let size: Int64
    /// The RFC 9162 Merkle Tree Hash of the first `size` entries.
    public let rootHash: LogHash
    /// When the head was made, in milliseconds since 1970-01-01T00:00:00Z.
    public let timestampMilliseconds: Int64

    /// A head of `size` entries with root `rootHash`, made at `timestampMilliseconds`.
    public init(size: Int64, rootHash: LogHash, timestampMilliseconds: Int64) {
        self.size = size
        self.rootHash = rootHash
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The 20 ASCII bytes that open every signed encoding, so a tree-head signature can never be taken for
    /// a signature over anything else the same key might sign.
    public static let encodingPrefix = "TuitionGuard-STH-v1\n"

    /// The number of bytes in ``signedBytes``.
    public static let encodedByteCount = 20 + 8 + 8 + LogHash.byteCount

    /// The canonical encoding that is signed (68 bytes):
    ///
    /// | offset | bytes | content |
    /// |---|---|---|
    /// | 0 | 20 | ASCII `"TuitionGuard-STH-v1\n"` |
    /// | 20 | 8 | `size`, unsigned big-endian |
    /// | 28 | 8 | `timestampMilliseconds`, unsigned big-endian |
    /// | 36 | 32 | `rootHash` |
    ///
    /// Only heads with non-negative size and timestamp are signed or accepted.
    public var signedBytes: [UInt8] {
        var bytes = Array(Self.encodingPrefix.utf8)
        bytes.reserveCapacity(Self.encodedByteCount)
        appendBigEndian(UInt64(bitPattern: size), to: &bytes)
        appendBigEndian(UInt64(bitPattern: timestampMilliseconds), to: &bytes)
        bytes.append(contentsOf: rootHash.bytes)
        return bytes
    }

    /// Throws when the head cannot be a real statement of the log (a negative size or timestamp).
    func validate() throws {
        guard size >= 0 else { throw EvidenceLogError.treeSizeIsNegative(size) }
        guard timestampMilliseconds >= 0 else { throw EvidenceLogError.timestampIsNegative(timestampMilliseconds) }
    }
}

private func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    for shift in stride(from: 56, through: 0, by: -8) {
        bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
}

/// A tree head with the log's signature: ECDSA P-256 over SHA-256 of ``TreeHead/signedBytes``, in DER.
///
/// JSON: `{"head": {…TreeHead…}, "signature": "<base64 of the DER signature>"}`.
public struct SignedTreeHead: Codable, Sendable, Hashable {
    /// The signed statement.
    public let head: TreeHead
    /// The DER-encoded ECDSA signature (an ASN.1 SEQUENCE of the integers r and s).
    public let signature: [UInt8]

    /// Pairs a head with a signature; see ``LogVerifier/verify(_:)`` to check it.
    public init(head: TreeHead, signature: [UInt8]) {
        self.head = head
        self.signature = signature
    }

    private enum CodingKeys: String, CodingKey {
        case head
        case signature
    }

    /// Decodes the JSON form; the signature must be standard base64.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        head = try container.decode(TreeHead.self, forKey: .head)
        let text = try container.decode(String.self, forKey: .signature)
        guard let signature = Data(base64Encoded: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .signature, in: container, debugDescription: "the signature is standard base64 of DER")
        }
        self.signature = Array(signature)
    }

    /// Encodes the JSON form, the signature as standard base64 whatever the encoder's data strategy.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(head, forKey: .head)
        try container.encode(Data(signature).base64EncodedString(), forKey: .signature)
    }
}
