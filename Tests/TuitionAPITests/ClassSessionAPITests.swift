import Foundation
import HTTPTypes
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// An institution's class: the world's course, tokens for the institution and the world's guardian, and a way to make
/// enrollments in any state the single-lesson route knows.
struct Classroom: Sendable {
    let api: API
    let world: World
    let institution: String
    let guardian: String
    var today: BusinessDate { BusinessDate(shanghaiDateOf: Date()) }

    static func make(_ api: API, district: String = "330203", mode: SupervisionMode = .escrow) async throws -> Classroom {
        let world = try await World.make(api.store, district: district, mode: mode)
        return Classroom(
            api: api, world: world, institution: try await api.token(for: .institution(world.institution.id)),
            guardian: try await api.token(for: .guardian(world.guardian)))
    }

    /// An enrollment of the world's student in `course` (the world's by default), signed, and paid unless `paid` is false.
    func enrollment(lessons: Int, paid: Bool = true, termStart: BusinessDate? = nil, course: Course.ID? = nil) async throws
        -> EnrollmentRecord
    {
        let start = termStart ?? world.enrollment.termStart
        let enrollment = try await EnrollmentRepository(store: api.store).create(
            NewEnrollment(
                studentId: world.student.id, courseId: course ?? world.course.id, lessons: lessons, termStart: start,
                termEnd: start.addingMonths(2)),
            institution: world.institution.id, guardian: world.guardian)
        try await TestContracts.sign(api.store, enrollment)
        if paid {
            let reply = try await api.call(
                .post, "/v1/enrollments/\(enrollment.id)/payments", token: guardian, json: "{\"amountFen\":\(enrollment.amountFen.fen)}",
                idempotencyKey: "pay-\(enrollment.id)")
            #expect(reply.status == .created, "\(reply.body)")
        }
        return enrollment
    }

    func session(
        _ ids: [String], course: String? = nil, takenOn: BusinessDate? = nil, key: String, token: String? = nil
    ) async throws -> Reply {
        let list = ids.map { "\"\($0)\"" }.joined(separator: ",")
        return try await api.call(
            .post, "/v1/class-sessions", token: token ?? institution,
            json: #"{"courseId":"\#(course ?? world.course.id.description)","takenOn":"\#(takenOn ?? today)","enrollmentIds":[\#(list)]}"#,
            idempotencyKey: key)
    }

    func singleLesson(_ id: Enrollment.ID, key: String) async throws -> Reply {
        try await api.call(
            .post, "/v1/enrollments/\(id)/lessons", token: institution, json: #"{"lessons":1,"takenOn":"\#(today)"}"#,
            idempotencyKey: key)
    }

    /// The figures an enrollment shows after lessons: what both routes must leave alike.
    func position(_ id: Enrollment.ID) async throws -> [String] {
        let reply = try await api.call(.get, "/v1/enrollments/\(id)", token: institution)
        return ["lessonsConsumed", "releasedFen", "escrowHeldFen", "unconsumedFen", "refundedFen", "paidFen"].map {
            "\($0)=\(reply.int($0))"
        }
            + ["status=\(reply.string("status"))"]
    }

    /// Rows the ledger, the lessons and the evidence log hold, to show a request wrote nothing.
    func rowCounts() async throws -> [Int] {
        let rows = try await api.store.query(
            """
            SELECT (SELECT count(*) FROM lessons)::int, (SELECT count(*) FROM transfers)::int,
                (SELECT count(*) FROM evidence_queue)::int + (SELECT count(*) FROM log_entries)::int,
                (SELECT sum(debits_fen + credits_fen) FROM accounts)::int
            """)
        for try await (a, b, c, d) in rows.decode((Int, Int, Int, Int).self) { return [a, b, c, d] }
        return []
    }

