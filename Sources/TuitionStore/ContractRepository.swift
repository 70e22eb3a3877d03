import ContractKit
import Foundation
import PostgresNIO
import TuitionCore

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

public struct ContractSignatureRecord: Codable, Sendable, Hashable {
    public var position: Int
    public var signer: ContractSigner
    public var certificateSerial: String
    public var algorithm: String
    public var documentSha256: String
    public var signedAt: Date
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

    static let columns = """
        k.id, k.enrollment_id, k.institution_id, k.guardian_id, k.template_id, k.template_version, k.template_sha256,
        k.document_sha256, k.status, k.created_at, k.institution_signed_at, k.guardian_signed_at
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        self.id = .init(try cells[0].decode(UUID.self))
        self.enrollmentId = .init(try cells[1].decode(UUID.self))
        self.institutionId = .init(try cells[2].decode(UUID.self))
        self.guardianId = .init(try cells[3].decode(UUID.self))
        self.templateId = try cells[4].decode(String.self)
        self.templateVersion = try cells[5].decode(Int.self)
        self.templateSha256 = try cells[6].decode(String.self)
        self.documentSha256 = try cells[7].decode(String.self)
        self.status = try decodeEnum(try cells[8].decode(String.self))
        self.createdAt = try cells[9].decode(Date.self)
        self.institutionSignedAt = try cells[10].decode(Date?.self)
        self.guardianSignedAt = try cells[11].decode(Date?.self)
        self.signatures = []
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
}

/// Contracts: rendering from a template, the two signatures, verification.
public struct ContractRepository: Sendable {
    let store: Store
    let setup: ContractSetup?
    var certificates: CertificateRepository { CertificateRepository(store: store) }
    private let verifiers = AnchorVerifiers()

    /// Without a setup, reading works and generating or signing throws `ContractsNotConfigured`.
    public init(store: Store, setup: ContractSetup?) {
        self.store = store
        self.setup = setup
    }

    func requireSetup() throws -> ContractSetup {
        guard let setup else { throw ContractsNotConfigured() }
        return setup
    }

    // MARK: Generating

    /// Renders the enrollment's contract (status `draft`) from the template and the enrollment's records. A
    /// contract not yet signed by both parties is voided and replaced; a signed one, or a paid enrollment, refuses.
    public func generate(for enrollment: Enrollment.ID, institution: Institution.ID, terms: ContractTerms = ContractTerms())
        async throws -> ContractRecord
    {
        let setup = try requireSetup()
        let template = try setup.templates.template(id: terms.templateId ?? setup.defaultTemplateId, version: terms.templateVersion)
        return try await store.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT e.lessons_bought, e.price_per_lesson_fen, e.amount_fen, e.term_start::text, e.term_end::text, e.paid_fen,
                    e.supervision_mode, e.guardian_id,
                    i.name, i.address, i.licence_number, i.licence_valid_until::text, i.credit_code, i.status, i.reserve_ratio_bp,
                    i.supervised_bank, i.supervised_account_number, i.district_code, d.approving_authority,
                    g.name, g.phone, s.name, s.relationship, s.school, s.grade,
                    c.title, c.category, c.lesson_minutes, c.lessons_per_week, c.teacher
                FROM enrollments e JOIN institutions i ON i.id = e.institution_id JOIN districts d ON d.code = i.district_code
                    JOIN guardians g ON g.id = e.guardian_id JOIN students s ON s.id = e.student_id JOIN courses c ON c.id = e.course_id
                WHERE e.id = \(enrollment.uuid) AND e.institution_id = \(institution.uuid)
                FOR UPDATE OF e FOR SHARE OF i
                """, logger: store.logger)
            var found: PostgresRandomAccessRow?
            for try await row in rows { found = row.makeRandomAccess() }
            guard let cells = found else { throw NotFound() }
            func text(_ index: Int) throws -> String? {
                let value = try cells[index].decode(String?.self)
                return value?.isEmpty == false ? value : nil
            }
            func int(_ index: Int) throws -> Int64 { try cells[index].decode(Int64.self) }
            let status: InstitutionStatus = try decodeEnum(try cells[13].decode(String.self))
            let existing = try await liveContractStatus(of: enrollment, on: connection)
            if let rejection = checkContractGeneration(existing: existing, institution: status, enrollmentPaid: try int(5) > 0) {
                throw rejection
            }
            let guardianIdNumber = try terms.guardianIdNumber.map { try masked($0) }
            let studentIdNumber = try terms.studentIdNumber.map { try masked($0) }
            let id = store.dependencies.newID()
            let now = store.dependencies.now()
            let mode: SupervisionMode = try decodeEnum(try cells[6].decode(String.self))
            let district = try cells[17].decode(String.self)
            let perWeek = try cells[28].decode(Int.self)
            var values: [String: String?] = [
                "contract.number": "TG-\(district)-\(id.uuidString.lowercased())",
                "contract.generatedOn": BusinessDate(shanghaiDateOf: now).description,
                "institution.name": try text(8), "institution.address": try text(9),
                "institution.approvingAuthority": try text(18) ?? "行政区划代码 \(district) 教育行政部门（审批机关未登记）",
                "institution.licenceNumber": try text(10), "institution.licenceValidUntil": try text(11),
                "institution.creditCode": try text(12), "institution.contact": terms.institutionContact ?? "以甲方办学场所公示为准",
                "guardian.name": try text(19), "guardian.contact": try text(20), "guardian.relationship": try text(22) ?? "监护人",
                "guardian.idNumberMasked": guardianIdNumber, "student.name": try text(21), "student.school": try text(23),
                "student.grade": try text(24), "student.idNumberMasked": studentIdNumber,
                "service.deliveryMode": terms.deliveryMode ?? "offline", "course.category": try text(26), "course.title": try text(25),
                "service.classNumber": terms.classNumber, "enrollment.lessons": String(try cells[0].decode(Int.self)),
                "course.lessonMinutes": String(try cells[27].decode(Int.self)),
                "service.lessonsPerSession": String(terms.lessonsPerSession ?? 1),
                "service.schedule": terms.schedule ?? "每周 \(perWeek) 次",
                "enrollment.termStart": try text(3), "enrollment.termEnd": try text(4),
                "service.classSize": terms.classSize.map(String.init),
                "course.teacher": try text(29), "enrollment.pricePerLessonFen": String(try int(1)),
                "enrollment.totalFen": String(try int(2)),
                "fees.paymentMethod": terms.paymentMethod ?? "one_off", "supervision.mode": mode.rawValue,
                "supervision.bank": mode == .escrow ? try text(15) : nil,
                "supervision.accountNumber": mode == .escrow ? try text(16) : nil,
                "supervision.reserveRatioBasisPoints": mode == .reserve ? String(try cells[14].decode(Int.self)) : nil,
                "refunds.coolingOffDays": String(terms.coolingOffDays ?? 7),
            ]
            // A template names the fields it binds; values it does not bind are left out, missing ones are errors.
            values = values.filter { template.fields.contains($0.key) }
            let fields = values.compactMapValues { $0 }
            let document = try setup.templates.withRenderer(template) { try $0.render(fields) }
            if existing != nil {
                try await connection.query(
                    "UPDATE contracts SET status = 'void', voided_at = \(now) WHERE enrollment_id = \(enrollment.uuid) AND status <> 'void'",
                    logger: store.logger)
            }
            let fieldsJSON = String(decoding: try JSONEncoder.sorted.encode(fields), as: UTF8.self)
            try await connection.query(
                """
                INSERT INTO contracts (id, enrollment_id, institution_id, guardian_id, template_id, template_version, template_sha256,
                    fields, document, document_sha256, created_at)
                VALUES (\(id), \(enrollment.uuid), \(institution.uuid), \(try cells[7].decode(UUID.self)), \(template.id),
                    \(template.version), \(template.sha256), \(fieldsJSON)::jsonb, \(Data(document)), \(try sha256Hex(document)), \(now))
                """, logger: store.logger)
            return try await fetch(Contract.ID(id), scope: Scope(institution: institution.uuid), on: connection)!
        }
    }

    /// The status of the enrollment's live contract, its row locked: a countersignature committed meanwhile is
    /// seen (and refused as `contractAlreadySigned`) instead of colliding with the voiding update.
    private func liveContractStatus(of enrollment: Enrollment.ID, on connection: PostgresConnection) async throws -> ContractStatus? {
        let rows = try await connection.query(
            "SELECT status FROM contracts WHERE enrollment_id = \(enrollment.uuid) AND status <> 'void' FOR UPDATE",
            logger: store.logger)
        var status: ContractStatus?
        for try await text in rows.decode(String.self) where text != "void" { status = try decodeEnum(text) }
        return status
    }

    private func masked(_ number: String) throws -> String {
        guard let masked = maskIdentityNumber(number) else { throw Rejection.identityNumberInvalid }
        return masked
    }

    // MARK: Reading

    public func contract(_ id: Contract.ID, scope: Scope) async throws -> ContractRecord? {
        try await store.client.withConnection { try await fetch(id, scope: scope, on: $0) }
    }

    /// The enrollment's live contract (the latest if all are void).
    public func contract(ofEnrollment id: Enrollment.ID, scope: Scope) async throws -> ContractRecord? {
        try await store.client.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT k.id FROM contracts k JOIN institutions i ON i.id = k.institution_id
                WHERE k.enrollment_id = \(id.uuid) AND (k.institution_id = \(scope.institution) OR k.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district))
                ORDER BY (k.status <> 'void') DESC, k.created_at DESC LIMIT 1
                """, logger: store.logger)
            for try await contract in rows.decode(UUID.self) { return try await fetch(Contract.ID(contract), scope: scope, on: connection) }
            return nil
        }
    }

    /// The contract's XML document as stored (signed as far as it is).
    public func document(_ id: Contract.ID, scope: Scope) async throws -> [UInt8]? {
        let rows = try await store.query(
            """
            SELECT k.document FROM contracts k JOIN institutions i ON i.id = k.institution_id
            WHERE k.id = \(id.uuid) AND (k.institution_id = \(scope.institution) OR k.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district))
            """)
        for try await document in rows.decode(Data.self) { return [UInt8](document) }
        return nil
    }

    func fetch(_ id: Contract.ID, scope: Scope, on connection: PostgresConnection) async throws -> ContractRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: ContractRecord.columns) FROM contracts k JOIN institutions i ON i.id = k.institution_id
            WHERE k.id = \(id.uuid) AND (k.institution_id = \(scope.institution) OR k.guardian_id = \(scope.guardian) OR i.district_code = \(scope.district))
            """, logger: store.logger)
        var record: ContractRecord?
        for try await row in rows { record = try ContractRecord(row: row) }
        guard var record else { return nil }
        let signatures = try await connection.query(
            """
            SELECT position, signer, certificate_serial, algorithm, document_sha256, signed_at FROM contract_signatures
            WHERE contract_id = \(id.uuid) ORDER BY position
            """, logger: store.logger)
        for try await (position, signer, serial, algorithm, sha, signedAt) in signatures.decode(
            (Int, String, String, String, String, Date).self)
        {
            record.signatures.append(
                ContractSignatureRecord(
                    position: position, signer: try decodeEnum(signer), certificateSerial: serial, algorithm: algorithm,
                    documentSha256: sha,
                    signedAt: signedAt))
        }
        return record
    }

    // MARK: Signing

    /// The institution signs its draft contract; its certificate is issued on its first signature.
    public func signAsInstitution(_ id: Contract.ID, institution: Institution.ID, algorithm: KeyAlgorithm = .ecdsaP256) async throws
        -> ContractRecord
    {
        try await sign(id, as: .institution, scope: Scope(institution: institution.uuid), algorithm: algorithm)
    }

    /// The guardian countersigns the institution-signed contract; its certificate is issued on its first countersignature.
    /// The contract is then `signed`, its `contract_signed` event queued in the same transaction, and the enrollment payable.
    public func countersign(_ id: Contract.ID, guardian: Guardian.ID, algorithm: KeyAlgorithm = .ecdsaP256) async throws -> ContractRecord {
        try await sign(id, as: .guardian, scope: Scope(guardian: guardian.uuid), algorithm: algorithm)
    }

    private func sign(_ id: Contract.ID, as signer: ContractSigner, scope: Scope, algorithm: KeyAlgorithm) async throws -> ContractRecord {
        let setup = try requireSetup()
        return try await store.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT k.status, k.document, k.institution_id, k.guardian_id, k.enrollment_id, k.institution_signed_at, i.status, i.name,
                    i.licence_number, g.name, e.amount_fen
                FROM contracts k JOIN institutions i ON i.id = k.institution_id JOIN guardians g ON g.id = k.guardian_id
                    JOIN enrollments e ON e.id = k.enrollment_id
                WHERE k.id = \(id.uuid) AND (k.institution_id = \(scope.institution) OR k.guardian_id = \(scope.guardian))
                FOR UPDATE OF k FOR SHARE OF i
                """, logger: store.logger)
            var found: PostgresRandomAccessRow?
            for try await row in rows { found = row.makeRandomAccess() }
            guard let cells = found else { throw NotFound() }
            let status: ContractStatus = try decodeEnum(try cells[0].decode(String.self))
            let institutionStatus: InstitutionStatus = try decodeEnum(try cells[6].decode(String.self))
            if let rejection = checkSignature(signer, status: status, institution: institutionStatus) { throw rejection }
            let institution = Institution.ID(try cells[2].decode(UUID.self))
            let guardian = Guardian.ID(try cells[3].decode(UUID.self))
            let now = store.dependencies.now()
            let (holder, subject): (CertificateHolder, CertificateSubject) =
                switch signer {
                case .institution:
                    (
                        .institution(institution),
                        ContractParties.institutionSubject(
                            name: try cells[7].decode(String.self), licenceNumber: try cells[8].decode(String.self))
                    )
                case .guardian: (.guardian(guardian), ContractParties.guardianSubject(name: try cells[9].decode(String.self)))
                }
            let (xmlSigner, serial) = try await certificates.signer(
                for: holder, subject: subject, algorithm: algorithm, kek: setup.keyEncryptionKey, at: now, on: connection)
            guard let authority = try await certificates.authority(kek: setup.keyEncryptionKey, on: connection) else {
                throw CertificateAuthorityNotInitialised()
            }
            // Sign, then verify the signed tree whose serialization is stored, every signature, chain and all (this
            // is the check right after signing, made once with the full verifier rather than also in the signer).
            let document = try XMLDocument.parse([UInt8](try cells[1].decode(Data.self)))
            try xmlSigner.sign(document, selfCheck: false)
            let report = try await verifyWithRevocations(document, anchor: authority.certificate)
            let signed = document.serialized()
            guard report.isValid, report.signatures.count == signer.position + 1, let made = report.signatures.last,
                let timestampedAt = made.signingTime
            else {
                throw ContractSignatureFailed(reason: report.firstFailure?.description ?? "unexpected number of signatures")
            }
            let sha = try sha256Hex(signed)
            try await connection.query(
                """
                UPDATE contracts SET document = \(Data(signed)), document_sha256 = \(sha), status = \(signer.result.rawValue),
                    institution_signed_at = CASE WHEN \(signer == .institution) THEN \(now) ELSE institution_signed_at END,
                    guardian_signed_at = CASE WHEN \(signer == .guardian) THEN \(now) ELSE guardian_signed_at END
                WHERE id = \(id.uuid)
                """, logger: store.logger)
            try await connection.query(
                """
                INSERT INTO contract_signatures (contract_id, position, signer, institution_id, certificate_serial, algorithm,
                    digest_value, signature_value, document_sha256, signed_at, timestamped_at)
                VALUES (\(id.uuid), \(signer.position), \(signer.rawValue), \(institution.uuid), \(serial), \(algorithm.rawValue),
                    \(made.digestValue ?? ""), \(made.signatureValue64 ?? ""), \(sha), \(now), \(timestampedAt))
                """, logger: store.logger)
            if signer == .guardian {
                try await EvidenceQueue(store: store).enqueue(
                    EvidenceEvent(
                        kind: .contractSigned, occurredAt: now, institution: institution,
                        enrollment: Enrollment.ID(try cells[4].decode(UUID.self)), amount: Money(fen: try cells[10].decode(Int64.self)),
                        reference: "contract:\(id):\(sha)"),
                    on: connection)
            }
            return try await fetch(id, scope: scope, on: connection)!
        }
    }

    // MARK: Verifying

    /// Verifies an uploaded document against the platform CA and its revocations, each signature at the time of its
    /// own timestamp, so any C14N-equivalent copy gets the same verdict. The stored contract is found through the
    /// signatures' values, not the bytes.
    public func verify(_ bytes: [UInt8]) async throws -> ContractVerification {
        guard let authority = try await certificates.authorityCertificate() else { throw CertificateAuthorityNotInitialised() }
        let document = try XMLDocument.parse(bytes)
        let report = try await verifyWithRevocations(document, anchor: authority)
        // Only values of signatures that verify identify a contract: a tampered copy matches nothing.
        let values = report.signatures.filter(\.isValid).compactMap(\.signatureValue64)
        var match: (UUID, ContractStatus)?
        if !values.isEmpty {
            for try await (id, status) in try await store.query(
                """
                SELECT k.id, k.status FROM contract_signatures s JOIN contracts k ON k.id = s.contract_id
                WHERE s.signature_value = ANY(\(values)) ORDER BY s.position LIMIT 1
                """
            ).decode((UUID, String).self) {
                match = (id, try decodeEnum(status))
            }
        }
        let serials = report.signatures.compactMap { $0.signerCertificate?.serialNumber }
        let known = try await certificates.certificates(serials: serials)
        let signatures = report.signatures.map { signature in
            let serial = signature.signerCertificate?.serialNumber
            return ContractVerification.Signature(
                position: signature.position, signer: signature.signerSubject, certificateSerial: serial,
                algorithm: signature.algorithm?.name, algorithmURI: signature.algorithm?.rawValue,
                signingTime: signature.signingTime.map(XAdESTime.format), claimedSigningTime: signature.claimedSigningTime.map(XAdESTime.format),
                timestamp: signature.timestamp.rawValue, chain: signature.chain.rawValue,
                validityAtSigningTime: signature.validityAtSigningTime.rawValue, digest: signature.digest.rawValue,
                signatureValue: signature.signatureValue.rawValue,
                certificateRevokedAt: serial.flatMap { known[$0]?.revokedAt }.map(XAdESTime.format),
                failures: signature.failures.map(\.description))
        }
        return ContractVerification(
            valid: report.isValid, fullySigned: report.isFullySigned, firstFailure: report.firstFailure?.description,
            documentSha256: try sha256Hex(bytes), contractId: match.map { Contract.ID($0.0) }, contractStatus: match?.1,
            signatures: signatures)
    }

    /// Verifies with the platform's revocations of the signers' certificates: once without, and again with them
    /// when a signer's certificate was revoked (rare), so the rule lives in `XMLSignatureVerifier` alone.
    func verifyWithRevocations(_ document: XMLDocument, anchor: Certificate) async throws -> VerificationReport {
        let verifier = verifiers.verifier(trusting: anchor)
        let first = verifier.verify(document)
        let revocations = try await certificates.revocations(serials: first.signatures.compactMap { $0.signerCertificate?.serialNumber })
        guard !revocations.isEmpty else { return first }
        return verifier.with(revocations: revocations).verify(document)
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

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// One verifier per trust anchor (the platform CA), kept for the repository's life so its certificate store and the
/// certificates already found to chain are reused; a new CA certificate gets a new verifier.
final class AnchorVerifiers: @unchecked Sendable {
    private let lock = NSLock()
    private var current: (anchor: Certificate, verifier: XMLSignatureVerifier)?

    func verifier(trusting anchor: Certificate) -> XMLSignatureVerifier {
        lock.lock()
        defer { lock.unlock() }
        if let current, current.anchor == anchor { return current.verifier }
        let verifier = XMLSignatureVerifier(trustAnchor: anchor)
        current = (anchor, verifier)
        return verifier
    }
}
