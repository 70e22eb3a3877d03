import Foundation
import Hummingbird
import Logging
import TuitionCore
import TuitionStore
import TuitionWire

// MARK: Warnings, sanctions, inspections and credit

func addSupervisionRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    // Regulators see their district's warnings, institutions their own.
    v1.get("warnings") { request, context in
        let principal = try context.principal()
        guard principal.role == .regulator || principal.role == .institution else { throw Problem.roleNotPermitted }
        let status = try request.option("status", as: WarningStatus.self)
        let rule = try request.option("rule", as: WarningRule.self)
        let page = try await services.warnings.warnings(
            scope: Scope(principal), status: status, rule: rule, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }
    v1.post("warnings/:id/resolution") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw Problem.notFound }
        let (body, _) = try await request.decodeJSON(NoteBody.self, context: context)
        let note = try validFreeText(body.note, maxScalars: 2_000)
        return try JSON.response(try await services.warnings.resolve(id, district: district, note: note))
    }
    // Evaluates the regulator's district now, as the scheduled evaluation does.
    v1.post("warnings/evaluation") { _, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        return try JSON.response(try await services.warnings.evaluate(.district(district)))
    }

    v1.get("district/warning-settings") { _, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        return try JSON.response(try await services.warnings.thresholds(district).body)
    }
    v1.put("district/warning-settings") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(WarningThresholds.Body.self, context: context)
        return try JSON.response(try await services.warnings.setThresholds(WarningThresholds(body), district: district).body)
    }

    v1.post("institutions/:id/inspections") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        let id: Institution.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(NewInspection.self, context: context)
        return try JSON.response(
            try await services.supervision.recordInspection(body, institution: id, district: district), status: .created)
    }
    for (path, action) in [("suspension", SanctionAction.suspend), ("reinstatement", .reinstate), ("blacklisting", .blacklist)] {
        v1.post("institutions/:id/\(path)") { request, context in
            guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
            let id: Institution.ID = try context.parameters.id("id")
            let (body, _) = try await request.decodeJSON(NoteBody.self, context: context)
            let note = try validFreeText(body.note, maxScalars: 2_000)
            return try JSON.response(
                try await services.supervision.sanction(id, action: action, note: note, district: district), status: .created)
        }
    }
    v1.get("institutions/:id/credit") { _, context in
        guard let credit = try await services.supervision.credit(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(credit)
    }
    v1.get("institutions/:id/ratings") { _, context in
        let id: Institution.ID = try context.parameters.id("id")
        guard try await services.parties.institution(id, scope: try context.scope) != nil else { throw Problem.notFound }
        return try JSON.response(try await services.feedback.ratings(of: id))
    }
}

// MARK: Reviews and complaints

func addFeedbackRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    v1.post("enrollments/:id/review") { request, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(NewReview.self, context: context)
        return try JSON.response(try await services.feedback.review(id, guardian: guardian, body), status: .created)
    }
    v1.get("enrollments/:id/review") { _, context in
        guard let review = try await services.feedback.reviewOf(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(review)
    }

    v1.post("complaints") { request, context in
        guard case .guardian(let guardian) = try context.principal(.guardian).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewComplaint.self, context: context)
        return try JSON.response(try await services.feedback.file(body, guardian: guardian), status: .created)
    }
    v1.get("complaints") { request, context in
        let status = try request.option("status", as: ComplaintStatus.self)
        let page = try await services.feedback.complaints(scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }
    v1.get("complaints/:id") { _, context in
        guard let complaint = try await services.feedback.complaint(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(complaint)
    }
    v1.post("complaints/:id/answer") { request, context in
        guard case .institution(let institution) = try context.principal(.institution).entity else { throw Problem.roleNotPermitted }
        let id: Complaint.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(AnswerBody.self, context: context)
        return try JSON.response(try await services.feedback.answer(id, institution: institution, answer: body.answer))
    }
    v1.post("complaints/:id/closing") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        let id: Complaint.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(ClosingBody.self, context: context)
        return try JSON.response(try await services.feedback.close(id, district: district, upheld: body.upheld, note: body.note))
    }
}
