import Hummingbird
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Orders and proposals: a guardian orders for its own student, or an institution proposes an order naming no student,
/// hands the proposal's id to the parent, and the guardian accepts it for a student of its own (the enrollment then
/// gets the proposal's id).
struct EnrollmentController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("enrollments", use: place)
        v1.get("enrollments", use: list)
        v1.get("enrollments/:id", use: show)
        v1.get("enrollments/:id/statement", use: statement)
        v1.post("enrollment-proposals", use: propose)
        v1.get("enrollment-proposals", use: proposals)
        v1.get("enrollment-proposals/:id", use: proposal)
        v1.post("enrollment-proposals/:id/acceptance", use: accept)
        v1.post("enrollment-proposals/:id/rejection", use: reject)
    }

    /// An Idempotency-Key is optional here (no money moves); with one, a retry returns the first order.
    func place(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.guardian)
        let guardian = try principal.guardian()
        let (body, raw) = try await request.decodeJSON(NewEnrollment.self, context: context)
        guard request.namesIdempotencyKey else {
            return try JSON.response(try await services.enrollments.place(body, guardian: guardian), status: .created)
        }
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.placeOrder(body, guardian: guardian, request: keyed, encode: JSON.body)
        }
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(PageBody(try await services.enrollments.enrollments(scope: try context.scope, page: try request.pageRequest())))
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.enrollments.enrollment(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func statement(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(
            try await services.statements.enrollmentStatement(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func propose(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try context.institution()
        let (body, _) = try await request.decodeJSON(NewEnrollmentProposal.self, context: context)
        return try JSON.response(try await services.enrollments.propose(body, institution: institution), status: .created)
    }

    func proposals(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(PageBody(try await services.enrollments.proposals(scope: try context.scope, page: try request.pageRequest())))
    }

    func proposal(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.enrollments.proposal(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func accept(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        let (body, _) = try await request.decodeJSON(EnrollmentAcceptance.self, context: context)
        return try JSON.response(
            try await services.enrollments.accept(try context.parameters.id("id"), studentId: body.studentId, guardian: guardian),
            status: .created)
    }

    func reject(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        return try JSON.response(try await services.enrollments.rejectProposal(try context.parameters.id("id"), guardian: guardian))
    }
}

/// Money and lessons: payments into escrow, lessons one enrollment at a time or a whole class session, refunds,
/// and the guardian's answer to a lesson. Every money route runs under its Idempotency-Key through the use cases.
struct LessonController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("enrollments/:id/payments", use: pay)
        v1.post("enrollments/:id/lessons", use: recordLessons)
        v1.get("enrollments/:id/lessons", use: lessons)
        v1.post("enrollments/:id/refunds", use: refund)
        v1.post("class-sessions", use: recordClassSession)
        v1.post("lessons/:id/confirmation", use: confirm)
        v1.post("lessons/:id/dispute", use: dispute)
    }

    func pay(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.guardian)
        let guardian = try principal.guardian()
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(PaymentBody.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.pay(id, guardian: guardian, amount: body.amountFen, request: keyed, encode: JSON.body)
        }
    }

    func recordLessons(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.institution)
        let institution = try principal.institution()
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(LessonsBody.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.recordLessons(
                id, institution: institution, lessons: body.lessons, takenOn: body.takenOn, request: keyed, encode: JSON.body)
        }
    }

    /// Batch attendance: one lesson each for up to 500 enrollments of one course on one date, in one transaction under
    /// one Idempotency-Key; each enrollment is recorded or refused on its own (`decideClassSession`).
    func recordClassSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.institution)
        let institution = try principal.institution()
        let (body, raw) = try await request.decodeJSON(NewClassSession.self, context: context)
        try checkClassSessionSize(body.enrollmentIds.count)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal, status: .ok)
        return try await services.idempotent.respond {
            try await services.money.recordClassSession(
                body, institution: institution, releaseKeyPrefix: request.transferKey("release", principal: principal), request: keyed,
                encode: JSON.body)
        }
    }

    func lessons(_ request: Request, context: AppRequestContext) async throws -> Response {
        let page = try await services.enrollments.lessons(
            of: try context.parameters.id("id"), scope: try context.scope, page: try request.pageRequest())
        return try JSON.response(PageBody(try page.orNotFound()))
    }

    func refund(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.institution)
        let institution = try principal.institution()
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(RefundBody.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.refund(
                id, institution: institution, lessons: body.lessons, reason: { try validOptionalText(body.reason) }, request: keyed,
                encode: JSON.body)
        }
    }

    func confirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        return try JSON.response(
            try await services.enrollments.answerLesson(try context.parameters.id("id"), guardian: guardian, dispute: nil))
    }

    func dispute(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        let (body, _) = try await request.decodeJSON(DisputeBody.self, context: context)
        let reason = try validFreeText(body.reason, maxScalars: 1_000)
        return try JSON.response(
            try await services.enrollments.answerLesson(try context.parameters.id("id"), guardian: guardian, dispute: reason))
    }
}

extension Swift.Optional {
    /// The value, or 404 — a resource that does not exist and one the caller may not see look the same.
    func orNotFound() throws -> Wrapped {
        guard let self else { throw Problem.notFound }
        return self
    }
}
