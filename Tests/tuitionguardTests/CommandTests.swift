import ArgumentParser
import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@testable import tuitionguard

@Suite struct CommandTests {
    @Test func parsesThePrincipalsCommand() throws {
        let command = try TuitionGuardCommand.parseAsRoot(["principals", "create", "--role", "regulator", "--entity", "330203"])
        let create = try #require(command as? Principals.Create)
        #expect(create.role == .regulator && create.entity == "330203")
        #expect(throws: (any Error).self) { try TuitionGuardCommand.parseAsRoot(["principals", "create", "--role", "banker"]) }
    }

    @Test func theAuditReconcilesTheLogUnlessToldLedgerOnly() throws {
        #expect(try #require(try TuitionGuardCommand.parseAsRoot(["audit"]) as? Audit).ledgerOnly == false)
        #expect(try #require(try TuitionGuardCommand.parseAsRoot(["audit", "--ledger-only"]) as? Audit).ledgerOnly)
    }

    @Test func resolvesEachRolesEntityAndRefusesUnknownOnes() async throws {
        try await TestDatabase.withStore("cli") { store in
            let parties = PartyRepository(store: store)
            #expect(
                try await resolveEntity(role: .regulator, entity: "330203", name: "海曙区教育局", parties: parties)
                    == .regulator(DistrictCode("330203")!))
            let guardian = try await resolveEntity(role: .guardian, entity: nil, name: "张三", parties: parties)
            let exists = try await parties.exists(guardian)
            #expect(guardian.role == .guardian && exists)
            let insurer = try await resolveEntity(role: .insurer, entity: nil, name: "人保财险", parties: parties)
            #expect(insurer.role == .insurer)
            await #expect(throws: StoreError.self) {
                _ = try await resolveEntity(role: .institution, entity: UUID().uuidString, name: nil, parties: parties)
            }
            await #expect(throws: (any Error).self) {
                _ = try await resolveEntity(role: .regulator, entity: "33", name: nil, parties: parties)
            }
            // The token printed once authenticates; only its hash is stored.
            let (principal, token) = try await PrincipalRepository(store: store).create(for: guardian)
            #expect(try await PrincipalRepository(store: store).principal(forToken: token) == principal)
            var stored = 0
            for try await _ in try await store.query("SELECT 1 FROM principals WHERE token_sha256::text LIKE '%' || \(token) || '%'") {
                stored += 1
            }
            #expect(stored == 0)
        }
    }
}
