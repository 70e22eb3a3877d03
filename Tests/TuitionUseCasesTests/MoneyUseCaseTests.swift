import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionUseCases

/// The follow-ups a use case scheduled, in order.
actor RecordedFollowUps: FollowUps {
    private(set) var changed: [Institution.ID] = []

    func figuresChanged(of institution: Institution.ID) async { changed.append(institution) }
}

@Suite struct MoneyUseCaseTests {
    static func keyed(_ key: String, principal: Principal, body: String) -> KeyedRequest {
        KeyedRequest(
            owner: principal.entity.idempotencyOwner, principal: principal.id, key: key, digest: Data(body.utf8), status: 201)
    }

    /// The use case itself schedules the institution's warning re-evaluation once its change committed; a replay,
    /// which moved nothing, schedules nothing, and a refused request neither.
    @Test func aPaymentSchedulesWarningReevaluationWithoutTheRoute() async throws {
        try await TestDatabase.withStore("usecasepay") { store in
            let world = try await World.make(store)
            let token = try await PrincipalRepository(store: store).issue(for: .guardian(world.guardian), label: "test")
            let followUps = RecordedFollowUps()
            let money = MoneyMovements(store: store, followUps: followUps)
            let request = Self.keyed("pay-1", principal: token.principal, body: "pay")
            func pay(_ request: KeyedRequest) async throws -> StoredResponse {
                try await money.pay(
                    world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, request: request,
                    encode: { try JSONEncoder().encode($0) })
            }
            let first = try await pay(request)
            #expect(await followUps.changed == [world.institution.id])
            let replay = try await pay(request)
            #expect(replay == first)
            #expect(await followUps.changed == [world.institution.id])
            await #expect(throws: KeyedRequestRefusal.self) {
                _ = try await pay(Self.keyed("pay-1", principal: token.principal, body: "another request"))
            }
            #expect(await followUps.changed == [world.institution.id])
        }
    }

    /// Every money use case reports the institution whose figures it changed: lessons, a refund, a reserve top-up.
    @Test func lessonsRefundsAndTopUpsScheduleTheirInstitution() async throws {
        try await TestDatabase.withStore("usecasemoney") { store in
            let world = try await World.make(store)
            let guardian = try await PrincipalRepository(store: store).issue(for: .guardian(world.guardian), label: "g")
            let institution = try await PrincipalRepository(store: store).issue(for: .institution(world.institution.id), label: "i")
            let followUps = RecordedFollowUps()
            let money = MoneyMovements(store: store, followUps: followUps)
            let encode: @Sendable (any Encodable & Sendable) throws -> Data = { try JSONEncoder().encode($0) }
            _ = try await money.pay(
                world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen,
                request: Self.keyed("p", principal: guardian.principal, body: "p"), encode: encode)
            _ = try await money.recordLessons(
                world.enrollment.id, institution: world.institution.id, lessons: 2, takenOn: BusinessDate(shanghaiDateOf: Date()),
                request: Self.keyed("l", principal: institution.principal, body: "l"), encode: encode)
            _ = try await money.refund(
                world.enrollment.id, institution: world.institution.id, lessons: 1, reason: { "moved away" },
                request: Self.keyed("r", principal: institution.principal, body: "r"), encode: encode)
            _ = try await money.topUpReserve(
                institution: world.institution.id, amount: .yuan(100), transferKey: "topup:test",
                request: Self.keyed("t", principal: institution.principal, body: "t"), encode: encode)
            #expect(await followUps.changed == Array(repeating: world.institution.id, count: 4))
        }
    }
}
