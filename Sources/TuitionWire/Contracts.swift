import Foundation
import TuitionCore

public struct ContractSignatureRecord: Codable, Sendable, Hashable {
    public var position: Int
    public var signer: ContractSigner
    public var certificateSerial: String
    public var algorithm: String
    public var documentSha256: String
    public var signedAt: Date

    public init(
        position: Int, signer: ContractSigner, certificateSerial: String, algorithm: String, documentSha256: String, signedAt: Date
    ) {
        self.position = position
        self.signer = signer
        self.certificateSerial = certificateSerial
        self.algorithm = algorithm
        self.documentSha256 = documentSha256
        self.signedAt = signedAt
    }
}

/// A contract as the API shows it; the document itself is served separately.
public struct ContractRecord: Codable, Sendable, Hashable {
    public var id: Contract.ID
    public var enrollmentId: Enrollment.ID
    public var institutionId: Institution.ID
    public var guardianId: Guardian.ID
    public var templateId: String
    public var templateVersion: Int
    public var templateSha256: String
    public var documentSha256: String
    public var status: ContractStatus
    public var createdAt: Date
    public var institutionSignedAt: Date?
    public var guardianSignedAt: Date?
    public var signatures: [ContractSignatureRecord]

    public init(
        id: Contract.ID, enrollmentId: Enrollment.ID, institutionId: Institution.ID, guardianId: Guardian.ID, templateId: String,
        templateVersion: Int, templateSha256: String, documentSha256: String, status: ContractStatus, createdAt: Date,
        institutionSignedAt: Date? = nil, guardianSignedAt: Date? = nil, signatures: [ContractSignatureRecord]
    ) {
        self.id = id
        self.enrollmentId = enrollmentId
        self.institutionId = institutionId
        self.guardianId = guardianId
        self.templateId = templateId
        self.templateVersion = templateVersion
        self.templateSha256 = templateSha256
        self.documentSha256 = documentSha256
        self.status = status
        self.createdAt = createdAt
        self.institutionSignedAt = institutionSignedAt
        self.guardianSignedAt = guardianSignedAt
        self.signatures = signatures
    }
}

/// A certificate as the API shows it: public data only, never its key.
public struct CertificateRecord: Codable, Sendable, Hashable {
    public var serial: String
    public var holder: String
    public var algorithm: String
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    public var revokedAt: Date?
    public var revocationReason: String?

    public init(
        serial: String, holder: String, algorithm: String, subject: String, notBefore: Date, notAfter: Date, revokedAt: Date? = nil,
        revocationReason: String? = nil
    ) {
        self.serial = serial
        self.holder = holder
        self.algorithm = algorithm
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.revokedAt = revokedAt
        self.revocationReason = revocationReason
    }
}

/// The optional body of a signing request: the key type of the signer's certificate when it is first issued.
public struct SignatureBody: Codable, Sendable {
    public let algorithm: String?

    public init(algorithm: String? = nil) { self.algorithm = algorithm }
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

/// What public verification found: every signature, checked against the platform CA.
public struct ContractVerification: Codable, Sendable {
    public struct Signature: Codable, Sendable {
        public var position: Int
        public var signer: String?
        public var certificateSerial: String?
        /// The signature method by name (`ECDSA P-256 / SHA-256`), and its URI.
        public var algorithm: String?
        public var algorithmURI: String?
        /// The time of the signature's verified RFC 3161 timestamp (UTC, milliseconds), at which validity and
        /// revocation are judged; nil ("unknown") when the timestamp does not verify.
        public var signingTime: String?
        /// The XAdES SigningTime the signer claims.
        public var claimedSigningTime: String?
        public var timestamp: String
        public var chain: String
        public var validityAtSigningTime: String
        public var digest: String
        public var signatureValue: String
        /// When the platform revoked the signer's certificate, if it did (UTC, milliseconds); a revocation at or
        /// before the timestamp's time fails the signature.
        public var certificateRevokedAt: String?
        public var failures: [String]

        public init(
            position: Int, signer: String? = nil, certificateSerial: String? = nil, algorithm: String? = nil, algorithmURI: String? = nil,
            signingTime: String? = nil, claimedSigningTime: String? = nil, timestamp: String, chain: String, validityAtSigningTime: String,
            digest: String, signatureValue: String, certificateRevokedAt: String? = nil, failures: [String]
        ) {
            self.position = position
            self.signer = signer
            self.certificateSerial = certificateSerial
            self.algorithm = algorithm
            self.algorithmURI = algorithmURI
            self.signingTime = signingTime
            self.claimedSigningTime = claimedSigningTime
            self.timestamp = timestamp
            self.chain = chain
            self.validityAtSigningTime = validityAtSigningTime
            self.digest = digest
            self.signatureValue = signatureValue
            self.certificateRevokedAt = certificateRevokedAt
            self.failures = failures
        }
    }

    public var valid: Bool
    /// Valid, and signed by both parties: signature 0 by the institution of the document's 甲方 licence, signature 1
    /// (nested in it) by the guardian of its 乙方.
    public var fullySigned: Bool
    public var firstFailure: String?
    public var documentSha256: String
    /// The stored contract carrying these signatures (found by their values, whatever the bytes around them).
    public var contractId: Contract.ID?
    public var contractStatus: ContractStatus?
    public var signatures: [Signature]

    public init(
        valid: Bool, fullySigned: Bool, firstFailure: String? = nil, documentSha256: String, contractId: Contract.ID? = nil,
        contractStatus: ContractStatus? = nil, signatures: [Signature]
    ) {
        self.valid = valid
        self.fullySigned = fullySigned
        self.firstFailure = firstFailure
        self.documentSha256 = documentSha256
        self.contractId = contractId
        self.contractStatus = contractStatus
        self.signatures = signatures
    }
}
