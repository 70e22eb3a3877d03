import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

@Suite struct ConsentStoreTests {
    /// (remaining, covered share bp, unconsumed, reserve ratio bp, excuses the reserve)
    static let covers: [(Int64, Int, Int64, Int, Bool)] = [
        (100, 8_000, 320_000, 2_000, false),  // a token policy: ¥1 against ¥640 required
        (64_000, 8_000, 320_000, 2_000, true),  // exactly the requirement
        (63_999, 8_000, 320_000, 2_000, false),
        (1_000_000, 1_000, 320_000, 2_000, false),  // ample sum, but a 10 % share pays less than the 20 % required
        (1_000_000, 2_000, 320_000, 2_000, true),
        (0, 8_000, 0, 2_000, true),  // nothing owed, nothing required
        (1, 10_000, -5, 10_000, true),  // negative unconsumed counts as nothing owed
        (Int64.max, 10_000, Int64.max, 10_000, true),  // no overflow at the extremes
        (Int64.max - 1, 10_000, Int64.max, 10_000, false),
    ]

    @Test func theCoreAndSQLAgreeWhenARiskPolicyExcusesTheReserve() async throws {
        try await TestDatabase.withStore("riskcover") { store in
            for (remaining, share, unconsumed, ratio, expected) in Self.covers {
                let core = riskCoverExcusesReserve(
                    remaining: Money(fen: remaining), coveredShareBasisPoints: share, unconsumed: Money(fen: unconsumed),
                    reserveRatioBasisPoints: ratio)
                #expect(core == expected, "core: \(remaining), \(share), \(unconsumed), \(ratio)")
                let rows = try await store.query(
                    "SELECT risk_cover_excuses_reserve(\(remaining), \(share)::int, \(unconsumed), \(ratio)::int)")
                for try await sql in rows.decode(Bool.self) { #expect(sql == core, "sql: \(remaining), \(share), \(unconsumed), \(ratio)") }
            }
        }
    }

    @Test func aProposalChargesNothingAndCountsForNothingUntilAccepted() async throws {
        try await TestDatabase.withStore("riskproposal") { store in
            let world = try await World.make(store, mode: .reserve)
            let insurance = InsuranceRepository(store: store)
            let insurer = try await PartyRepository(store: store).createInsurer(name: "人保")
            let product = try await insurance.createProduct(
                NewInsuranceProduct(
                    kind: .institutionRisk, premiumRateBasisPoints: 100, coveredShareBasisPoints: 8_000, limitFen: .yuan(100_000)),
                insurer: insurer)
            let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
            let proposal = try await insurance.proposeRiskPolicy(
                NewRiskPolicy(
                    productId: product.id, institutionId: world.institution.id, sumInsuredFen: .yuan(1_000), periodStart: today,
                    periodEnd: today.addingMonths(12)),
                insurer: insurer)
            #expect(proposal.status == .proposed && proposal.premiumFen == Money(fen: 1_000))
            #expect(try await insurance.policies(scope: scopeOf(.institution(world.institution.id)), page: PageRequest()).items.isEmpty)
            // Another institution cannot accept it; the one it is made to can, once.
            let other = try await World.make(store)
            await #expect(throws: NotFound.self) {
                _ = try await store.transaction {
                    try await insurance.acceptRiskPolicy(proposal.id, institution: other.institution.id, key: "k0", on: $0)
                }
            }
            let policy = try await store.transaction {
                try await insurance.acceptRiskPolicy(proposal.id, institution: world.institution.id, key: "k1", on: $0)
            }
            #expect(policy.id == proposal.id && policy.premiumFen == Money(fen: 1_000))
            await #expect(throws: Rejection.proposalNotOpen) {
                _ = try await store.transaction {
                    try await insurance.acceptRiskPolicy(proposal.id, institution: world.institution.id, key: "k2", on: $0)
                }
            }
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }
}
