import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct MetricsAPITests {
    @Test func requestsAreCountedAndTimedByRoutePatternMethodAndStatus() async throws {
        try await API.run("metrics_requests") { api, _ in
            let cast = try await Cast.make(api)
            _ = try await api.call(.get, "/health")
            _ = try await api.call(.get, "/health")
            _ = try await api.call(.get, "/v1/institutions/\(cast.world.institution.id)", token: cast.regulator)
            _ = try await api.call(.get, "/v1/institutions/\(UUID())", token: cast.regulator)
            _ = try await api.call(.get, "/no/such/route")
            let metrics = try await api.call(.get, "/metrics", token: API.metricsToken)
            #expect(metrics.status == .ok && metrics.contentType == "text/plain; version=0.0.4; charset=utf-8")
            let text = metrics.body
            #expect(text.contains(#"tuitionguard_http_requests_total{route="/health",method="GET",status="200"} 2"#), "\(text)")
            #expect(text.contains(#"tuitionguard_http_requests_total{route="/v1/institutions/{id}",method="GET",status="200"} 1"#))
            #expect(text.contains(#"tuitionguard_http_requests_total{route="/v1/institutions/{id}",method="GET",status="404"} 1"#))
            #expect(text.contains(#"tuitionguard_http_requests_total{route="unmatched",method="GET",status="404"} 1"#))
            #expect(text.contains(#"tuitionguard_http_request_duration_seconds_count{route="/health",method="GET",status="200"} 2"#))
            #expect(text.contains("# TYPE tuitionguard_http_request_duration_seconds histogram"))
            #expect(!text.contains(cast.world.institution.id.description), "concrete paths never become labels")
        }
    }

    @Test func ledgerTransfersWarningsAndFastTrackAreReadAtScrapeTime() async throws {
        try await API.run("metrics_figures") { api, _ in
            let district = try await KnownDistrict.make(api.store)
            let text = try await api.call(.get, "/metrics", token: API.metricsToken).body
            // KnownDistrict: two payments (¥3,200 + ¥5,000), one release (10 × ¥80), one reserve top-up, two premiums.
            #expect(text.contains("# TYPE tuitionguard_ledger_transfers_total counter"))
            #expect(text.contains("tuitionguard_database_figures_up 1"))
            #expect(text.contains(#"tuitionguard_ledger_transfers_total{kind="payment"} 2"#), "\(text)")
            #expect(!text.contains("transferred_fen"), "no money totals in a scrape")
            #expect(text.contains(#"tuitionguard_ledger_transfers_total{kind="release"} 1"#))
            #expect(text.contains(#"tuitionguard_ledger_transfers_total{kind="reserve_topup"} 1"#))
            #expect(text.contains(#"tuitionguard_ledger_transfers_total{kind="premium"} 2"#))
            #expect(text.contains(#"tuitionguard_open_warnings{district="330299",severity="critical"} 1"#))
            #expect(text.contains(#"tuitionguard_open_warnings{district="330299",severity="serious"} 1"#))
            #expect(text.contains(#"tuitionguard_open_warnings{district="330299",severity="notice"} 1"#))
            let licence = district.e.licenceNumber
            #expect(text.contains(#"district="330299",licence="\#(licence)",status="running"} 3"#), "fast-track progress: 3 of 4 done")
            #expect(
                text.contains(#"tuitionguard_fast_track_uncovered_fen{"#)
                    && text.contains(#"licence="\#(licence)",status="running"} 12300"#))
            // A new payment shows at the next scrape: the figures are read, not remembered.
            let extra = try await district.a.anotherEnrollment(api.store, lessons: 5)
            _ = try await api.store.transaction {
                try await EnrollmentRepository(store: api.store).pay(
                    extra.id, guardian: district.a.guardian, amount: extra.amountFen, on: $0)
            }
            #expect(
                try await api.call(.get, "/metrics", token: API.metricsToken).body.contains(
                    #"tuitionguard_ledger_transfers_total{kind="payment"} 3"#))
        }
    }
}
