import Foundation
import Testing
import TuitionCore

/// The one position of an enrollment, and the rules that read it.
@Suite struct PositionTests {
    let termStart = BusinessDate("2026-03-01")!
    let price = Money(fen: 5_000)
    let paidAt = Date(timeIntervalSince1970: 1_770_000_000)

    func position(
        _ mode: SupervisionMode = .escrow, consumed: Int = 0, refunded: Int = 0, returned: Int64 = 0, escrowReturned: Int64 = 0,
        afterDefunct: Int = 0, effectiveAt: Date? = nil
    ) -> EnrollmentPosition {
        EnrollmentPosition(
            mode: mode, lessonsBought: 20, lessonsConsumed: consumed, lessonsRefunded: refunded, pricePerLesson: price,
            paid: Money(fen: 100_000), paidAt: paidAt, released: mode == .escrow ? Money(fen: 5_000 * Int64(consumed)) : .zero,
            refunded: Money(fen: 5_000 * Int64(refunded)), returned: Money(fen: returned), escrowReturned: Money(fen: escrowReturned),
            lessonsAfterDefunct: afterDefunct, defunctEffectiveAt: effectiveAt, termStart: termStart)
    }

    @Test func aClaimPayoutCountsAgainstRefundsAndLessons() {
        // Finding 2: a refund_refused claim paid in full returns the money; the same lessons cannot be refunded again.
        let repaid = position(consumed: 5, returned: 75_000)
        #expect(repaid.outstanding == .zero && repaid.lessonsRemaining == 0)
        #expect(decideRefund(repaid, institution: .active, lessons: nil).map(\.lessons) == .failure(.nothingToRefund))
        #expect(decideRefund(repaid, institution: .active, lessons: 1).map(\.lessons) == .failure(.nothingToRefund))
        let today = termStart.addingDays(10)
        #expect(
            decideLessons(repaid, institution: .active, lessons: 1, takenOn: today, today: today).map { $0?.amount }
                == .failure(.lessonsExceedRemaining))
        // A partial payout leaves whole lessons for what is still outstanding, never more money than it.
        let partly = position(consumed: 5, returned: 12_000)
        #expect(partly.outstanding == Money(fen: 63_000) && partly.lessonsRemaining == 12)
        #expect(decideRefund(partly, institution: .active, lessons: 13).map(\.lessons) == .failure(.refundExceedsUnconsumed))
        // Refunding everything returns every unused lesson and exactly what is still owed for them: the 3,000 that no
        // whole lesson pays for included, which a refund by lessons left owed for ever.
        let all = try? decideRefund(partly, institution: .active, lessons: nil).get()
        #expect(all?.lessons == 15 && all?.transfer.amount == Money(fen: 63_000))
        let afterTwelve = position(consumed: 5, refunded: 12, returned: 12_000)
        #expect(afterTwelve.outstanding == Money(fen: 3_000) && afterTwelve.lessonsRemaining == 0)
        let remainder = try? decideRefund(afterTwelve, institution: .active, lessons: nil).get()
        #expect(remainder?.lessons == 3 && remainder?.transfer.amount == Money(fen: 3_000))
        #expect(decideRefund(afterTwelve, institution: .active, lessons: 1).map(\.lessons) == .failure(.nothingToRefund))
    }

    @Test func aDefunctInstitutionClosesEveryMoneyPath() {
        // Finding 1: refunds were allowed whatever the status; a defunct institution refunds nothing, its fast-track does.
        let p = position(consumed: 2)
        let today = termStart.addingDays(10)
        #expect(decideRefund(p, institution: .defunct, lessons: 1).map(\.lessons) == .failure(.institutionDefunct))
        #expect(decideRefund(p, institution: .suspended, lessons: 1).map(\.lessons) != .failure(.institutionDefunct))
        #expect(
            decideLessons(p, institution: .defunct, lessons: 1, takenOn: today, today: today).map { $0?.amount }
                == .failure(.institutionDefunct))
        var unpaid = p
        unpaid.paid = .zero
        #expect(
            decidePayment(unpaid, institution: .defunct, contractSigned: true, offered: unpaid.amount).map(\.amount)
                == .failure(.institutionDefunct))
        #expect(decideReserveTopUp(amount: Money(fen: 1), institution: .defunct).map(\.amount) == .failure(.institutionDefunct))
        #expect(refusal(of: .suspended) == .institutionNotOperating && refusal(of: .active) == nil)
    }

    @Test func lessonsAfterTheEffectiveTimeDoNotCountAndLatePaymentsAreReturnedInFull() {
        let effective = paidAt.addingTimeInterval(86_400)
        // Paid before: entitled to the waterfall for everything but the lessons recorded before the effective time.
        let early = position(consumed: 7, afterDefunct: 3, effectiveAt: effective)
        #expect(early.consumedValue == Money(fen: 20_000) && early.entitlement == Money(fen: 80_000) && early.returnDue == .zero)
        // Finding 3: paid at or after the effective time, returned in full as its own layer, entitled to nothing.
        var late = position(consumed: 4, afterDefunct: 4, effectiveAt: effective)
        late.paidAt = effective
        #expect(late.paidAfterDefunct && late.entitlement == .zero && late.returnDue == Money(fen: 100_000))
        // Escrow held follows what left escrow for the guardian.
        let settled = position(consumed: 4, returned: 80_000, escrowReturned: 80_000, effectiveAt: effective)
        #expect(settled.escrowHeld == .zero && settled.outstanding == .zero)
    }

    @Test func aReferredClaimCarriesTheContestedValue() {
        // Finding 5: disputed lessons and a burst count as consumed in the entitlement; a person may add them back.
        let event = paidAt.addingTimeInterval(40 * 86_400)
        let facts = EnrollmentLedgerFacts(
            enrollment: .init(UUID()), institution: .init(UUID()), guardian: .init(UUID()), pricePerLesson: price, lessonsBought: 20,
            lessonsPerWeek: 1, paid: Money(fen: 100_000), paidAt: paidAt,
            lessons: [
                LessonEntry(lessons: 2, recordedAt: paidAt.addingTimeInterval(86_400), status: .disputed),
                LessonEntry(lessons: 3, recordedAt: paidAt.addingTimeInterval(2 * 86_400), status: .confirmed),
                LessonEntry(lessons: 1, recordedAt: event.addingTimeInterval(60), status: .disputed),
            ])
        #expect(entitlement(of: facts, asOf: event) == Money(fen: 75_000))
        #expect(contestedValue(of: facts, asOf: event) == Money(fen: 10_000))
        let claim = ClaimRequest(
            claimant: facts.guardian, enrollment: facts.enrollment, reason: .institutionDefunct, claimed: Money(fen: 100_000),
            eventTime: event)
        let assessed = assessClaim(claim, facts: facts, policy: nil)
        #expect(assessed.contested == Money(fen: 10_000) && assessed.approvable == Money(fen: 75_000))
        // A burst in the 30 days before: every lesson recorded in the window is contested too.
        var burst = facts
        burst.lessons = [LessonEntry(lessons: 12, recordedAt: event.addingTimeInterval(-86_400), status: .confirmed)]
        #expect(contestedValue(of: burst, asOf: event) == Money(fen: 60_000))
        // Already paid back: the contested value never lets the total exceed what was paid.
        burst.claimPayouts = Money(fen: 70_000)
        #expect(entitlement(of: burst, asOf: event) == .zero && contestedValue(of: burst, asOf: event) == Money(fen: 30_000))
    }
}
