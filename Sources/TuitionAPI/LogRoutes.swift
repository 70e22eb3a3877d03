import EvidenceLog
import Foundation
import Hummingbird
import TuitionStore

struct LogEntriesPage: Encodable, Sendable {
    let entries: [LogEntryRecord]
    /// The index to ask for next, or null at the end: the `end` asked for, or the latest signed tree's size.
    let next: Int64?
}

/// The public evidence log: anyone may read the signed head, entries and proofs, and check them offline
/// with the public key alone.
struct LogController {
    let repository: EvidenceLogRepository
    let publicKeyPEM: String

    func addRoutes(to router: Router<AppRequestContext>) {
        let log = router.group("v1/log")
        log.get("head", use: head)
        log.get("public-key", use: publicKey)
        log.get("entries", use: entries)
        log.get("entries/:index", use: entry)
        log.get("proofs/inclusion", use: inclusionProof)
        log.get("proofs/consistency", use: consistencyProof)
    }

    func head(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await repository.latestHead().orNotFound())
    }

    func publicKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/x-pem-file"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: publicKeyPEM)))
    }

    /// `end` (exclusive: the size of the tree head the client holds) bounds the page, so a client auditing one head never
    /// reads an entry the log appended after it; without it, the latest signed head bounds it.
    func entries(_ request: Request, context: AppRequestContext) async throws -> Response {
        let start = try request.integer("start", default: 0)
        let count = try request.integer("count", default: 100, range: 1...1_000)
        let latest = try await repository.latestHead()?.head.size ?? 0
        let end = try request.uri.queryParameters["end"] == nil ? latest : min(request.integer("end"), latest)
        let entries = start < end ? try await repository.entries(from: start, count: Int(min(count, end - start))) : []
        let next = entries.last.map { $0.index + 1 }.flatMap { $0 < end ? $0 : nil }
        return try JSON.response(LogEntriesPage(entries: entries, next: next))
    }

    func entry(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let text = context.parameters.get("index"), let index = Int64(text), index >= 0,
            let entry = try await repository.entries(from: index, count: 1).first, entry.index == index
        else { throw Problem.notFound }
        return try JSON.response(entry)
    }

    func inclusionProof(_ request: Request, context: AppRequestContext) async throws -> Response {
        let index = try request.integer("index")
        let size = try request.uri.queryParameters["size"] == nil ? nil : request.integer("size")
        return try JSON.response(try await repository.inclusionProof(index: index, size: size))
    }

    /// RFC 9162 defines consistency only from a non-empty tree.
    func consistencyProof(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (from, to) = (try request.integer("from", range: 1...Int64.max), try request.integer("to", range: 1...Int64.max))
        return try JSON.response(try await repository.consistencyProof(from: from, to: to))
    }
}

extension Request {
    /// A non-negative integer query parameter.
    func integer(_ name: String, default fallback: Int64? = nil, range: ClosedRange<Int64> = 0...Int64.max) throws -> Int64 {
        guard let text = uri.queryParameters[Substring(name)] else {
            guard let fallback else { throw Problem.invalidParameter("\(name) is required") }
            return fallback
        }
        guard let value = Int64(String(text)), range.contains(value) else {
            throw Problem.invalidParameter("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }
}
