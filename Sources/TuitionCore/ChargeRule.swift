/// The caps on one prepaid charge. The national caps are 60 lessons, a 3-month term and ¥5,000;
/// a district may set lower ones, never higher.
public struct ChargeCaps: Hashable, Sendable, Codable {
    public var lessonsMax: Int
    public var termMonthsMax: Int
    public var amountMax: Money

    public init(lessonsMax: Int, termMonthsMax: Int, amountMax: Money) {
        self.lessonsMax = lessonsMax
        self.termMonthsMax = termMonthsMax
        self.amountMax = amountMax
    }

    public static let national = ChargeCaps(lessonsMax: 60, termMonthsMax: 3, amountMax: .yuan(5_000))

    /// A district's caps must be positive and no higher than the national caps.
    public var rejectionAsDistrictCaps: Rejection? {
        guard lessonsMax >= 1, termMonthsMax >= 1, amountMax.isPositive else { return .districtCapAboveNationalCap }
        let national = ChargeCaps.national
        if lessonsMax > national.lessonsMax || termMonthsMax > national.termMonthsMax || amountMax > national.amountMax {
            return .districtCapAboveNationalCap
        }
        return nil
    }
}

/// One order's charge: lessons at a frozen price over a term.
public struct ChargeOrder: Hashable, Sendable {
    public var lessons: Int
    public var pricePerLesson: Money
    public var termStart: BusinessDate
    public var termEnd: BusinessDate

    public init(lessons: Int, pricePerLesson: Money, termStart: BusinessDate, termEnd: BusinessDate) {
        self.lessons = lessons
        self.pricePerLesson = pricePerLesson
        self.termStart = termStart
        self.termEnd = termEnd
    }
}

/// The prepayment rule: the order's amount when it may be charged, or the first cap it breaks.
public func checkCharge(_ order: ChargeOrder, caps: ChargeCaps) -> Result<Money, Rejection> {
    guard order.lessons > 0 else { return .failure(.lessonsMustBePositive) }
    guard order.pricePerLesson.isPositive else { return .failure(.priceMustBePositive) }
    guard order.termEnd >= order.termStart else { return .failure(.termEndsBeforeItStarts) }
    guard order.lessons <= caps.lessonsMax else { return .failure(.chargeCoversTooManyLessons) }
    guard order.termEnd <= order.termStart.addingMonths(caps.termMonthsMax) else { return .failure(.chargeTermTooLong) }
    guard let amount = order.pricePerLesson.times(order.lessons), amount <= caps.amountMax else {
        return .failure(.chargeAmountTooLarge)
    }
    return .success(amount)
}
