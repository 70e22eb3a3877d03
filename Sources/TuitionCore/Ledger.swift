import Foundation

/// The accounts of the fund ledger. Institution accounts are restricted: they may never go negative.
/// Outside accounts stand for the world (banks) and the insurer's claims account is backed by its capital.
public enum AccountKind: String, Sendable, Codable, CaseIterable {
    case escrow, operating, reserve
    case guardianBank = "guardian_bank"
    case institutionBank = "institution_bank"
    case insurerClaims = "insurer_claims"
    case insurerBank = "insurer_bank"

    public var isRestricted: Bool {
        switch self {
        case .escrow, .operating, .reserve: true
        case .guardianBank, .institutionBank, .insurerClaims, .insurerBank: false
        }
    }
}

public enum TransferKind: String, Sendable, Codable, CaseIterable {
    case payment, release, refund, premium, payout
    case reserveTopUp = "reserve_topup"
}

/// A transfer decided by the rules, between account kinds of the enrollment's parties; the store resolves the accounts.
public struct PlannedTransfer: Hashable, Sendable {
    public let kind: TransferKind
    public let from: AccountKind
    public let to: AccountKind
    public let amount: Money

    public init(kind: TransferKind, from: AccountKind, to: AccountKind, amount: Money) {
        precondition(amount.isPositive, "a transfer moves a positive amount")
        precondition(from != to, "a transfer moves money between two accounts")
        self.kind = kind
        self.from = from
        self.to = to
        self.amount = amount
    }
}

/// One enrollment's money and lessons, as the ledger has them: the one position every path that returns money reads
/// (refunds, lessons, claims, the fast-track plan, statements, warnings, the dashboard). The SQL view
/// `enrollment_positions` (sql/0009) computes the same figures; the store tests check both agree.
public struct EnrollmentPosition: Hashable, Sendable {
    public var mode: SupervisionMode
    public var lessonsBought: Int
    public var lessonsConsumed: Int
    public var lessonsRefunded: Int
    public var pricePerLesson: Money
    public var amount: Money
    public var paid: Money
    public var paidAt: Date?
    public var released: Money
    public var refunded: Money
    /// Paid back on claims and defunct settlements, every layer.
    public var returned: Money
    /// The part of `returned` that left the supervised (escrow) account.
    public var escrowReturned: Money
    /// Lessons recorded at or after the defunct effective time: never counted against the guardian.
    public var lessonsAfterDefunct: Int
    /// The effective time of the institution's defunct mark, if it has one.
    public var defunctEffectiveAt: Date?
    public var termStart: BusinessDate

    public init(
        mode: SupervisionMode, lessonsBought: Int, lessonsConsumed: Int = 0, lessonsRefunded: Int = 0,
        pricePerLesson: Money, paid: Money = .zero, paidAt: Date? = nil, released: Money = .zero, refunded: Money = .zero,
        returned: Money = .zero, escrowReturned: Money = .zero, lessonsAfterDefunct: Int = 0, defunctEffectiveAt: Date? = nil,
        termStart: BusinessDate
    ) {
        self.mode = mode
        self.lessonsBought = lessonsBought
        self.lessonsConsumed = lessonsConsumed
        self.lessonsRefunded = lessonsRefunded
        self.pricePerLesson = pricePerLesson
        self.amount = Money(fen: pricePerLesson.fen * Int64(lessonsBought))
        self.paid = paid
        self.paidAt = paidAt
        self.released = released
        self.refunded = refunded
        self.returned = returned
        self.escrowReturned = escrowReturned
        self.lessonsAfterDefunct = lessonsAfterDefunct
        self.defunctEffectiveAt = defunctEffectiveAt
        self.termStart = termStart
    }

