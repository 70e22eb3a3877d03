import Foundation
import Testing
import TuitionCore

@Suite struct PrepaymentRuleTests {
    let start = BusinessDate("2026-09-01")!

    func order(lessons: Int = 40, priceFen: Int64 = 10_000, months: Int = 3, extraDays: Int = 0) -> ChargeOrder {
        ChargeOrder(
            lessons: lessons, pricePerLesson: Money(fen: priceFen), termStart: start,
            termEnd: start.addingMonths(months).addingDays(extraDays))
    }

    @Test func acceptsAnOrderAtEveryNationalCap() throws {
        // 60 lessons, exactly 3 months, exactly ¥5,000.
        let amount = try checkCharge(order(lessons: 60, priceFen: 8_333, months: 3), caps: .national).get()
        #expect(amount == Money(fen: 499_980))
        #expect(try checkCharge(order(lessons: 50, priceFen: 10_000), caps: .national).get() == .yuan(5_000))
    }

    @Test(arguments: [
        (61, Int64(100), 3, 0, Rejection.chargeCoversTooManyLessons),
        (40, 100, 3, 1, .chargeTermTooLong),
        (40, 12_501, 3, 0, .chargeAmountTooLarge),
        (0, 100, 3, 0, .lessonsMustBePositive),
        (-3, 100, 3, 0, .lessonsMustBePositive),
        (10, 0, 3, 0, .priceMustBePositive),
        (10, -100, 3, 0, .priceMustBePositive),
        (10, 100, 0, -1, .termEndsBeforeItStarts),
        (60, Int64.max / 2, 3, 0, .chargeAmountTooLarge),
    ])
    func refusesOrdersBreakingTheRule(lessons: Int, priceFen: Int64, months: Int, extraDays: Int, expected: Rejection) {
        #expect(
            checkCharge(order(lessons: lessons, priceFen: priceFen, months: months, extraDays: extraDays), caps: .national)
                == .failure(expected))
    }

    @Test func districtCapsMayOnlyBeLower() {
        let lower = ChargeCaps(lessonsMax: 30, termMonthsMax: 2, amountMax: .yuan(3_000))
        #expect(lower.rejectionAsDistrictCaps == nil)
        #expect(checkCharge(order(lessons: 31, priceFen: 100, months: 2), caps: lower) == .failure(.chargeCoversTooManyLessons))
        #expect(checkCharge(order(lessons: 30, priceFen: 100, months: 3), caps: lower) == .failure(.chargeTermTooLong))
        #expect(checkCharge(order(lessons: 30, priceFen: 10_001, months: 2), caps: lower) == .failure(.chargeAmountTooLarge))
        #expect(
            ChargeCaps(lessonsMax: 61, termMonthsMax: 3, amountMax: .yuan(5_000)).rejectionAsDistrictCaps == .districtCapAboveNationalCap)
        #expect(
            ChargeCaps(lessonsMax: 60, termMonthsMax: 4, amountMax: .yuan(5_000)).rejectionAsDistrictCaps == .districtCapAboveNationalCap)
        #expect(
            ChargeCaps(lessonsMax: 60, termMonthsMax: 3, amountMax: .yuan(5_001)).rejectionAsDistrictCaps == .districtCapAboveNationalCap)
        #expect(
            ChargeCaps(lessonsMax: 0, termMonthsMax: 3, amountMax: .yuan(5_000)).rejectionAsDistrictCaps == .districtCapAboveNationalCap)
    }

    @Test func firstBrokenCapWins() {
        // Too many lessons and too long and too expensive: the lesson cap is checked first.
        #expect(
            checkCharge(order(lessons: 61, priceFen: 100_000, months: 3, extraDays: 5), caps: .national)
                == .failure(.chargeCoversTooManyLessons))
    }
}

@Suite struct LedgerRuleTests {
    let termStart = BusinessDate("2026-09-01")!
    let today = BusinessDate("2026-10-01")!

