import Foundation

extension Identifier {
    /// Whether `self` sorts before `other` in PostgreSQL's `uuid` order: the 16 bytes compared one by one,
    /// which is what `ORDER BY id` does and also the order of the lowercase text form.
    public func precedes(_ other: Identifier) -> Bool {
        uuidSortKey(uuid) < uuidSortKey(other.uuid)
    }
}

private func uuidSortKey(_ uuid: UUID) -> (UInt64, UInt64) {
    withUnsafeBytes(of: uuid.uuid) { bytes in
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        return (high, low)
    }
}

/// One enrollment of a defunct institution, as the waterfall needs it.
public struct WaterfallEnrollment: Hashable, Sendable {
    public var id: Enrollment.ID
    /// Unconsumed tuition as of the defunct time (`entitlement(of:asOf:)`): the most the guardian may receive.
    public var entitlement: Money
    /// What the supervised account holds for this enrollment (zero in reserve mode).
    public var escrowHeld: Money
    /// What is left of the enrollment's own tuition policy, zero when it has none in force.
    public var tuitionPolicyRemaining: Money
    /// What the risk-control policy's covered share is a share of: the unconsumed tuition (`unconsumedTuition`), which
    /// earlier claim payouts do not reduce, plus what earlier claims added back (`RiskShareTerms.cap`); `nil` when it
    /// equals the entitlement (nothing was paid back before).
    public var unconsumed: Money?
    /// What the risk-control policy already paid on this enrollment through earlier claims.
    public var riskPolicyPaid: Money

    public init(
        id: Enrollment.ID, entitlement: Money, escrowHeld: Money = .zero, tuitionPolicyRemaining: Money = .zero,
        unconsumed: Money? = nil, riskPolicyPaid: Money = .zero
    ) {
        self.id = id
        self.entitlement = entitlement
        self.escrowHeld = escrowHeld
        self.tuitionPolicyRemaining = tuitionPolicyRemaining
        self.unconsumed = unconsumed
        self.riskPolicyPaid = riskPolicyPaid
    }

    /// The most the risk-control policy may still pay this enrollment: its share of the entitlement (DESIGN §2), and at
    /// most what its share of the unconsumed tuition leaves after what it already paid (`RiskShareTerms.cap`, the rule
    /// a guardian's own claim on the policy meets), never below zero. The second bound is the lower one only when the
    /// policy itself paid an earlier claim on the enrollment.
    func riskShareLeft(basisPoints: Int) -> Int64 {
        min(
            share(entitlement.fen, basisPoints: basisPoints),
            max(0, share((unconsumed ?? entitlement).fen, basisPoints: basisPoints) - riskPolicyPaid.fen))
    }
}

/// The defunct institution's risk-control policy in force at the defunct time.
public struct RiskPolicyCover: Hashable, Sendable {
    /// The share of each enrollment's entitlement the policy pays at most, 0–10,000 basis points.
    public var coveredShareBasisPoints: Int
    /// What is left of the policy's limit (its remaining sum insured).
    public var remaining: Money

    public init(coveredShareBasisPoints: Int, remaining: Money) {
        self.coveredShareBasisPoints = coveredShareBasisPoints
        self.remaining = remaining
    }
}

/// Everything the waterfall pays from, for one defunct institution.
public struct WaterfallInput: Hashable, Sendable {
    /// Every enrollment with a claim on the institution, in any order; ids must be distinct.
    public var enrollments: [WaterfallEnrollment]
    /// The institution's reserve account balance.
    public var reserveBalance: Money
    /// The institution's risk-control policy in force at the defunct time, if any.
    public var riskPolicy: RiskPolicyCover?

    public init(enrollments: [WaterfallEnrollment], reserveBalance: Money, riskPolicy: RiskPolicyCover?) {
        self.enrollments = enrollments
        self.reserveBalance = reserveBalance
        self.riskPolicy = riskPolicy
    }
}