    public var isPaid: Bool { paid.isPositive }
    /// Value of the lessons counted against the guardian: those recorded before the defunct effective time, if any.
    public var consumedValue: Money { Money(fen: pricePerLesson.fen * Int64(lessonsConsumed - lessonsAfterDefunct)) }
    /// Paid − consumed − refunded − returned: what the guardian is still owed in lessons or money. Nothing may return
    /// more than this, whatever the order of operations.
    public var outstanding: Money { Money(fen: paid.fen - consumedValue.fen - refunded.fen - returned.fen) }
    /// The same figure under its historical name (the API's `unconsumedFen`).
    public var unconsumed: Money { outstanding }
    /// A payment made at or after the defunct effective time: owed back in full, not entitled to the waterfall.
    public var paidAfterDefunct: Bool {
        guard let defunctEffectiveAt, let paidAt else { return false }
        return paidAt >= defunctEffectiveAt
    }
    /// What the waterfall owes the guardian (the claim checks' entitlement as of the effective time).
    public var entitlement: Money { isPaid && !paidAfterDefunct ? Money(fen: max(0, outstanding.fen)) : .zero }
    /// What the fast-track returns in full, as its own layer.
    public var returnDue: Money { paidAfterDefunct ? Money(fen: max(0, outstanding.fen)) : .zero }
    /// What the supervised account holds for this enrollment.
    public var escrowHeld: Money {
        mode == .escrow ? Money(fen: paid.fen - released.fen - refunded.fen - escrowReturned.fen) : .zero
    }
    /// Nothing more to take or refund: every lesson bought is consumed or refunded, or nothing is owed any more (claim
    /// payouts returned the rest). A remainder smaller than one lesson keeps it open: a refund of everything pays it.
    public var isSettled: Bool {
        lessonsBought - lessonsConsumed - lessonsRefunded <= 0 || !outstanding.isPositive
    }
    /// Lessons that may still be taken or refunded: those neither consumed nor refunded, and no more than the money
    /// still outstanding pays for (a claim payout returns money without returning lessons).
    public var lessonsRemaining: Int {
        let unused = lessonsBought - lessonsConsumed - lessonsRefunded
        guard isPaid, pricePerLesson.isPositive else { return unused }
        return max(0, min(unused, Int(clamping: max(0, outstanding.fen) / pricePerLesson.fen)))
    }
    /// Where prepaid tuition sits until it is earned.
    public var holdingAccount: AccountKind { mode == .escrow ? .escrow : .operating }
}

/// A guardian pays an enrollment's order, in full, once, and only under a contract both parties signed.
public func decidePayment(_ position: EnrollmentPosition, institution: InstitutionStatus, contractSigned: Bool, offered: Money)
    -> Result<PlannedTransfer, Rejection>
{
    guard offered.isPositive else { return .failure(.amountMustBePositive) }
    if let closed = refusal(of: institution) { return .failure(closed) }
    guard !position.isPaid else { return .failure(.enrollmentAlreadyPaid) }
    guard contractSigned else { return .failure(.contractNotSigned) }
    guard offered == position.amount else { return .failure(.paymentDoesNotMatchOrder) }
    return .success(PlannedTransfer(kind: .payment, from: .guardianBank, to: position.holdingAccount, amount: offered))
}

/// The institution records lessons taken; in escrow mode their value is released to operating at once,
/// so the supervised account never holds more than the unconsumed tuition.
public func decideLessons(
    _ position: EnrollmentPosition, institution: InstitutionStatus, lessons: Int, takenOn: BusinessDate, today: BusinessDate
) -> Result<PlannedTransfer?, Rejection> {
    guard lessons > 0 else { return .failure(.lessonsMustBePositive) }
    if let closed = refusal(of: institution) { return .failure(closed) }
    guard position.isPaid else { return .failure(.enrollmentNotPaid) }
    guard takenOn <= today else { return .failure(.lessonDateInFuture) }
    guard takenOn >= position.termStart else { return .failure(.lessonDateBeforeTerm) }
    guard lessons <= position.lessonsRemaining else { return .failure(.lessonsExceedRemaining) }
    guard position.mode == .escrow else { return .success(nil) }
    let value = Money(fen: position.pricePerLesson.fen * Int64(lessons))
    return .success(PlannedTransfer(kind: .release, from: .escrow, to: .operating, amount: value))
}

/// A refund of unconsumed lessons at the frozen price; `nil` lessons refunds everything unconsumed. Refunds are the
/// institution's own money path: a defunct institution refunds nothing (its fast-track does), whatever else its status.
///
/// Refunding everything closes the enrollment: every unused lesson is refunded and the guardian gets what is still
/// owed for them. That is less than their price when an insurer already repaid part of the tuition (a claim payout
/// returns money, not lessons), and it may be a remainder smaller than one lesson, which no count of lessons could
/// refund: without this it stayed owed for ever.
public func decideRefund(_ position: EnrollmentPosition, institution: InstitutionStatus, lessons requested: Int?) -> Result<
    (lessons: Int, transfer: PlannedTransfer), Rejection
