import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// One home for ids (issue #14): the ids SQL makes in bulk (`uuid_v7_at`, sql/0015) have the layout of the core's
/// `UUID.timeOrdered`: the same 48-bit millisecond prefix for the same instant, version 7, variant 10.
@Suite struct IdentifierStoreTests {
    static func bytes(_ id: UUID) -> [UInt8] { withUnsafeBytes(of: id.uuid) { Array($0) } }

    @Test func sqlIdsHaveTheCoresLayoutAtTheSameInstant() async throws {
        try await TestDatabase.withStore("identifiers") { store in
            var random = SeededGenerator(state: 20_261_204)
            for _ in 0..<200 {
                // Instants with microseconds, from 2000 to 2099, and the exact millisecond boundaries.
                let microseconds = Int64.random(in: 946_684_800_000_000...4_102_444_799_999_999, using: &random)
                let instants = [microseconds, microseconds / 1000 * 1000]
                for micros in instants {
                    let instant = Date(timeIntervalSince1970: TimeInterval(micros) / 1_000_000)
                    let rows = try await store.query(
                        "SELECT uuid_v7_at(to_timestamp(\(micros)::numeric / 1000000)), uuid_v7_at(to_timestamp(\(micros)::numeric / 1000000))"
                    )
                    for try await (first, second) in rows.decode((UUID, UUID).self) {
                        let core = Self.bytes(UUID.timeOrdered(milliseconds: UInt64(micros / 1000)))
                        let sql = Self.bytes(first)
                        #expect(Array(sql[0..<6]) == Array(core[0..<6]), "\(instant): \(first)")
                        #expect(sql[6] >> 4 == 7 && sql[8] >> 6 == 0b10, "\(first) is not version 7, variant 10")
                        #expect(first != second)
                    }
                }
            }
        }
    }

    @Test func theWallClockFormIsTheSameLayout() async throws {
        try await TestDatabase.withStore("identifierswall") { store in
            let before = UInt64(Date().timeIntervalSince1970 * 1000)
            let rows = try await store.query("SELECT uuid_v7()")
            for try await id in rows.decode(UUID.self) {
                let sql = Self.bytes(id)
                let milliseconds = sql[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                #expect(milliseconds >= before && milliseconds < before + 60_000)
                #expect(sql[6] >> 4 == 7 && sql[8] >> 6 == 0b10)
            }
        }
    }
}
