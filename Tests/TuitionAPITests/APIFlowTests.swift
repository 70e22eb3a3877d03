import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct APIFlowTests {
    @Test func aDistrictRunsEndToEndThroughThePublicAPI() async throws {
        try await API.run("flow") { api, _ in
            try await PartyRepository(store: api.store).ensureDistrict(DistrictCode("330203")!)
            let regulator = try await api.token(for: .regulator(DistrictCode("330203")!))
            let institution = try await api.call(
                .post, "/v1/institutions", token: regulator,
                json: """
                    {"licenceNumber":"教民133020370001","name":"海曙星火培训学校","supervisionMode":"escrow","supervisedBank":"宁波银行",
                     "supervisedAccountNumber":"8601 0000 0000","address":"宁波市海曙区","creditCode":"52330203MJ0000000X",
                     "licenceValidUntil":"\(BusinessDate(shanghaiDateOf: Date()).addingMonths(24))"}
                    """)
            #expect(institution.status == .created)
            let institutionID = institution.string("id")
            let issued = try await api.call(.post, "/v1/institutions/\(institutionID)/tokens", token: regulator)
            let school = issued.string("token")
            let guardianSignUp = try await api.call(.post, "/v1/guardians", json: #"{"name":"张三","phone":"13800000000"}"#)
            #expect(guardianSignUp.status == .created)
            let parent = guardianSignUp.string("token")
            let student = try await api.call(.post, "/v1/students", token: parent, json: #"{"name":"张小明","grade":"三年级"}"#)
            let course = try await api.call(
                .post, "/v1/courses", token: school,
                json: """
                    {"title":"小学数学思维","category":"non_academic","pricePerLessonFen":8000,"lessonMinutes":60,"teacher":"王老师"}
                    """)
            let today = BusinessDate(shanghaiDateOf: Date())
            let enrollment = try await api.enroll(
                institution: school, guardian: parent, student: student.string("id"), course: course.string("id"), lessons: 40,
                termStart: today.addingDays(-7), termEnd: today.addingDays(-7).addingMonths(3))
            #expect(enrollment.status == .created && enrollment.string("status") == "awaiting_payment")
            let id = enrollment.string("id")

            // No payment before the contract: the institution generates and signs it, the guardian countersigns.
            let early = try await api.call(
                .post, "/v1/enrollments/\(id)/payments", token: parent, json: #"{"amountFen":320000}"#, idempotencyKey: "pay-0")
            #expect(early.status == .unprocessableContent && early.code == "contract_not_signed")
            let contract = try await api.call(.post, "/v1/enrollments/\(id)/contract", token: school, json: #"{"classNumber":"秋季3班"}"#)
            #expect(contract.status == .created && contract.string("status") == "draft", "\(contract.body)")
            let contractID = contract.string("id")
            #expect(
                try await api.call(.post, "/v1/contracts/\(contractID)/institution-signature", token: school).string("status")
                    == "institution_signed")
            #expect(try await api.call(.post, "/v1/contracts/\(contractID)/guardian-signature", token: parent).string("status") == "signed")

            let payment = try await api.call(
                .post, "/v1/enrollments/\(id)/payments", token: parent, json: #"{"amountFen":320000}"#, idempotencyKey: "pay-1")
            #expect(payment.status == .created && payment.int("escrowHeldFen") == 320_000)
            let lessons = try await api.call(
                .post, "/v1/enrollments/\(id)/lessons", token: school,
                json: #"{"lessons":2,"takenOn":"\#(today)"}"#, idempotencyKey: "lesson-1")
            #expect(lessons.status == .created && lessons.int("valueFen") == 16_000)
            let confirmed = try await api.call(.post, "/v1/lessons/\(lessons.string("id"))/confirmation", token: parent)
            #expect(confirmed.string("status") == "confirmed")
            let refund = try await api.call(
                .post, "/v1/enrollments/\(id)/refunds", token: school, json: #"{"lessons":8,"reason":"家长申请"}"#, idempotencyKey: "refund-1")
            #expect(refund.status == .created && refund.int("amountFen") == 64_000)

            let statement = try await api.call(.get, "/v1/enrollments/\(id)/statement", token: parent)
            let figures = statement.json["enrollment"] as? [String: Any] ?? [:]
            #expect((figures["unconsumedFen"] as? Int) == 240_000 && (figures["escrowHeldFen"] as? Int) == 240_000)
            #expect((statement.json["transfers"] as? [Any])?.count == 3)
            let institutionStatement = try await api.call(.get, "/v1/institutions/\(institutionID)/statement", token: regulator)
            #expect(institutionStatement.int("escrowFen") == 240_000 && institutionStatement.int("operatingFen") == 16_000)
            let transfers = try await api.call(.get, "/v1/institutions/\(institutionID)/transfers?limit=2", token: school)
            #expect(transfers.items.count == 2)
            let rest = try await api.call(
                .get, "/v1/institutions/\(institutionID)/transfers?cursor=\(transfers.string("nextCursor"))", token: school)
            #expect(rest.items.count == 1 && rest.json["nextCursor"] is NSNull)
            let listed = try await api.call(.get, "/v1/institutions?status=active", token: regulator)
            #expect(listed.items.count == 1)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func listsPageWithCursors() async throws {
        try await API.run("paging") { api, _ in
            let cast = try await Cast.make(api)
            for _ in 0..<4 { _ = try await cast.world.anotherEnrollment(api.store, lessons: 5) }
            var seen: [String] = []
            var cursor = ""
            repeat {
                let page = try await api.call(.get, "/v1/enrollments?limit=2&cursor=\(cursor)", token: cast.institution)
                #expect(page.status == .ok && page.items.count <= 2)
                seen += page.items.compactMap { $0["id"] as? String }
                cursor = page.json["nextCursor"] as? String ?? ""
            } while !cursor.isEmpty
            #expect(seen.count == 5 && Set(seen).count == 5 && seen == seen.sorted())
            #expect(try await api.call(.get, "/v1/enrollments?cursor=garbage", token: cast.institution).code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/enrollments?limit=0", token: cast.institution).code == "invalid_parameter")
        }
    }

    @Test func badInputGetsAClearProblemAndNeverA500() async throws {
        try await API.run("badinput") { api, _ in
            let cast = try await Cast.make(api)
            let id = cast.world.enrollment.id
            let unpaid = try await cast.world.anotherEnrollment(api.store, lessons: 10)
            let today = BusinessDate(shanghaiDateOf: Date())
            let pricey = try await api.call(
                .post, "/v1/courses", token: cast.institution,
                json: """
                    {"title":"一对一","category":"academic","pricePerLessonFen":9000,"lessonMinutes":60}
                    """
            ).string("id")
            let cases: [(String, HTTPRequest.Method, String, String?, String?, String?, Int, String)] = [
                (
                    "malformed JSON", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian, "{amountFen:", "k1", 400,
                    "malformed_body"
                ),
                (
                    "wrong type", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian, #"{"amountFen":"10"}"#, "k2", 400,
                    "malformed_body"
                ),
                (
                    "fraction of a fen", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian, #"{"amountFen":10.5}"#, "k3", 400,
                    "malformed_body"
                ),
                (
                    "overflowing amount", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian,
                    #"{"amountFen":9223372036854775808}"#, "k4", 400, "malformed_body"
                ),
                (
                    "negative amount", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian, #"{"amountFen":-100}"#, "k5", 422,
                    "amount_must_be_positive"
                ),
                ("missing field", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian, "{}", "k6", 400, "malformed_body"),
                (
                    "no idempotency key", .post, "/v1/enrollments/\(unpaid.id)/payments", cast.guardian, #"{"amountFen":80000}"#, nil, 400,
                    "idempotency_key_required"
                ),
                (
                    "unknown enrollment", .post, "/v1/enrollments/\(UUID())/payments", cast.guardian, #"{"amountFen":80000}"#, "k7", 404,
                    "not_found"
                ),
                ("malformed id", .get, "/v1/enrollments/not-a-uuid", cast.guardian, nil, nil, 404, "not_found"),
                ("unknown route", .get, "/v1/nowhere", cast.guardian, nil, nil, 404, "not_found"),
                ("no token", .get, "/v1/enrollments", nil, nil, nil, 401, "unauthenticated"),
                ("unknown token", .get, "/v1/enrollments", "tg_forged", nil, nil, 401, "unauthenticated"),
                (
                    "wrong role", .post, "/v1/institutions", cast.guardian, #"{"licenceNumber":"x","name":"y","supervisionMode":"escrow"}"#,
                    nil, 403, "role_not_permitted"
                ),
                (
                    "unknown enum", .post, "/v1/institutions", cast.regulator,
                    #"{"licenceNumber":"x","name":"y","supervisionMode":"trust"}"#, nil, 400, "malformed_body"
                ),
                (
                    "reserve without ratio", .post, "/v1/institutions", cast.regulator,
                    #"{"licenceNumber":"x","name":"y","supervisionMode":"reserve"}"#, nil, 422, "reserve_ratio_invalid"
                ),
                (
                    "empty name", .post, "/v1/institutions", cast.regulator,
                    #"{"licenceNumber":"x","name":"  ","supervisionMode":"escrow"}"#, nil, 422, "text_field_invalid"
                ),
                (
                    "huge licence", .post, "/v1/institutions", cast.regulator,
                    "{\"licenceNumber\":\"\(String(repeating: "字", count: 65))\",\"name\":\"y\",\"supervisionMode\":\"escrow\"}", nil, 422,
                    "text_field_invalid"
                ),
                (
                    "duplicate licence", .post, "/v1/institutions", cast.regulator,
                    "{\"licenceNumber\":\"\(cast.world.institution.licenceNumber)\",\"name\":\"y\",\"supervisionMode\":\"escrow\",\"address\":\"宁波\",\"creditCode\":\"52330203MJ0000000X\",\"licenceValidUntil\":\"2030-01-01\"}",
                    nil,
                    409, "licence_number_taken"
                ),
                (
                    "bad date", .post, "/v1/enrollments/\(id)/lessons", cast.institution, #"{"lessons":1,"takenOn":"2026-02-30"}"#, "k8",
                    400, "malformed_body"
                ),
                (
                    "too many lessons", .post, "/v1/enrollments/\(id)/lessons", cast.institution,
                    #"{"lessons":99999999999,"takenOn":"\#(today)"}"#, "k9", 422, "lessons_exceed_remaining"
                ),
                (
                    "sixty-one lessons", .post, "/v1/enrollment-proposals", cast.institution,
                    "{\"guardianId\":\"\(cast.world.guardian)\",\"courseId\":\"\(cast.world.course.id)\",\"lessons\":61,\"termStart\":\"2026-09-01\",\"termEnd\":\"2026-10-01\"}",
                    nil, 422, "charge_exceeds_lesson_cap"
                ),
                (
                    "over ¥5,000", .post, "/v1/enrollment-proposals", cast.institution,
                    "{\"guardianId\":\"\(cast.world.guardian)\",\"courseId\":\"\(pricey)\",\"lessons\":60,\"termStart\":\"2026-09-01\",\"termEnd\":\"2026-10-01\"}",
                    nil, 422, "charge_exceeds_amount_cap"
                ),
                (
                    "term over 3 months", .post, "/v1/enrollment-proposals", cast.institution,
                    "{\"guardianId\":\"\(cast.world.guardian)\",\"courseId\":\"\(cast.world.course.id)\",\"lessons\":10,\"termStart\":\"2026-09-01\",\"termEnd\":\"2026-12-02\"}",
                    nil, 422, "charge_exceeds_term_cap"
                ),
                (
                    "too large body", .post, "/v1/students", cast.guardian, "{\"name\":\"\(String(repeating: "a", count: 70_000))\"}", nil,
                    413, "body_too_large"
                ),
                (
                    "district caps above national", .put, "/v1/district/charge-caps", cast.regulator,
                    #"{"lessonsMax":61,"termMonthsMax":3,"amountMaxFen":500000}"#, nil, 422, "district_cap_above_national_cap"
                ),
                ("bad status filter", .get, "/v1/institutions?status=bankrupt", cast.regulator, nil, nil, 400, "invalid_parameter"),
            ]
            for (name, method, path, token, body, key, status, code) in cases {
                let reply = try await api.call(method, path, token: token, json: body, idempotencyKey: key)
                #expect(Int(reply.status.code) == status, "\(name): \(reply.body)")
                #expect(reply.code == code, "\(name)")
                #expect(reply.contentType == "application/problem+json", "\(name)")
            }
            // Nothing above moved money.
            #expect(try await api.call(.get, "/v1/enrollments/\(unpaid.id)", token: cast.guardian).int("paidFen") == 0)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func replayingAPaymentReturnsTheFirstResponseAndMovesNothing() async throws {
        try await API.run("idempotency") { api, _ in
            let cast = try await Cast.make(api)
            let unpaid = try await cast.world.anotherEnrollment(api.store, lessons: 10)
            let path = "/v1/enrollments/\(unpaid.id)/payments"
            let first = try await api.call(.post, path, token: cast.guardian, json: #"{"amountFen":80000}"#, idempotencyKey: "same")
            let replay = try await api.call(.post, path, token: cast.guardian, json: #"{"amountFen":80000}"#, idempotencyKey: "same")
            #expect(first.status == .created && replay.status == .created && replay.body == first.body)
            let different = try await api.call(.post, path, token: cast.guardian, json: #"{"amountFen":80001}"#, idempotencyKey: "same")
            #expect(different.status == .conflict && different.code == "idempotency_key_reused")
            // A new key for an already-paid order is a named refusal, not a second payment.
            let again = try await api.call(.post, path, token: cast.guardian, json: #"{"amountFen":80000}"#, idempotencyKey: "other")
            #expect(again.status == .conflict && again.code == "enrollment_already_paid")
            let statement = try await api.call(.get, "/v1/enrollments/\(unpaid.id)/statement", token: cast.guardian)
            #expect((statement.json["transfers"] as? [Any])?.count == 1)
        }
    }

    @Test func twoConcurrentPaymentsWithTheSameKeyMoveMoneyOnce() async throws {
        try await API.run("concurrentpay") { api, _ in
            let cast = try await Cast.make(api)
            for round in 0..<5 {
                let unpaid = try await cast.world.anotherEnrollment(api.store, lessons: 10)
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            try await api.call(
                                .post, "/v1/enrollments/\(unpaid.id)/payments", token: cast.guardian,
                                json: #"{"amountFen":80000}"#, idempotencyKey: "race-\(round)")
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(replies.allSatisfy { $0.status == .created } && replies[0].body == replies[1].body)
                let statement = try await api.call(.get, "/v1/enrollments/\(unpaid.id)/statement", token: cast.guardian)
                #expect((statement.json["transfers"] as? [Any])?.count == 1)
            }
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func sixteenClientsRecordingLessonsNeverExceedTheLessonsBought() async throws {
        try await API.run("concurrentlessons") { api, _ in
            let cast = try await Cast.make(api)
            let enrollment = try await cast.world.anotherEnrollment(api.store, lessons: 30)
            _ = try await api.call(
                .post, "/v1/enrollments/\(enrollment.id)/payments", token: cast.guardian,
                json: "{\"amountFen\":\(enrollment.amountFen.fen)}", idempotencyKey: "pay")
            let today = BusinessDate(shanghaiDateOf: Date())
            let statuses = try await withThrowingTaskGroup(of: [HTTPResponse.Status].self) { group in
                for client in 0..<16 {
                    group.addTask {
                        var statuses: [HTTPResponse.Status] = []
                        for attempt in 0..<4 {
                            let reply = try await api.call(
                                .post, "/v1/enrollments/\(enrollment.id)/lessons", token: cast.institution,
                                json: #"{"lessons":1,"takenOn":"\#(today)"}"#, idempotencyKey: "c\(client)-\(attempt)")
                            #expect(reply.status == .created || reply.code == "lessons_exceed_remaining", "\(reply.body)")
                            statuses.append(reply.status)
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.filter { $0 == .created }.count == 30)
            #expect(statuses.count == 64)
            let after = try await api.call(.get, "/v1/enrollments/\(enrollment.id)", token: cast.institution)
            #expect(after.int("lessonsConsumed") == 30 && after.int("escrowHeldFen") == 0 && after.string("status") == "closed")
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func guardiansAnswerLessonsOnceWithinSevenDays() async throws {
        let clock = TestClock()
        try await API.run("answerwindow", clock: clock) { api, _ in
            let cast = try await Cast.make(api)
            let disputed = try await api.call(
                .post, "/v1/lessons/\(cast.lesson)/dispute", token: cast.guardian, json: #"{"reason":"孩子那天请假"}"#)
            #expect(disputed.string("status") == "disputed" && disputed.string("disputeReason") == "孩子那天请假")
            #expect(
                try await api.call(.post, "/v1/lessons/\(cast.lesson)/confirmation", token: cast.guardian).code == "lesson_already_answered"
            )
            let today = BusinessDate(shanghaiDateOf: clock.now)
            let later = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/lessons", token: cast.institution,
                json: #"{"lessons":1,"takenOn":"\#(today)"}"#, idempotencyKey: "l2")
            clock.advance(by: 7 * 86_400 + 60)
            let late = try await api.call(.post, "/v1/lessons/\(later.string("id"))/confirmation", token: cast.guardian)
            #expect(late.status == .unprocessableContent && late.code == "lesson_answer_window_closed")
            // Only the enrollment's guardian may answer.
            let stranger = try await api.token(for: .guardian(try await PartyRepository(store: api.store).createGuardian(name: "王五")))
            #expect(
                try await api.call(.post, "/v1/lessons/\(later.string("id"))/dispute", token: stranger, json: #"{"reason":"x"}"#).status
                    == .notFound)
        }
    }
}
