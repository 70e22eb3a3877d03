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

/// The terms of a contract that the enrollment's records do not hold; each has a default.
public struct ContractTerms: Codable, Sendable, Hashable {
    public var templateId: String?
    public var templateVersion: Int?
    /// `offline` (default) or `online`.
    public var deliveryMode: String?
    public var classNumber: String?
    public var lessonsPerSession: Int?
    /// Default: "每周 N 次" from the course's lessons per week.
    public var schedule: String?
    public var classSize: Int?
    /// Default 7 days.
    public var coolingOffDays: Int?
    /// `one_off` (default) or `instalments`.
    public var paymentMethod: String?
    public var institutionContact: String?
    /// Full or masked 18-character numbers; only the masked form is kept.
    public var guardianIdNumber: String?
    public var studentIdNumber: String?

    public init(
        templateId: String? = nil, templateVersion: Int? = nil, deliveryMode: String? = nil, classNumber: String? = nil,
        lessonsPerSession: Int? = nil, schedule: String? = nil, classSize: Int? = nil, coolingOffDays: Int? = nil,
        paymentMethod: String? = nil, institutionContact: String? = nil, guardianIdNumber: String? = nil, studentIdNumber: String? = nil
    ) {
        self.templateId = templateId
        self.templateVersion = templateVersion
        self.deliveryMode = deliveryMode
        self.classNumber = classNumber
        self.lessonsPerSession = lessonsPerSession
        self.schedule = schedule
        self.classSize = classSize
        self.coolingOffDays = coolingOffDays
        self.paymentMethod = paymentMethod
        self.institutionContact = institutionContact
        self.guardianIdNumber = guardianIdNumber
        self.studentIdNumber = studentIdNumber
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
