import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TuitionCore

/// The one definition of how much a request may send: every body is read through `Request.collectBody(upTo:)`, and
/// `BodySizeLimitMiddleware` refuses a declared `Content-Length` over the JSON cap before any route runs. Both answer
/// 413 `body_too_large`.
enum RequestBodyLimit {
    /// JSON bodies and uploaded contracts.
    static let jsonBytes = 64 * 1024
    /// The dashboard's sign-in form: a token and nothing else.
    static let formBytes = 4 * 1024
}

extension Request {
    /// The raw body, at most `limit` bytes; more is 413 `body_too_large`, never a 500.
    func collectBody(upTo limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIFailure.bodyTooLarge
        }
    }

    /// Decodes the JSON body with `JSONBody.decode`; returns the raw bytes too (idempotency digests them).
    func decodeJSON<T: Codable>(_ type: T.Type, context: AppRequestContext) async throws -> (T, ByteBuffer) {
        let buffer = try await collectBody(upTo: context.maxUploadSize)
        return (try JSONBody.decode(T.self, from: Data(buffer: buffer)), buffer)
    }
}

/// Every JSON request body goes through here, so each rule holds for every route at once:
/// 1. it is JSON (else 400 `malformed_body`);
/// 2. no string in it holds NUL, another control character (line feed and tab excepted) or a bidirectional override
///    (422 `text_has_forbidden_characters`), whatever field it is in;
/// 3. it decodes as `T`; times are RFC 3339 and, like dates, lie in 2000–2099 (else 400 `malformed_body`);
/// 4. it has no field `T` does not take (400 `unknown_field`): the request schemas say `additionalProperties: false`.
enum JSONBody {
    static func decode<T: Codable>(_ type: T.Type, from data: Data) throws -> T {
        let tree: Any
        do {
            tree = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw Problem.malformedBody("the body is not JSON")
        }
        if let path = firstForbiddenText(in: tree, path: "body") {
            throw Problem(Rejection.textHasForbiddenCharacters, detail: path)
        }
        let value: T
        do {
            value = try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw Problem.malformedBody(ProblemMiddleware<AppRequestContext>.describe(error))
        }
        let taken = try JSONSerialization.jsonObject(with: encoder.encode(value))
        if let field = firstUnknownField(sent: tree, taken: taken, path: "") {
            throw Problem(APIFailure.unknownField, detail: field)
        }
        return value
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = parseRFC3339(text), PlatformLimits.dateInWindow(BusinessDate(shanghaiDateOf: date)) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 time in 2000–2099: \(text)"))
            }
            return date
        }
        return decoder
    }()

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// The path of the first key or string value a `freeText` rule refuses.
    static func firstForbiddenText(in node: Any, path: String) -> String? {
        switch node {
        case let text as String:
            return TextRule.freeText.forbiddenScalar(in: text) == nil ? nil : path
        case let object as [String: Any]:
            for (key, value) in object {
                if TextRule.freeText.forbiddenScalar(in: key) != nil { return path }
                if let found = firstForbiddenText(in: value, path: "\(path).\(key)") { return found }
            }
            return nil
        case let array as [Any]:
            for (index, value) in array.enumerated() {
                if let found = firstForbiddenText(in: value, path: "\(path)[\(index)]") { return found }
            }
            return nil
        default:
            return nil
        }
    }

    /// The first field of `sent` that decoding did not take: a key absent once the decoded value is encoded again.
    /// A key sent as `null` is taken to mean "absent", as an optional field encodes nothing.
    static func firstUnknownField(sent: Any, taken: Any, path: String) -> String? {
        switch (sent, taken) {
        case (let sent as [String: Any], let taken as [String: Any]):
            for (key, value) in sent {
                let field = path.isEmpty ? key : "\(path).\(key)"
                guard let kept = taken[key] else {
                    if value is NSNull { continue }
                    return field
                }
                if let found = firstUnknownField(sent: value, taken: kept, path: field) { return found }
            }
            return nil
        case (let sent as [Any], let taken as [Any]) where sent.count == taken.count:
            for (index, pair) in zip(sent, taken).enumerated() {
                if let found = firstUnknownField(sent: pair.0, taken: pair.1, path: "\(path)[\(index)]") { return found }
            }
            return nil
        default:
            return nil
        }
    }
}