    func position(_ mode: SupervisionMode = .escrow, bought: Int = 20, consumed: Int = 0, refunded: Int = 0, paid: Bool = true)
        -> EnrollmentPosition
    {
        let price = Money(fen: 5_000)
        return EnrollmentPosition(
            mode: mode, lessonsBought: bought, lessonsConsumed: consumed, lessonsRefunded: refunded, pricePerLesson: price,
            paid: paid ? Money(fen: 5_000 * Int64(bought)) : .zero,
            released: mode == .escrow ? Money(fen: 5_000 * Int64(consumed)) : .zero,
            refunded: Money(fen: 5_000 * Int64(refunded)), termStart: termStart)
    }

    @Test func paymentGoesToEscrowOrOperatingByMode() throws {
        let escrow = try decidePayment(position(paid: false), institution: .active, contractSigned: true, offered: Money(fen: 100_000))
            .get()
        #expect(escrow == PlannedTransfer(kind: .payment, from: .guardianBank, to: .escrow, amount: Money(fen: 100_000)))
        let reserve = try decidePayment(
            position(.reserve, paid: false), institution: .warned, contractSigned: true, offered: Money(fen: 100_000)
        ).get()
        #expect(reserve.to == .operating)
    }

    @Test func paymentRefusals() {
        #expect(
            decidePayment(position(paid: false), institution: .active, contractSigned: true, offered: .zero)
                == .failure(.amountMustBePositive))
        #expect(
            decidePayment(position(paid: false), institution: .active, contractSigned: true, offered: Money(fen: -1))
                == .failure(.amountMustBePositive))
        for status in [InstitutionStatus.suspended, .defunct, .blacklisted] {
            #expect(
                decidePayment(position(paid: false), institution: status, contractSigned: true, offered: Money(fen: 100_000))
                    == .failure(status == .defunct ? .institutionDefunct : .institutionNotOperating))
        }
        #expect(
            decidePayment(position(), institution: .active, contractSigned: true, offered: Money(fen: 100_000))
                == .failure(.enrollmentAlreadyPaid))
        #expect(
            decidePayment(position(paid: false), institution: .active, contractSigned: true, offered: Money(fen: 99_999))
                == .failure(.paymentDoesNotMatchOrder))
    }

    @Test func paymentIsRefusedUntilTheContractIsSignedByBothParties() {
        #expect(
            decidePayment(position(paid: false), institution: .active, contractSigned: false, offered: Money(fen: 100_000))
                == .failure(.contractNotSigned))
        // Already paid wins over the contract check, so a replayed payment says what happened.
        #expect(
            decidePayment(position(), institution: .active, contractSigned: false, offered: Money(fen: 100_000))
                == .failure(.enrollmentAlreadyPaid))
    }

    @Test func lessonsReleaseTheirValueInEscrowModeOnly() throws {
        let release = try decideLessons(position(), institution: .active, lessons: 3, takenOn: today, today: today).get()
        #expect(release == PlannedTransfer(kind: .release, from: .escrow, to: .operating, amount: Money(fen: 15_000)))
        #expect(try decideLessons(position(.reserve), institution: .active, lessons: 3, takenOn: today, today: today).get() == nil)
    }

    @Test func lessonRefusals() {
        func decide(_ p: EnrollmentPosition, _ lessons: Int, on date: BusinessDate? = nil, status: InstitutionStatus = .active)
            -> Rejection?
        {
            if case .failure(let rejection) = decideLessons(p, institution: status, lessons: lessons, takenOn: date ?? today, today: today)
            {
                return rejection
            }
            return nil
        }
        #expect(decide(position(), 0) == .lessonsMustBePositive)
        #expect(decide(position(), 1, status: .suspended) == .institutionNotOperating)
        #expect(decide(position(paid: false), 1) == .enrollmentNotPaid)
        #expect(decide(position(), 1, on: today.addingDays(1)) == .lessonDateInFuture)
        #expect(decide(position(), 1, on: termStart.addingDays(-1)) == .lessonDateBeforeTerm)
        #expect(decide(position(consumed: 15, refunded: 3), 3) == .lessonsExceedRemaining)
        #expect(decide(position(consumed: 15, refunded: 3), 2) == nil)
    }

    @Test func refundsUnconsumedLessonsAtTheFrozenPrice() throws {
        let all = try decideRefund(position(consumed: 5), institution: .active, lessons: nil).get()
        #expect(all.lessons == 15)
        #expect(all.transfer == PlannedTransfer(kind: .refund, from: .escrow, to: .guardianBank, amount: Money(fen: 75_000)))
        let some = try decideRefund(position(.reserve, consumed: 5), institution: .active, lessons: 4).get()
        #expect(some.transfer.from == .operating && some.transfer.amount == Money(fen: 20_000))
        #expect(decideRefund(position(consumed: 5), institution: .active, lessons: 16).map(\.lessons) == .failure(.refundExceedsUnconsumed))
        #expect(decideRefund(position(consumed: 20), institution: .active, lessons: nil).map(\.lessons) == .failure(.nothingToRefund))
        #expect(decideRefund(position(paid: false), institution: .active, lessons: nil).map(\.lessons) == .failure(.enrollmentNotPaid))
        #expect(decideRefund(position(), institution: .active, lessons: 0).map(\.lessons) == .failure(.lessonsMustBePositive))
    }

    @Test func escrowHeldNeverExceedsUnconsumedUnderTheRules() {
        // Walk every reachable (consumed, refunded) pair: the figures derived from the rules keep the invariant.
        for mode in SupervisionMode.allCases {
            for consumed in 0...20 {
                for refunded in 0...(20 - consumed) {
                    let p = position(mode, consumed: consumed, refunded: refunded)
                    #expect(p.escrowHeld <= p.unconsumed)
                    #expect(p.unconsumed.fen == Int64(p.lessonsRemaining) * 5_000)
                }
            }
        }
    }

    @Test func reserveRequirementRoundsUpToTheFen() {
        #expect(reserveRequirement(unconsumed: Money(fen: 10_001), ratioBasisPoints: 2_000) == Money(fen: 2_001))
        #expect(reserveRequirement(unconsumed: Money(fen: 10_000), ratioBasisPoints: 2_000) == Money(fen: 2_000))
        #expect(reserveRequirement(unconsumed: .zero, ratioBasisPoints: 2_000) == .zero)
        #expect(reserveRequirement(unconsumed: Money(fen: .max), ratioBasisPoints: 10_000) == Money(fen: .max))
    }

    @Test func reserveRatioMatchesTheMode() {
        #expect(checkReserveRatio(mode: .escrow, basisPoints: 0) == nil)
        #expect(checkReserveRatio(mode: .escrow, basisPoints: 100) == .reserveRatioInvalid)
        #expect(checkReserveRatio(mode: .reserve, basisPoints: 0) == .reserveRatioInvalid)
        #expect(checkReserveRatio(mode: .reserve, basisPoints: 10_001) == .reserveRatioInvalid)
        #expect(checkReserveRatio(mode: .reserve, basisPoints: 1_500) == nil)
    }

    @Test func lessonsMayBeAnsweredOnceWithinSevenDays() {
        let recorded = Date(timeIntervalSince1970: 1_790_000_000)
        #expect(checkLessonAnswer(status: .recorded, recordedAt: recorded, now: recorded + 7 * 86_400) == nil)
        #expect(checkLessonAnswer(status: .recorded, recordedAt: recorded, now: recorded + 7 * 86_400 + 1) == .lessonAnswerWindowClosed)
        #expect(checkLessonAnswer(status: .confirmed, recordedAt: recorded, now: recorded) == .lessonAlreadyAnswered)
        #expect(checkLessonAnswer(status: .disputed, recordedAt: recorded, now: recorded) == .lessonAlreadyAnswered)
    }

    @Test func rejectionCodesAreUniqueAndSnakeCase() {
        let codes = Rejection.allCases.map(\.rawValue)
        #expect(Set(codes).count == codes.count)
        #expect(codes.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
    }
}
