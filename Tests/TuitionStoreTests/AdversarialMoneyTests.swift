import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// Issue 10's adversarial test: workers interleave, concurrently, payments, lessons, disputes, refunds, top-ups, claims
/// (file, approve, reject, pay), defunct marks with past effective times and insurer payouts during and after the job,
/// on a real PostgreSQL. A checker that reads only the raw tables (transfers, lessons, claims, the evidence queue) then
/// holds the ledger to what a parent, an insurer's auditor and a regulator expect. Replay with TUITIONGUARD_TEST_SEED.
@Suite struct AdversarialMoneyTests {
    static let district = "330205"

    struct Party: Sendable {
        let institution: InstitutionRecord
        let course: CourseRecord
        let insurer: Insurer.ID
        let riskPolicy: Policy.ID?
        let tuitionProduct: InsuranceProduct.ID
    }

    /// The cases marked during the game.
    actor Cases {
        var ids: [DefunctCase.ID] = []
        func add(_ id: DefunctCase.ID) { ids.append(id) }
    }

    struct Order: Sendable {
        let enrollment: EnrollmentRecord
        let party: Int
    }

    /// Errors the game expects: the rules' refusals and ids out of reach. Anything else fails the test.
    static func expected(_ error: any Error) -> Bool { error is Rejection || error is NotFound }

