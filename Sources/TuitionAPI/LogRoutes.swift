import EvidenceLog
import Foundation
import Hummingbird
import TuitionCore
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

    /// The latest signed head, or with `size` the head signed at that size (heads are signed at each batch's end; a
    /// size no head was signed at is 404), so a client can fetch the older head a consistency proof starts from.
    func head(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard request.uri.queryParameters["size"] != nil else { return try JSON.response(try await repository.latestHead().orNotFound()) }
        return try JSON.response(try await repository.head(size: try request.integer("size")).orNotFound())
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
        guard let text = context.parameters.get("index"), text.isASCIIDigits,
            let index = Int64(text),
            let entry = try await repository.entries(from: index, count: 1).first, entry.index == index
        else { throw Problem.notFound }
        return try JSON.response(entry)
    }

    func inclusionProof(_ request: Request, context: AppRequestContext) async throws -> Response {
        let index = try request.integer("index")
        let size = try request.uri.queryParameters["size"] == nil ? nil : request.integer("size", range: 1...Int64.max)
        return JSON.response(body: ProofJSON.body(try await repository.inclusionProof(index: index, size: size)))
    }

    /// RFC 9162 defines consistency only from a non-empty tree, and only to a tree at least as large: a reversed pair
    /// is a malformed request, whatever the log holds.
    func consistencyProof(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (from, to) = (try request.integer("from", range: 1...Int64.max), try request.integer("to", range: 1...Int64.max))
        guard from <= to else { throw Problem.invalidParameter("from must not exceed to") }
        return JSON.response(body: ProofJSON.body(try await repository.consistencyProof(from: from, to: to)))
    }
}

/// The proofs' JSON, written directly: the same bytes `JSON.encoder` makes of the records (keys in byte order, no white
/// space, hashes in padded standard base64), without `JSONEncoder`'s boxing of every value, which cost several times the
/// proof's own assembly and checking (issue #15). `ProofWireTests` holds the two to the same bytes.
enum ProofJSON {
    static func body(_ proof: InclusionProofRecord) -> ByteBuffer {
        var object = JSONObjectWriter(capacity: 64 + 47 * (proof.proof.count + 1))
        object.integer("index", proof.index)
        object.hash("leafHash", proof.leafHash)
        object.hashes("proof", proof.proof)
        object.integer("treeSize", proof.treeSize)
        return object.finish()
    }

    static func body(_ proof: ConsistencyProofRecord) -> ByteBuffer {
        var object = JSONObjectWriter(capacity: 48 + 47 * proof.proof.count)
        object.integer("from", proof.from)
        object.hashes("proof", proof.proof)
        object.integer("to", proof.to)
        return object.finish()
    }
}

/// One JSON object written member by member; the caller gives the keys in byte order, as `JSON.encoder` sorts them.
private struct JSONObjectWriter {
    private var buffer = ByteBuffer()
    private var empty = true

    init(capacity: Int) { buffer.reserveCapacity(capacity) }

    mutating func integer(_ key: StaticString, _ value: Int64) {
        self.key(key)
        buffer.writeString(String(value))
    }

    mutating func hash(_ key: StaticString, _ value: LogHash) {
        self.key(key)
        write(value)
    }

    mutating func hashes(_ key: StaticString, _ values: [LogHash]) {
        self.key(key)
        buffer.writeStaticString("[")
        for (position, value) in values.enumerated() {
            if position > 0 { buffer.writeStaticString(",") }
            write(value)
        }
        buffer.writeStaticString("]")
    }

    mutating func finish() -> ByteBuffer {
        buffer.writeStaticString(empty ? "{}" : "}")
        return buffer
    }

    /// Keys are plain ASCII names: nothing to escape.
    private mutating func key(_ key: StaticString) {
        buffer.writeStaticString(empty ? "{\"" : ",\"")
        buffer.writeStaticString(key)
        buffer.writeStaticString("\":")
        empty = false
    }

    /// A quoted base64 string: its alphabet (`A–Z a–z 0–9 + / =`) needs no escaping in JSON, and `/` is left unescaped
    /// as `JSON.encoder` leaves it.
    private mutating func write(_ hash: LogHash) {
        buffer.writeStaticString("\"")
        Base64.write(hash.bytes, to: &buffer)
        buffer.writeStaticString("\"")
    }
}

/// Standard base64 with padding (RFC 4648 §4), written into a buffer.
enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func write(_ bytes: [UInt8], to buffer: inout ByteBuffer) {
        let characters = (bytes.count + 2) / 3 * 4
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: characters) { output in
            var written = 0
            var position = 0
            func put(_ value: UInt32, _ shift: UInt32) {
                output[written] = alphabet[Int((value >> shift) & 0x3f)]
                written += 1
            }
            while position + 3 <= bytes.count {
                let value = UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2])
                put(value, 18)
                put(value, 12)
                put(value, 6)
                put(value, 0)
                position += 3
            }
            let rest = bytes.count - position
            if rest > 0 {
                let value = UInt32(bytes[position]) << 16 | (rest == 2 ? UInt32(bytes[position + 1]) << 8 : 0)
                put(value, 18)
                put(value, 12)
                if rest == 2 {
                    put(value, 6)
                } else {
                    output[written] = UInt8(ascii: "=")
                    written += 1
                }
                output[written] = UInt8(ascii: "=")
                written += 1
            }
            return written
        }
    }
}

extension Request {
    /// A non-negative integer query parameter.
    func integer(_ name: String, default fallback: Int64? = nil, range: ClosedRange<Int64> = 0...Int64.max) throws -> Int64 {
        guard let text = uri.queryParameters[Substring(name)] else {
            guard let fallback else { throw Problem.invalidParameter("\(name) is required") }
            return fallback
        }
        guard text.isASCIIDigits, let value = Int64(String(text)),
            range.contains(value)
        else {
            throw Problem.invalidParameter("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }
}
