import ContractKit
import Foundation
import TuitionCore
import TuitionStore

/// What contracts need beyond the database: the installed templates and the key-encryption key.
public struct ContractSetup: Sendable {
    public let templates: TemplateLibrary
    public let keyEncryptionKey: KeyEncryptionKey
    /// The template new contracts use.
    public let defaultTemplateId: String

    public init(templates: TemplateLibrary, keyEncryptionKey: KeyEncryptionKey, defaultTemplateId: String = "GF-2021-2604") {
        self.templates = templates
        self.keyEncryptionKey = keyEncryptionKey
        self.defaultTemplateId = defaultTemplateId
    }
}

/// Contracts need templates and the key-encryption key, which this server was not given.
public struct ContractsNotConfigured: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "contracts are not configured: set TUITIONGUARD_CA_KEK_FILE and TUITIONGUARD_TEMPLATES_DIR" }
}

/// A signature made a moment ago did not verify against the platform CA; nothing was stored.
public struct ContractSignatureFailed: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "the new signature did not verify: \(reason)" }
}

/// The platform CA has not been created yet (`tuitionguard ca init`).
public struct CertificateAuthorityNotInitialised: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the platform CA is not initialised: run `tuitionguard ca init`" }
}

/// The platform CA's certificate ends before a certificate it would issue now could start: it certifies nobody more.
public struct CertificateAuthorityExpired: Error, CustomStringConvertible {
    public let notValidAfter: Date
    public var description: String { "the platform CA expired at \(notValidAfter): it can certify no signer or time-stamping authority" }
}

/// `start` to `end`, or `CertificateAuthorityExpired` when the CA's end (`end` at the latest) comes first: Foundation
/// traps on a reversed interval.
func validity(from start: Date, to end: Date, authority: CertificateAuthority) throws -> DateInterval {
    guard end > start else { throw CertificateAuthorityExpired(notValidAfter: authority.certificate.notValidAfter) }
    return DateInterval(start: start, end: end)
}

/// A stored certificate or key that cannot be read back, or a row that could be neither written nor read.
public struct CertificateStorageFailed: Error, CustomStringConvertible {
    public let description: String
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
