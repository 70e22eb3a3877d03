import ArgumentParser
import EvidenceLog
import Foundation
import TuitionAPI
import TuitionCore
import TuitionStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The evidence log: make its signing key, and verify heads and proofs offline with its public key.",
        subcommands: [
            KeyGen.self, Sequence.self, VerifyInclusion.self, VerifyConsistency.self, AuditLog.self, Reconcile.self, ProofBench.self,
        ])

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: """
                Compare the ledger in DATABASE_URL with its evidence log: every movement, lesson record and policy has \
                exactly one event with its amount, and every money event names a movement; exit 1 on any difference.
                """)

        func run() async throws {
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.log.reconcile", level: configuration.logLevel)
            let breaches = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                try await LedgerLogReconciliation(store: store).breaches()
            }
            guard breaches.isEmpty else {
                for breach in breaches { print(breach) }
                throw ExitCode(1)
            }
            print("reconciled: the ledger and the evidence log agree")
        }
    }

    struct KeyGen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen", abstract: "Write a new P-256 log signing key (PEM) to --out; print its public key.")

        @Option(help: "Where to write the private key (refuses to overwrite).") var out: String

        func run() throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) exists; not overwriting a log key") }
            let signer = LogSigner()
            guard
                FileManager.default.createFile(
                    atPath: out, contents: Data(signer.privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw ValidationError("cannot write \(out)")
            }
            print(signer.publicKeyPEM)
        }
    }

    struct Sequence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sequence every queued event now (the service does this continuously) and print the rate.")

        @Option(help: "Events per batch (one transaction and one signed head per batch).") var batchSize: Int = 2_000

        func run() async throws {
            let configuration = try AppConfiguration.fromEnvironment()
            guard let keyPath = configuration.logKeyPath else { throw ConfigurationError.missing("TUITIONGUARD_LOG_KEY_FILE") }
            let signer = try LogSigner(privateKeyPEM: String(contentsOfFile: keyPath, encoding: .utf8))
            let logger = makeLogger("tuitionguard.log", level: configuration.logLevel)
            let batchSize = batchSize
            let (count, seconds) = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                let clock = ContinuousClock()
                var count = 0
                let elapsed = try await clock.measure {
                    count = try await Sequencer(store: store, signer: signer, batchSize: batchSize).drain()
                }
                return (count, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            let rate = seconds > 0 ? Double(count) / seconds : 0
            print("sequenced \(count) events in \(String(format: "%.2f", seconds)) s: \(Int(rate)) events/s")
        }
    }

    /// `tools/bench log` runs this beside its HTTP load: the database side of a proof, measured where it is made.
    struct ProofBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "proof-bench",
            abstract: "Make random inclusion and consistency proofs against the latest head, one at a time; print latency and queries.",
            discussion: "Prints one RESULT line per proof kind: p50 and p99 in milliseconds and the database queries per proof.")

        @Option(help: "Proofs of each kind.") var samples: Int = 2_000

        func run() async throws {
            guard samples > 0 else { throw ValidationError("--samples must be positive") }
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.log", level: configuration.logLevel)
            let samples = samples
            try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                let log = EvidenceLogRepository(store: store)
                guard let size = try await log.latestHead()?.head.size, size > 0 else { throw Failure("the log is empty") }
                try await measure("inclusion", samples) { _ = try await log.inclusionProof(index: Int64.random(in: 0..<size), size: size) }
                try await measure("consistency", samples) { _ = try await log.consistencyProof(from: Int64.random(in: 1...size), to: size) }
            }
        }

        private func measure(_ kind: String, _ samples: Int, _ proof: () async throws -> Void) async throws {
            let counter = RoundTripCounter()
            let clock = ContinuousClock()
            var milliseconds: [Double] = []
            try await RoundTripCounter.$current.withValue(counter) {
                for _ in 0..<samples {
                    let elapsed = try await clock.measure { try await proof() }
                    milliseconds.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
                }
            }
            milliseconds.sort()
            func percentile(_ p: Double) -> Double { milliseconds[min(milliseconds.count - 1, Int(Double(milliseconds.count) * p))] }
            print(
                String(
                    format: "RESULT kind=%@ proofs=%d p50_ms=%.2f p99_ms=%.2f queries_per_proof=%.2f", kind, samples, percentile(0.5),
                    percentile(0.99), Double(counter.value) / Double(samples)))
        }
    }

    struct VerifyInclusion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-inclusion",
            abstract: "Check that an entry is in the log: the head's signature, the entry's leaf hash and the inclusion proof.",
            discussion:
                "Inputs are the JSON documents the API serves at /v1/log/head, /v1/log/entries/{index} and /v1/log/proofs/inclusion.")

        @Option(help: "The log's public key (PEM).") var publicKey: String
        @Option(help: "A signed tree head (JSON).") var head: String
        @Option(help: "The log entry (JSON).") var entry: String
        @Option(help: "The inclusion proof (JSON).") var proof: String

        func run() throws {
            let verifier = try LogVerifier(publicKeyPEM: String(contentsOfFile: publicKey, encoding: .utf8))
            let signed: SignedTreeHead = try readJSON(head)
            let entryRecord: LogEntryRecord = try readJSON(entry)
            let proofRecord: InclusionProofRecord = try readJSON(proof)
            try check(verifier.verify(signed), "the tree head's signature is not the log's")
            let leaf = try checkedLeafHash(entryRecord)
            try check(leaf == proofRecord.leafHash, "the entry's bytes do not hash to the proof's leaf")
            try check(
                proofRecord.index == entryRecord.index, "the proof is for index \(proofRecord.index), the entry is \(entryRecord.index)")
            try check(
                proofRecord.treeSize == signed.head.size,
                "the proof is for tree size \(proofRecord.treeSize), the head is \(signed.head.size)")
            try check(
                verifyInclusion(
                    leafHash: leaf, index: proofRecord.index, size: proofRecord.treeSize, proof: proofRecord.proof,
                    root: signed.head.rootHash),
                "the inclusion proof does not lead to the signed root")
            print("verified: entry \(entryRecord.index) is in the log of size \(signed.head.size) (root \(signed.head.rootHash.hex))")
        }
    }

    struct VerifyConsistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-consistency",
            abstract: "Check that a newer signed head extends an older one without rewriting it.")

        @Option(help: "The log's public key (PEM).") var publicKey: String
        @Option(help: "The older signed tree head (JSON).") var oldHead: String
        @Option(help: "The newer signed tree head (JSON).") var newHead: String
        @Option(help: "The consistency proof (JSON).") var proof: String

        func run() throws {
            let verifier = try LogVerifier(publicKeyPEM: String(contentsOfFile: publicKey, encoding: .utf8))
            let old: SignedTreeHead = try readJSON(oldHead)
            let new: SignedTreeHead = try readJSON(newHead)
            let proofRecord: ConsistencyProofRecord = try readJSON(proof)
            try check(verifier.verify(old) && verifier.verify(new), "a tree head's signature is not the log's")
            try check(proofRecord.from == old.head.size && proofRecord.to == new.head.size, "the proof is not between these two heads")
            try check(
                verifyConsistency(
                    from: old.head.size, to: new.head.size, proof: proofRecord.proof, fromRoot: old.head.rootHash, toRoot: new.head.rootHash
                ),
                "the newer head does not extend the older one")
            print("verified: the log of size \(new.head.size) extends the log of size \(old.head.size)")
        }
    }

    struct AuditLog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit", abstract: "Re-read the whole log from a TuitionGuard service and recompute its signed root.",
            discussion: """
                With --state, the head verified last time is kept in that file, and each run also proves the log still \
                begins with it: a log rolled back and written again, even under heads signed with the log's own key, \
                fails. Keep one state file per log, where the log's operator cannot write.
                """)

        @Option(help: "The service's base URL.") var url: String = "http://127.0.0.1:8080"
        @Option(help: "The log's public key (PEM).") var publicKey: String
        @Option(help: "A file keeping the last verified head (JSON), created on the first run.") var state: String?

        func run() async throws {
            let verifier = try LogVerifier(publicKeyPEM: String(contentsOfFile: publicKey, encoding: .utf8))
            let previous: SignedTreeHead? = try state.flatMap { FileManager.default.fileExists(atPath: $0) ? try readJSON($0) : nil }
            let (headBytes, signed): (Data, SignedTreeHead) = try await fetch("/v1/log/head")
            var replay = try LogReplay(head: signed, previous: previous, verifier: verifier)
            var next: Int64? = 0
            while let start = next, start < signed.head.size {
                // Bounded by the head fetched above: entries the log appends meanwhile belong to a later head.
                let (_, page): (Data, EntriesPage) = try await fetch("/v1/log/entries?start=\(start)&count=1000&end=\(signed.head.size)")
                for entry in page.entries.prefix(while: { $0.index < signed.head.size }) { try replay.append(entry) }
                next = page.next
                if page.entries.isEmpty { break }
            }
            try replay.finish()
            if let state { try headBytes.write(to: URL(fileURLWithPath: state), options: .atomic) }
            print("audited: \(signed.head.size) entries; recomputed root \(signed.head.rootHash.hex) matches the signed head")
            if let previous { print("and the log still begins with the \(previous.head.size) entries verified before") }
        }

        struct EntriesPage: Decodable {
            let entries: [LogEntryRecord]
            let next: Int64?
        }

        /// The document at `path`, as served and decoded.
        func fetch<T: Decodable>(_ path: String) async throws -> (Data, T) {
            guard let target = URL(string: url + path) else { throw ValidationError("bad --url") }
            let (data, response) = try await URLSession.shared.data(from: target)
            guard (response as? HTTPURLResponse)?.statusCode == 200 else {
                throw Failure("\(path) answered \(String(decoding: data, as: UTF8.self))")
            }
            return (data, try JSONDecoder.log.decode(T.self, from: data))
        }
    }
}

