internal import COpenSSL

/// An OpenSSL operation failed; `reason` is OpenSSL's error queue, oldest first.
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    public let operation: String
    public let reason: String

    public init(operation: String, reason: String) {
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "\(operation) failed: \(reason)" }

    /// Drains this thread's OpenSSL error queue into an error for `operation`.
    static func drain(_ operation: String) -> CryptoError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return CryptoError(operation: operation, reason: reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; "))
    }
}

enum OpenSSL {
    /// Runs `body` over a read-only memory BIO of `bytes`. `BIO_new_mem_buf` does not copy, so the BIO
    /// must never outlive the closure.
    static func withReadBIO<T>(_ bytes: [UInt8], _ operation: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else {
                throw CryptoError.drain(operation)
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Runs `body` with a fresh writable memory BIO and returns what it wrote.
    static func writtenBytes(_ operation: String, _ body: (OpaquePointer) -> Bool) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.drain(operation) }
        defer { BIO_free(bio) }
        guard body(bio) else { throw CryptoError.drain(operation) }
        var data: UnsafeMutablePointer<CChar>? = nil
        let count = cx_BIO_get_mem_data(bio, &data)
        guard let data, count > 0 else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// DER from an `i2d_*` function that allocates its output.
    static func der(_ operation: String, _ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) -> Int32) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>? = nil
        let count = encode(&output)
        guard count > 0, let output else { throw CryptoError.drain(operation) }
        defer { cx_OPENSSL_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(count)))
    }

    /// SHA-256 fetched from the default provider once for the process. `EVP_sha256()` is a legacy handle that OpenSSL 3
    /// fetches again (a locked lookup in its method store) in every EVP_Digest, EVP_DigestSignInit and
    /// EVP_DigestVerifyInit; a fetched EVP_MD is immutable and shared by every thread (OpenSSL's crypto(7),
    /// "Performance"). Falls back to the legacy handle when the fetch fails.
    nonisolated(unsafe) static let sha256Method: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil) ?? EVP_sha256()

    static func sha256(_ bytes: [UInt8]) throws -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, sha256Method, nil) }
        guard ok == 1 else { throw CryptoError.drain("SHA-256") }
        return Array(digest.prefix(Int(length)))
    }

    /// A String from OpenSSL-allocated text, freed here.
    static func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { cx_OPENSSL_free(pointer) }
        return String(cString: pointer)
    }
}
