import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// Thousands of random operations, valid and invalid, against a real database. Sequentially, each outcome is
/// compared with a model of the ledger kept in memory; then concurrent workers hammer the same enrollments.
/// Afterwards every invariant is re-derived from the transfers by the audit.
@Suite struct RandomizedLedgerTests {
    struct Party: Sendable {
        let institution: InstitutionRecord
        let course: CourseRecord
    }

    struct Family: Sendable {
        let guardian: Guardian.ID
        let student: StudentRecord
    }

    enum Outcome: Equatable {
        case done
        case refused(Rejection)
        case notFound
    }

    @Test func randomOperationsKeepEveryInvariant() async throws {
        let seed = ProcessInfo.processInfo.environment["TUITIONGUARD_TEST_SEED"].flatMap { UInt64($0) } ?? .random(in: 1 ... .max)
        print("randomized ledger seed: \(seed)")
        try await TestDatabase.withStore("randomized") { store in
            var random = SeededGenerator(state: seed)
            let parties = PartyRepository(store: store)
            let enrollments = EnrollmentRepository(store: store)
            let district = DistrictCode("330212")!
            try await parties.ensureDistrict(district)
            var institutions: [Party] = []
            for (index, mode) in [SupervisionMode.escrow, .escrow, .reserve].enumerated() {
                let institution = try await parties.registerInstitution(
                    NewInstitution(
                        licenceNumber: "R-\(seed)-\(index)", name: "机构\(index)", address: "宁波市北仑区",
                        creditCode: "52330212MJ0000000\(index)", licenceValidUntil: BusinessDate(shanghaiDateOf: Date()).addingMonths(24),
                        supervisionMode: mode, reserveRatioBasisPoints: mode == .reserve ? 1_500 : 0, supervisedBank: "宁波银行",
                        supervisedAccountNumber: "8601 2000 000\(index)"),
                    district: district)
                let course = try await parties.createCourse(
                    NewCourse(
                        title: "课程\(index)", category: .academic,
                        pricePerLessonFen: Money(fen: Int64.random(in: 1...8_000, using: &random)),
                        lessonMinutes: 45),
                    institution: institution.id)
                institutions.append(Party(institution: institution, course: course))
            }
            var families: [Family] = []
            for index in 0..<6 {
                let guardian = try await parties.createGuardian(name: "家长\(index)")
                families.append(
                    Family(guardian: guardian, student: try await parties.createStudent(NewStudent(name: "学生\(index)"), guardian: guardian))
                )
            }

            // The model: every enrollment's position, owner and institution, and each institution's status.
            var model: [Enrollment.ID: (position: EnrollmentPosition, guardian: Guardian.ID, institution: Institution.ID)] = [:]
            var statuses: [Institution.ID: InstitutionStatus] = Dictionary(
                uniqueKeysWithValues: institutions.map { ($0.institution.id, .active) })
            let today = BusinessDate(shanghaiDateOf: Date())
            var outcomes: [String: Int] = [:]

            func outcome(_ body: () async throws -> Void) async throws -> Outcome {
                do {
                    try await body()
                    return .done
                } catch let rejection as Rejection {
                    return .refused(rejection)
                } catch is NotFound {
                    return .notFound
                } catch {
                    Issue.record("unexpected \(String(reflecting: error))")
                    throw error
                }
            }

            for step in 0..<3_000 {
                let ids = Array(model.keys).sorted { $0.uuid.uuidString < $1.uuid.uuidString }
                let pick = ids.isEmpty ? nil : ids[Int.random(in: 0..<ids.count, using: &random)]
                let operation = ids.isEmpty ? 0 : Int.random(in: 0..<100, using: &random)
                switch operation {
                case 0..<15:
                    let party = institutions.randomElement(using: &random)!
                    let family = families.randomElement(using: &random)!
                    let lessons = Int.random(in: -1...65, using: &random)
                    let start = today.addingDays(Int.random(in: -60...0, using: &random))
                    let end = start.addingMonths(Int.random(in: 0...3, using: &random)).addingDays(Int.random(in: -2...1, using: &random))
                    let order = ChargeOrder(
                        lessons: lessons, pricePerLesson: party.course.pricePerLessonFen, termStart: start, termEnd: end)
                    var expected: Outcome
                    switch checkCharge(order, caps: .national) {
                    case .success: expected = statuses[party.institution.id]!.isOperating ? .done : .refused(.institutionNotOperating)
                    case .failure(let rejection):
                        expected = statuses[party.institution.id]!.isOperating ? .refused(rejection) : .refused(.institutionNotOperating)
                    }
                    var created: EnrollmentRecord?
                    let actual = try await outcome {
                        created = try await enrollments.create(
                            NewEnrollment(
                                studentId: family.student.id, courseId: party.course.id, lessons: lessons, termStart: start, termEnd: end),
                            institution: party.institution.id, guardian: family.guardian)
                    }
                    #expect(actual == expected, "step \(step): create \(order)")
                    if let created {
                        // Both parties sign its contract, so it may be paid.
                        try await TestContracts.sign(store, created)
                        model[created.id] = (created.position, family.guardian, party.institution.id)
                    }
                    outcomes["create \(actual)", default: 0] += 1
                case 15..<35:
                    let entry = model[pick!]!
                    // Sometimes the wrong guardian, sometimes the wrong amount.
                    let guardian =
                        Int.random(in: 0..<10, using: &random) == 0 ? families.randomElement(using: &random)!.guardian : entry.guardian
                    let amount =
                        Int.random(in: 0..<8, using: &random) == 0
                        ? Money(fen: entry.position.amount.fen + Int64.random(in: -5...5, using: &random)) : entry.position.amount
                    let expected: Outcome =
                        guardian != entry.guardian
                        ? .notFound
                        : decidePayment(entry.position, institution: statuses[entry.institution]!, contractSigned: true, offered: amount)
                            .outcome
                    let actual = try await outcome {
                        _ = try await store.transaction { try await enrollments.pay(pick!, guardian: guardian, amount: amount, on: $0) }
                    }
                    #expect(actual == expected, "step \(step): pay \(amount) on \(entry.position)")
                    if actual == .done { model[pick!]!.position.paid = amount }
                    outcomes["pay \(actual)", default: 0] += 1
                case 35..<75:
                    let entry = model[pick!]!
                    let lessons = Int.random(in: -1...12, using: &random)
                    let takenOn = today.addingDays(Int.random(in: -70...1, using: &random))
                    let expected = decideLessons(
                        entry.position, institution: statuses[entry.institution]!, lessons: lessons, takenOn: takenOn, today: today
                    ).outcome
                    let actual = try await outcome {
                        _ = try await store.transaction {
                            try await enrollments.recordLessons(
                                pick!, institution: entry.institution, lessons: lessons, takenOn: takenOn, on: $0)
                        }
                    }
                    #expect(actual == expected, "step \(step): \(lessons) lessons on \(takenOn) for \(entry.position)")
                    if actual == .done {
                        model[pick!]!.position.lessonsConsumed += lessons
                        if entry.position.mode == .escrow {
                            model[pick!]!.position.released = Money(
                                fen: entry.position.released.fen + entry.position.pricePerLesson.fen * Int64(lessons))
                        }
                    }
                    outcomes["lessons \(actual)", default: 0] += 1
                case 75..<87:
                    let entry = model[pick!]!
                    let lessons: Int? = Bool.random(using: &random) ? nil : Int.random(in: -1...20, using: &random)
                    let decision = decideRefund(entry.position, institution: statuses[entry.institution]!, lessons: lessons)
                    let actual = try await outcome {
                        _ = try await store.transaction {
                            try await enrollments.refund(pick!, institution: entry.institution, lessons: lessons, reason: "随机", on: $0)
                        }
                    }
                    #expect(
                        actual == decision.map { _ in () }.outcome,
                        "step \(step): refund \(String(describing: lessons)) of \(entry.position)")
                    if case .success(let refund) = decision, actual == .done {
                        model[pick!]!.position.lessonsRefunded += refund.lessons
                        model[pick!]!.position.refunded = Money(fen: entry.position.refunded.fen + refund.transfer.amount.fen)
                    }
                    outcomes["refund \(actual)", default: 0] += 1
                case 87..<95:
                    let party = institutions.randomElement(using: &random)!
                    let amount = Money(fen: Int64.random(in: -100...50_000, using: &random))
                    let expected = decideReserveTopUp(amount: amount, institution: statuses[party.institution.id]!).outcome
                    let actual = try await outcome {
                        _ = try await store.transaction {
                            try await enrollments.topUpReserve(
                                institution: party.institution.id, amount: amount, key: "topup-\(step)", on: $0)
                        }
                    }
                    #expect(actual == expected, "step \(step): top-up \(amount)")
                    outcomes["topup \(actual)", default: 0] += 1
                default:
                    let party = institutions.randomElement(using: &random)!
                    let status: InstitutionStatus = Int.random(in: 0..<5, using: &random) == 0 ? .suspended : .active
                    try await parties.setInstitutionStatus(party.institution.id, status: status)
                    statuses[party.institution.id] = status
                }
            }

            // Every enrollment in the database is what the model says.
            for (id, entry) in model {
                let record = try #require(try await enrollments.enrollment(id, scope: scopeOf(.guardian(entry.guardian))))
                // The model does not know the payment's instant, only that a paid enrollment has one.
                var recorded = record.position
                #expect((recorded.paidAt != nil) == entry.position.isPaid, "enrollment \(id)")
                recorded.paidAt = entry.position.paidAt
                #expect(recorded == entry.position, "enrollment \(id)")
            }
            print("randomized ledger outcomes: \(outcomes.sorted { $0.key < $1.key })")
            #expect(outcomes.keys.contains { $0.hasPrefix("pay done") } && outcomes.keys.contains { $0.hasPrefix("lessons refused") })
            let sequentialBreaches = try await InvariantAudit(store: store).breaches()
            #expect(sequentialBreaches.isEmpty, "after the sequential phase: \(sequentialBreaches)")

            // Concurrent phase: workers race on the same enrollments with no coordination but the database's.
            for party in institutions { try await parties.setInstitutionStatus(party.institution.id, status: .active) }
            let open = model.filter { $0.value.position.isPaid && $0.value.position.lessonsRemaining > 0 }
            let targets = Array((open.count >= 4 ? open : model).prefix(12))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var random = SeededGenerator(state: seed &+ UInt64(worker))
                        for _ in 0..<150 {
                            let (id, entry) = targets.randomElement(using: &random)!
                            // Named refusals are expected in a race; any other error (a deadlock, say) fails the test.
                            do {
                                try await store.transaction { connection -> Void in
                                    switch Int.random(in: 0..<4, using: &random) {
                                    case 0:
                                        _ = try await enrollments.pay(
                                            id, guardian: entry.guardian, amount: entry.position.amount, on: connection)
                                    case 1:
                                        _ = try await enrollments.refund(
                                            id, institution: entry.institution, lessons: 1, reason: "", on: connection)
                                    default:
                                        _ = try await enrollments.recordLessons(
                                            id, institution: entry.institution, lessons: Int.random(in: 1...4, using: &random),
                                            takenOn: today, on: connection)
                                    }
                                }
                            } catch is Rejection {
                            } catch is NotFound {
                            } catch {
                                Issue.record("worker \(worker): \(String(reflecting: error))")
                                throw error
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let breaches = try await InvariantAudit(store: store).breaches()
            #expect(breaches.isEmpty, "after the concurrent phase: \(breaches)")
            let unlogged = try await LedgerLogReconciliation(store: store).breaches()
            #expect(unlogged.isEmpty, "the ledger and the log after the concurrent phase: \(unlogged)")
        }
    }
}

extension Result {
    var outcome: RandomizedLedgerTests.Outcome {
        switch self {
        case .success: .done
        case .failure(let error): (error as? Rejection).map { .refused($0) } ?? .notFound
        }
    }
}