/// What one guardian receives from each layer, and the loss left uncovered.
/// `escrow + reserve + riskPolicy + tuitionPolicy + uncovered == entitlement`, always.
public struct WaterfallPayout: Hashable, Sendable {
    public var enrollment: Enrollment.ID
    public var entitlement: Money
    public var escrow: Money
    public var reserve: Money
    public var riskPolicy: Money
    public var tuitionPolicy: Money
    public var uncovered: Money

    public init(
        enrollment: Enrollment.ID, entitlement: Money, escrow: Money, reserve: Money, riskPolicy: Money, tuitionPolicy: Money,
        uncovered: Money
    ) {
        self.enrollment = enrollment
        self.entitlement = entitlement
        self.escrow = escrow
        self.reserve = reserve
        self.riskPolicy = riskPolicy
        self.tuitionPolicy = tuitionPolicy
        self.uncovered = uncovered
    }

    /// Paid across all layers.
    public var paid: Money { Money(fen: escrow.fen + reserve.fen + riskPolicy.fen + tuitionPolicy.fen) }
}

/// Sums over all enrollments, per layer: the fast-track's report.
public struct WaterfallTotals: Hashable, Sendable {
    public var entitlement: Money = .zero
    public var escrow: Money = .zero
    public var reserve: Money = .zero
    public var riskPolicy: Money = .zero
    public var tuitionPolicy: Money = .zero
    public var uncovered: Money = .zero

    public init(_ payouts: [WaterfallPayout]) {
        var totals = (entitlement: Int64(0), escrow: Int64(0), reserve: Int64(0), risk: Int64(0), tuition: Int64(0), uncovered: Int64(0))
        for payout in payouts {
            totals.entitlement += payout.entitlement.fen
            totals.escrow += payout.escrow.fen
            totals.reserve += payout.reserve.fen
            totals.risk += payout.riskPolicy.fen
            totals.tuition += payout.tuitionPolicy.fen
            totals.uncovered += payout.uncovered.fen
        }
        entitlement = Money(fen: totals.entitlement)
        escrow = Money(fen: totals.escrow)
        reserve = Money(fen: totals.reserve)
        riskPolicy = Money(fen: totals.risk)
        tuitionPolicy = Money(fen: totals.tuition)
        uncovered = Money(fen: totals.uncovered)
    }
}

