import Foundation
import Testing
import TuitionCore

/// A class session decides each listed enrollment with the single-lesson rule, after the session-wide refusals.
@Suite struct ClassSessionTests {
    let course = Course.ID(UUID())
    let today = BusinessDate("2026-03-20")!

    func candidate(paid: Bool = true, consumed: Int = 0, termStart: String = "2026-03-01", course: Course.ID? = nil)
        -> ClassSessionCandidate
    {
        ClassSessionCandidate(
            course: course ?? self.course,
            position: EnrollmentPosition(
                mode: .escrow, lessonsBought: 4, lessonsConsumed: consumed, pricePerLesson: Money(fen: 5_000),
                paid: paid ? Money(fen: 20_000) : .zero, paidAt: paid ? Date(timeIntervalSince1970: 1_770_000_000) : nil,
                released: Money(fen: 5_000 * Int64(consumed)), termStart: BusinessDate(termStart)!))
    }

    @Test func eachItemGetsTheSingleLessonRuleInTheOrderListed() throws {
        let ids = (0..<6).map { _ in Enrollment.ID(UUID()) }
        let candidates = [
            ids[0]: candidate(), ids[1]: candidate(consumed: 4), ids[2]: candidate(paid: false),
            ids[3]: candidate(termStart: "2026-03-21"), ids[4]: candidate(course: Course.ID(UUID())),
        ]
        let decisions = try decideClassSession(
            listed: ids + [ids[0]], candidates: candidates, course: course, institution: .active, takenOn: today, today: today)
        let release = PlannedTransfer(kind: .release, from: .escrow, to: .operating, amount: Money(fen: 5_000))
        #expect(
            decisions == [
                .success(release), .failure(.rejected(.lessonsExceedRemaining)), .failure(.rejected(.enrollmentNotPaid)),
                .failure(.rejected(.lessonDateBeforeTerm)), .failure(.rejected(.enrollmentNotInCourse)), .failure(.enrollmentNotFound),
                .failure(.rejected(.enrollmentListedTwice)),
            ])
        // Each success is exactly what the single route decides for one lesson.
        let first = try #require(candidates[ids[0]]).position
        let single = decideLessons(first, institution: .active, lessons: 1, takenOn: today, today: today)
        #expect(decisions[0] == single.mapError(ClassSessionRefusal.rejected))
    }

    @Test func sessionWideRefusalsComeFirst() {
        let id = Enrollment.ID(UUID())
        func refusal(_ listed: [Enrollment.ID], _ status: InstitutionStatus, takenOn: BusinessDate) -> Rejection? {
            do {
                _ = try decideClassSession(
                    listed: listed, candidates: [id: candidate()], course: course, institution: status, takenOn: takenOn, today: today)
                return nil
            } catch { return error }
        }
        let tooMany = Array(repeating: id, count: ClassSessionLimits.enrollmentsMax + 1)
        #expect(refusal([], .active, takenOn: today) == .classSessionSizeOutOfRange)
        #expect(refusal(tooMany, .defunct, takenOn: today.addingDays(1)) == .classSessionSizeOutOfRange)
        #expect(refusal([id], .defunct, takenOn: today.addingDays(1)) == .institutionDefunct)
        #expect(refusal([id], .suspended, takenOn: today) == .institutionNotOperating)
        #expect(refusal([id], .active, takenOn: today.addingDays(1)) == .lessonDateInFuture)
        #expect(refusal([id], .warned, takenOn: today) == nil)
    }
}
