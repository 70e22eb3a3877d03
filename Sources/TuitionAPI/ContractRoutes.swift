import ContractKit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Contracts: the institution generates and signs, the guardian countersigns, the regulator reads; anyone may
/// verify a document and fetch the platform CA certificate and revocation list. Private keys never leave the store.
struct ContractController {
    let contracts: Contracts
    let certificates: Certificates
    let districts: DistrictProfileRepository
    let keyEncryptionKey: KeyEncryptionKey?

    init(store: Store, setup: ContractSetup?) {
        self.contracts = Contracts(store: store, setup: setup)
        self.certificates = Certificates(store: store)
        self.districts = DistrictProfileRepository(store: store)
        self.keyEncryptionKey = setup?.keyEncryptionKey
    }

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("enrollments/:id/contract", use: generate)
        v1.get("enrollments/:id/contract", use: contractOfEnrollment)
        v1.get("contracts/:id", use: contract)
        v1.get("contracts/:id/document", use: document)
        v1.get("contracts/:id/html", use: htmlView)
        v1.post("contracts/:id/institution-signature", use: signAsInstitution)
        v1.post("contracts/:id/guardian-signature", use: countersign)
        v1.post("contract-verifications", use: verify)
        v1.get("ca/certificate", use: authorityCertificate)
        v1.get("ca/crl", use: revocationList)
        v1.get("district", use: districtProfile)
        v1.put("district", use: setApprovingAuthority)
    }

    func generate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try context.institution()
        let id: Enrollment.ID = try context.parameters.id("id")
        let terms = try await request.decodeOptionalJSON(ContractTerms.self, context: context) ?? ContractTerms()
        return try JSON.response(try await contracts.generate(for: id, institution: institution, terms: terms), status: .created)
    }

    func contractOfEnrollment(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(
            try await contracts.contract(ofEnrollment: try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func contract(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await contracts.contract(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func document(_ request: Request, context: AppRequestContext) async throws -> Response {
        let document = try await contracts.document(try context.parameters.id("id"), scope: try context.scope).orNotFound()
        return Response(
            status: .ok, headers: [.contentType: "application/xml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
    }

    func htmlView(_ request: Request, context: AppRequestContext) async throws -> Response {
        let document = try await contracts.document(try context.parameters.id("id"), scope: try context.scope).orNotFound()
        let lines = ContractSignatureLines.lines(try await contracts.verify(document))
        let html = ContractHTML.render(try XMLDocument.parse(document), signatures: lines)
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func signAsInstitution(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try context.institution()
        let id: Contract.ID = try context.parameters.id("id")
        let algorithm = try await request.signingAlgorithm(context: context)
        return try JSON.response(try await contracts.signAsInstitution(id, institution: institution, algorithm: algorithm))
    }

    func countersign(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        let id: Contract.ID = try context.parameters.id("id")
        let algorithm = try await request.signingAlgorithm(context: context)
        return try JSON.response(try await contracts.countersign(id, guardian: guardian, algorithm: algorithm))
    }

    /// Public: anyone checks a contract document against the platform CA.
    func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let bytes = try await request.collectBody(context: context)
        return try JSON.response(try await contracts.verify(bytes))
    }

    func authorityCertificate(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let certificate = try await certificates.authorityCertificate() else { throw CertificateAuthorityNotInitialised() }
        return Response(
            status: .ok, headers: [.contentType: "application/x-pem-file"],
            body: .init(byteBuffer: ByteBuffer(string: certificate.pemRepresentation)))
    }

    func revocationList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let kek = keyEncryptionKey else { throw ContractsNotConfigured() }
        guard let crl = try await certificates.revocationList(kek: kek) else { throw CertificateAuthorityNotInitialised() }
        return Response(
            status: .ok, headers: [.contentType: "application/x-pem-file", .cacheControl: "max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: crl)))
    }

    /// The district's approving authority (审批机关), which contracts name for 甲方; set by its regulator.
    func districtProfile(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await districts.profile(try context.regulatorDistrict()))
    }

    func setApprovingAuthority(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let (body, _) = try await request.decodeJSON(DistrictProfile.Update.self, context: context)
        return try JSON.response(try await districts.setApprovingAuthority(body.approvingAuthority, district: district))
    }
}

/// The HTML view's lines about the signatures: party, signer, serial, algorithm by name, the timestamp's time in
/// Asia/Shanghai to the millisecond ("未知" when unknown), a revoked certificate as such, and the outcome.
enum ContractSignatureLines {
    static func lines(_ verification: ContractVerification) -> [String] {
        var lines = verification.signatures.map { signature in
            let party = signature.position == 0 ? "甲方签名" : "乙方签名"
            let outcome = signature.failures.isEmpty ? "验证通过" : "验证未通过：\(signature.failures.joined(separator: "；"))"
            let revoked = signature.certificateRevokedAt.map { "，证书已于 \(shanghai($0)) 吊销" } ?? ""
            return "\(party)：\(signature.signer ?? "未知签名人")，证书序列号 \(signature.certificateSerial ?? "无")\(revoked)，"
                + "\(signature.algorithm ?? "算法未知")，签署时间（时间戳，北京时间）\(signature.signingTime.map(shanghai) ?? "未知")，\(outcome)"
        }
        if let failure = verification.firstFailure, verification.signatures.allSatisfy({ $0.failures.isEmpty }) {
            lines.append("合同验证未通过：\(failure)")
        }
        return lines
    }

    /// `2026-12-03T13:05:15.123Z` as `2026-12-03 21:05:15.123`, Beijing time (UTC+8, no daylight saving).
    static func shanghai(_ utc: String) -> String {
        guard let date = parseRFC3339(utc) else { return utc }
        return String(XAdESTime.format(date.addingTimeInterval(8 * 3600)).dropLast().replacingOccurrences(of: "T", with: " "))
    }
}

extension Request {
    /// The raw body, up to the context's upload limit.
    func collectBody(context: AppRequestContext) async throws -> [UInt8] {
        Array(buffer: try await collectBody(upTo: context.maxUploadSize))
    }

    /// A JSON body that may be left out (empty): nil then.
    func decodeOptionalJSON<T: Codable>(_ type: T.Type, context: AppRequestContext) async throws -> T? {
        let bytes = try await collectBody(context: context)
        guard bytes.contains(where: { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }) else { return nil }
        return try JSONBody.decode(T.self, from: Data(bytes))
    }

    /// `{"algorithm": "ecdsa-p256" | "rsa-2048"}`, or P-256 when the body is empty.
    func signingAlgorithm(context: AppRequestContext) async throws -> KeyAlgorithm {
        guard let name = try await decodeOptionalJSON(SignatureBody.self, context: context)?.algorithm else { return .ecdsaP256 }
        guard let algorithm = KeyAlgorithm(rawValue: name) else { throw Problem.malformedBody("algorithm: ecdsa-p256 or rsa-2048") }
        return algorithm
    }
}
