import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// A licence number as one percent-encoded path segment (licence numbers carry Chinese characters).
func pathSegment(_ text: String) -> String {
    text.addingPercentEncoding(
        withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"))!
}

/// A response with its headers and raw bytes, for pages, images and cookies.
struct RawReply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let bytes: [UInt8]
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

extension API {
    func raw(_ method: HTTPRequest.Method, _ path: String, headers: HTTPFields = [:], body: String? = nil) async throws -> RawReply {
        let response = try await client.executeRequest(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return RawReply(status: response.status, headers: response.headers, bytes: Array(buffer: response.body))
    }
}

@Suite struct PublicAPITests {
    @Test func thePublicRecordShowsStandingByLicenceNumberAndNoInternalIds() async throws {
        try await API.run("public_record") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            let a = try await api.call(.get, "/v1/public/institutions/\(pathSegment(district.a.institution.licenceNumber))")
            #expect(a.status == .ok, "\(a.body)")
            #expect(
                a.string("name") == district.a.institution.name && a.string("list") == "white" && a.string("supervisionMode") == "escrow")
            #expect(a.string("supervisedBank") == "宁波银行" && a.string("licenceValidity") == "valid" && a.string("districtName") == "测试区")
            let grade = a.json["creditGrade"] as? [String: Any]
            #expect(grade?["grade"] as? String == "A" && grade?["points"] as? Int == 92)
            let reviews = a.json["reviews"] as? [String: Any]
            #expect(reviews?["count"] as? Int == 1 && reviews?["overallTenths"] as? Int == 43 && reviews?["teachingTenths"] as? Int == 50)
            #expect((a.json["insuranceInForce"] as? [Any])?.isEmpty == true)
            #expect(a.string("pageUrl") == "http://127.0.0.1:8080/public/institutions/\(pathSegment(district.a.institution.licenceNumber))")
            #expect(a.string("qrCodeUrl") == a.string("pageUrl") + "/qr.png")
            for id in [district.a.institution.id.description, district.a.course.id.description, district.a.guardian.description] {
                #expect(!a.body.contains(id))
            }
            #expect(!a.body.contains(district.a.institution.supervisedAccountNumber))

            let b = try await api.call(.get, "/v1/public/institutions/\(pathSegment(district.b.institution.licenceNumber))")
            let policies = b.json["insuranceInForce"] as? [[String: Any]] ?? []
            #expect(b.string("list") == "white" && b.string("status") == "warned" && b.string("supervisionMode") == "reserve")
            #expect(
                policies.count == 1 && policies.first?["insurer"] as? String == "测试财险" && policies.first?["remainingFen"] as? Int == 200_000
            )
            let d = try await api.call(.get, "/v1/public/institutions/\(pathSegment(district.d.licenceNumber))")
            #expect(d.string("list") == "black" && (d.json["creditGrade"] as? [String: Any])?["grade"] as? String == "D")
            let c = try await api.call(.get, "/v1/public/institutions/\(pathSegment(district.c.licenceNumber))")
            #expect(c.string("list") == "neither" && c.json["creditGrade"] == nil, "an ungraded institution has no creditGrade")

            let unknown = try await api.call(.get, "/v1/public/institutions/\(pathSegment("教民0000"))")
            #expect(unknown.status == .notFound && unknown.code == "not_found")
            let tooLong = try await api.call(.get, "/v1/public/institutions/\(String(repeating: "x", count: 65))")
            #expect(tooLong.status == .notFound)
        }
    }

    @Test func thePublicPageCarriesAQRCodeThatDecodesToItsOwnAddress() async throws {
        let zbarimg = try requireExecutable("zbarimg", debianPackage: "zbar-tools")
        try await API.run("public_page") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            let licence = pathSegment(district.a.institution.licenceNumber)
            let page = try await api.raw(.get, "/public/institutions/\(licence)")
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains(district.a.institution.name) && page.text.contains("白名单") && page.text.contains("A 级（92 分）"))
            #expect(page.text.contains("资金存管") && page.text.contains(#"data-field="review-overall">4.3<"#))
            #expect(page.text.contains(#"<img src="/public/institutions/\#(licence)/qr.png""#))
            let black = try await api.raw(.get, "/public/institutions/\(pathSegment(district.d.licenceNumber))")
            #expect(black.text.contains(#"class="text list-black" data-field="list">黑名单<"#))

            let qr = try await api.raw(.get, "/public/institutions/\(licence)/qr.png")
            #expect(qr.status == .ok && qr.headers[.contentType] == "image/png")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("public-qr-\(UUID().uuidString).png")
            try Data(qr.bytes).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let decoded = try runExecutable(zbarimg, ["--quiet", "--raw", "-Sbinary", file.path])
            #expect(decoded.status == 0, "\(decoded.errors)")
            #expect(decoded.output.trimmingCharacters(in: .newlines) == "http://127.0.0.1:8080/public/institutions/\(licence)")
            #expect(try await api.raw(.get, "/public/institutions/\(pathSegment("教民0000"))/qr.png").status == .notFound)
        }
    }

    @Test func theCatalogFiltersByDistrictCategoryPriceAndGradeAndPagesCheapestFirst() async throws {
        try await API.run("catalog") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            // A blacklisted institution's course (district.dCourse, ¥50 academic) is not in the catalog.
            let other = try await World.make(api.store, district: "330205", pricePerLessonFen: 9_000)
            func titles(_ query: String) async throws -> [String] {
                let reply = try await api.call(.get, "/v1/public/courses?\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.body)")
                return reply.items.map { "\(($0["institution"] as? [String: Any])?["licenceNumber"] as? String ?? "")" }
            }
            let (a, b, o) = (district.a.institution.licenceNumber, district.b.institution.licenceNumber, other.institution.licenceNumber)
            #expect(try await titles("district=330299") == [a, b])
            #expect(try await titles("") == [a, o, b])
            #expect(try await titles("grade=A") == [a])
            #expect(try await titles("grade=A,C") == [a, b])
            #expect(try await titles("minPriceFen=8500&maxPriceFen=9500") == [o])
            #expect(try await titles("category=academic").isEmpty)
            #expect(try await titles("q=\(pathSegment("数学"))&district=330299") == [a, b])
            #expect(try await titles("q=\(pathSegment("王老师"))") == [a, o, b])

            let first = try await api.call(.get, "/v1/public/courses?limit=2")
            #expect(first.items.count == 2)
            let cursor = try #require(first.json["nextCursor"] as? String)
            let second = try await api.call(.get, "/v1/public/courses?limit=2&cursor=\(cursor)")
            #expect(second.items.count == 1 && second.json["nextCursor"] is NSNull)
            let item = try #require(first.items.first)
            #expect(
                item["teacher"] as? String == "王老师" && item["pricePerLessonFen"] as? Int == 8_000 && item["lessonsPerWeek"] as? Int == 2)
            #expect((item["reviews"] as? [String: Any])?["count"] as? Int == 1)

            for bad in [
                "grade=E", "minPriceFen=-1", "minPriceFen=9&maxPriceFen=8", "district=33", "category=music", "cursor=nope", "limit=0",
            ] {
                let reply = try await api.call(.get, "/v1/public/courses?\(bad)")
                #expect(reply.status == .badRequest && reply.code == "invalid_parameter", "\(bad): \(reply.body)")
            }
        }
    }

    @Test func coursesCompareSideBySideInTheOrderAsked() async throws {
        try await API.run("compare") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            let blacklisted = district.dCourse
            let (a, b) = (district.a.course.id.description, district.b.course.id.description)
            let reply = try await api.call(.get, "/v1/public/courses/compare?ids=\(b),\(a)")
            #expect(reply.status == .ok)
            #expect(reply.items.map { $0["courseId"] as? String } == [b, a])
            #expect(reply.items.map { $0["pricePerLessonFen"] as? Int } == [10_000, 8_000])
            #expect(reply.items.map { ($0["institution"] as? [String: Any])?["creditGrade"] as? String } == ["C", "A"])
            #expect(try await api.call(.get, "/v1/public/courses/compare?ids=\(a),\(blacklisted.id)").status == .notFound)
            for bad in ["ids=\(a)", "ids=\(a),\(a)", "ids=\(a),nope", "", "ids=\(a),\(b),\(a),\(b),\(a),\(b)"] {
                let reply = try await api.call(.get, "/v1/public/courses/compare?\(bad)")
                #expect(reply.status == .badRequest && reply.code == "invalid_parameter", "\(bad): \(reply.body)")
            }
        }
    }
}
