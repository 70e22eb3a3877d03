import Foundation
import Testing
import TuitionCore

@Suite struct WaterfallTests {
    /// Ids whose order is known: `id(1)` sorts before `id(2)` in PostgreSQL's uuid order.
    static func id(_ number: UInt64) -> Enrollment.ID {
        let hex = String(number, radix: 16)
        let padded = String(repeating: "0", count: 12 - hex.count) + hex
        return Enrollment.ID(UUID(uuidString: "00000000-0000-7000-8000-\(padded)")!)
    }

    static func enrollment(_ number: UInt64, _ entitlement: Int64, escrow: Int64 = 0, tuition: Int64 = 0) -> WaterfallEnrollment {
        WaterfallEnrollment(
            id: id(number), entitlement: Money(fen: entitlement), escrowHeld: Money(fen: escrow),
            tuitionPolicyRemaining: Money(fen: tuition))
    }

    /// `[escrow, reserve, risk, tuition, uncovered]` per enrollment, in id order.
    static func layers(_ payouts: [WaterfallPayout]) -> [[Int64]] {
        payouts.map { [$0.escrow.fen, $0.reserve.fen, $0.riskPolicy.fen, $0.tuitionPolicy.fen, $0.uncovered.fen] }
    }

    @Test func escrowPaysFirstAndNeverMoreThanTheEntitlement() {
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [
                    Self.enrollment(1, 1_000, escrow: 1_000), Self.enrollment(2, 1_000, escrow: 1_500),
                    Self.enrollment(3, 1_000, escrow: 400),
                ],
                reserveBalance: .zero, riskPolicy: nil))
        #expect(Self.layers(payouts) == [[1_000, 0, 0, 0, 0], [1_000, 0, 0, 0, 0], [400, 0, 0, 0, 600]])
    }

    @Test func reserveTiesGoToTheLowerEnrollmentIdWhateverTheInputOrder() {
        let input = WaterfallInput(
            enrollments: [Self.enrollment(3, 100), Self.enrollment(1, 100), Self.enrollment(2, 100)], reserveBalance: Money(fen: 100),
            riskPolicy: nil)
        let payouts = waterfall(input)
        #expect(payouts.map(\.enrollment) == [Self.id(1), Self.id(2), Self.id(3)])
        #expect(payouts.map(\.reserve.fen) == [34, 33, 33])
        #expect(payouts.map(\.uncovered.fen) == [66, 67, 67])
    }

    /// The risk-control policy pays at most its share of the entitlement (DESIGN §2), which earlier payouts reduced, and
    /// never more than its share of the unconsumed tuition leaves after what it paid on the enrollment through a
    /// guardian's own claim: claim and fast-track together never take it past its share.
    @Test func theRiskPolicyPaysWhatItsShareLeavesAfterEarlierClaims() {
        var paidBefore = Self.enrollment(1, 2_000)
        paidBefore.unconsumed = Money(fen: 10_000)  // 8,000 went back on claims, 5,000 of them on this policy
        paidBefore.riskPolicyPaid = Money(fen: 5_000)
        var otherPolicyPaid = Self.enrollment(2, 6_000)
        otherPolicyPaid.unconsumed = Money(fen: 10_000)  // 4,000 went back on the guardian's tuition policy
        let fresh = Self.enrollment(3, 10_000)
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [paidBefore, otherPolicyPaid, fresh], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 6_000, remaining: .yuan(1_000))))
        // ⌊2,000 × 60 %⌋ = 1,200, but the share of 10,000 leaves 6,000 − 5,000 = 1,000; ⌊6,000 × 60 %⌋ = 3,600 (the
        // tuition policy's payout counts like a refund); 6,000.
        #expect(payouts.map(\.riskPolicy.fen) == [1_000, 3_600, 6_000])
    }

    @Test func idsOrderByTheirBytesNotTheirInputOrder() {
        // 0x0a… sorts before 0xa0…, as PostgreSQL sorts uuids and as their lowercase text sorts.
        let low = Enrollment.ID(UUID(uuidString: "0a000000-0000-7000-8000-000000000000")!)
        let high = Enrollment.ID(UUID(uuidString: "a0000000-0000-7000-8000-000000000000")!)
        #expect(low.precedes(high))
        #expect(!high.precedes(low))
        #expect(!low.precedes(low))
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [
                    WaterfallEnrollment(id: high, entitlement: Money(fen: 1)), WaterfallEnrollment(id: low, entitlement: Money(fen: 1)),
                ],
                reserveBalance: Money(fen: 1), riskPolicy: nil))
        #expect(payouts.map(\.enrollment) == [low, high])
        #expect(payouts.map(\.reserve.fen) == [1, 0])
    }

    @Test func reserveLeftoverGoesToTheLargestRemainder() {
        // 7 fen over 10, 20, 30: exact shares 1.17, 2.33, 3.5 → 1, 2, 3 and the leftover fen to the third.
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 10), Self.enrollment(2, 20), Self.enrollment(3, 30)], reserveBalance: Money(fen: 7),
                riskPolicy: nil))
        #expect(payouts.map(\.reserve.fen) == [1, 2, 4])
    }

    @Test func reserveSplitsProRataToWhatEscrowLeftUncovered() {
        // Uncovered after escrow: 600 and 200; a 400 reserve pays them 300 and 100.
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 1_000, escrow: 400), Self.enrollment(2, 1_000, escrow: 800)],
                reserveBalance: Money(fen: 400),
                riskPolicy: nil))
        #expect(Self.layers(payouts) == [[400, 300, 0, 0, 300], [800, 100, 0, 0, 100]])
    }

    @Test func aReserveLargerThanTheLossPaysItAllAndKeepsTheRest() {
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 1_000, escrow: 400), Self.enrollment(2, 500)], reserveBalance: Money(fen: 1_000_000),
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 10_000, remaining: Money(fen: 1_000_000))))
        #expect(Self.layers(payouts) == [[400, 600, 0, 0, 0], [0, 500, 0, 0, 0]])
    }

    @Test func theRiskPolicyPaysAtMostItsShareOfTheEntitlement() {
        // Half of 1,000 is 500; the tuition policy takes 300 of the last 500; 200 stays uncovered.
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 1_000, tuition: 300)], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 5_000, remaining: Money(fen: 1_000_000))))
        #expect(Self.layers(payouts) == [[0, 0, 500, 300, 200]])
    }

    @Test func theRiskShareCoversOnlyWhatEarlierLayersLeft() {
        // Escrow paid 700 of 1,000; a 50% share would be 500 but only 300 is left.
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 1_000, escrow: 700)], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 5_000, remaining: Money(fen: 1_000_000))))
        #expect(Self.layers(payouts) == [[700, 0, 300, 0, 0]])
    }

    @Test func theRiskPolicySplitsItsRemainingLimitProRataToItsCaps() {
        // Caps 600 and 200 (full share); the 400 left of the limit pays 300 and 100.
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 600), Self.enrollment(2, 200, tuition: 1_000)], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 10_000, remaining: Money(fen: 400))))
        #expect(Self.layers(payouts) == [[0, 0, 300, 0, 300], [0, 0, 100, 100, 0]])
    }

    @Test func theShareRoundsDownToTheFen() {
        // 33.33% of 100 fen is 33.33 fen: the policy pays 33.
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 100)], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 3_333, remaining: Money(fen: 1_000))))
        #expect(Self.layers(payouts) == [[0, 0, 33, 0, 67]])
    }

    @Test func zeroInputsPayNothingAndLoseNothing() {
        #expect(waterfall(WaterfallInput(enrollments: [], reserveBalance: Money(fen: 500), riskPolicy: nil)).isEmpty)
        let zeros = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 0, escrow: 300, tuition: 50), Self.enrollment(2, 0)], reserveBalance: Money(fen: 500),
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 10_000, remaining: Money(fen: 500))))
        #expect(Self.layers(zeros) == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
        let nothingToPayFrom = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 700), Self.enrollment(2, 300)], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 0, remaining: Money(fen: 500))))
        #expect(Self.layers(nothingToPayFrom) == [[0, 0, 0, 0, 700], [0, 0, 0, 0, 300]])
        let exhaustedPolicy = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 700)], reserveBalance: .zero,
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 10_000, remaining: .zero)))
        #expect(Self.layers(exhaustedPolicy) == [[0, 0, 0, 0, 700]])
    }

    @Test func totalsSumEveryLayer() {
        let payouts = waterfall(
            WaterfallInput(
                enrollments: [Self.enrollment(1, 1_000, escrow: 400), Self.enrollment(2, 1_000, escrow: 800, tuition: 50)],
                reserveBalance: Money(fen: 400), riskPolicy: nil))
        let totals = WaterfallTotals(payouts)
        #expect(totals.entitlement == Money(fen: 2_000))
        #expect(totals.escrow == Money(fen: 1_200))
        #expect(totals.reserve == Money(fen: 400))
        #expect(totals.tuitionPolicy == Money(fen: 50))
        #expect(totals.uncovered == Money(fen: 350))
        #expect(payouts[1].paid == Money(fen: 950))
    }

    // MARK: - Properties over random districts

    /// A random defunct institution: either mode, with and without a reserve and policies, often tied amounts.
    static func randomInput(_ random: inout SplitMix64) -> WaterfallInput {
        let count = Int.random(in: 0...40, using: &random)
        let escrowMode = Bool.random(using: &random)
        // Small price grids make equal entitlements, hence ties, common.
        let price = [Int64(1), 7, 100, 8_333, 10_000].randomElement(using: &random)!
        var ids = Set<UInt64>()
        while ids.count < count { ids.insert(UInt64.random(in: 1...0xFFFF_FFFF_FFFF, using: &random)) }
        let enrollments = ids.shuffled(using: &random).map { number in
            let lessons = Int64.random(in: 0...60, using: &random)
            let entitlement = price * lessons
            // Escrow can hold less (lessons released early) or more (lessons after the collapse excluded) than owed.
            let escrow = escrowMode ? max(0, entitlement + price * Int64.random(in: -5...3, using: &random)) : 0
            let tuition = Bool.random(using: &random) ? Int64.random(in: 0...(entitlement + 1_000), using: &random) : 0
            return enrollment(number, entitlement, escrow: escrow, tuition: tuition)
        }
        let need = enrollments.reduce(Int64(0)) { $0 + $1.entitlement.fen }
        let reserve: Int64 =
            switch Int.random(in: 0...3, using: &random) {
            case 0: 0
            case 1: Int64.random(in: 0...max(1, need / 3), using: &random)
            case 2: Int64.random(in: 0...max(1, need * 2), using: &random)
            default: escrowMode ? 0 : Int64.random(in: 0...max(1, need / 10), using: &random)
            }
        let risk: RiskPolicyCover? =
            Bool.random(using: &random)
            ? RiskPolicyCover(
                coveredShareBasisPoints: [0, 1, 3_333, 5_000, 8_000, 10_000].randomElement(using: &random)!,
                remaining: Money(fen: Int64.random(in: 0...max(1, need), using: &random)))
            : nil
        return WaterfallInput(enrollments: enrollments, reserveBalance: Money(fen: reserve), riskPolicy: risk)
    }

    /// The pro-rata rule exactly as documented for SQL: base = ⌊P·w/W⌋, rem = P·w mod W,
    /// rank by (rem desc, id asc), one more fen to the first `leftover` ranks.
    static func sqlStyleProRata(pool: Int64, weights: [(id: Enrollment.ID, weight: Int64)]) -> [Enrollment.ID: Int64] {
        let total = weights.reduce(Int64(0)) { $0 + $1.weight }
        guard total > 0 else { return Dictionary(uniqueKeysWithValues: weights.map { ($0.id, 0) }) }
        let rows = weights.map { row in
            let (base, rem) = total.dividingFullWidth(pool.multipliedFullWidth(by: row.weight))
            return (id: row.id, base: base, rem: rem)
        }
        let leftover = pool - rows.reduce(0) { $0 + $1.base }
        let ranked = rows.sorted { $0.rem != $1.rem ? $0.rem > $1.rem : $0.id.precedes($1.id) }
        var parts: [Enrollment.ID: Int64] = [:]
        for (rank, row) in ranked.enumerated() { parts[row.id] = row.base + (rank < leftover ? 1 : 0) }
        return parts
    }

    @Test func randomDistrictsAddUpRespectCapsAndMatchTheSQLRule() {
        var random = SplitMix64(seed: 20_260_904)
        for _ in 0..<5_000 {
            let input = Self.randomInput(&random)
            let payouts = waterfall(input)
            let byId = Dictionary(uniqueKeysWithValues: input.enrollments.map { ($0.id, $0) })

            #expect(payouts.count == input.enrollments.count)
            #expect(zip(payouts, payouts.dropFirst()).allSatisfy { $0.enrollment.precedes($1.enrollment) })
            for payout in payouts {
                let enrollment = byId[payout.enrollment]!
                #expect(payout.entitlement == enrollment.entitlement)
                #expect(payout.paid.fen + payout.uncovered.fen == payout.entitlement.fen)
                #expect(
                    [payout.escrow, payout.reserve, payout.riskPolicy, payout.tuitionPolicy, payout.uncovered].allSatisfy { $0.fen >= 0 })
                #expect(payout.paid <= payout.entitlement)
                #expect(payout.escrow == min(enrollment.escrowHeld, enrollment.entitlement))
                #expect(payout.tuitionPolicy <= enrollment.tuitionPolicyRemaining)
                if let cover = input.riskPolicy {
                    #expect(payout.riskPolicy.fen * 10_000 <= payout.entitlement.fen * Int64(cover.coveredShareBasisPoints))
                } else {
                    #expect(payout.riskPolicy == .zero)
                }
                // The tuition policy pays what the earlier layers left, up to its remaining sum insured.
                let leftForTuition = payout.entitlement.fen - payout.escrow.fen - payout.reserve.fen - payout.riskPolicy.fen
                #expect(payout.tuitionPolicy.fen == min(leftForTuition, enrollment.tuitionPolicyRemaining.fen))
            }

            let totals = WaterfallTotals(payouts)
            let afterEscrow = totals.entitlement.fen - totals.escrow.fen
            #expect(totals.reserve.fen == min(input.reserveBalance.fen, afterEscrow))
            #expect(totals.riskPolicy <= (input.riskPolicy?.remaining ?? .zero))
            #expect(
                totals.escrow.fen + totals.reserve.fen + totals.riskPolicy.fen + totals.tuitionPolicy.fen + totals.uncovered.fen
                    == totals.entitlement.fen)

            // The pro-rata layers agree, fen for fen, with the rule a set-based SQL job will implement.
            let reserveWeights = payouts.map { (id: $0.enrollment, weight: $0.entitlement.fen - $0.escrow.fen) }
            let reserveExpected = Self.sqlStyleProRata(pool: totals.reserve.fen, weights: reserveWeights)
            #expect(payouts.allSatisfy { reserveExpected[$0.enrollment] == $0.reserve.fen })
            if let cover = input.riskPolicy {
                let caps = payouts.map { payout in
                    let left = payout.entitlement.fen - payout.escrow.fen - payout.reserve.fen
                    return (
                        id: payout.enrollment, weight: min(left, payout.entitlement.fen * Int64(cover.coveredShareBasisPoints) / 10_000)
                    )
                }
                let pool = min(cover.remaining.fen, caps.reduce(0) { $0 + $1.weight })
                #expect(totals.riskPolicy.fen == pool)
                let riskExpected = Self.sqlStyleProRata(pool: pool, weights: caps)
                #expect(payouts.allSatisfy { riskExpected[$0.enrollment] == $0.riskPolicy.fen })
            }
        }
    }

    @Test func theOrderOfTheInputDoesNotMatter() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<1_000 {
            var input = Self.randomInput(&random)
            let payouts = waterfall(input)
            input.enrollments.shuffle(using: &random)
            #expect(waterfall(input) == payouts)
        }
    }

    @Test func moreReserveNeverChangesEscrowNorLowersTheReservePaid() {
        var random = SplitMix64(seed: 99)
        for _ in 0..<3_000 {
            var input = Self.randomInput(&random)
            let before = waterfall(input)
            input.reserveBalance = Money(fen: input.reserveBalance.fen + Int64.random(in: 1...50_000, using: &random))
            let after = waterfall(input)
            #expect(before.map(\.escrow) == after.map(\.escrow))
            #expect(WaterfallTotals(after).reserve >= WaterfallTotals(before).reserve)
            // Largest remainder may take back a single leftover fen (the Alabama paradox), never more.
            for (old, new) in zip(before, after) { #expect(new.reserve.fen >= old.reserve.fen - 1) }
        }
    }

    @Test func laterLayersNeverChangeEarlierOnes() {
        var random = SplitMix64(seed: 123)
        for _ in 0..<3_000 {
            var input = Self.randomInput(&random)
            let before = waterfall(input)
            // A bigger or new risk policy and bigger tuition policies leave escrow and reserve as they were.
            let share = input.riskPolicy?.coveredShareBasisPoints ?? 10_000
            let remaining = (input.riskPolicy?.remaining.fen ?? 0) + Int64.random(in: 0...100_000, using: &random)
            input.riskPolicy = RiskPolicyCover(coveredShareBasisPoints: share, remaining: Money(fen: remaining))
            let withRisk = waterfall(input)
            #expect(before.map(\.escrow) == withRisk.map(\.escrow))
            #expect(before.map(\.reserve) == withRisk.map(\.reserve))
            #expect(WaterfallTotals(withRisk).riskPolicy >= WaterfallTotals(before).riskPolicy)
            for index in input.enrollments.indices {
                input.enrollments[index].tuitionPolicyRemaining = Money(fen: input.enrollments[index].tuitionPolicyRemaining.fen + 500)
            }
            let withTuition = waterfall(input)
            #expect(withRisk.map(\.riskPolicy) == withTuition.map(\.riskPolicy))
            #expect(zip(withRisk, withTuition).allSatisfy { $1.tuitionPolicy >= $0.tuitionPolicy && $1.uncovered <= $0.uncovered })
        }
    }

    @Test func largeDistrictsStayExact() {
        var random = SplitMix64(seed: 100_000)
        let enrollments = (1...20_000).map { number in
            Self.enrollment(
                UInt64(number), Int64.random(in: 0...500_000, using: &random), escrow: Int64.random(in: 0...250_000, using: &random))
        }
        let payouts = waterfall(
            WaterfallInput(
                enrollments: enrollments, reserveBalance: Money(fen: 123_456_789),
                riskPolicy: RiskPolicyCover(coveredShareBasisPoints: 7_000, remaining: Money(fen: 987_654_321))))
        let totals = WaterfallTotals(payouts)
        #expect(totals.reserve == Money(fen: 123_456_789))
        #expect(
            totals.escrow.fen + totals.reserve.fen + totals.riskPolicy.fen + totals.tuitionPolicy.fen + totals.uncovered.fen
                == totals.entitlement.fen)
    }
}