/// The defunct waterfall: how much of each enrollment's entitlement each layer pays, in this order.
/// Let `e` be the entitlement and `u` what is still uncovered before a layer (starting at `e`).
///
/// 1. **Escrow**: `min(escrowHeld, e)`, per enrollment.
/// 2. **Reserve**: pool `min(reserveBalance, Σu)`, split pro rata to `u`.
/// 3. **Risk-control policy** (if any): each enrollment's cap is `c = min(u, ⌊e × share / 10,000⌋)`, the policy
///    indemnifying at most its share of the unconsumed tuition and never more than the loss other layers left; when
///    this policy paid a guardian's claim on the enrollment before, also at most what its share of the unconsumed
///    tuition that payout did not reduce leaves after it (`riskShareLeft`);
///    pool `min(remaining, Σc)`, split pro rata to `c`.
/// 4. **Tuition policy**: `min(u, tuitionPolicyRemaining)`, per enrollment.
/// 5. **Uncovered**: what is left of `u`.
///
/// **Pro-rata rule** (layers 2 and 3; a set-based SQL version must reproduce it to the fen). Enrollments are taken in
/// ascending enrollment id (PostgreSQL's `uuid` order, see `Identifier.precedes`). With weights `w` (`u`, resp. `c`),
/// `W = Σw` and the pool `P ≤ W`: each part is `⌊P × w / W⌋`; the `P − Σ⌊P × w / W⌋` leftover fen then go one each to
/// the enrollments with the largest remainder `(P × w) mod W`, ties to the lower enrollment id. In SQL:
/// `base = (P * w) / W`, `rem = (P * w) % W` (in `numeric`), `rank = row_number() OVER (ORDER BY rem DESC, id)`,
/// `part = base + CASE WHEN rank <= leftover THEN 1 ELSE 0 END`. When `W = 0` every part is zero.
/// Because `P ≤ W`, every part is at most its weight, so caps hold; a zero weight never receives a fen. A bigger pool
/// never pays less in total, but one enrollment's part may lose its leftover fen (largest remainder's Alabama paradox).
///
/// The result is in ascending enrollment id. No fen is lost or created: for every enrollment the layers plus
/// `uncovered` equal the entitlement, and no layer pays more than it holds.
public func waterfall(_ input: WaterfallInput) -> [WaterfallPayout] {
    precondition(input.reserveBalance.fen >= 0, "a reserve balance is never negative")
    if let cover = input.riskPolicy {
        precondition((0...10_000).contains(cover.coveredShareBasisPoints) && cover.remaining.fen >= 0, "risk cover out of range")
    }
    let enrollments = input.enrollments.sorted { $0.id.precedes($1.id) }
    for enrollment in enrollments {
        precondition(
            enrollment.entitlement.fen >= 0 && enrollment.escrowHeld.fen >= 0 && enrollment.tuitionPolicyRemaining.fen >= 0,
            "waterfall amounts are never negative")
    }
    for index in enrollments.indices.dropFirst() {
        precondition(enrollments[index - 1].id != enrollments[index].id, "each enrollment appears once")
    }

    let escrow = enrollments.map { min($0.escrowHeld.fen, $0.entitlement.fen) }
    var uncovered = zip(enrollments, escrow).map { $0.entitlement.fen - $1 }

    let reserveNeed = uncovered.reduce(0, +)
    let reserve = Money(fen: min(input.reserveBalance.fen, reserveNeed)).allocated(proportionalTo: uncovered).map(\.fen)
    for index in uncovered.indices { uncovered[index] -= reserve[index] }

    var risk = uncovered.map { _ in Int64(0) }
    if let cover = input.riskPolicy {
        let caps = enrollments.indices.map { index in
            min(uncovered[index], enrollments[index].riskShareLeft(basisPoints: cover.coveredShareBasisPoints))
        }
        let pool = min(cover.remaining.fen, caps.reduce(0, +))
        risk = Money(fen: pool).allocated(proportionalTo: caps).map(\.fen)
    }
    for index in uncovered.indices { uncovered[index] -= risk[index] }

    let tuition = enrollments.indices.map { min(uncovered[$0], enrollments[$0].tuitionPolicyRemaining.fen) }
    for index in uncovered.indices { uncovered[index] -= tuition[index] }

    let payouts = enrollments.indices.map { index in
        WaterfallPayout(
            enrollment: enrollments[index].id, entitlement: enrollments[index].entitlement, escrow: Money(fen: escrow[index]),
            reserve: Money(fen: reserve[index]), riskPolicy: Money(fen: risk[index]), tuitionPolicy: Money(fen: tuition[index]),
            uncovered: Money(fen: uncovered[index]))
    }
    // Pair assertion: whatever the arithmetic above did, no fen was lost or created and no layer overpaid.
    let totals = WaterfallTotals(payouts)
    precondition(totals.reserve <= input.reserveBalance, "the reserve paid more than it holds")
    precondition(totals.riskPolicy <= (input.riskPolicy?.remaining ?? .zero), "the risk policy paid more than its limit")
    for (payout, enrollment) in zip(payouts, enrollments) {
        precondition(
            payout.paid.fen + payout.uncovered.fen == payout.entitlement.fen && payout.uncovered.fen >= 0
                && payout.escrow <= enrollment.escrowHeld && payout.tuitionPolicy <= enrollment.tuitionPolicyRemaining,
            "a waterfall payout does not add up")
    }
    return payouts
}

/// `⌊amount × basisPoints / 10,000⌋`, exact for any non-negative amount.
private func share(_ amount: Int64, basisPoints: Int) -> Int64 {
    let product = amount.multipliedFullWidth(by: Int64(basisPoints))
    return Int64(10_000).dividingFullWidth(product).quotient
}
