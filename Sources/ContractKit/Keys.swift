internal import COpenSSL

/// The two key types of the signature profile.
public enum KeyAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// ECDSA over NIST P-256 (prime256v1); the default.
    case ecdsaP256 = "ecdsa-p256"
    /// RSA with a 2048-bit modulus, used with PKCS#1 v1.5 signatures.
    case rsa2048 = "rsa-2048"
}

/// A private key held by OpenSSL. `EVP_PKEY` is safe to use from several threads for read-only
/// operations (signing, verifying) once built, and nothing here mutates it after creation.
public final class PrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer

    private init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        EVP_PKEY_free(pointer)
    }

    public static func generate(_ algorithm: KeyAlgorithm) throws -> PrivateKey {
        ERR_clear_error()
        let key =
            switch algorithm {
            case .ecdsaP256: cx_EVP_EC_gen("P-256")
            case .rsa2048: cx_EVP_RSA_gen(2048)
            }
        guard let key else { throw CryptoError.drain("generating a \(algorithm.rawValue) key") }
        return PrivateKey(owning: key)
    }

    /// Reads an unencrypted PEM private key (PKCS#8 or traditional). An encrypted PEM is refused rather
    /// than letting OpenSSL prompt for a password.
    public convenience init(pemRepresentation: String) throws {
        ERR_clear_error()
        let key = try OpenSSL.withReadBIO(Array(pemRepresentation.utf8), "reading a PEM private key") {
            PEM_read_bio_PrivateKey($0, nil, cx_no_password, nil)
        }
        guard let key else { throw CryptoError.drain("reading a PEM private key") }
        self.init(owning: key)
    }

    /// Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"). Callers store it encrypted.
    public var pemRepresentation: String {
        let bytes =
            (try? OpenSSL.writtenBytes("writing a PEM private key") {
                PEM_write_bio_PrivateKey($0, pointer, nil, nil, 0, nil, nil) == 1
            }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    public var publicKey: PublicKey {
        // Round-trip through SubjectPublicKeyInfo so the public key holds no private material.
        get throws {
            let der = try OpenSSL.der("encoding a public key") { i2d_PUBKEY(pointer, $0) }
            return try PublicKey(derRepresentation: der)
        }
    }

    /// Nil for keys outside the profile (other curves, other RSA sizes).
    public var algorithm: KeyAlgorithm? { keyAlgorithm(of: pointer) }
}

/// A public key (SubjectPublicKeyInfo) held by OpenSSL; immutable once built.
public final class PublicKey: @unchecked Sendable, Equatable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        EVP_PKEY_free(pointer)
    }

    /// DER SubjectPublicKeyInfo.
    public convenience init(derRepresentation der: [UInt8]) throws {
        ERR_clear_error()
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let key else { throw CryptoError.drain("reading a DER public key") }
        self.init(owning: key)
    }

    /// PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY").
    public convenience init(pemRepresentation: String) throws {
        ERR_clear_error()
        let key = try OpenSSL.withReadBIO(Array(pemRepresentation.utf8), "reading a PEM public key") {
            PEM_read_bio_PUBKEY($0, nil, cx_no_password, nil)
        }
        guard let key else { throw CryptoError.drain("reading a PEM public key") }
        self.init(owning: key)
    }

    public var derRepresentation: [UInt8] {
        (try? OpenSSL.der("encoding a public key") { i2d_PUBKEY(pointer, $0) }) ?? []
    }

    public var pemRepresentation: String {
        let bytes = (try? OpenSSL.writtenBytes("writing a PEM public key") { PEM_write_bio_PUBKEY($0, pointer) == 1 }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    public var algorithm: KeyAlgorithm? { keyAlgorithm(of: pointer) }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        EVP_PKEY_eq(lhs.pointer, rhs.pointer) == 1
    }
}

func keyAlgorithm(of key: OpaquePointer) -> KeyAlgorithm? {
    switch EVP_PKEY_get_base_id(key) {
    case EVP_PKEY_EC:
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else { return nil }
        let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return group == "prime256v1" || group == "P-256" ? .ecdsaP256 : nil
    case EVP_PKEY_RSA:
        return EVP_PKEY_get_bits(key) == 2048 ? .rsa2048 : nil
    default:
        return nil
    }
}
