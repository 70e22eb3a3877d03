import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct SupervisionAPITests {
    static let settings = """
        {"escrowCoverageMinBasisPoints":10000,"salesSpikeRatioBasisPoints":30000,"salesSpikeMinimumFen":1000000,
         "lessonsOverScheduleRatioBasisPoints":15000,"lessonsOverScheduleMinimum":10,"refundGraceDays":30,
         "expiryNoticeDays":30,"deadlineDays":10}
        """

    @Test func paymentsRaiseWarningsAtOnceAndTheRegulatorActsOnThem() async throws {
        try await API.run("supervision") { api, _ in
            let world = try await World.make(api.store, mode: .reserve)
            let regulator = try await api.token(for: .regulator(world.district))
            let school = try await api.token(for: .institution(world.institution.id))
            let parent = try await api.token(for: .guardian(world.guardian))

            #expect(try await api.call(.get, "/v1/district/warning-settings", token: regulator).int("deadlineDays") == 15)
            let set = try await api.call(.put, "/v1/district/warning-settings", token: regulator, json: Self.settings)
            #expect(set.status == .ok && set.int("deadlineDays") == 10)
            let broken = try await api.call(
                .put, "/v1/district/warning-settings", token: regulator, json: Self.settings.replacingOccurrences(of: "10}", with: "0}"))
            #expect(broken.status == .unprocessableContent && broken.code == "warning_threshold_invalid")
            #expect(try await api.call(.get, "/v1/district/warning-settings", token: school).status == .forbidden)

            // Paying in reserve mode with no reserve: the warning is there as soon as the payment answers on a quiet
            // machine; on a loaded one the inline evaluation may overrun its bound and finish in the background drain.
            let paid = try await api.call(
                .post, "/v1/enrollments/\(world.enrollment.id)/payments", token: parent,
                json: "{\"amountFen\":\(world.enrollment.amountFen.fen)}", idempotencyKey: "pay")
            #expect(paid.status == .created)
            await api.settled()
            let own = try await api.call(.get, "/v1/warnings", token: school)
            #expect(own.items.count == 1)
            let warning = try #require(own.items.first)
            #expect(warning["rule"] as? String == "reserve_shortfall" && warning["status"] as? String == "open")
            #expect(warning["deadline"] as? String == BusinessDate(shanghaiDateOf: Date()).addingDays(10).description)
            #expect((warning["figures"] as? [String: Any])?["required_fen"] as? Int == 64_000)
            let institution = try await api.call(.get, "/v1/institutions/\(world.institution.id)", token: regulator)
            #expect(institution.string("status") == "warned")

            let filtered = try await api.call(.get, "/v1/warnings?status=open&rule=reserve_shortfall&limit=1", token: regulator)
            #expect(filtered.items.count == 1)
            #expect(try await api.call(.get, "/v1/warnings?rule=sales_spike", token: regulator).items.isEmpty)
            #expect(try await api.call(.get, "/v1/warnings?rule=nonsense", token: regulator).code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/warnings", token: parent).status == .forbidden)

            let evaluated = try await api.call(.post, "/v1/warnings/evaluation", token: regulator)
            #expect(evaluated.status == .ok && evaluated.int("opened") == 0 && evaluated.int("stillOpen") == 1)

            let id = try #require(warning["id"] as? String)
            let resolved = try await api.call(.post, "/v1/warnings/\(id)/resolution", token: regulator, json: #"{"note":"已约谈，限期补足"}"#)
            #expect(resolved.status == .ok && resolved.string("status") == "resolved" && resolved.string("resolutionNote") == "已约谈，限期补足")
            #expect(
                try await api.call(.post, "/v1/warnings/\(id)/resolution", token: regulator, json: #"{"note":"x"}"#).code
                    == "warning_already_resolved")
            #expect(
                try await api.call(.post, "/v1/warnings/\(id)/resolution", token: regulator, json: #"{"note":"  "}"#).code
                    == "text_field_invalid")

            // Suspension stops new business; reinstatement restores it; blacklisting is final.
            let second = try await world.anotherEnrollment(api.store).id
            let suspended = try await api.call(
                .post, "/v1/institutions/\(world.institution.id)/suspension", token: regulator, json: #"{"note":"风险未化解"}"#)
            #expect(suspended.status == .created && suspended.string("status") == "suspended")
            let order = """
                {"guardianId":"\(world.guardian)","courseId":"\(world.course.id)","lessons":5,
                 "termStart":"\(world.enrollment.termStart)","termEnd":"\(world.enrollment.termEnd)"}
                """
            #expect(try await api.call(.post, "/v1/enrollment-proposals", token: school, json: order).code == "institution_not_operating")
            #expect(
                try await api.call(
                    .post, "/v1/enrollments/\(second)/payments", token: parent, json: #"{"amountFen":160000}"#, idempotencyKey: "pay-2"
                ).code == "institution_not_operating")
            #expect(
                try await api.call(.post, "/v1/institutions/\(world.institution.id)/suspension", token: regulator, json: #"{"note":"x"}"#)
                    .code == "institution_already_suspended")
            let reinstated = try await api.call(
                .post, "/v1/institutions/\(world.institution.id)/reinstatement", token: regulator, json: #"{"note":"已整改"}"#)
            #expect(reinstated.string("status") == "active")
            let blacklisted = try await api.call(
                .post, "/v1/institutions/\(world.institution.id)/blacklisting", token: regulator, json: #"{"note":"卷款风险"}"#)
            #expect(blacklisted.status == .created && blacklisted.string("status") == "blacklisted")
            // Its signing certificate (issued when it signed the world's contract) is revoked with the blacklisting.
            let live = try await api.store.query(
                """
                SELECT count(*) FILTER (WHERE revoked_at IS NULL)::int, count(*)::int FROM certificates
                WHERE institution_id = \(world.institution.id.uuid)
                """)
            for try await (unrevoked, all) in live.decode((Int, Int).self) { #expect(unrevoked == 0 && all > 0) }
            #expect(
                try await api.call(
                    .post, "/v1/institutions/\(world.institution.id)/reinstatement", token: regulator, json: #"{"note":"x"}"#
                )
                .code == "institution_is_blacklisted")
            // Blacklisting revoked the institution's tokens: it does nothing more through the API.
            #expect(try await api.call(.post, "/v1/enrollment-proposals", token: school, json: order).code == "unauthenticated")
            #expect(try await api.call(.get, "/v1/institutions/\(world.institution.id)", token: school).status == .unauthorized)
            let credit = try await api.call(.get, "/v1/institutions/\(world.institution.id)/credit", token: regulator)
            #expect(credit.string("grade") == "D")
        }
    }

    /// A licence near its end warns; the regulator's renewal resolves the warning in the same request. The reserve
    /// ratio is the regulator's to set in reserve mode only, and a final record changes no more.
    @Test func theRegulatorRenewsALicenceAndSetsTheReserveRatio() async throws {
        try await API.run("institutionchange") { api, _ in
            let world = try await World.make(api.store, mode: .escrow)
            let regulator = try await api.token(for: .regulator(world.district))
            let school = try await api.token(for: .institution(world.institution.id))
            let path = "/v1/institutions/\(world.institution.id)"
            let today = BusinessDate(shanghaiDateOf: Date())

            let soon = try await api.call(.patch, path, token: regulator, json: #"{"licenceValidUntil":"\#(today.addingDays(5))"}"#)
            #expect(soon.status == .ok && soon.string("licenceValidUntil") == today.addingDays(5).description, "\(soon.body)")
            // Evaluated inline on a quiet machine; on a loaded one it may finish in the background drain.
            await api.settled()
            #expect(try await api.call(.get, path, token: regulator).string("status") == "warned")
            let warned = try await api.call(.get, "/v1/warnings?rule=licence_expiring&status=open", token: regulator)
            #expect(warned.items.count == 1)

            let renewed = try await api.call(.patch, path, token: regulator, json: #"{"licenceValidUntil":"\#(today.addingMonths(36))"}"#)
            #expect(renewed.status == .ok, "\(renewed.body)")
            await api.settled()
            #expect(try await api.call(.get, path, token: regulator).string("status") == "active")
            #expect(try await api.call(.get, "/v1/warnings?rule=licence_expiring&status=open", token: regulator).items.isEmpty)

            // A licence no longer in force takes no new order, as the catalog no longer lists the institution.
            let parent = try await api.token(for: .guardian(world.guardian))
            let order = """
                {"studentId":"\(world.student.id)","courseId":"\(world.course.id)","lessons":5,
                 "termStart":"\(today)","termEnd":"\(today.addingMonths(1))"}
                """
            _ = try await api.call(.patch, path, token: regulator, json: #"{"licenceValidUntil":"\#(today.addingDays(-1))"}"#)
            #expect(try await api.call(.post, "/v1/enrollments", token: parent, json: order).code == "institution_not_operating")
            _ = try await api.call(.patch, path, token: regulator, json: #"{"licenceValidUntil":"\#(today.addingMonths(36))"}"#)
            #expect(try await api.call(.post, "/v1/enrollments", token: parent, json: order).status == .created)
            // No end date recorded (registrations before it was required): listed in the catalog, and it sells.
            try await api.store.query("UPDATE institutions SET licence_valid_until = NULL WHERE id = \(world.institution.id.uuid)")
            #expect(try await api.call(.post, "/v1/enrollments", token: parent, json: order).status == .created)

            #expect(try await api.call(.patch, path, token: regulator, json: #"{"reserveRatioBasisPoints":1000}"#).code == "reserve_ratio_invalid")
            #expect(try await api.call(.patch, path, token: regulator, json: "{}").status == .badRequest)
            #expect(try await api.call(.patch, path, token: regulator, json: #"{"supervisionMode":"reserve"}"#).status == .badRequest)
            #expect(try await api.call(.patch, path, token: school, json: #"{"reserveRatioBasisPoints":0}"#).status == .forbidden)
            try await PartyRepository(store: api.store).ensureDistrict(DistrictCode("330299")!)
            let elsewhere = try await api.token(for: .regulator(DistrictCode("330299")!))
            #expect(try await api.call(.patch, path, token: elsewhere, json: #"{"reserveRatioBasisPoints":0}"#).status == .notFound)

            let registered = try await api.call(
                .post, "/v1/institutions", token: regulator,
                json: #"{"licenceNumber":"教民RATIO01","name":"启明培训学校","supervisionMode":"reserve","reserveRatioBasisPoints":2000,"address":"宁波市海曙区","creditCode":"52330203MJ0000000X","licenceValidUntil":"\#(today.addingMonths(24))"}"#)
            let reservePath = "/v1/institutions/\(registered.string("id"))"
            let ratio = try await api.call(.patch, reservePath, token: regulator, json: #"{"reserveRatioBasisPoints":3000}"#)
            #expect(ratio.status == .ok && ratio.int("reserveRatioBasisPoints") == 3_000, "\(ratio.body)")
            _ = try await api.call(
                .post, "\(reservePath)/blacklisting", token: regulator, json: #"{"note":"卷款风险"}"#)
            #expect(
                try await api.call(.patch, reservePath, token: regulator, json: #"{"reserveRatioBasisPoints":2000}"#).code
                    == "institution_is_blacklisted")
        }
    }

    /// The payment's evaluation runs inline; the top-up right after it falls in the trigger's one-second gap, so its
    /// evaluation follows within about a second (`WarningTrigger`).
    @Test func aReserveTopUpClearsTheWarningWithinASecond() async throws {
        try await API.run("topupclears") { api, _ in
            let world = try await World.make(api.store, mode: .reserve)
            let school = try await api.token(for: .institution(world.institution.id))
            let parent = try await api.token(for: .guardian(world.guardian))
            _ = try await api.call(
                .post, "/v1/enrollments/\(world.enrollment.id)/payments", token: parent,
                json: "{\"amountFen\":\(world.enrollment.amountFen.fen)}", idempotencyKey: "pay")
            // Inline on a quiet machine; on a loaded one the evaluation may overrun its inline bound and finish in the
            // background drain.
            await api.settled()
            #expect(try await api.call(.get, "/v1/warnings?status=open", token: school).items.count == 1)
            let topUp = try await api.call(
                .post, "/v1/institutions/\(world.institution.id)/reserve-topups", token: school, json: #"{"amountFen":64000}"#,
                idempotencyKey: "topup")
            #expect(topUp.status == .created)
            await api.settled()
            #expect(try await api.call(.get, "/v1/warnings?status=open", token: school).items.isEmpty)
            let resolved = try await api.call(.get, "/v1/warnings?status=resolved", token: school)
            #expect(resolved.items.first?["resolvedBy"] as? String == "cleared")
            #expect(try await api.call(.get, "/v1/institutions/\(world.institution.id)", token: school).string("status") == "active")
        }
    }

    /// An evaluation that overruns its inline bound (here: another evaluation holds the district-wide lock past it)
    /// is not dropped: the payment answers after the bound, and the background drain raises the warning once the lock
    /// is free. Before, the batch was lost until the next scheduled evaluation.
    @Test func anEvaluationThatOverrunsItsInlineBoundFinishesInTheBackground() async throws {
        try await API.run("overrun") { api, _ in
            let world = try await World.make(api.store, mode: .reserve)
            let school = try await api.token(for: .institution(world.institution.id))
            let parent = try await api.token(for: .guardian(world.guardian))
            try await api.store.transaction { (held: StoreTransaction) in
                for try await _ in try await held.query(
                    "SELECT pg_advisory_xact_lock(\(WarningRepository.lockKey))", logger: api.store.logger)
                {}
                // The requests run as a client's would, in tasks of their own: this task holds a connection.
                let paid = try await Task.detached {
                    try await api.call(
                        .post, "/v1/enrollments/\(world.enrollment.id)/payments", token: parent,
                        json: "{\"amountFen\":\(world.enrollment.amountFen.fen)}", idempotencyKey: "pay")
                }.value
                #expect(paid.status == .created)
                #expect(try await Task.detached { try await api.call(.get, "/v1/warnings?status=open", token: school) }.value.items.isEmpty)
            }
            await api.settled()
            let open = try await api.call(.get, "/v1/warnings?status=open", token: school)
            #expect(open.items.count == 1 && open.items.first?["rule"] as? String == "reserve_shortfall")
        }
    }

    @Test func inspectionsAndTheCreditGradeExplainEveryComponent() async throws {
        try await API.run("credit") { api, _ in
            let cast = try await Cast.make(api)
            let id = cast.world.institution.id
            let before = try await api.call(.get, "/v1/institutions/\(id)/credit", token: cast.institution)
            #expect(before.status == .ok)
            let components = try #require(before.json["components"] as? [[String: Any]])
            #expect(
                components.map { $0["component"] as? String } == [
                    "guarantee_form", "annual_inspection", "star_rating", "warnings", "upheld_complaints", "reviews",
                ])
            #expect(components.reduce(0) { $0 + ($1["points"] as? Int ?? 0) } == Int(before.int("points")))

            let inspection = try await api.call(
                .post, "/v1/institutions/\(id)/inspections", token: cast.regulator,
                json: #"{"year":2026,"result":"unqualified","starRating":1,"note":"消防不合格"}"#)
            #expect(inspection.status == .created)
            let after = try await api.call(.get, "/v1/institutions/\(id)/credit", token: cast.regulator)
            #expect(after.int("points") == before.int("points") - 8 - 2)
            let invalid = try await api.call(
                .post, "/v1/institutions/\(id)/inspections", token: cast.regulator,
                json: #"{"year":2026,"result":"qualified","starRating":6}"#)
            #expect(invalid.code == "inspection_invalid")
            #expect(try await api.call(.get, "/v1/institutions/\(id)/credit", token: cast.guardian).status == .notFound)
        }
    }

    @Test func guardiansReviewOnceAndComplaintsRunTheirCourse() async throws {
        try await API.run("feedback") { api, _ in
            let cast = try await Cast.make(api)
            let enrollment = cast.world.enrollment.id
            // The cast's guardian already reviewed its enrollment.
            let again = try await api.call(
                .post, "/v1/enrollments/\(enrollment)/review", token: cast.guardian, json: #"{"teaching":1,"environment":1,"curriculum":1}"#
            )
            #expect(again.status == .conflict && again.code == "enrollment_already_reviewed")
            let unpaid = try await cast.world.anotherEnrollment(api.store)
            let early = try await api.call(
                .post, "/v1/enrollments/\(unpaid.id)/review", token: cast.guardian, json: #"{"teaching":3,"environment":3,"curriculum":3}"#)
            #expect(early.code == "enrollment_not_paid")
            let outOfRange = try await api.call(
                .post, "/v1/enrollments/\(unpaid.id)/review", token: cast.guardian, json: #"{"teaching":6,"environment":3,"curriculum":3}"#)
            #expect(outOfRange.code == "rating_out_of_range")
            let review = try await api.call(.get, "/v1/enrollments/\(enrollment)/review", token: cast.institution)
            #expect(review.int("teaching") == 5)
            let ratings = try await api.call(.get, "/v1/institutions/\(cast.world.institution.id)/ratings", token: cast.regulator)
            let averages = try #require(ratings.json["averages"] as? [String: Any])
            #expect(averages["reviews"] as? Int == 1 && averages["overall"] as? Double == 4.33)
            #expect((ratings.json["courses"] as? [Any])?.count == 1)

            let complaint = cast.complaint
            #expect(
                try await api.call(.post, "/v1/complaints/\(complaint)/answer", token: cast.guardian, json: #"{"answer":"x"}"#).status
                    == .forbidden)
            let answered = try await api.call(
                .post, "/v1/complaints/\(complaint)/answer", token: cast.institution, json: #"{"answer":"已调整课表并致歉"}"#)
            #expect(answered.status == .ok && answered.string("status") == "answered")
            #expect(
                try await api.call(.post, "/v1/complaints/\(complaint)/answer", token: cast.institution, json: #"{"answer":"again"}"#).code
                    == "complaint_not_awaiting_answer")
            let gradeBefore = try await api.call(.get, "/v1/institutions/\(cast.world.institution.id)/credit", token: cast.regulator)
            let closed = try await api.call(
                .post, "/v1/complaints/\(complaint)/closing", token: cast.regulator, json: #"{"upheld":true,"note":"投诉属实"}"#)
            #expect(closed.status == .ok && closed.string("status") == "upheld" && closed.string("closingNote") == "投诉属实")
            #expect(
                try await api.call(
                    .post, "/v1/complaints/\(complaint)/closing", token: cast.regulator, json: #"{"upheld":false,"note":"x"}"#
                )
                .code == "complaint_already_closed")
            let gradeAfter = try await api.call(.get, "/v1/institutions/\(cast.world.institution.id)/credit", token: cast.regulator)
            #expect(gradeAfter.int("points") == gradeBefore.int("points") - 5)

            let filed = try await api.call(
                .post, "/v1/complaints", token: cast.guardian, json: #"{"enrollmentId":"\#(unpaid.id)","text":"未付款也可投诉"}"#)
            #expect(filed.status == .created && filed.string("status") == "open")
            #expect(try await api.call(.get, "/v1/complaints?status=upheld", token: cast.guardian).items.count == 1)
            #expect(try await api.call(.get, "/v1/complaints", token: cast.institution).items.count == 2)
            #expect(try await api.call(.get, "/v1/complaints", token: cast.insurer).items.isEmpty)
            let page = try await api.call(.get, "/v1/complaints?limit=1", token: cast.regulator)
            #expect(page.items.count == 1)
            let rest = try await api.call(.get, "/v1/complaints?limit=1&cursor=\(page.string("nextCursor"))", token: cast.regulator)
            #expect(rest.items.count == 1 && rest.json["nextCursor"] is NSNull)
        }
    }
}
