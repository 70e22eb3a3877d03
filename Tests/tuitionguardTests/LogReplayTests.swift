import EvidenceLog
import Foundation
import Testing
import TuitionCore

@testable import TuitionStore
@testable import tuitionguard

/// `log audit --state`: a log rolled back and written again is caught even under heads the log's own key signed.
@Suite struct LogReplayTests {
    let signer = LogSigner()

    func entries(_ references: [String]) -> [LogEntryRecord] {
        references.enumerated().map { index, reference in
            let bytes = EvidenceEvent(
                kind: .institutionRegistered, occurredAt: Date(timeIntervalSince1970: 1_800_000_000), institution: .init(UUID()),
                reference: reference
            ).canonicalBytes()
            return LogEntryRecord(
                index: Int64(index), entry: Data(bytes).base64EncodedString(), leafHash: MerkleHasher.leafHash(bytes),
                event: try? EvidenceEvent.decode(canonical: bytes), queuedAt: Date(), sequencedAt: Date())
        }
    }

    func head(_ entries: [LogEntryRecord], signer: LogSigner? = nil) throws -> SignedTreeHead {
        var range = CompactRange()
        _ = range.append(leafHashes: entries.map(\.leafHash))
        return try (signer ?? self.signer).sign(TreeHead(size: Int64(entries.count), rootHash: range.root, timestampMilliseconds: 0))
    }

    func replay(_ entries: [LogEntryRecord], previous: SignedTreeHead?) throws {
        var replay = try LogReplay(head: try head(entries), previous: previous, verifier: signer.verifier)
        for entry in entries { try replay.append(entry) }
        try replay.finish()
    }

    func shifted(by offset: Int64) -> (LogEntryRecord) -> LogEntryRecord {
        { entry in
            var entry = entry
            entry.index += offset
            return entry
        }
    }

    func refusal(_ work: () throws -> Void) -> String {
        do { try work() } catch { return "\(error)" }
        return "verified"
    }

    @Test func aLogThatStillBeginsWithTheHeadVerifiedBeforePasses() throws {
        let log = entries((0..<10).map { "L\($0)" })
        try replay(log, previous: try head(Array(log.prefix(4))))
        try replay(log, previous: try head(log))
        try replay(log, previous: nil)
    }

    @Test func aLogRolledBackOrRewrittenFailsThoughItsOwnKeySignedIt() throws {
        let log = entries((0..<10).map { "L\($0)" })
        let verified = try head(Array(log.prefix(6)))
        // Rolled back to 3 entries and not yet grown past the head verified before.
        #expect(refusal { try replay(Array(log.prefix(3)), previous: verified) }.contains("rolled back"))
        // Rolled back to 3 entries and written again to 10, every head signed with the log's key.
        let rewritten = Array(log.prefix(3)) + entries((3..<10).map { "X\($0)" }).map(shifted(by: 3))
        #expect(refusal { try replay(rewritten, previous: verified) }.contains("rewritten"))
        // The same size, another root.
        #expect(refusal { try replay(Array(rewritten.prefix(6)), previous: verified) }.contains("rewritten"))
        // A kept head that is not this log's.
        #expect(refusal { try replay(log, previous: try head(Array(log.prefix(6)), signer: LogSigner())) }.contains("not this log's"))
    }
}
