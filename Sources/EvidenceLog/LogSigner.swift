import Crypto
import Foundation

// swift-crypto's key types are not `Sendable`, so the signer and verifier keep the keys' bytes, which are,
// and rebuild the key object for each use. The bytes were validated when the value was made.

/// Signs tree heads with the log's P-256 private key.
public struct LogSigner: Sendable {
    private let privateKeyBytes: [UInt8]
    /// The verifier for this signer's signatures.
    public let verifier: LogVerifier

    /// Loads the private key from PEM: PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"), curve P-256.
    public init(privateKeyPEM: String) throws {
        do {
            self.init(privateKey: try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM))
        } catch {
            throw EvidenceLogError.privateKeyPEMIsInvalid
        }
    }

    private init(privateKey: P256.Signing.PrivateKey) {
        privateKeyBytes = Array(privateKey.rawRepresentation)
        verifier = LogVerifier(publicKey: privateKey.publicKey)
    }

    /// A signer with a fresh random key; keep it with ``privateKeyPEM``.
    public init() {
        self.init(privateKey: P256.Signing.PrivateKey())
    }

    private var privateKey: P256.Signing.PrivateKey {
        // Cannot fail: the bytes came from a valid key.
        try! P256.Signing.PrivateKey(rawRepresentation: privateKeyBytes)
    }

    /// The private key as PKCS#8 PEM, to store a key made by ``init()``.
    public var privateKeyPEM: String { privateKey.pemRepresentation }

    /// The public key as SubjectPublicKeyInfo PEM ("PUBLIC KEY"), to publish to auditors.
    public var publicKeyPEM: String { verifier.publicKeyPEM }

    /// Signs `head` and checks the signature with the public key before returning it.
    /// Throws for a head with a negative size or timestamp.
    public func sign(_ head: TreeHead) throws -> SignedTreeHead {
        try head.validate()
        let signature = try privateKey.signature(for: head.signedBytes)
        let signed = SignedTreeHead(head: head, signature: Array(signature.derRepresentation))
        guard verifier.verify(signed) else { throw EvidenceLogError.signatureDidNotVerifyAfterSigning }
        return signed
    }
}

/// Checks tree-head signatures with the log's published P-256 public key.
public struct LogVerifier: Sendable {
    private let publicKeyBytes: [UInt8]

    /// Loads the public key from SubjectPublicKeyInfo PEM ("PUBLIC KEY"), curve P-256.
    public init(publicKeyPEM: String) throws {
        do {
            self.init(publicKey: try P256.Signing.PublicKey(pemRepresentation: publicKeyPEM))
        } catch {
            throw EvidenceLogError.publicKeyPEMIsInvalid
        }
    }

    init(publicKey: P256.Signing.PublicKey) {
        publicKeyBytes = Array(publicKey.x963Representation)
    }

    private var publicKey: P256.Signing.PublicKey {
        // Cannot fail: the bytes came from a valid key.
        try! P256.Signing.PublicKey(x963Representation: publicKeyBytes)
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    public var publicKeyPEM: String { publicKey.pemRepresentation }

    /// SHA-256 of the DER SubjectPublicKeyInfo: the log's identifier, as RFC 6962 §3.2 defines a LogID.
    public var keyID: LogHash { LogHash(SHA256.hash(data: publicKey.derRepresentation)) }

    /// Whether `sth.signature` is this key's ECDSA P-256 signature over SHA-256 of
    /// ``TreeHead/signedBytes``. False for a malformed signature or a head with a negative size or timestamp.
    public func verify(_ sth: SignedTreeHead) -> Bool {
        guard (try? sth.head.validate()) != nil,
            let signature = try? P256.Signing.ECDSASignature(derRepresentation: sth.signature)
        else { return false }
        return publicKey.isValidSignature(signature, for: sth.head.signedBytes)
    }
}
