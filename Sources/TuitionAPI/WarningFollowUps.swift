import TuitionCore
import TuitionUseCases

/// The money use cases' follow-up: a change to an institution's figures re-evaluates its warnings.
extension WarningTrigger: FollowUps {
    func figuresChanged(of institution: Institution.ID) async { await changed(institution) }
}
