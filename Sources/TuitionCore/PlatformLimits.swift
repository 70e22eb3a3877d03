/// The platform's documented bounds on what a request may carry; `docs/openapi.yaml` states the same numbers as
/// `maximum`, `minimum` and date windows, and the API checks them before any use case runs. Bounded inputs are what
/// keep every later sum (dashboards, statements, metrics) far inside 64 bits.
public enum PlatformLimits {
    /// One reserve top-up: ¥10,000,000.
    public static let topUpMaximum = Money(fen: 1_000_000_000)
    /// One claim: ¥100,000. A claim may ask more than it is owed (the checks cut it to the entitlement, which one
    /// charge caps at ¥5,000), never absurdly more.
    public static let claimMaximum = Money(fen: 10_000_000)
    /// A policy's sum insured, and a risk-control product's limit: ¥100,000,000. A premium is a rate of at most
    /// 10,000 basis points of the sum insured, so it stays within the same ceiling.
    public static let sumInsuredMaximum = Money(fen: 10_000_000_000)
    /// A course's price per lesson: one lesson may not cost more than one charge may.
    public static let pricePerLessonMaximum = ChargeCaps.national.amountMax
    /// Business dates and times lie in 2000-01-01 … 2099-12-31 (Asia/Shanghai).
    public static let earliestDate = BusinessDate(validated: 2000, 1, 1)
    public static let latestDate = BusinessDate(validated: 2099, 12, 31)

    /// Whether `date` lies in the documented window.
    public static func dateInWindow(_ date: BusinessDate) -> Bool { earliestDate <= date && date <= latestDate }
}

/// A positive amount no larger than `maximum`: `amountMustBePositive` or `amountTooLarge` otherwise.
public func checkAmount(_ amount: Money, atMost maximum: Money) throws(Rejection) {
    guard amount.isPositive else { throw .amountMustBePositive }
    guard amount <= maximum else { throw .amountTooLarge }
}
