import Foundation
import HTTPTypes
import Hummingbird
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Everything the routes need, built once by `buildApplication`.
struct Services: Sendable {
    let store: Store
    let parties: PartyRepository
    let principals: PrincipalRepository
    let enrollments: EnrollmentRepository
    let statements: StatementRepository
    let insurance: InsuranceRepository
    let claims: ClaimRepository
    let defunct: DefunctRepository
    let fastTrack: FastTrackRunner
    let idempotent: IdempotentRequests
    // Supervision (issue #6)
    let warnings: WarningRepository
    let supervision: SupervisionRepository
    let feedback: FeedbackRepository
    let warningTrigger: WarningTrigger
    /// The money use cases; each schedules its warning re-evaluation itself.
    let money: MoneyMovements

    init(store: Store, tokenLifetime: TimeInterval, fastTrack: FastTrackRunner, background: BackgroundTasks) {
        self.store = store
        self.parties = PartyRepository(store: store)
        self.principals = PrincipalRepository(store: store, lifetime: tokenLifetime)
        self.enrollments = EnrollmentRepository(store: store)
        self.statements = StatementRepository(store: store)
        self.insurance = InsuranceRepository(store: store)
        self.claims = ClaimRepository(store: store)
        self.defunct = DefunctRepository(store: store)
        self.fastTrack = fastTrack
        self.idempotent = IdempotentRequests()
        self.warnings = WarningRepository(store: store)
        self.supervision = SupervisionRepository(store: store)
        self.feedback = FeedbackRepository(store: store)
        self.warningTrigger = WarningTrigger(warnings: warnings, background: background, logger: store.logger)
        self.money = MoneyMovements(store: store, followUps: warningTrigger)
    }
}

func addRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")
    PartyController(services: services).addRoutes(to: v1)
    InstitutionController(services: services).addRoutes(to: v1)
    StudentAndCourseController(services: services).addRoutes(to: v1)
    TokenController(services: services).addRoutes(to: v1)
    EnrollmentController(services: services).addRoutes(to: v1)
    LessonController(services: services).addRoutes(to: v1)
    InsuranceController(services: services).addRoutes(to: v1)
    ClaimController(services: services).addRoutes(to: v1)
    DefunctController(services: services).addRoutes(to: v1)
    SupervisionController(services: services).addRoutes(to: v1)
    FeedbackController(services: services).addRoutes(to: v1)
}
