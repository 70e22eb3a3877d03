import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

extension ContractRecord {
    static let columns = """
        k.id, k.enrollment_id, k.institution_id, k.guardian_id, k.template_id, k.template_version, k.template_sha256,
        k.document_sha256, k.status, k.created_at, k.institution_signed_at, k.guardian_signed_at
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        try self.init(
            id: .init(cells["id"].decode(UUID.self)),
            enrollmentId: .init(cells["enrollment_id"].decode(UUID.self)),
            institutionId: .init(cells["institution_id"].decode(UUID.self)),
            guardianId: .init(cells["guardian_id"].decode(UUID.self)),
            templateId: cells["template_id"].decode(String.self),
            templateVersion: cells["template_version"].decode(Int.self),
            templateSha256: cells["template_sha256"].decode(String.self),
            documentSha256: cells["document_sha256"].decode(String.self),
            status: decodeEnum(cells["status"].decode(String.self)),
            createdAt: cells["created_at"].decode(Date.self),
            institutionSignedAt: cells["institution_signed_at"].decode(Date?.self),
            guardianSignedAt: cells["guardian_signed_at"].decode(Date?.self),
            signatures: [])
    }
}

/// What a contract says about its parties, course and money, as the enrollment's records hold it: read by column
/// name, in the transaction that writes the contract.
public struct ContractParticulars: Sendable {
    public var guardianId: Guardian.ID
    public var lessonsBought: Int
    public var pricePerLesson: Money
    public var amount: Money
    public var paid: Money
    public var termStart: String?
    public var termEnd: String?
    public var supervisionMode: SupervisionMode
    public var institution: Institution
    public var guardian: Person
    public var student: Student
    public var course: Course

    public struct Institution: Sendable {
        public var name: String?
        public var address: String?
        public var licenceNumber: String?
        public var licenceValidUntil: String?
        public var creditCode: String?
        public var status: InstitutionStatus
        public var reserveRatioBasisPoints: Int
        public var supervisedBank: String?
        public var supervisedAccountNumber: String?
        public var districtCode: String
        public var approvingAuthority: String?
    }

    public struct Person: Sendable {
        public var name: String?
        public var phone: String?
    }

    public struct Student: Sendable {
        public var name: String?
        public var relationship: String?
        public var school: String?
        public var grade: String?
    }

    public struct Course: Sendable {
        public var title: String?
        public var category: String?
        public var lessonMinutes: Int
        public var lessonsPerWeek: Int
        public var teacher: String?
    }

    static let query = """
        SELECT e.lessons_bought, e.price_per_lesson_fen, e.amount_fen, e.term_start::text, e.term_end::text, e.paid_fen,
            e.supervision_mode, e.guardian_id,
            i.name AS institution_name, i.address, i.licence_number, i.licence_valid_until::text, i.credit_code,
            i.status AS institution_status, i.reserve_ratio_bp, i.supervised_bank, i.supervised_account_number, i.district_code,
            d.approving_authority, g.name AS guardian_name, g.phone, s.name AS student_name, s.relationship, s.school, s.grade,
            c.title, c.category, c.lesson_minutes, c.lessons_per_week, c.teacher
        FROM enrollments e JOIN institutions i ON i.id = e.institution_id JOIN districts d ON d.code = i.district_code
            JOIN guardians g ON g.id = e.guardian_id JOIN students s ON s.id = e.student_id JOIN courses c ON c.id = e.course_id
        """

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        func text(_ name: String) throws -> String? {
            let value = try cells[name].decode(String?.self)
            return value?.isEmpty == false ? value : nil
        }
        func money(_ name: String) throws -> Money { Money(fen: try cells[name].decode(Int64.self)) }
        self.guardianId = .init(try cells["guardian_id"].decode(UUID.self))
        self.lessonsBought = try cells["lessons_bought"].decode(Int.self)
        self.pricePerLesson = try money("price_per_lesson_fen")
        self.amount = try money("amount_fen")
        self.paid = try money("paid_fen")
        self.termStart = try text("term_start")
        self.termEnd = try text("term_end")
        self.supervisionMode = try decodeEnum(try cells["supervision_mode"].decode(String.self))
        self.institution = Institution(
            name: try text("institution_name"), address: try text("address"), licenceNumber: try text("licence_number"),
            licenceValidUntil: try text("licence_valid_until"), creditCode: try text("credit_code"),
            status: try decodeEnum(try cells["institution_status"].decode(String.self)),
            reserveRatioBasisPoints: try cells["reserve_ratio_bp"].decode(Int.self), supervisedBank: try text("supervised_bank"),
            supervisedAccountNumber: try text("supervised_account_number"), districtCode: try cells["district_code"].decode(String.self),
            approvingAuthority: try text("approving_authority"))
        self.guardian = Person(name: try text("guardian_name"), phone: try text("phone"))
        self.student = Student(
            name: try text("student_name"), relationship: try text("relationship"), school: try text("school"), grade: try text("grade"))
        self.course = Course(
            title: try text("title"), category: try text("category"), lessonMinutes: try cells["lesson_minutes"].decode(Int.self),
            lessonsPerWeek: try cells["lessons_per_week"].decode(Int.self), teacher: try text("teacher"))
    }
}

/// A rendered contract to store as the enrollment's new draft.
public struct ContractDraft: Sendable {
    public var id: Contract.ID
    public var enrollmentId: Enrollment.ID
    public var institutionId: Institution.ID
    public var guardianId: Guardian.ID
    public var templateId: String
    public var templateVersion: Int
    public var templateSha256: String
    /// The values bound into the template, as a JSON object.
    public var fieldsJSON: String
    public var document: [UInt8]
    public var documentSha256: String
    public var createdAt: Date

    public init(
        id: Contract.ID, enrollmentId: Enrollment.ID, institutionId: Institution.ID, guardianId: Guardian.ID, templateId: String,
        templateVersion: Int, templateSha256: String, fieldsJSON: String, document: [UInt8], documentSha256: String, createdAt: Date
    ) {
        self.id = id
        self.enrollmentId = enrollmentId
        self.institutionId = institutionId
        self.guardianId = guardianId
        self.templateId = templateId
        self.templateVersion = templateVersion
        self.templateSha256 = templateSha256
        self.fieldsJSON = fieldsJSON
        self.document = document
        self.documentSha256 = documentSha256
        self.createdAt = createdAt
    }
}

/// A contract as a signer finds it, its row locked: its document and status, and the parties it names.
public struct ContractAwaitingSignature: Sendable {
    public var status: ContractStatus
    public var document: [UInt8]
    public var institutionId: Institution.ID
    public var guardianId: Guardian.ID
    public var enrollmentId: Enrollment.ID
    public var institutionStatus: InstitutionStatus
    public var institutionName: String
    public var licenceNumber: String
    public var guardianName: String
    public var amount: Money

    init(row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        self.status = try decodeEnum(try cells["status"].decode(String.self))
        self.document = [UInt8](try cells["document"].decode(Data.self))
        self.institutionId = .init(try cells["institution_id"].decode(UUID.self))
        self.guardianId = .init(try cells["guardian_id"].decode(UUID.self))
        self.enrollmentId = .init(try cells["enrollment_id"].decode(UUID.self))
        self.institutionStatus = try decodeEnum(try cells["institution_status"].decode(String.self))
        self.institutionName = try cells["institution_name"].decode(String.self)
        self.licenceNumber = try cells["licence_number"].decode(String.self)
        self.guardianName = try cells["guardian_name"].decode(String.self)
        self.amount = Money(fen: try cells["amount_fen"].decode(Int64.self))
    }
}

/// A signature made and verified by the use case, with the document it is now part of.
public struct ContractSignatureWrite: Sendable {
    public var contract: Contract.ID
    public var signer: ContractSigner
    public var institutionId: Institution.ID
    public var certificateSerial: String
    public var algorithm: String
    public var digestValue: String
    public var signatureValue: String
    public var signedDocument: [UInt8]
    public var documentSha256: String
    public var signedAt: Date
    public var timestampedAt: Date

    public init(
        contract: Contract.ID, signer: ContractSigner, institutionId: Institution.ID, certificateSerial: String, algorithm: String,
        digestValue: String, signatureValue: String, signedDocument: [UInt8], documentSha256: String, signedAt: Date, timestampedAt: Date
    ) {
        self.contract = contract
        self.signer = signer
        self.institutionId = institutionId
        self.certificateSerial = certificateSerial
        self.algorithm = algorithm
        self.digestValue = digestValue
        self.signatureValue = signatureValue
        self.signedDocument = signedDocument
        self.documentSha256 = documentSha256
        self.signedAt = signedAt
        self.timestampedAt = timestampedAt
    }
}

/// Contracts as stored: drafts, their documents and signatures. Rendering, signing and verifying are the use
/// cases' (`TuitionUseCases`); this type only reads and writes rows.
public struct ContractRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    // MARK: Writing, in the caller's transaction

    /// The enrollment's particulars for its contract, the enrollment locked and the institution shared; nil when
    /// the enrollment is not this institution's.
    public func particulars(of enrollment: Enrollment.ID, institution: Institution.ID, on transaction: StoreTransaction) async throws
        -> ContractParticulars?
    {
        let rows = try await transaction.connection.query(
            """
            \(unescaped: ContractParticulars.query)
            WHERE e.id = \(enrollment.uuid) AND e.institution_id = \(institution.uuid)
            FOR UPDATE OF e FOR SHARE OF i
            """, logger: store.logger)
        var found: ContractParticulars?
        for try await row in rows { found = try ContractParticulars(row: row) }
        return found
    }

    /// The status of the enrollment's live contract, its row locked: a countersignature committed meanwhile is
    /// seen (and refused as `contractAlreadySigned`) instead of colliding with the voiding update.
    public func liveContractStatus(of enrollment: Enrollment.ID, on transaction: StoreTransaction) async throws -> ContractStatus? {
        let rows = try await transaction.connection.query(
            "SELECT status FROM contracts WHERE enrollment_id = \(enrollment.uuid) AND status <> 'void' FOR UPDATE",
            logger: store.logger)
        var status: ContractStatus?
        for try await text in rows.decode(String.self) where text != "void" { status = try decodeEnum(text) }
        return status
    }

    /// Stores `draft` as the enrollment's contract, voiding the live one it replaces.
    public func insert(_ draft: ContractDraft, replacingLive: Bool, on transaction: StoreTransaction) async throws {
        let connection = transaction.connection
        if replacingLive {
            try await connection.run(
                """
                UPDATE contracts SET status = 'void', voided_at = \(draft.createdAt)
                WHERE enrollment_id = \(draft.enrollmentId.uuid) AND status <> 'void'
                """, logger: store.logger)
        }
        try await connection.run(
            """
            INSERT INTO contracts (id, enrollment_id, institution_id, guardian_id, template_id, template_version, template_sha256,
                fields, document, document_sha256, created_at)
            VALUES (\(draft.id.uuid), \(draft.enrollmentId.uuid), \(draft.institutionId.uuid), \(draft.guardianId.uuid),
                \(draft.templateId), \(draft.templateVersion), \(draft.templateSha256), \(draft.fieldsJSON)::jsonb,
                \(Data(draft.document)), \(draft.documentSha256), \(draft.createdAt))
            """, logger: store.logger)
    }

    /// The contract a signer in `scope` may sign, its row locked; nil when it is not theirs.
    public func awaitingSignature(_ id: Contract.ID, scope: Scope, on transaction: StoreTransaction) async throws
        -> ContractAwaitingSignature?
    {
        let rows = try await transaction.connection.query(
            """
            SELECT k.status, k.document, k.institution_id, k.guardian_id, k.enrollment_id, i.status AS institution_status,
                i.name AS institution_name, i.licence_number, g.name AS guardian_name, e.amount_fen
            FROM contracts k JOIN institutions i ON i.id = k.institution_id JOIN guardians g ON g.id = k.guardian_id
                JOIN enrollments e ON e.id = k.enrollment_id
            WHERE k.id = \(id.uuid) AND (k.institution_id = \(scope.institution) OR k.guardian_id = \(scope.guardian))
            FOR UPDATE OF k FOR SHARE OF i
            """, logger: store.logger)
        var found: ContractAwaitingSignature?
        for try await row in rows { found = try ContractAwaitingSignature(row: row) }
        return found
    }

    /// Stores a signature and the document it is now part of; the contract moves to the signer's next status.
    public func record(_ signature: ContractSignatureWrite, on transaction: StoreTransaction) async throws {
        let signer = signature.signer
        // One statement, one round trip: PostgreSQL runs a data-modifying CTE whether or not the INSERT reads it.
        try await transaction.connection.run(
            """
            WITH signed AS (
                UPDATE contracts SET document = \(Data(signature.signedDocument)), document_sha256 = \(signature.documentSha256),
                    status = \(signer.result.rawValue),
                    institution_signed_at = CASE WHEN \(signer == .institution) THEN \(signature.signedAt) ELSE institution_signed_at END,
                    guardian_signed_at = CASE WHEN \(signer == .guardian) THEN \(signature.signedAt) ELSE guardian_signed_at END
                WHERE id = \(signature.contract.uuid)
                RETURNING id
            )
            INSERT INTO contract_signatures (contract_id, position, signer, institution_id, certificate_serial, algorithm,
                digest_value, signature_value, document_sha256, signed_at, timestamped_at)
            VALUES (\(signature.contract.uuid), \(signer.position), \(signer.rawValue), \(signature.institutionId.uuid),
                \(signature.certificateSerial), \(signature.algorithm), \(signature.digestValue), \(signature.signatureValue),
                \(signature.documentSha256), \(signature.signedAt), \(signature.timestampedAt))
            """, logger: store.logger)
    }

    /// The contract as `scope` sees it, in the caller's transaction.
    public func contract(_ id: Contract.ID, scope: Scope, on transaction: StoreTransaction) async throws -> ContractRecord? {
        try await fetch(id, scope: scope, on: transaction.connection)
    }

    // MARK: Reading

    public func contract(_ id: Contract.ID, scope: Scope) async throws -> ContractRecord? {
        try await store.withConnection { try await fetch(id, scope: scope, on: $0) }
    }

    /// The enrollment's live contract (the latest if all are void).
    public func contract(ofEnrollment id: Enrollment.ID, scope: Scope) async throws -> ContractRecord? {
        try await store.withConnection { connection in
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

    /// The stored contract carrying one of these signature values, with its status; nil when none does.
    public func contract(carryingAnyOf signatureValues: [String]) async throws -> (id: Contract.ID, status: ContractStatus)? {
        guard !signatureValues.isEmpty else { return nil }
        var match: (id: Contract.ID, status: ContractStatus)?
        for try await (id, status) in try await store.query(
            """
            SELECT k.id, k.status FROM contract_signatures s JOIN contracts k ON k.id = s.contract_id
            WHERE s.signature_value = ANY(\(signatureValues)) ORDER BY s.position LIMIT 1
            """
        ).decode((UUID, String).self) {
            match = (Contract.ID(id), try decodeEnum(status))
        }
        return match
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
}

extension Store {
    /// Queues an evidence event in the caller's transaction, beside the change it records.
    public func enqueue(_ event: EvidenceEvent, on transaction: StoreTransaction) async throws {
        try await EvidenceQueue(store: self).enqueue(event, on: transaction.connection)
    }
}
