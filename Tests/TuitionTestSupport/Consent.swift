import Foundation
import PostgresNIO
import TuitionCore
import TuitionStore
import TuitionWire

/// The consent flows as every test goes through them, so a change to them changes every test at once.
extension EnrollmentRepository {
    /// The institution proposes the order and `guardian` accepts it for its student.
    public func create(_ new: NewEnrollment, institution: Institution.ID, guardian: Guardian.ID) async throws -> EnrollmentRecord {
        let proposal = try await propose(
            NewEnrollmentProposal(
                guardianId: guardian, courseId: new.courseId, lessons: new.lessons, termStart: new.termStart, termEnd: new.termEnd),
            institution: institution)
        return try await accept(proposal.id, studentId: new.studentId, guardian: guardian)
    }
}

extension InsuranceRepository {
    /// The insurer proposes a risk-control policy and the institution accepts it, paying the premium under `key`, in
    /// the caller's transaction.
    public func issueRiskPolicy(_ new: NewRiskPolicy, insurer: Insurer.ID, key: String, on transaction: StoreTransaction) async throws
        -> PolicyRecord
    {
        let proposal = try await proposeRiskPolicy(new, insurer: insurer, on: transaction)
        return try await acceptRiskPolicy(proposal.id, institution: new.institutionId, key: key, on: transaction)
    }
}