    static func build(_ store: Store, random: inout SeededGenerator) async throws -> ([Party], [Order]) {
        let partiesRepo = PartyRepository(store: store)
        let insurance = InsuranceRepository(store: store)
        let district = DistrictCode(Self.district)!
        try await partiesRepo.ensureDistrict(district)
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
        var parties: [Party] = []
        var orders: [Order] = []
        for index in 0..<3 {
            let mode: SupervisionMode = index == 2 ? .reserve : .escrow
            let institution = try await partiesRepo.registerInstitution(
                NewInstitution(
                    licenceNumber: "ADV-\(index)-\(UInt32.random(in: .min ... .max))", name: "机构\(index)", address: "宁波市江北区",
                    creditCode: "52330205MJ000000\(index)X", licenceValidUntil: today.addingMonths(24), supervisionMode: mode,
                    reserveRatioBasisPoints: mode == .reserve ? 2_000 : 0),
                district: district)
            let course = try await partiesRepo.createCourse(
                NewCourse(
                    title: "课程", category: .academic, pricePerLessonFen: Money(fen: Int64.random(in: 100...6_000, using: &random)),
                    lessonMinutes: 45, lessonsPerWeek: 1),
                institution: institution.id)
            let insurer = try await partiesRepo.createInsurer(name: "保险\(index)")
            let tuition = try await insurance.createProduct(
                NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 200), insurer: insurer)
            var riskPolicy: Policy.ID?
            if index != 1 {
                let risk = try await insurance.createProduct(
                    NewInsuranceProduct(
                        kind: .institutionRisk, premiumRateBasisPoints: 100, coveredShareBasisPoints: 6_000, limitFen: .yuan(1_000_000)),
                    insurer: insurer)
                riskPolicy = try await store.transaction {
                    try await insurance.issueRiskPolicy(
                        NewRiskPolicy(
                            productId: risk.id, institutionId: institution.id,
                            sumInsuredFen: Money(fen: Int64.random(in: 50_000...600_000, using: &random)), periodStart: today,
                            periodEnd: today.addingMonths(12)),
                        insurer: insurer, key: "risk:\(institution.id)", on: $0)
                }.id
            }
            parties.append(
                Party(institution: institution, course: course, insurer: insurer, riskPolicy: riskPolicy, tuitionProduct: tuition.id))
            for family in 0..<5 {
                let guardian = try await partiesRepo.createGuardian(name: "家长\(index)-\(family)")
                let student = try await partiesRepo.createStudent(NewStudent(name: "学生\(family)"), guardian: guardian)
                let enrollment = try await EnrollmentRepository(store: store).create(
                    NewEnrollment(
                        studentId: student.id, courseId: course.id, lessons: Int.random(in: 5...30, using: &random),
                        termStart: today.addingDays(-20), termEnd: today.addingDays(60)),
                    institution: institution.id, guardian: guardian)
                try await TestContracts.sign(store, enrollment)
                orders.append(Order(enrollment: enrollment, party: index))
                guard family < 3 else { continue }  // the others are paid during the game, some after an effective time
                _ = try await store.transaction {
                    try await EnrollmentRepository(store: store).pay(
                        enrollment.id, guardian: guardian, amount: enrollment.amountFen, on: $0)
                }
                if Bool.random(using: &random) {
                    _ = try await store.transaction {
                        try await insurance.buyTuitionPolicy(
                            NewTuitionPolicy(
                                productId: tuition.id, sumInsuredFen: Money(fen: enrollment.amountFen.fen / 2), periodStart: today,
                                periodEnd: today.addingMonths(3)),
                            enrollment: enrollment.id, guardian: guardian, key: "tuition:\(enrollment.id)", on: $0)
                    }
                }
            }
        }
        return (parties, orders)
    }

    /// One random move; returns what happened, for the tally.
    static func move(
        _ store: Store, parties: [Party], orders: [Order], cases: Cases, step: Int, random: inout SeededGenerator
    ) async throws -> String {
        let enrollments = EnrollmentRepository(store: store)
        let claims = ClaimRepository(store: store)
        let order = orders.randomElement(using: &random)!
        let party = parties[order.party]
        let enrollment = order.enrollment
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
        let roll = Int.random(in: 0..<100, using: &random)
        let lessons = Int.random(in: 1...6, using: &random)
        let claimed = Money(fen: Int64.random(in: 1...enrollment.amountFen.fen, using: &random))
        let policyPick = Bool.random(using: &random)
        let effectiveBack = Double.random(in: 0...0.4, using: &random)
        switch roll {
        case 0..<12:
            _ = try await store.transaction {
                try await enrollments.pay(enrollment.id, guardian: enrollment.guardianId, amount: enrollment.amountFen, on: $0)
            }
            return "pay"
        case 12..<32:
            _ = try await store.transaction {
                try await enrollments.recordLessons(
                    enrollment.id, institution: enrollment.institutionId, lessons: lessons, takenOn: today, on: $0)
            }
            return "lessons"
        case 32..<38:
            let rows = try await store.query(
                "SELECT id FROM lessons WHERE enrollment_id = \(enrollment.id.uuid) AND status = 'recorded' ORDER BY id DESC LIMIT 1")
            for try await id in rows.decode(UUID.self) {
                _ = try await enrollments.answerLesson(.init(id), guardian: enrollment.guardianId, dispute: "没有上课")
            }
            return "dispute"
        case 38..<52:
            _ = try await store.transaction {
                try await enrollments.refund(
                    enrollment.id, institution: enrollment.institutionId, lessons: policyPick ? nil : lessons, reason: "退费", on: $0)
            }
            return "refund"
        case 52..<56:
            _ = try await store.transaction {
                try await enrollments.topUpReserve(
                    institution: party.institution.id, amount: Money(fen: 10_000 * Int64(lessons)), key: "top:\(UUID())", on: $0)
            }
            return "topup"
        case 56..<68:
            let tuition = try await store.query(
                "SELECT id FROM policies WHERE enrollment_id = \(enrollment.id.uuid) AND kind = 'student_tuition'")
            var policy = party.riskPolicy.map(\.uuid)
            for try await id in tuition.decode(UUID.self) where policyPick || policy == nil { policy = id }
            guard let policy else { return "no policy" }
            let reason: ClaimReason = policyPick ? .institutionDefunct : .refundRefused
            _ = try await store.transaction {
                try await claims.file(
                    NewClaim(enrollmentId: enrollment.id, policyId: .init(policy), reason: reason, claimedFen: claimed),
                    guardian: enrollment.guardianId, on: $0)
            }
            return "file"
        case 68..<90:
            // The insurer works its queue: decide an open claim, or pay an approved one.
            let rows = try await store.query(
                """
                SELECT id, status, approvable_fen FROM claims WHERE insurer_id = \(party.insurer.uuid)
                  AND status IN ('verified', 'referred', 'approved') ORDER BY random() LIMIT 1
                """)
            for try await (id, status, approvable) in rows.decode((UUID, String, Int64).self) {
                if status == "approved" {
                    _ = try await store.transaction { try await claims.pay(.init(id), insurer: party.insurer, on: $0) }
                    return "claim pay"
                }
                if policyPick, approvable > 0 {
                    _ = try await claims.approve(.init(id), insurer: party.insurer, amount: Money(fen: max(1, approvable / 2 + 1)))
                    return "claim approve"
                }
                _ = try await claims.reject(.init(id), insurer: party.insurer, reason: "不予理赔")
                return "claim reject"
            }
            return "no claim"
        case 90..<93 where step >= 25:
            // Marks come once the game is under way, with effective times up to 0.4 s back: payments, lessons and
            // refunds of that window are exactly what the mark must sort out.
            let effective = store.dependencies.now().addingTimeInterval(-effectiveBack)
            let marked = try await DefunctRepository(store: store).mark(
                party.institution.id, district: Self.district, effectiveAt: effective, reason: "跑路")
            await cases.add(marked.id)
            // The job runs beside the game, as the service runs it.
            Task { _ = try? await FastTrackJob(store: store, chunkSize: 2).run(marked.id) }
            return "mark"
        default:
            return "idle"
        }
    }

    @Test func noGuardianIsRepaidTwiceAndEveryCaseCompletes() async throws {
        let seed = ProcessInfo.processInfo.environment["TUITIONGUARD_TEST_SEED"].flatMap { UInt64($0) } ?? .random(in: 1 ... .max)
        print("adversarial money seed: \(seed)")
        try await TestDatabase.withStore("adversarial") { store in
            var random = SeededGenerator(state: seed)
            let (parties, orders) = try await Self.build(store, random: &random)
            let cases = Cases()
            let workerSeeds = (0..<4).map { _ in UInt64.random(in: 1 ... .max, using: &random) }
            let tally = try await withThrowingTaskGroup(of: [String: Int].self) { group in
                for workerSeed in workerSeeds {
                    group.addTask {
                        var random = SeededGenerator(state: workerSeed)
                        var tally: [String: Int] = [:]
                        for step in 0..<45 {
                            do {
                                let move = try await Self.move(
                                    store, parties: parties, orders: orders, cases: cases, step: step, random: &random)
                                tally[move, default: 0] += 1
                            } catch {
                                #expect(Self.expected(error), "seed \(seed): unexpected \(String(reflecting: error))")
                                tally["refused \((error as? Rejection)?.rawValue ?? "not found")", default: 0] += 1
                            }
                        }
                        return tally
                    }
                }
                var all: [String: Int] = [:]
                for try await part in group { all.merge(part, uniquingKeysWith: +) }
                return all
            }
            print("adversarial money moves: \(tally.sorted { $0.key < $1.key })")

            // Every institution collapses in the end; every case is run to completion (a runner may still be on it).
            for party in parties {
                if let marked = try? await DefunctRepository(store: store).mark(
                    party.institution.id, district: Self.district, effectiveAt: nil, reason: "清算")
                {
                    await cases.add(marked.id)
                }
            }
            for id in await cases.ids {
                let finished = try await FastTrackJob(store: store, chunkSize: 3).run(id)
                #expect(finished.status == .completed, "seed \(seed): case \(id) is \(finished.status): \(finished.blockedReason ?? "")")
            }
            // Insurers decide and pay what is left in their queues after the jobs.
            let claims = ClaimRepository(store: store)
            for party in parties {
                let rows = try await store.query(
                    "SELECT id, approvable_fen FROM claims WHERE insurer_id = \(party.insurer.uuid) AND status IN ('verified', 'referred')")
                var open: [(UUID, Int64)] = []
                for try await row in rows.decode((UUID, Int64).self) { open.append(row) }
                for (id, approvable) in open where approvable > 0 {
                    do {
                        _ = try await claims.approve(.init(id), insurer: party.insurer, amount: Money(fen: approvable))
                        _ = try await store.transaction { try await claims.pay(.init(id), insurer: party.insurer, on: $0) }
                    } catch {
                        #expect(Self.expected(error), "seed \(seed): unexpected \(String(reflecting: error))")
                    }
                }
            }
            try await Self.check(store, seed: seed)
        }
    }

    /// The independent checker: raw tables only.
    static func check(_ store: Store, seed: UInt64) async throws {
        // No guardian gets back more than paid − consumed before the effective time + payments made at or after it.
        let overpaid = try await store.query(
            """
            SELECT e.id::text, back, owed FROM enrollments e
            LEFT JOIN defunct_cases dc ON dc.institution_id = e.institution_id
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(amount_fen) FILTER (WHERE kind IN ('refund', 'payout')), 0) AS back,
                       coalesce(sum(amount_fen) FILTER (WHERE kind = 'payment'), 0)
                       - (SELECT coalesce(sum(value_fen), 0) FROM lessons l WHERE l.enrollment_id = e.id
                          AND l.recorded_at < coalesce(dc.effective_at, 'infinity')
                          AND NOT EXISTS (SELECT 1 FROM transfers p WHERE p.enrollment_id = e.id AND p.kind = 'payment'
                                          AND p.created_at >= coalesce(dc.effective_at, 'infinity'))) AS owed
                FROM transfers t WHERE t.enrollment_id = e.id) x
            WHERE back > owed
            """)
        for try await (id, back, owed) in overpaid.decode((String, Int64, Int64).self) {
            Issue.record("seed \(seed): enrollment \(id) got back \(back) on \(owed) owed")
        }
        // No enrollment's escrow goes below zero.
        let negative = try await store.query(
            """
            SELECT t.enrollment_id::text, sum(CASE WHEN c.kind = 'escrow' THEN t.amount_fen ELSE 0 END)
                - sum(CASE WHEN d.kind = 'escrow' THEN t.amount_fen ELSE 0 END)
            FROM transfers t JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id
            WHERE t.enrollment_id IS NOT NULL GROUP BY t.enrollment_id
            HAVING sum(CASE WHEN c.kind = 'escrow' THEN t.amount_fen ELSE 0 END) < sum(CASE WHEN d.kind = 'escrow' THEN t.amount_fen ELSE 0 END)
            """)
        for try await (id, held) in negative.decode((String, Int64).self) {
            Issue.record("seed \(seed): enrollment \(id) holds \(held) in escrow")
        }
        // Every case completed, and its figures equal its transfers: the institution's layers keyed by the case, the
        // insurance layers the job paid plus the case's claims insurers paid later.
        let figures = try await store.query(
            """
            SELECT dc.id::text, dc.status, dc.paid_escrow_fen + dc.paid_reserve_fen + dc.paid_return_fen,
                dc.paid_risk_policy_fen + dc.paid_tuition_policy_fen,
                (SELECT coalesce(sum(amount_fen), 0) FROM transfers t WHERE t.idempotency_key LIKE 'defunct:' || dc.id || ':%'
                   AND (t.idempotency_key LIKE '%:escrow' OR t.idempotency_key LIKE '%:reserve' OR t.idempotency_key LIKE '%:operating'))::bigint,
                (SELECT coalesce(sum(t.amount_fen), 0) FROM claims cl JOIN transfers t ON t.id = cl.payout_transfer_id
                 WHERE cl.defunct_case_id = dc.id)::bigint
            FROM defunct_cases dc
            """)
        for try await (id, status, own, insured, ownMoved, insuredMoved) in figures.decode(
            (String, String, Int64, Int64, Int64, Int64).self)
        {
            #expect(status == "completed", "seed \(seed): case \(id) is \(status)")
            #expect(
                own == ownMoved && insured == insuredMoved,
                "seed \(seed): case \(id) figures \(own)/\(insured), moved \(ownMoved)/\(insuredMoved)")
        }
        // Every claim's events appear in the log in order: filed first, paid last and once when paid, never paid otherwise.
        var events: [String: [EvidenceKind]] = [:]
        for try await entry in try await store.query("SELECT entry FROM evidence_queue ORDER BY id").decode(ByteBuffer.self) {
            let event = try EvidenceEvent.decode(canonical: Array(buffer: entry))
            guard let reference = event.reference, reference.hasPrefix("claim:") else { continue }
            events[String(reference.split(separator: ":")[1]), default: []].append(event.kind)
        }
        for try await (id, status) in try await store.query("SELECT id::text, status FROM claims").decode((String, String).self) {
            let story = events[id] ?? []
            #expect(story.first == .claimFiled, "seed \(seed): claim \(id) (\(status)) story \(story)")
            let paid = story.filter { $0 == .claimPaid }.count
            #expect(
                paid == (status == "paid" ? 1 : 0) && (status != "paid" || story.last == .claimPaid), "seed \(seed): claim \(id) \(story)")
            if status != "filed" && status != "verified" && status != "referred" {
                #expect(story.count >= 2 || status == "rejected", "seed \(seed): claim \(id) (\(status)) was never decided: \(story)")
            }
        }
        #expect(try await MoneyIntegrityStoreTests.breaches(store) == [], "seed \(seed)")
    }
}
