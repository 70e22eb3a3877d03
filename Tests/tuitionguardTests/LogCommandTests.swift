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
