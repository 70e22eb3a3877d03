import Crypto
import Foundation

/// The key-encryption key: AES-256-GCM under which the platform CA's and the signers' private keys are stored.
/// It comes from configuration (`TUITIONGUARD_CA_KEK_FILE`, 32 random bytes in base64), never from the database,
/// so a copy of the database alone reveals no private key.
public struct KeyEncryptionKey: Sendable {
    // SymmetricKey is not Sendable; the bytes are, and a key is made from them per use.
    private let bytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: bytes) }

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw KeyEncryptionKeyError.wrongLength(bytes.count) }
        self.bytes = bytes
    }

    /// A new random key (tests, `tuitionguard ca keygen`).
    public static func generate() -> KeyEncryptionKey {
        // 32 bytes of a fresh SymmetricKey are always a valid key.
        try! KeyEncryptionKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// Reads a file holding the key as base64 (surrounding white space ignored).
    public static func load(file path: String) throws -> KeyEncryptionKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw KeyEncryptionKeyError.unreadable(path) }
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw KeyEncryptionKeyError.notBase64(path)
        }
        return try KeyEncryptionKey(bytes: [UInt8](data))
    }

    /// The key as base64, for writing a new key file.
    public var base64: String { Data(bytes).base64EncodedString() }

    /// Nonce ‖ ciphertext ‖ tag. `context` (e.g. a certificate serial) is authenticated, so a sealed key copied
    /// onto another row does not open there.
    public func seal(_ plaintext: [UInt8], context: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
        guard let combined = box.combined else { throw KeyEncryptionKeyError.cannotOpen(context) }
        return [UInt8](combined)
    }

    public func open(_ sealed: [UInt8], context: String) throws -> [UInt8] {
        do {
            return [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: Array(context.utf8)))
        } catch {
            throw KeyEncryptionKeyError.cannotOpen(context)
        }
    }
}

public enum KeyEncryptionKeyError: Error, CustomStringConvertible {
    case wrongLength(Int)
    case unreadable(String)
    case notBase64(String)
    case cannotOpen(String)

    public var description: String {
        switch self {
        case .wrongLength(let count): "a key-encryption key has 32 bytes, not \(count)"
        case .unreadable(let path): "cannot read the key-encryption key file \(path)"
        case .notBase64(let path): "the key-encryption key file \(path) does not hold base64"
        case .cannotOpen(let context): "cannot decrypt the private key of \(context): wrong key-encryption key, or altered data"
        }
    }
}