/// A signed head's root recomputed from the log's entries, read in order from the first; with a head verified before
/// (`previous`), also the proof that the log still begins with that tree: no smaller now, and its first entries hashing
/// to the same root. A consistency proof from the log would show the same, but the entries are read here anyway.
struct LogReplay {
    let head: SignedTreeHead
    let previous: SignedTreeHead?
    private var range = CompactRange()

    init(head: SignedTreeHead, previous: SignedTreeHead?, verifier: LogVerifier) throws {
        try check(verifier.verify(head), "the tree head's signature is not the log's")
        if let previous {
            try check(verifier.verify(previous), "the head kept from before is not this log's")
            try check(
                head.head.size >= previous.head.size,
                "the log has \(head.head.size) entries, fewer than the \(previous.head.size) verified before: it was rolled back")
        }
        self.head = head
        self.previous = previous
    }

    mutating func append(_ entry: LogEntryRecord) throws {
        try check(entry.index == range.size, "entry \(entry.index) arrived out of order")
        _ = range.append(leafHashes: [try checkedLeafHash(entry)])
        if let previous, range.size == previous.head.size {
            try check(
                range.root == previous.head.rootHash,
                "the first \(previous.head.size) entries no longer hash to the root verified before: the log was rewritten")
        }
    }

    func finish() throws {
        try check(range.size == head.head.size, "read \(range.size) entries, the head says \(head.head.size)")
        try check(range.root == head.head.rootHash, "the recomputed root differs from the signed root")
    }
}

