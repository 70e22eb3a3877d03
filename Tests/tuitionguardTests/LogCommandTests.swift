import ArgumentParser
import EvidenceLog
import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@testable import tuitionguard

@Suite struct LogCommandTests {
    /// Writes what the API would serve into files, as an auditor would save them, and checks them offline.
    @Test func verifiesInclusionAndConsistencyOfflineAndRefusesTamperedFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tg-log-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("key.pem").path
        try Log.KeyGen.parse(["--out", keyFile]).run()
        #expect(throws: (any Error).self) { try Log.KeyGen.parse(["--out", keyFile]).run() }
        let signer = try LogSigner(privateKeyPEM: String(contentsOfFile: keyFile, encoding: .utf8))
        let publicKey = directory.appendingPathComponent("public.pem").path
        try signer.publicKeyPEM.write(toFile: publicKey, atomically: true, encoding: .utf8)

        let folder = Folder(url: directory)

        try await TestDatabase.withStore("logcli") { store in
            let sequencer = Sequencer(store: store, signer: signer)
            let log = EvidenceLogRepository(store: store)
            for index in 0..<3 { _ = try await World.make(store, district: "33023\(index)") }
            try await sequencer.drain()
            let older = try #require(try await log.latestHead())
            for index in 3..<7 { _ = try await World.make(store, district: "33023\(index)") }
            try await sequencer.drain()
            let newer = try #require(try await log.latestHead())
            let entry = try #require(try await log.entries(from: 2, count: 1).first)
            let proof = try await log.inclusionProof(index: 2, size: nil)
            let consistency = try await log.consistencyProof(from: older.head.size, to: newer.head.size)

            let (headFile, entryFile, proofFile) = (
                try folder.save(newer, "head.json"), try folder.save(entry, "entry.json"), try folder.save(proof, "proof.json")
            )
            try verifyInclusionRun(publicKey, headFile, entryFile, proofFile)
            try Log.VerifyConsistency.parse([
                "--public-key", publicKey, "--old-head", try folder.save(older, "old.json"), "--new-head", headFile,
                "--proof", try folder.save(consistency, "consistency.json"),
            ]).run()

            // The genuine entry and proof with another decoded `event` (or none) beside them is refused: only the
            // bytes are in the log, so the event must be the one they encode.
            let genuine = try #require(entry.event)
            var otherEvent = entry
            otherEvent.event = EvidenceEvent(
                kind: .refund, occurredAt: Date(timeIntervalSince1970: Double(genuine.occurredAtMilliseconds) / 1000),
                institution: genuine.institutionId, amount: Money(fen: 1))
            var noEvent = entry
            noEvent.event = nil
            for (name, served) in [("another event", otherEvent), ("no event", noEvent)] {
                #expect(throws: Failure.self, "\(name)") {
                    try verifyInclusionRun(publicKey, headFile, try folder.save(served, "served.json"), proofFile)
                }
                #expect(throws: Failure.self, "\(name)") { try checkedLeafHash(served) }
            }
            #expect(try checkedLeafHash(entry) == entry.leafHash)

            // A changed entry, a changed head or a head signed by another key is refused.
            var forged = entry
            forged.entry = Data("{\"forged\":true}".utf8).base64EncodedString()
            #expect(throws: Failure.self) { try verifyInclusionRun(publicKey, headFile, try folder.save(forged, "forged.json"), proofFile) }
            let bumped = SignedTreeHead(
                head: TreeHead(
                    size: newer.head.size, rootHash: newer.head.rootHash, timestampMilliseconds: newer.head.timestampMilliseconds + 1),
                signature: newer.signature)
            #expect(throws: Failure.self) {
                try verifyInclusionRun(publicKey, try folder.save(bumped, "bumped.json"), entryFile, proofFile)
            }
            let impostor = try LogSigner().sign(newer.head)
            #expect(throws: Failure.self) {
                try verifyInclusionRun(publicKey, try folder.save(impostor, "impostor.json"), entryFile, proofFile)
            }
        }
    }

    /// An entry's bytes must be one event in its canonical encoding: another encoding of the same event (white space
    /// here or there) would be a different leaf for the same event, and bytes that are no event have nothing to show.
    /// `verify-inclusion` and `audit` both read entries through `checkedLeafHash`.
    @Test func anEntryMustBeItsEventsCanonicalBytes() throws {
        let event = EvidenceEvent(
            kind: .payment, occurredAt: Date(timeIntervalSince1970: 1_795_445_024), institution: Institution.ID(UUID()),
            amount: Money(fen: 320_000), lessons: 40, reference: "payment:x")
        let canonical = event.canonicalBytes()
        /// An entry as the API serves it, read from JSON as the commands read it.
        func record(_ bytes: [UInt8], event: EvidenceEvent?) throws -> LogEntryRecord {
            let leaf = String(decoding: try JSONEncoder().encode(MerkleHasher.leafHash(bytes)), as: UTF8.self)
            let served = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
            let entry = Data(bytes).base64EncodedString()
            let times = #""queuedAt":"2026-12-05T00:00:00Z","sequencedAt":"2026-12-05T00:00:01Z""#
            let json = #"{"index":0,"entry":"\#(entry)","leafHash":\#(leaf),"event":\#(served),\#(times)}"#
            return try JSONDecoder.log.decode(LogEntryRecord.self, from: Data(json.utf8))
        }
        #expect(try checkedLeafHash(try record(canonical, event: event)) == MerkleHasher.leafHash(canonical))
        let text = String(decoding: canonical, as: UTF8.self)
        for other in [" " + text, text.replacingOccurrences(of: ",", with: ", "), text.uppercased(), #"{"forged":true}"#] {
            let bytes = Array(other.utf8)
            let served = try record(bytes, event: try? EvidenceEvent.decode(canonical: bytes))
            #expect(throws: Failure.self, "\(other)") { try checkedLeafHash(served) }
        }
    }

    /// Where the test keeps the documents, as the API serves them.
    struct Folder: Sendable {
        let url: URL

        func save(_ value: some Encodable, _ name: String) throws -> String {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            let path = url.appendingPathComponent(name).path
            try encoder.encode(value).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    func verifyInclusionRun(_ key: String, _ head: String, _ entry: String, _ proof: String) throws {
        try Log.VerifyInclusion.parse(["--public-key", key, "--head", head, "--entry", entry, "--proof", proof]).run()
    }
}
