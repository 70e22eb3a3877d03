import ContractKit
import Foundation
import TuitionCore
import TuitionStore
import TuitionWire

extension Contracts {
    /// Renders the enrollment's contract (status `draft`) from the template and the enrollment's records. A
    /// contract not yet signed by both parties is voided and replaced; a signed one, or a paid enrollment, refuses.
    /// A proposal no guardian has accepted has no guardian or student to put on a contract.
    public func generate(for enrollment: Enrollment.ID, institution: Institution.ID, terms: ContractTerms = ContractTerms())
        async throws -> ContractRecord
    {
        if try await EnrollmentRepository(store: store).isOpenProposal(enrollment, institution: institution) {
            throw Rejection.enrollmentNotAccepted
        }
        let setup = try requireSetup()
        let template = try setup.templates.template(id: terms.templateId ?? setup.defaultTemplateId, version: terms.templateVersion)
        return try await store.transaction { (transaction: StoreTransaction) in
            guard let particulars = try await rows.particulars(of: enrollment, institution: institution, on: transaction) else {
                throw NotFound()
            }
            let existing = try await rows.liveContractStatus(of: enrollment, on: transaction)
            if let rejection = checkContractGeneration(
                existing: existing, institution: particulars.institution.status, enrollmentPaid: particulars.paid.fen > 0)
            {
                throw rejection
            }
            let id = Contract.ID(store.dependencies.newID())
            let now = store.dependencies.now()
            let fields = try ContractFields(particulars: particulars, terms: terms, contract: id, generatedAt: now).bound(by: template)
            let document = try setup.templates.withRenderer(template) { try $0.render(fields) }
            let draft = ContractDraft(
                id: id, enrollmentId: enrollment, institutionId: institution, guardianId: particulars.guardianId,
                templateId: template.id, templateVersion: template.version, templateSha256: template.sha256,
                fieldsJSON: String(decoding: try JSONEncoder.sorted.encode(fields), as: UTF8.self), document: document,
                documentSha256: try sha256Hex(document), createdAt: now)
            try await rows.insert(draft, replacingLive: existing != nil, on: transaction)
            guard let record = try await rows.contract(id, scope: Scope(.institution(institution)), on: transaction) else {
                throw NotFound()
            }
            return record
        }
    }
}

/// The values a contract binds, by field path, from the enrollment's particulars and the terms given with the
/// request; a term left out gets its default.
struct ContractFields {
    let particulars: ContractParticulars
    let terms: ContractTerms
    let contract: Contract.ID
    let generatedAt: Date

    /// The values `template` binds; values it does not bind are left out, and a missing one fails rendering.
    func bound(by template: ContractTemplate) throws -> [String: String] {
        let all = try contractFields().merging(try partyFields(), uniquingKeysWith: { first, _ in first })
            .merging(serviceFields(), uniquingKeysWith: { first, _ in first })
            .merging(feeFields(), uniquingKeysWith: { first, _ in first })
        return all.filter { template.fields.contains($0.key) }.compactMapValues { $0 }
    }

    func contractFields() throws -> [String: String?] {
        let institution = particulars.institution
        let district = institution.districtCode
        return [
            "contract.number": "TG-\(district)-\(contract.uuid.uuidString.lowercased())",
            "contract.generatedOn": BusinessDate(shanghaiDateOf: generatedAt).description,
            "institution.name": institution.name, "institution.address": institution.address,
            "institution.approvingAuthority": institution.approvingAuthority ?? "行政区划代码 \(district) 教育行政部门（审批机关未登记）",
            "institution.licenceNumber": institution.licenceNumber, "institution.licenceValidUntil": institution.licenceValidUntil,
            "institution.creditCode": institution.creditCode, "institution.contact": terms.institutionContact ?? "以甲方办学场所公示为准",
        ]
    }

    func partyFields() throws -> [String: String?] {
        [
            "guardian.name": particulars.guardian.name, "guardian.contact": particulars.guardian.phone,
            "guardian.relationship": particulars.student.relationship ?? "监护人",
            "guardian.idNumberMasked": try terms.guardianIdNumber.map(Self.masked),
            "student.name": particulars.student.name, "student.school": particulars.student.school,
            "student.grade": particulars.student.grade, "student.idNumberMasked": try terms.studentIdNumber.map(Self.masked),
        ]
    }

    func serviceFields() -> [String: String?] {
        let course = particulars.course
        return [
            "service.deliveryMode": terms.deliveryMode ?? "offline", "course.category": course.category, "course.title": course.title,
            "service.classNumber": terms.classNumber, "enrollment.lessons": String(particulars.lessonsBought),
            "course.lessonMinutes": String(course.lessonMinutes), "service.lessonsPerSession": String(terms.lessonsPerSession ?? 1),
            "service.schedule": terms.schedule ?? "每周 \(course.lessonsPerWeek) 次",
            "enrollment.termStart": particulars.termStart, "enrollment.termEnd": particulars.termEnd,
            "service.classSize": terms.classSize.map(String.init), "course.teacher": course.teacher,
        ]
    }

    func feeFields() -> [String: String?] {
        let mode = particulars.supervisionMode
        let institution = particulars.institution
        return [
            "enrollment.pricePerLessonFen": String(particulars.pricePerLesson.fen), "enrollment.totalFen": String(particulars.amount.fen),
            "fees.paymentMethod": terms.paymentMethod ?? "one_off", "supervision.mode": mode.rawValue,
            "supervision.bank": mode == .escrow ? institution.supervisedBank : nil,
            "supervision.accountNumber": mode == .escrow ? institution.supervisedAccountNumber : nil,
            "supervision.reserveRatioBasisPoints": mode == .reserve ? String(institution.reserveRatioBasisPoints) : nil,
            "refunds.coolingOffDays": String(terms.coolingOffDays ?? 7),
        ]
    }

    static func masked(_ number: String) throws -> String {
        guard let masked = maskIdentityNumber(number) else { throw Rejection.identityNumberInvalid }
        return masked
    }
}
