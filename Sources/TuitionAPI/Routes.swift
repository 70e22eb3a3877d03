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
        self.idempotent = IdempotentRequests(keyed: KeyedRequests(store: store))
        self.warnings = WarningRepository(store: store)
        self.supervision = SupervisionRepository(store: store)
        self.feedback = FeedbackRepository(store: store)
        self.warningTrigger = WarningTrigger(warnings: warnings, background: background, logger: store.logger)
        self.money = MoneyMovements(store: store, followUps: warningTrigger)
    }
}

func addRoutes(to router: Router<AppRequestContext>, services: Services) {
    addPartyRoutes(to: router, services: services)
    addTokenRoutes(to: router, services: services)
    addEnrollmentRoutes(to: router, services: services)
    addInsuranceRoutes(to: router, services: services)
    addClaimRoutes(to: router, services: services)
    addDefunctRoutes(to: router, services: services)
    addSupervisionRoutes(to: router, services: services)
    addFeedbackRoutes(to: router, services: services)
}

// MARK: Principals, districts, institutions, students, courses

func addPartyRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    v1.get("me") { _, context in
        let principal = try context.principal()
        return try JSON.response(
            Me(principalId: principal.id.uuidString.lowercased(), role: principal.role, entityId: principal.entity.entityId))
    }

    // A parent signs up in the app and gets a guardian token, shown once.
    v1.post("guardians") { request, context in
        let (body, _) = try await request.decodeJSON(GuardianSignUp.self, context: context)
        let guardian = try await services.parties.createGuardian(name: body.name, phone: body.phone ?? "")
        return try TokenIssued(try await services.principals.issue(for: .guardian(guardian), label: "sign-up")).response
    }

    v1.get("district/charge-caps") { _, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        return try JSON.response(try await services.parties.chargeCaps(district).body)
    }
    v1.put("district/charge-caps") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(ChargeCaps.Body.self, context: context)
        let caps = ChargeCaps(lessonsMax: body.lessonsMax, termMonthsMax: body.termMonthsMax, amountMax: body.amountMaxFen)
        return try JSON.response(try await services.parties.setChargeCaps(caps, district: district).body)
    }

    v1.post("institutions") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewInstitution.self, context: context)
        return try JSON.response(try await services.parties.registerInstitution(body, district: district), status: .created)
    }
    v1.get("institutions") { request, context in
        let status = try request.option("status", as: InstitutionStatus.self)
        let page = try await services.parties.institutions(scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }
    v1.get("institutions/:id") { _, context in
        guard let institution = try await services.parties.institution(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(institution)
    }
    // The regulator issues an institution's API token; it is shown once.
    v1.post("institutions/:id/tokens") { _, context in
        let scope = Scope(try context.principal(.regulator))
        let id: Institution.ID = try context.parameters.id("id")
        guard let institution = try await services.parties.institution(id, scope: scope) else { throw Problem.notFound }
        // Blacklisting is final and revoked every token of the institution: it gets no new one.
        guard institution.status != .blacklisted else { throw Rejection.institutionIsBlacklisted }
        return try TokenIssued(try await services.principals.issue(for: .institution(id), label: "issued by regulator")).response
    }
    v1.get("institutions/:id/statement") { _, context in
        guard let statement = try await services.statements.institutionStatement(try context.parameters.id("id"), scope: try context.scope)
        else { throw Problem.notFound }
        return try JSON.response(statement)
    }
    v1.get("institutions/:id/transfers") { request, context in
        let query = request.uri.queryParameters
        let after = try query["cursor"].map { text in
            guard let id = Int64(String(text)), id >= 0 else { throw Problem.invalidParameter("cursor is not one we gave out") }
            return id
        }
        let limit = try request.pageLimit()
        guard
            let page = try await services.statements.institutionTransfers(
                try context.parameters.id("id"), scope: try context.scope, after: after, limit: limit)
        else { throw Problem.notFound }
        return try JSON.response(PageBody(items: page.items, nextCursor: page.next.map(String.init)))
    }
    v1.post("institutions/:id/reserve-topups") { request, context in
        let principal = try context.principal(.institution)
        let id: Institution.ID = try context.parameters.id("id")
        guard principal.entity == .institution(id) else { throw Problem.notFound }
        let (body, raw) = try await request.decodeJSON(TopUpBody.self, context: context)
        try checkAmount(body.amountFen, atMost: PlatformLimits.topUpMaximum)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.topUpReserve(
                institution: id, amount: body.amountFen, transferKey: request.transferKey("reserve_topup", principal: principal),
                request: keyed, encode: JSON.body)
        }
    }

    v1.post("students") { request, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewStudent.self, context: context)
        return try JSON.response(try await services.parties.createStudent(body, guardian: guardian), status: .created)
    }
    v1.get("students") { request, context in
        try JSON.response(PageBody(try await services.parties.students(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("students/:id") { _, context in
        guard let student = try await services.parties.student(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(student)
    }

    v1.post("courses") { request, context in
        guard case .institution(let institution) = try context.principal(.institution).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewCourse.self, context: context)
        return try JSON.response(try await services.parties.createCourse(body, institution: institution), status: .created)
    }
    v1.get("courses") { request, context in
        try JSON.response(PageBody(try await services.parties.courses(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("courses/:id") { _, context in
        guard let course = try await services.parties.course(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(course)
    }
}

// MARK: Enrollments, money and lessons

func addEnrollmentRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    // The guardian places an order for its own student; an institution proposes one instead (enrollment-proposals).
    v1.post("enrollments") { request, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewEnrollment.self, context: context)
        return try JSON.response(try await services.enrollments.place(body, guardian: guardian), status: .created)
    }
    // The institution proposes an order naming no student; it hands the proposal's id to the parent, whose guardian
    // accepts it for a student of its own. Only then is there an enrollment (with the same id).
    v1.post("enrollment-proposals") { request, context in
        guard case .institution(let institution) = try context.principal(.institution).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewEnrollmentProposal.self, context: context)
        return try JSON.response(try await services.enrollments.propose(body, institution: institution), status: .created)
    }
    v1.get("enrollment-proposals") { request, context in
        try JSON.response(PageBody(try await services.enrollments.proposals(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("enrollment-proposals/:id") { _, context in
        guard let proposal = try await services.enrollments.proposal(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(proposal)
    }
    v1.post("enrollment-proposals/:id/acceptance") { request, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(EnrollmentAcceptance.self, context: context)
        return try JSON.response(
            try await services.enrollments.accept(try context.parameters.id("id"), studentId: body.studentId, guardian: guardian),
            status: .created)
    }
    v1.post("enrollment-proposals/:id/rejection") { _, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        return try JSON.response(try await services.enrollments.rejectProposal(try context.parameters.id("id"), guardian: guardian))
    }
    v1.get("enrollments") { request, context in
        try JSON.response(PageBody(try await services.enrollments.enrollments(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("enrollments/:id") { _, context in
        guard let enrollment = try await services.enrollments.enrollment(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(enrollment)
    }
    v1.get("enrollments/:id/statement") { _, context in
        guard let statement = try await services.statements.enrollmentStatement(try context.parameters.id("id"), scope: try context.scope)
        else { throw Problem.notFound }
        return try JSON.response(statement)
    }
    v1.post("enrollments/:id/payments") { request, context in
        let principal = try context.principal(.guardian)
        guard case .guardian(let guardian) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(PaymentBody.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.pay(id, guardian: guardian, amount: body.amountFen, request: keyed, encode: JSON.body)
        }
    }
    v1.post("enrollments/:id/lessons") { request, context in
        let principal = try context.principal(.institution)
        guard case .institution(let institution) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(LessonsBody.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.recordLessons(
                id, institution: institution, lessons: body.lessons, takenOn: body.takenOn, request: keyed, encode: JSON.body)
        }
    }
    // Batch attendance: one lesson each for up to 500 enrollments of one course on one date, in one transaction under
    // one Idempotency-Key; each enrollment is recorded or refused on its own (`decideClassSession`).
    v1.post("class-sessions") { request, context in
        let principal = try context.principal(.institution)
        guard case .institution(let institution) = principal.entity else { throw Problem.roleNotPermitted }
        let (body, raw) = try await request.decodeJSON(NewClassSession.self, context: context)
        try checkClassSessionSize(body.enrollmentIds.count)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal, status: .ok)
        return try await services.idempotent.respond {
            try await services.money.recordClassSession(
                body, institution: institution, releaseKeyPrefix: request.transferKey("release", principal: principal), request: keyed,
                encode: JSON.body)
        }
    }
    v1.get("enrollments/:id/lessons") { request, context in
        guard
            let page = try await services.enrollments.lessons(
                of: try context.parameters.id("id"), scope: try context.scope, page: try request.pageRequest())
        else { throw Problem.notFound }
        return try JSON.response(PageBody(page))
    }
    v1.post("enrollments/:id/refunds") { request, context in
        let principal = try context.principal(.institution)
        guard case .institution(let institution) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(RefundBody.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.refund(
                id, institution: institution, lessons: body.lessons, reason: { try validOptionalText(body.reason) }, request: keyed,
                encode: JSON.body)
        }
    }
    v1.post("lessons/:id/confirmation") { _, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        return try JSON.response(
            try await services.enrollments.answerLesson(try context.parameters.id("id"), guardian: guardian, dispute: nil))
    }
    v1.post("lessons/:id/dispute") { request, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(DisputeBody.self, context: context)
        let reason = try validFreeText(body.reason, maxScalars: 1_000)
        return try JSON.response(
            try await services.enrollments.answerLesson(try context.parameters.id("id"), guardian: guardian, dispute: reason))
    }
}
