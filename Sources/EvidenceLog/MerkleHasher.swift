import Crypto
import Foundation

/// The RFC 9162 §2.1.1 hashing of the log: SHA-256 with one prefix byte that separates leaves from interior
/// nodes, so that no leaf can be passed off as a node (second-preimage resistance).
public enum MerkleHasher {
    private static let leafPrefix: [UInt8] = [0x00]
    private static let nodePrefix: UInt8 = 0x01

    /// `SHA-256(0x00 || entry)`: the hash of one log entry, as stored at level 0.
    public static func leafHash(_ entry: some DataProtocol) -> LogHash {
        var hasher = SHA256()
        hasher.update(data: leafPrefix)
        hasher.update(data: entry)
        return LogHash(hasher.finalize())
    }

    /// `SHA-256(0x01 || left || right)`: the hash of an interior node from its two children.
    public static func nodeHash(_ left: LogHash, _ right: LogHash) -> LogHash {
        // Proof checks are chains of node hashes: one contiguous input is cheaper than three updates.
        var input = [nodePrefix]
        input.reserveCapacity(1 + 2 * LogHash.byteCount)
        input.append(contentsOf: left.bytes)
        input.append(contentsOf: right.bytes)
        return LogHash(SHA256.hash(data: input))
    }

    /// Whether `parent` is `SHA-256(0x01 || left || right)`, all three read in place: a cache checks about as many
    /// stored interior nodes as the log has entries, and wrapping each in a `LogHash` first would copy every one.
    public static func isNodeHash(_ parent: ArraySlice<UInt8>, left: ArraySlice<UInt8>, right: ArraySlice<UInt8>) -> Bool {
        var hasher = SHA256()
        hasher.update(data: [nodePrefix])
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().elementsEqual(parent)
    }

    /// `SHA-256("")`, the root of the empty tree:
    /// `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`.
    public static let emptyRoot = LogHash(SHA256.hash(data: [UInt8]()))
}

extension LogHash {
    init(_ digest: SHA256.Digest) {
        self.init(trustedBytes: digest.withUnsafeBytes { Array($0) })
    }
}