    /// The evidence event that names `lesson`, queued or already logged.
    func evidence(ofLesson lesson: String) async throws -> EvidenceEvent? {
        let rows = try await api.store.query("SELECT entry FROM evidence_queue UNION ALL SELECT entry FROM log_entries")
        for try await entry in rows.decode(Data.self) {
            let event = try EvidenceEvent.decode(canonical: [UInt8](entry))
            if event.reference == "lesson:\(lesson)" { return event }
        }
        return nil
    }
}

extension Reply {
    /// A class session's items as `enrollmentId → item`.
    var sessionItems: [[String: String]] {
        items.map { item in item.compactMapValues { value in (value as? String) ?? (value as? NSNumber).map { "\($0)" } } }
    }
}

@Suite struct ClassSessionAPITests {
    /// A session with good and bad items records exactly the good ones, and leaves every enrollment as N single-lesson
    /// calls leave its twin: same codes, same positions, same release and the same evidence event.
    @Test(arguments: [SupervisionMode.escrow, .reserve])
    func aSessionAgreesWithSingleLessonCallsOnATwinSet(mode: SupervisionMode) async throws {
        try await API.run("session_agreement_\(mode.rawValue)") { api, _ in
            let room = try await Classroom.make(api, mode: mode)
            /// One set of enrollments in every state the rules tell apart; built twice.
            func twinSet() async throws -> [EnrollmentRecord] {
                let good = try await room.enrollment(lessons: 20)
                let secondGood = try await room.enrollment(lessons: 5)
                let usedUp = try await room.enrollment(lessons: 1)
                #expect(try await room.singleLesson(usedUp.id, key: "use-\(usedUp.id)").status == .created)
                let unpaid = try await room.enrollment(lessons: 4, paid: false)
                let refunded = try await room.enrollment(lessons: 3)
                let refund = try await api.call(
                    .post, "/v1/enrollments/\(refunded.id)/refunds", token: room.institution, json: "{}", idempotencyKey: "r-\(refunded.id)"
                )
                #expect(refund.status == .created, "\(refund.body)")
                let notYet = try await room.enrollment(lessons: 4, termStart: room.today.addingDays(3))
                return [good, usedUp, unpaid, refunded, notYet, secondGood]
            }
            let sessionSet = try await twinSet()
            let singleSet = try await twinSet()
            let otherCourse = try await PartyRepository(store: api.store).createCourse(
                NewCourse(title: "少儿编程", category: .nonAcademic, pricePerLessonFen: Money(fen: 6_000), lessonMinutes: 45),
                institution: room.world.institution.id)
            let inOtherCourse = try await room.enrollment(lessons: 4, course: otherCourse.id)
            let before = try await room.rowCounts()

            let listed = sessionSet.map(\.id.description) + [sessionSet[0].id.description, inOtherCourse.id.description]
            let reply = try await room.session(listed, key: "session-1")
            #expect(reply.status == .ok, "\(reply.body)")
            let items = reply.sessionItems
            #expect(items.map { $0["enrollmentId"] ?? "" } == listed)
            #expect(
                items.map { $0["status"] == "recorded" ? "recorded" : $0["code"] ?? "?" } == [
                    "recorded", "lessons_exceed_remaining", "enrollment_not_paid", "lessons_exceed_remaining",
                    "lesson_date_before_term", "recorded", "enrollment_listed_twice", "enrollment_not_in_course",
                ])
            #expect(reply.int("recorded") == 2 && reply.int("refused") == 6)

            for (index, twin) in singleSet.enumerated() {
                let single = try await room.singleLesson(twin.id, key: "single-\(twin.id)")
                let item = items[index]
                if item["status"] == "recorded" {
                    #expect(single.status == .created, "\(single.body)")
                    #expect(item["valueFen"] == "\(single.int("valueFen"))")
                    let batched = try #require(try await room.evidence(ofLesson: item["lessonId"] ?? ""))
                    let alone = try #require(try await room.evidence(ofLesson: single.string("id")))
                    #expect(batched.kind == .lessonsConsumed && batched.kind == alone.kind)
                    #expect(batched.amountFen == alone.amountFen && batched.lessons == alone.lessons && batched.lessons == 1)
                    #expect(batched.enrollmentId == sessionSet[index].id && alone.enrollmentId == twin.id)
                } else {
                    #expect(single.code == item["code"], "\(twin.id): \(single.body) vs \(item)")
                }
                #expect(try await room.position(sessionSet[index].id) == room.position(twin.id))
            }
            // Two lessons each way: their rows, release transfers (escrow mode) and evidence events, nothing else.
            let after = try await room.rowCounts()
            let transfers = mode == .escrow ? 4 : 0
            #expect(after[0] - before[0] == 4 && after[1] - before[1] == transfers && after[2] - before[2] == 4)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func replayingASessionReturnsTheSameResponseAndWritesNothing() async throws {
        try await API.run("session_replay") { api, _ in
            let room = try await Classroom.make(api)
            let ids = [try await room.enrollment(lessons: 10), try await room.enrollment(lessons: 10)].map(\.id.description)
            let first = try await room.session(ids, key: "monday")
            #expect(first.status == .ok && first.int("recorded") == 2, "\(first.body)")
            let before = try await room.rowCounts()
            // The same key and body, from another token of the same institution: the first answer, nothing written.
            let otherToken = try await api.token(for: .institution(room.world.institution.id))
            let replay = try await room.session(ids, key: "monday", token: otherToken)
            #expect(replay.status == first.status && replay.body == first.body)
            #expect(try await room.rowCounts() == before)
            // The same key with another body is the idempotency conflict; a new key records again.
            let conflict = try await room.session(Array(ids.prefix(1)), key: "monday")
            #expect(conflict.status == .conflict && conflict.code == "idempotency_key_reused")
            #expect(try await room.rowCounts() == before)
            #expect(try await room.session(ids, key: "tuesday").int("recorded") == 2)
            // Each release transfer's key derives from the session's key and names its enrollment.
            let keys = try await api.store.query(
                "SELECT idempotency_key FROM transfers WHERE kind = 'release' AND idempotency_key LIKE '%:monday:%' ORDER BY 1")
            var found: [String] = []
            for try await key in keys.decode(String.self) { found.append(key) }
            #expect(found == ids.sorted().map { "release:institution:\(room.world.institution.id):monday:\($0)" })
        }
    }

