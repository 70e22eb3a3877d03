import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct DefunctAPITests {
    /// The case once its fast-track, which runs as background work after the mark, has finished.
    static func completed(_ api: API, case id: String, token: String) async throws -> Reply {
        await api.settled()
        let reply = try await api.call(.get, "/v1/defunct-cases/\(id)", token: token)
        #expect(reply.string("status") == "completed", "\(reply.body)")
        return reply
    }

    @Test func theRegulatorsMarkFreezesTheInstitutionAndRepaysTheGuardians() async throws {
        try await API.run("defunctapi") { api, _ in
            let cast = try await Cast.make(api)
            let institution = cast.world.institution.id
            let marked = try await api.call(
                .post, "/v1/institutions/\(institution)/defunct", token: cast.regulator, json: #"{"reason":"负责人失联，校区停业"}"#)
            #expect(marked.status == .accepted && marked.string("status") == "running", "\(marked.body)")
            let id = marked.string("id")

            let done = try await Self.completed(api, case: id, token: cast.regulator)
            // 40 lessons at ¥80 paid, 1 recorded before the effective time: ¥3,120 owed, all of it still in escrow.
            #expect(done.int("enrollmentsTotal") == 1 && done.int("enrollmentsDone") == 1)
            #expect(done.int("entitledFen") == 312_000 && done.int("paidEscrowFen") == 312_000 && done.int("uncoveredFen") == 0)
            // The plan's inputs: an empty reserve, the one lesson's ¥80 released to operating, no risk-control policy.
            #expect(done.int("plannedReserveFen") == 0 && done.int("plannedOperatingFen") == 8_000, "\(done.body)")
            #expect(done.json["riskPolicyId"] == nil)
            let own = try await api.call(.get, "/v1/defunct-cases/\(id)", token: cast.institution)
            #expect(own.status == .ok)
            let settlements = try await api.call(.get, "/v1/defunct-cases/\(id)/settlements", token: cast.guardian)
            #expect(settlements.items.count == 1 && settlements.items.first?["status"] as? String == "paid")
            // The guardian finds the case it has a part in, by id and in its list; a guardian with no enrollment there
            // does not.
            #expect(try await api.call(.get, "/v1/defunct-cases/\(id)", token: cast.guardian).string("id") == id)
            let listed = try await api.call(.get, "/v1/defunct-cases", token: cast.guardian)
            #expect(listed.items.contains { $0["id"] as? String == id }, "\(listed.body)")
            let stranger = try await api.call(.post, "/v1/guardians", json: #"{"name":"路人"}"#).string("token")
            #expect(try await api.call(.get, "/v1/defunct-cases/\(id)", token: stranger).status == .notFound)
            #expect(try await api.call(.get, "/v1/defunct-cases", token: stranger).items.isEmpty)
            #expect(try await api.call(.get, "/v1/defunct-cases/\(id)/settlements", token: stranger).status == .notFound)
            #expect(
                try await api.call(.get, "/v1/defunct-cases/\(id)/settlements?status=late", token: cast.regulator).status == .badRequest)

            // Frozen: no money moves through the institution any more; a guardian's new order is refused, and the
            // institution's own token reads but no longer writes.
            let today = BusinessDate(shanghaiDateOf: Date())
            let enrollment = try await api.call(
                .post, "/v1/enrollments", token: cast.guardian,
                json: """
                    {"studentId":"\(cast.world.student.id)","courseId":"\(cast.world.course.id)","lessons":5,
                     "termStart":"\(today)","termEnd":"\(today.addingMonths(1))"}
                    """)
            #expect(enrollment.code == "institution_defunct", "\(enrollment.body)")
            let lessons = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/lessons", token: cast.institution,
                json: #"{"lessons":1,"takenOn":"\#(today)"}"#, idempotencyKey: "lesson-after-defunct")
            #expect(lessons.code == "institution_defunct")
            // Nor refunds (the OpenAPI text once said "allowed whatever the status"): the fast-track settled it.
            let refund = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/refunds", token: cast.institution, json: "{}",
                idempotencyKey: "refund-after-defunct")
            // (A helper restricting a defunct institution's token would turn these into 401/403: refused either way.)
            #expect(refund.code == "institution_defunct" || [.unauthorized, .forbidden].contains(refund.status), "\(refund.body)")
            let topUp = try await api.call(
                .post, "/v1/institutions/\(institution)/reserve-topups", token: cast.institution, json: #"{"amountFen":100}"#,
                idempotencyKey: "topup-after-defunct")
            #expect(topUp.code == "institution_defunct" || [.unauthorized, .forbidden].contains(topUp.status), "\(topUp.body)")
            #expect(lessons.code == "institution_defunct")
            #expect(try await api.call(.get, "/v1/enrollments/\(cast.world.enrollment.id)", token: cast.institution).status == .ok)
            // Its signing certificates are revoked: it signs nothing more.
            let live = try await api.store.query(
                "SELECT count(*) FILTER (WHERE revoked_at IS NULL)::int, count(*)::int FROM certificates WHERE institution_id = \(institution.uuid)"
            )
            for try await (unrevoked, all) in live.decode((Int, Int).self) { #expect(unrevoked == 0 && all > 0) }
            let again = try await api.call(
                .post, "/v1/institutions/\(institution)/defunct", token: cast.regulator, json: #"{"reason":"再次标记"}"#)
            #expect(again.status == .conflict && again.code == "institution_already_defunct")

            // The guardian's earlier claim on its tuition policy is closed by the case, which settled the whole
            // entitlement: it can no longer repay what the escrow already did.
            let earlier = try await api.call(.get, "/v1/claims/\(cast.claim)", token: cast.insurer)
            #expect(earlier.string("status") == "closed", "\(earlier.body)")
            let approval = try await api.call(
                .post, "/v1/claims/\(cast.claim)/approval", token: cast.insurer, json: #"{"amountFen":100000}"#)
            #expect(approval.code == "claim_not_awaiting_decision", "\(approval.body)")
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    /// A request that ran before the mark, retried after it with the same Idempotency-Key (its answer was lost), gets
    /// its first answer: a replay moves nothing. Anything else of the institution's is refused, but for ending its own
    /// access.
    /// A dispute is no money path (DESIGN closes those at the mark): it is still recorded after the mark, but the plan,
    /// made right after the mark, counted only the disputes made before it, so the settlement stays as it was.
    @Test func aDisputeAfterTheMarkIsRecordedAndLeavesTheSettlementAsThePlanMadeIt() async throws {
        try await API.run("defunctanswer") { api, _ in
            let cast = try await Cast.make(api)
            let marked = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/defunct", token: cast.regulator, json: #"{"reason":"停业"}"#)
            #expect(marked.status == .accepted, "\(marked.body)")
            _ = try await Self.completed(api, case: marked.string("id"), token: cast.regulator)
            let path = "/v1/defunct-cases/\(marked.string("id"))/settlements"
            let before = try await api.call(.get, path, token: cast.regulator)
            let disputed = try await api.call(
                .post, "/v1/lessons/\(cast.lesson)/dispute", token: cast.guardian, json: #"{"reason":"没有上课"}"#)
            #expect(disputed.status == .ok && disputed.string("status") == "disputed", "\(disputed.body)")
            await api.settled()
            let after = try await api.call(.get, path, token: cast.regulator)
            #expect(before.items.count == 1 && after.body == before.body, "\(after.body)")
        }
    }

    /// A route that reads no body (a proposal's acceptance) digests the body as sent, as the defunct institution's
    /// replay does: a retry after the mark of an acceptance sent with `{}` gets its first answer, not `institution_defunct`.
    @Test func aBodilessRouteRetriedAfterTheMarkGetsItsFirstAnswer() async throws {
        try await API.run("defunctbodiless") { api, _ in
            let cast = try await Cast.make(api)
            let today = BusinessDate(shanghaiDateOf: Date())
            let product = try await api.call(
                .post, "/v1/insurance-products", token: cast.insurer,
                json: #"{"kind":"institution_risk","premiumRateBasisPoints":120,"coveredShareBasisPoints":9000,"limitFen":100000000}"#)
            let risk = """
                {"productId":"\(product.string("id"))","institutionId":"\(cast.world.institution.id)","sumInsuredFen":500000,
                 "periodStart":"\(today)","periodEnd":"\(today.addingMonths(12))"}
                """
            let proposed = try await api.call(.post, "/v1/policy-proposals", token: cast.insurer, json: risk)
            #expect(proposed.status == .created, "\(proposed.body)")
            let acceptance = "/v1/policy-proposals/\(proposed.string("id"))/acceptance"
            let first = try await api.call(.post, acceptance, token: cast.institution, json: "{}", idempotencyKey: "accept-before-mark")
            #expect(first.status == .created, "\(first.body)")
            let marked = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/defunct", token: cast.regulator, json: #"{"reason":"停业"}"#)
            #expect(marked.status == .accepted, "\(marked.body)")
            let retried = try await api.call(.post, acceptance, token: cast.institution, json: "{}", idempotencyKey: "accept-before-mark")
            #expect(retried.status == first.status && retried.body == first.body, "\(retried.body)")
            _ = try await Self.completed(api, case: marked.string("id"), token: cast.regulator)
        }
    }

    @Test func aRetryAfterTheMarkGetsItsFirstAnswerAndAnythingElseIsRefused() async throws {
        try await API.run("defunctreplay") { api, _ in
            let cast = try await Cast.make(api)
            let today = BusinessDate(shanghaiDateOf: Date())
            let path = "/v1/enrollments/\(cast.world.enrollment.id)/lessons"
            let body = #"{"lessons":1,"takenOn":"\#(today)"}"#
            let first = try await api.call(.post, path, token: cast.institution, json: body, idempotencyKey: "lesson-before-mark")
            #expect(first.status == .created, "\(first.body)")
            let marked = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/defunct", token: cast.regulator, json: #"{"reason":"负责人失联"}"#)
            #expect(marked.status == .accepted, "\(marked.body)")
            let retried = try await api.call(.post, path, token: cast.institution, json: body, idempotencyKey: "lesson-before-mark")
            #expect(retried.status == first.status && retried.body == first.body, "\(retried.body)")
            let new = try await api.call(.post, path, token: cast.institution, json: body, idempotencyKey: "lesson-after-mark")
            #expect(new.code == "institution_defunct", "\(new.body)")
            let changed = try await api.call(
                .post, path, token: cast.institution, json: #"{"lessons":2,"takenOn":"\#(today)"}"#, idempotencyKey: "lesson-before-mark")
            #expect(changed.code == "institution_defunct", "\(changed.body)")
            // The regulator issues it no new token.
            let issued = try await api.call(.post, "/v1/institutions/\(cast.world.institution.id)/tokens", token: cast.regulator)
            #expect(issued.status == .conflict && issued.code == "institution_defunct", "\(issued.body)")
            // It may still end its own access: a defunct institution's token reads its guardians' data.
            let revoked = try await api.call(.delete, "/v1/tokens/\(cast.institutionPrincipal)", token: cast.institution)
            #expect(revoked.status == .noContent, "\(revoked.body)")
            let afterwards = try await api.call(.get, "/v1/enrollments/\(cast.world.enrollment.id)", token: cast.institution)
            #expect(afterwards.status == .unauthorized, "\(afterwards.body)")
            _ = try await Self.completed(api, case: marked.string("id"), token: cast.regulator)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func aMarkNeedsAPastEffectiveTimeAReasonAndTheRegulatorsOwnInstitution() async throws {
        try await API.run("defunctbad") { api, _ in
            let cast = try await Cast.make(api)
            let path = "/v1/institutions/\(cast.world.institution.id)/defunct"
            let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3_600))
            let cases: [(String, String)] = [
                (#"{"effectiveAt":"\#(future)","reason":"停业"}"#, "effective_time_in_future"),
                (#"{"effectiveAt":"yesterday","reason":"停业"}"#, "malformed_body"),
                // ICU's parser divided by zero on this one, which killed the process.
                (#"{"effectiveAt":"2024-06-01T08:00:00.00000000000000000000000000000000000Z","reason":"停业"}"#, "malformed_body"),
                (#"{"effectiveAt":"2026-02-30T08:00:00Z","reason":"停业"}"#, "malformed_body"),
                (#"{"effectiveAt":"2026-01-01T08:00:00+99:99","reason":"停业"}"#, "malformed_body"),
                (#"{"reason":"   "}"#, "text_field_invalid"),
                (#"{"effectiveAt":"2026-01-01T00:00:00Z"}"#, "malformed_body"),
            ]
            for (body, code) in cases {
                let reply = try await api.call(.post, path, token: cast.regulator, json: body)
                #expect(reply.code == code, "\(body): \(reply.body)")
            }
            #expect(try await api.call(.post, path, token: cast.institution, json: #"{"reason":"x"}"#).status == .forbidden)
            // Nothing was marked by the refused requests.
            let status = try await api.call(.get, "/v1/institutions/\(cast.world.institution.id)", token: cast.regulator)
            #expect(status.string("status") != "defunct" && status.status == .ok)
        }
    }

    /// A case whose chunk the ledger refuses says why, in the API and on the dashboard, instead of running for ever.
    @Test func aBlockedCaseShowsItsReasonInTheAPIAndTheDashboard() async throws {
        try await API.run("defunctblocked") { api, _ in
            let cast = try await Cast.make(api)
            try await api.store.query(
                """
                CREATE FUNCTION refuse_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'escrow short' USING ERRCODE = 'check_violation', CONSTRAINT = 'restricted_account_not_negative';
                END $$
                """)
            try await api.store.query(
                "CREATE TRIGGER refuse BEFORE UPDATE OF enrollments_done ON defunct_cases FOR EACH ROW EXECUTE FUNCTION refuse_chunk()")
            let marked = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/defunct", token: cast.regulator, json: #"{"reason":"停业"}"#)
            let id = marked.string("id")
            await api.settled()
            let reply = try await api.call(.get, "/v1/defunct-cases/\(id)", token: cast.regulator)
            #expect(reply.string("status") == "blocked" && reply.string("blockedReason") == "a chunk was refused: insufficient_funds")
            let signIn = try await api.raw(
                .post, "/dashboard/sign-in", headers: [.contentType: "application/x-www-form-urlencoded", .origin: API.origin],
                body: "token=\(cast.regulator)")
            let session = try #require(
                signIn.headers[.setCookie]?.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last.map(String.init))
            let page = try await api.raw(.get, "/dashboard/defunct-cases", headers: [.cookie: "tg_dashboard=\(session)"])
            #expect(page.status == .ok && page.text.contains("受阻：a chunk was refused: insufficient_funds"), "\(page.text)")
        }
    }
}
