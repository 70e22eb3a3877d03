import Testing

@testable import TuitionStore

/// The request's commit tracker: what each answer may say about the request's writes, in every order.
@Suite struct CommitTrackerTests {
    /// The deadline and the request's own failure may both answer (a database failing just as the deadline passes): an
    /// answer after one made with no COMMIT begun still says nothing was written, since none can begin after an answer.
    @Test func twoAnswersWithNoCommitBothSayNothingWasWritten() throws {
        let tracker = CommitTracker()
        #expect(tracker.answer() == .nothingWritten)
        #expect(tracker.answer() == .nothingWritten)
        #expect(throws: AnsweredBeforeCommit.self) { _ = try tracker.claimCommit() }
        #expect(tracker.answer() == .nothingWritten)
    }

    @Test func anAnswerAfterACommitBeganSaysTheOutcomeIsUnknownEveryTime() throws {
        let tracker = CommitTracker()
        #expect(try tracker.claimCommit())
        #expect(tracker.answer() == .outcomeUnknown)
        #expect(tracker.answer() == .outcomeUnknown)
        tracker.releaseClaim()
        #expect(tracker.answer() == .outcomeUnknown)
    }

    @Test func aCommitTheServerRefusedGivesItsClaimBack() throws {
        let tracker = CommitTracker()
        #expect(try tracker.claimCommit())
        tracker.releaseClaim()
        #expect(tracker.answer() == .nothingWritten)
    }
}
