import Hummingbird
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Who is calling, a parent's sign-up, and the district's charge caps.
struct PartyController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.get("me", use: me)
        v1.post("guardians", use: signUpGuardian)
        v1.get("district/charge-caps", use: chargeCaps)
        v1.put("district/charge-caps", use: setChargeCaps)
    }

    func me(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        return try JSON.response(
            Me(principalId: principal.id.uuidString.lowercased(), role: principal.role, entityId: principal.entity.entityId))
    }

    /// A parent signs up in the app and gets a guardian token, shown once.
    func signUpGuardian(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (body, _) = try await request.decodeJSON(GuardianSignUp.self, context: context)
        return try TokenIssued(try await services.principals.signUpGuardian(name: body.name, phone: body.phone ?? "", label: "sign-up"))
            .response
    }

    func chargeCaps(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.parties.chargeCaps(try context.regulatorDistrict()).body)
    }

    func setChargeCaps(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let (body, _) = try await request.decodeJSON(ChargeCaps.Body.self, context: context)
        let caps = ChargeCaps(lessonsMax: body.lessonsMax, termMonthsMax: body.termMonthsMax, amountMax: body.amountMaxFen)
        return try JSON.response(try await services.parties.setChargeCaps(caps, district: district).body)
    }
}

/// Institutions: the regulator registers them and issues their tokens; statements, transfers and reserve top-ups.
struct InstitutionController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("institutions", use: register)
        v1.get("institutions", use: list)
        v1.get("institutions/:id", use: show)
        v1.patch("institutions/:id", use: change)
        v1.post("institutions/:id/tokens", use: issueToken)
        v1.get("institutions/:id/statement", use: statement)
        v1.get("institutions/:id/transfers", use: transfers)
        v1.post("institutions/:id/reserve-topups", use: topUpReserve)
    }

    func register(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let (body, _) = try await request.decodeJSON(NewInstitution.self, context: context)
        return try JSON.response(try await services.parties.registerInstitution(body, district: district), status: .created)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let status = try request.option("status", as: InstitutionStatus.self)
        let page = try await services.parties.institutions(scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.parties.institution(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    /// The regulator renews an institution's licence or sets its reserve ratio; its warnings are evaluated again at
    /// once (inline, bounded, as after a payment: `WarningTrigger`), so a licence warning the renewal cured resolves
    /// now rather than at the next scheduled evaluation.
    func change(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let id: Institution.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(InstitutionChanges.self, context: context)
        guard !body.isEmpty else { throw Problem.malformedBody("nothing to change: give licenceValidUntil or reserveRatioBasisPoints") }
        _ = try await services.parties.changeInstitution(id, district: district, changes: body)
        await services.warningTrigger.changed(id)
        return try JSON.response(try await services.parties.institution(id, scope: try context.scope).orNotFound())
    }

    /// The regulator issues an institution's API token; it is shown once.
    func issueToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let scope = Scope(try context.principal(.regulator))
        let id: Institution.ID = try context.parameters.id("id")
        _ = try await services.parties.institution(id, scope: scope).orNotFound()
        return try TokenIssued(
            try await services.principals.issue(for: .institution(id), label: "issued by regulator", by: try context.principal())
        ).response
    }

    func statement(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(
            try await services.statements.institutionStatement(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func transfers(_ request: Request, context: AppRequestContext) async throws -> Response {
        let after = try request.cursor.map { text in
            guard text.count <= 18, text.isASCIIDigits, let id = Int64(String(text)) else {
                throw Problem.invalidParameter("cursor is not one we gave out")
            }
            return id
        }
        let page = try await services.statements.institutionTransfers(
            try context.parameters.id("id"), scope: try context.scope, after: after, limit: try request.pageLimit()
        ).orNotFound()
        return try JSON.response(PageBody(items: page.items, nextCursor: page.next.map(String.init)))
    }

    /// Only the institution itself tops up its reserve; another institution's id looks unknown.
    func topUpReserve(_ request: Request, context: AppRequestContext) async throws -> Response {
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
}

/// A guardian's students and an institution's courses.
struct StudentAndCourseController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("students", use: createStudent)
        v1.get("students", use: students)
        v1.get("students/:id", use: student)
        v1.post("courses", use: createCourse)
        v1.get("courses", use: courses)
        v1.get("courses/:id", use: course)
    }

    func createStudent(_ request: Request, context: AppRequestContext) async throws -> Response {
        let guardian = try context.guardian()
        let (body, _) = try await request.decodeJSON(NewStudent.self, context: context)
        return try JSON.response(try await services.parties.createStudent(body, guardian: guardian), status: .created)
    }

    func students(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(PageBody(try await services.parties.students(scope: try context.scope, page: try request.pageRequest())))
    }

    func student(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.parties.student(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func createCourse(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try context.institution()
        let (body, _) = try await request.decodeJSON(NewCourse.self, context: context)
        return try JSON.response(try await services.parties.createCourse(body, institution: institution), status: .created)
    }

    func courses(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(PageBody(try await services.parties.courses(scope: try context.scope, page: try request.pageRequest())))
    }

    func course(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.parties.course(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }
}