> {
    if let requested, requested <= 0 { return .failure(.lessonsMustBePositive) }
    guard institution != .defunct else { return .failure(.institutionDefunct) }
    guard position.isPaid else { return .failure(.enrollmentNotPaid) }
    let lessons: Int
    let amount: Money
    if let requested {
        guard position.lessonsRemaining > 0 else { return .failure(.nothingToRefund) }
        guard requested <= position.lessonsRemaining else { return .failure(.refundExceedsUnconsumed) }
        (lessons, amount) = (requested, Money(fen: position.pricePerLesson.fen * Int64(requested)))
    } else {
        let unused = position.lessonsBought - position.lessonsConsumed - position.lessonsRefunded
        guard unused > 0, position.outstanding.isPositive else { return .failure(.nothingToRefund) }
        (lessons, amount) = (unused, Money(fen: min(position.pricePerLesson.fen * Int64(unused), position.outstanding.fen)))
    }
    return .success((lessons, PlannedTransfer(kind: .refund, from: position.holdingAccount, to: .guardianBank, amount: amount)))
}

/// The institution puts money of its own into its risk reserve.
public func decideReserveTopUp(amount: Money, institution: InstitutionStatus) -> Result<PlannedTransfer, Rejection> {
    guard amount.isPositive else { return .failure(.amountMustBePositive) }
    guard amount <= PlatformLimits.topUpMaximum else { return .failure(.amountTooLarge) }
    guard institution != .defunct else { return .failure(.institutionDefunct) }
    return .success(PlannedTransfer(kind: .reserveTopUp, from: .institutionBank, to: .reserve, amount: amount))
}

/// Why an institution's money path is closed: a defunct institution is `institutionDefunct` (its fast-track settles
/// everything), any other non-operating one `institutionNotOperating`.
public func refusal(of institution: InstitutionStatus) -> Rejection? {
    if institution == .defunct { return .institutionDefunct }
    return institution.isOperating ? nil : .institutionNotOperating
}

/// Why an institution takes no new order (a placed order, a proposal, an acceptance): its money paths are closed
/// (`refusal(of:)`), or its licence has expired, as the public page says (`LicenceValidity`): the catalog no longer
/// lists such an institution, so no order may reach it either. A licence with no end date recorded (registrations
/// before the date was required) is the regulator's gap, not the institution's: the catalog lists it, and so it sells.
public func newOrderRefusal(_ institution: InstitutionStatus, licenceValidUntil: BusinessDate?, today: BusinessDate) -> Rejection? {
    if let closed = refusal(of: institution) { return closed }
    return LicenceValidity(validUntil: licenceValidUntil, today: today) == .expired ? .institutionNotOperating : nil
}

/// The reserve a reserve-mode institution must hold: `ratio` of its unconsumed tuition, rounded up to the fen.
public func reserveRequirement(unconsumed: Money, ratioBasisPoints: Int) -> Money {
    guard unconsumed.isPositive, ratioBasisPoints > 0 else { return .zero }
    let product = unconsumed.fen.multipliedFullWidth(by: Int64(ratioBasisPoints))
    let (quotient, remainder) = Int64(10_000).dividingFullWidth(product)
    return Money(fen: remainder > 0 ? quotient + 1 : quotient)
}

public enum LessonStatus: String, Sendable, Codable, CaseIterable {
    case recorded, confirmed, disputed
}

/// A guardian has seven days from recording to confirm or dispute lessons; unanswered lessons count as confirmed.
public let lessonAnswerWindow: TimeInterval = 7 * 86_400

public func checkLessonAnswer(status: LessonStatus, recordedAt: Date, now: Date) -> Rejection? {
    guard status == .recorded else { return .lessonAlreadyAnswered }
    guard now.timeIntervalSince(recordedAt) <= lessonAnswerWindow else { return .lessonAnswerWindowClosed }
    return nil
}
