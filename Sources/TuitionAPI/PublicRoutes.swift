import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QRImage
import TuitionCore
import TuitionStore
import TuitionWire

/// Where the public pages live, as people reach them (the QR code carries this address).
struct PublicAddresses: Sendable {
    /// `https://tuitionguard.example`, no trailing slash.
    let baseURL: String

    init(baseURL: String) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
    }

    static func pagePath(licenceNumber: String) -> String { "/public/institutions/\(escaped(licenceNumber))" }
    static func qrPath(licenceNumber: String) -> String { pagePath(licenceNumber: licenceNumber) + "/qr.png" }
    func pageURL(licenceNumber: String) -> String { baseURL + Self.pagePath(licenceNumber: licenceNumber) }
    func qrURL(licenceNumber: String) -> String { baseURL + Self.qrPath(licenceNumber: licenceNumber) }

    /// One path segment: everything but unreserved characters is percent-encoded (licence numbers carry Chinese).
    static func escaped(_ segment: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~")
        return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
    }
}

extension Parameters {
    /// A licence number from the path, percent-decoded.
    func licenceNumber() throws -> String {
        guard let raw = get("licenceNumber"), let text = raw.removingPercentEncoding, (1...64).contains(text.count) else {
            throw Problem.notFound
        }
        return text
    }
}

/// The public side, no token needed: an institution's page (JSON, HTML and a QR code of the page's address) and the
/// course catalog with its comparison.
struct PublicController {
    let repository: PublicRepository
    let addresses: PublicAddresses

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("v1/public/institutions/:licenceNumber", use: institution)
        router.get("public/institutions/:licenceNumber", use: institutionPage)
        router.get("public/institutions/:licenceNumber/qr.png", use: qrCode)
        router.get("v1/public/courses", use: catalog)
        router.get("v1/public/courses/compare", use: compare)
    }

    func institution(_ request: Request, context: AppRequestContext) async throws -> Response {
        let licence = try context.parameters.licenceNumber()
        let institution = try await repository.institution(licenceNumber: licence).orNotFound()
        return try JSON.response(
            PublicInstitutionBody(
                institution: institution, pageURL: addresses.pageURL(licenceNumber: licence),
                qrCodeURL: addresses.qrURL(licenceNumber: licence)))
    }

    func institutionPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try await repository.institution(licenceNumber: try context.parameters.licenceNumber()).orNotFound()
        return html(Pages.render("public-institution", publicPage(institution, addresses: addresses)))
    }

    /// Only for institutions that exist: the endpoint does not make QR codes of arbitrary text.
    func qrCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let licence = try context.parameters.licenceNumber()
        _ = try await repository.institution(licenceNumber: licence).orNotFound()
        let png = try QRCode(encoding: addresses.pageURL(licenceNumber: licence)).png()
        var headers = HTTPFields()
        headers[.contentType] = "image/png"
        headers[.cacheControl] = "public, max-age=86400"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: png)))
    }

    func catalog(_ request: Request, context: AppRequestContext) async throws -> Response {
        let cursor = try request.cursor.map { text in
            guard let cursor = CatalogCursor(String(text)) else { throw Problem.invalidParameter("cursor is not one we gave out") }
            return cursor
        }
        let page = try await repository.catalog(try request.catalogFilter(), after: cursor, limit: try request.pageLimit())
        return try JSON.response(PageBody(page))
    }

    func compare(_ request: Request, context: AppRequestContext) async throws -> Response {
        let text = request.uri.queryParameters["ids"].map(String.init) ?? ""
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard (2...5).contains(parts.count) else { throw Problem.invalidParameter("ids must name 2–5 courses, separated by commas") }
        let ids = try parts.map { part in
            guard let id = Course.ID(String(part)) else { throw Problem.invalidParameter("\(part) is not a course id") }
            return id
        }
        guard Set(ids).count == ids.count else { throw Problem.invalidParameter("ids names a course twice") }
        return try JSON.response(["items": try await repository.compare(ids).orNotFound()])
    }
}

