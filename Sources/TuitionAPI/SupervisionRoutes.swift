import Foundation
import Hummingbird
import Logging
import TuitionCore
import TuitionStore
import TuitionWire

/// Supervision: warnings (regulators see their district's, institutions their own), the district's warning settings,
/// inspections, sanctions and credit grades.
struct SupervisionController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.get("warnings", use: warnings)
        v1.post("warnings/:id/resolution", use: resolveWarning)
        v1.post("warnings/evaluation", use: evaluateWarnings)
        v1.get("district/warning-settings", use: warningSettings)
        v1.put("district/warning-settings", use: setWarningSettings)
        v1.post("institutions/:id/inspections", use: recordInspection)
        v1.post("institutions/:id/suspension", use: sanction(.suspend))
        v1.post("institutions/:id/reinstatement", use: sanction(.reinstate))
        v1.post("institutions/:id/blacklisting", use: sanction(.blacklist))
        v1.get("institutions/:id/credit", use: credit)
        v1.get("institutions/:id/ratings", use: ratings)
    }

    func warnings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        guard principal.role == .regulator || principal.role == .institution else { throw Problem.roleNotPermitted }
        let status = try request.option("status", as: WarningStatus.self)
        let rule = try request.option("rule", as: WarningRule.self)
        let page = try await services.warnings.warnings(
            scope: Scope(principal), status: status, rule: rule, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }

    func resolveWarning(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let id = try context.parameters.get("id").flatMap(UUID.init(uuidString:)).orNotFound()
        let (body, _) = try await request.decodeJSON(NoteBody.self, context: context)
        let note = try validFreeText(body.note, maxScalars: 2_000)
        return try JSON.response(try await services.warnings.resolve(id, district: district, note: note))
    }

    /// Evaluates the regulator's district now, as the scheduled evaluation does.
    func evaluateWarnings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        return try JSON.response(try await services.warnings.evaluate(.district(district)))
    }

    func warningSettings(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.warnings.thresholds(try context.regulatorDistrict()).body)
    }

    func setWarningSettings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let (body, _) = try await request.decodeJSON(WarningThresholds.Body.self, context: context)
        return try JSON.response(try await services.warnings.setThresholds(WarningThresholds(body), district: district).body)
    }

    func recordInspection(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let id: Institution.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(NewInspection.self, context: context)
        return try JSON.response(
            try await services.supervision.recordInspection(body, institution: id, district: district), status: .created)
    }

    func sanction(_ action: SanctionAction) -> @Sendable (Request, AppRequestContext) async throws -> Response {
        { [services] request, context in
            let district = try context.regulatorDistrict()
            let id: Institution.ID = try context.parameters.id("id")
            let (body, _) = try await request.decodeJSON(NoteBody.self, context: context)
            let note = try validFreeText(body.note, maxScalars: 2_000)
            return try JSON.response(
                try await services.supervision.sanction(id, action: action, note: note, district: district), status: .created)
        }
    }

    func credit(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.supervision.credit(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func ratings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id: Institution.ID = try context.parameters.id("id")
        _ = try await services.parties.institution(id, scope: try context.scope).orNotFound()
        return try JSON.response(try await services.feedback.ratings(of: id))
    }
}

/// Reviews and complaints: a guardian reviews its enrollment or complains, the institution answers, the regulator closes.
struct FeedbackController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("enrollments/:id/review", use: review)
        v1.get("enrollments/:id/review", use: reviewOf)
        v1.post("complaints", use: fileComplaint)
        v1.get("complaints", use: complaints)
        v1.get("complaints/:id", use: complaint)
        v1.post("complaints/:id/answer", use: answer)
        v1.post("complaints/:id/closing", use: close)
    }

    func review(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(NewReview.self, context: context)
        return try JSON.response(try await services.feedback.review(id, guardian: guardian, body), status: .created)
    }

    func reviewOf(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.feedback.reviewOf(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func fileComplaint(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        let (body, _) = try await request.decodeJSON(NewComplaint.self, context: context)
        return try JSON.response(try await services.feedback.file(body, guardian: guardian), status: .created)
    }

    func complaints(_ request: Request, context: AppRequestContext) async throws -> Response {
        let status = try request.option("status", as: ComplaintStatus.self)
        let page = try await services.feedback.complaints(scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }

    func complaint(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.feedback.complaint(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func answer(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try context.institution()
        let id: Complaint.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(AnswerBody.self, context: context)
        return try JSON.response(try await services.feedback.answer(id, institution: institution, answer: body.answer))
    }

    func close(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let id: Complaint.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(ClosingBody.self, context: context)
        return try JSON.response(try await services.feedback.close(id, district: district, upheld: body.upheld, note: body.note))
    }
}