/// The leaf hash of a served entry, once its bytes are known to be one event in its canonical encoding and the served
/// `event` to be that event. Only the bytes are hashed into the log: `event` is a copy decoded by the server, and
/// `queuedAt` and `sequencedAt` are its word alone, covered by nothing the log signs.
func checkedLeafHash(_ record: LogEntryRecord) throws -> LogHash {
    guard let data = Data(base64Encoded: record.entry) else { throw Failure("entry \(record.index) is not base64") }
    let bytes = [UInt8](data)
    let event = try? EvidenceEvent.decode(canonical: bytes)
    try check(event?.canonicalBytes() == bytes, "entry \(record.index) is not an event in its canonical encoding")
    try check(record.event == event, "entry \(record.index): the served event is not the one its bytes encode")
    let leaf = MerkleHasher.leafHash(bytes)
    try check(leaf == record.leafHash, "entry \(record.index) does not hash to its leaf hash")
    return leaf
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func check(_ condition: Bool, _ failure: @autoclosure () -> String) throws {
    if !condition { throw Failure("NOT VERIFIED: " + failure()) }
}

extension JSONDecoder {
    /// Decodes what the API encodes: ISO 8601 dates.
    static let log: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

func readJSON<T: Decodable>(_ path: String) throws -> T {
    try JSONDecoder.log.decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
}