extension Request {
    /// The catalog's filters from the query string; a value that names nothing is 400.
    func catalogFilter() throws -> CatalogFilter {
        let query = uri.queryParameters
        var filter = CatalogFilter()
        if let text = query["district"] {
            guard let code = DistrictCode(String(text)) else { throw Problem.invalidParameter("district must be a six-digit code") }
            filter.district = code
        }
        filter.category = try option("category", as: CourseCategory.self)
        filter.minPrice = try money(query["minPriceFen"], name: "minPriceFen")
        filter.maxPrice = try money(query["maxPriceFen"], name: "maxPriceFen")
        if let min = filter.minPrice, let max = filter.maxPrice, min > max {
            throw Problem.invalidParameter("minPriceFen is above maxPriceFen")
        }
        if let text = query["grade"] {
            let grades = text.split(separator: ",").map(String.init)
            guard !grades.isEmpty, grades.allSatisfy({ ["A", "B", "C", "D"].contains($0) }) else {
                throw Problem.invalidParameter("grade must be A, B, C or D, or several separated by commas")
            }
            filter.grades = grades
        }
        if let text = query["q"] {
            guard text.count <= 100 else { throw Problem.invalidParameter("q is longer than 100 characters") }
            filter.text = String(text)
        }
        return filter
    }

    private func money(_ text: Substring?, name: String) throws -> Money? {
        try text.map { text in
            guard text.isASCIIDigits, let fen = Int64(text) else { throw Problem.invalidParameter("\(name) must be a whole number of fen") }
            return Money(fen: fen)
        }
    }
}

func html(_ text: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
    var headers = extra
    headers[.contentType] = "text/html; charset=utf-8"
    // Pages carry no scripts of their own: nothing else may run on them. One policy for every page (it has `base-uri`).
    headers[.contentSecurityPolicy] = SecurityHeadersMiddleware<AppRequestContext>.contentSecurityPolicy
    headers[.xContentTypeOptions] = "nosniff"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
}

func publicPage(_ institution: PublicInstitution, addresses: PublicAddresses) -> [String: Any] {
    let reviews = institution.reviews
    return [
        "title": "\(institution.name) - 机构公示",
        "name": institution.name,
        "licenceNumber": institution.licenceNumber,
        "licenceValidUntil": institution.licenceValidUntil?.description ?? "—",
        "licenceValidityLabel": Labels.validity(institution.licenceValidity),
        "districtName": institution.districtName,
        "districtCode": institution.districtCode,
        "statusLabel": Labels.status(institution.status),
        "list": institution.list.rawValue,
        "listLabel": Labels.list(institution.list),
        "gradeText": institution.creditGrade.map { "\($0.grade) 级（\($0.points) 分）" } ?? "暂未评级",
        "modeLabel": Labels.mode(institution.supervisionMode),
        "supervisedBank": institution.supervisedBank.isEmpty ? "—" : institution.supervisedBank,
        "insurance": institution.insuranceInForce.map { policy in
            [
                "insurer": policy.insurer, "policyNumber": policy.policyNumber, "periodEnd": Labels.date(policy.periodEnd),
                "remaining": Labels.yuan(policy.remainingFen),
            ]
        },
        "reviewCount": reviews.count,
        "reviewOverall": ReviewSummary.text(reviews.overallTenths),
        "reviewTeaching": ReviewSummary.text(reviews.teachingTenths),
        "reviewEnvironment": ReviewSummary.text(reviews.environmentTenths),
        "reviewCurriculum": ReviewSummary.text(reviews.curriculumTenths),
        "qrPath": PublicAddresses.qrPath(licenceNumber: institution.licenceNumber),
        "pageURL": addresses.pageURL(licenceNumber: institution.licenceNumber),
    ]
}