    @Test func aDefunctOrSuspendedInstitutionRecordsNoSession() async throws {
        try await API.run("session_defunct") { api, _ in
            let room = try await Classroom.make(api)
            let enrollment = try await room.enrollment(lessons: 10)
            try await PartyRepository(store: api.store).setInstitutionStatus(room.world.institution.id, status: .suspended)
            let suspended = try await room.session([enrollment.id.description], key: "s1")
            #expect(suspended.status == .unprocessableContent && suspended.code == "institution_not_operating", "\(suspended.body)")
            try await PartyRepository(store: api.store).setInstitutionStatus(room.world.institution.id, status: .active)
            let before = try await room.rowCounts()
            _ = try await DefunctRepository(store: api.store).mark(
                room.world.institution.id, district: room.world.district.value, effectiveAt: nil, reason: "停业")
            let defunct = try await room.session([enrollment.id.description], key: "s2")
            #expect(defunct.status == .conflict && defunct.code == "institution_defunct", "\(defunct.body)")
            // The use case refuses it too, whatever the token layer lets through.
            let refused = await #expect(throws: Rejection.self) {
                try await api.store.transaction { connection in
                    try await EnrollmentRepository(store: api.store).recordClassSession(
                        NewClassSession(courseId: room.world.course.id, takenOn: room.today, enrollmentIds: [enrollment.id]),
                        institution: room.world.institution.id, releaseKeyPrefix: "release:test", on: connection)
                }
            }
            #expect(refused == .institutionDefunct)
            #expect(try await room.rowCounts()[0] == before[0])
        }
    }

    @Test func foreignEnrollmentsAndCoursesLookLikeUnknownOnes() async throws {
        try await API.run("session_foreign") { api, _ in
            let room = try await Classroom.make(api)
            let elsewhere = try await Classroom.make(api, district: "330205")
            let foreign = try await elsewhere.enrollment(lessons: 10)
            let unknown = Enrollment.ID(UUID())
            let mine = try await room.enrollment(lessons: 10)
            let reply = try await room.session([foreign.id.description, unknown.description, mine.id.description], key: "k")
            #expect(reply.status == .ok)
            let items = reply.sessionItems
            #expect(items[0] == ["enrollmentId": foreign.id.description, "status": "refused", "code": "not_found"])
            #expect(items[1] == ["enrollmentId": unknown.description, "status": "refused", "code": "not_found"])
            #expect(items[2]["status"] == "recorded")
            #expect(try await elsewhere.position(foreign.id).contains("lessonsConsumed=0"))
            // Another institution's course and an unknown course: the same 404, word for word.
            let foreignCourse = try await room.session([mine.id.description], course: elsewhere.world.course.id.description, key: "c1")
            let unknownCourse = try await room.session([mine.id.description], course: UUID().uuidString.lowercased(), key: "c2")
            #expect(foreignCourse.status == .notFound && unknownCourse.status == .notFound)
            #expect(
                NSDictionary(dictionary: foreignCourse.json).isEqual(to: unknownCourse.json),
                "\(foreignCourse.body) vs \(unknownCourse.body)")
            #expect(!foreignCourse.body.contains(elsewhere.world.course.id.description))
            // Only institutions hold class sessions.
            #expect(try await room.session([mine.id.description], key: "g", token: room.guardian).status == .forbidden)
        }
    }

    @Test func theSessionSizeIsCappedAndTheDateMayNotLieAhead() async throws {
        try await API.run("session_cap") { api, _ in
            let room = try await Classroom.make(api)
            let enrollment = try await room.enrollment(lessons: 10)
            let before = try await room.rowCounts()
            let tooMany = (0...ClassSessionLimits.enrollmentsMax).map { _ in UUID().uuidString.lowercased() }
            let capped = try await room.session(tooMany, key: "big")
            #expect(capped.status == .unprocessableContent && capped.code == "class_session_size_out_of_range", "\(capped.body)")
            let empty = try await room.session([], key: "empty")
            #expect(empty.status == .unprocessableContent && empty.code == "class_session_size_out_of_range")
            let atCap = Array(tooMany.prefix(ClassSessionLimits.enrollmentsMax - 1)) + [enrollment.id.description]
            let full = try await room.session(atCap, key: "full")
            #expect(full.status == .ok && full.int("recorded") == 1 && full.int("refused") == Int64(ClassSessionLimits.enrollmentsMax - 1))
            let ahead = try await room.session([enrollment.id.description], takenOn: room.today.addingDays(1), key: "ahead")
            #expect(ahead.status == .unprocessableContent && ahead.code == "lesson_date_in_future")
            let unknownField = try await api.call(
                .post, "/v1/class-sessions", token: room.institution,
                json: #"{"courseId":"\#(room.world.course.id)","takenOn":"\#(room.today)","enrollmentIds":[],"lessons":2}"#,
                idempotencyKey: "field")
            #expect(unknownField.status == .badRequest && unknownField.code == "unknown_field")
            let noKey = try await api.call(
                .post, "/v1/class-sessions", token: room.institution,
                json: #"{"courseId":"\#(room.world.course.id)","takenOn":"\#(room.today)","enrollmentIds":["\#(enrollment.id)"]}"#)
            #expect(noKey.code == "idempotency_key_required")
            #expect(try await room.rowCounts()[0] == before[0] + 1)
        }
    }

    /// Sessions listing the same enrollments in different orders, with single-lesson calls among them: no deadlock,
    /// no lesson beyond what was bought, the ledger whole.
    @Test func concurrentSessionsNeverConsumeMoreThanWasPaid() async throws {
        try await API.run("session_concurrent") { api, _ in
            let room = try await Classroom.make(api)
            var made: [EnrollmentRecord] = []
            for _ in 0..<5 { made.append(try await room.enrollment(lessons: 3)) }
            let enrollments = made
            let ids = enrollments.map(\.id.description)
            let recorded = try await withThrowingTaskGroup(of: Int.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var recorded = 0
                        for round in 0..<2 {
                            let order = client % 2 == 0 ? ids : ids.reversed()
                            let reply = try await room.session(order, key: "c\(client)-\(round)")
                            #expect(reply.status == .ok, "\(reply.body)")
                            for item in reply.sessionItems {
                                #expect(item["status"] == "recorded" || item["code"] == "lessons_exceed_remaining", "\(item)")
                            }
                            recorded += Int(reply.int("recorded"))
                        }
                        return recorded
                    }
                }
                for client in 0..<4 {
                    group.addTask {
                        let reply = try await room.singleLesson(enrollments[client].id, key: "single-\(client)")
                        #expect(reply.status == .created || reply.code == "lessons_exceed_remaining", "\(reply.body)")
                        return reply.status == .created ? 1 : 0
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(recorded == 15)
            for enrollment in enrollments {
                #expect(try await room.position(enrollment.id).contains("lessonsConsumed=3"))
            }
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func guardiansAnswerTheirOwnSessionLessonsAsAnyOther() async throws {
        try await API.run("session_answers") { api, _ in
            let room = try await Classroom.make(api)
            let ids = [try await room.enrollment(lessons: 10), try await room.enrollment(lessons: 10)].map(\.id.description)
            let items = try await room.session(ids, key: "k").sessionItems
            let confirmed = try await api.call(.post, "/v1/lessons/\(items[0]["lessonId"] ?? "")/confirmation", token: room.guardian)
            #expect(confirmed.status == .ok && confirmed.string("status") == "confirmed", "\(confirmed.body)")
            let stranger = try await api.token(for: .guardian(try await PartyRepository(store: api.store).createGuardian(name: "王五")))
            let lesson = items[1]["lessonId"] ?? ""
            #expect(
                try await api.call(.post, "/v1/lessons/\(lesson)/dispute", token: stranger, json: #"{"reason":"x"}"#).status == .notFound)
            let disputed = try await api.call(.post, "/v1/lessons/\(lesson)/dispute", token: room.guardian, json: #"{"reason":"孩子请假"}"#)
            #expect(disputed.status == .ok && disputed.string("status") == "disputed")
            let listed = try await api.call(.get, "/v1/enrollments/\(ids[1])/lessons", token: room.guardian)
            #expect(listed.items.first?["id"] as? String == lesson)
        }
    }

    @Test func aSessionEvaluatesTheInstitutionsWarningsAfterItsMoney() async throws {
        try await API.run("session_warnings") { api, _ in
            let room = try await Classroom.make(api)
            let enrollment = try await room.enrollment(lessons: 10)
            try await api.store.query(
                """
                UPDATE institutions SET licence_valid_until = \(room.today.addingDays(10).description)::date
                WHERE id = \(room.world.institution.id.uuid)
                """)
            let open = { try await api.call(.get, "/v1/warnings?status=open&rule=licence_expiring", token: room.institution).items.count }
            #expect(try await open() == 0)
            #expect(try await room.session([enrollment.id.description], key: "k").int("recorded") == 1)
            // Inline on a quiet service; after the trigger's one-second gap if the payment's evaluation is still draining.
            await api.settled()
            #expect(try await open() == 1)
        }
    }
}
