import Foundation
import Hummingbird
import TuitionStore
import TuitionWire

/// When the service counts as ready to take traffic (`GET /ready`), as opposed to alive (`GET /health`).
public struct ReadinessPolicy: Sendable {
    /// The oldest queued evidence event may have waited this long (`TUITIONGUARD_READY_MAX_LOG_LAG_SECONDS`).
    public var maximumLogLag: Duration = .seconds(30)
    /// How long the database check may take before the database counts as unreachable.
    public var databaseCheckDeadline: Duration = .seconds(2)

    public init() {}
}

/// `GET /ready`: 200 when the database answers, the evidence log keeps up and no background service is stuck; 503
/// otherwise, with the reason. `GET /health` stays a liveness check that needs nothing but the process.
func addReadinessRoute(to router: Router<AppRequestContext>, store: Store, health: ServiceHealth, policy: ReadinessPolicy) {
    router.get("ready") { _, _ in
        let lagLimit = Double(policy.maximumLogLag.components.seconds)
        var body = ReadinessBody(ready: false, database: "unreachable", stalledServices: health.stalled)
        if let lag = try? await withDeadline(policy.databaseCheckDeadline, { try await LogLagRepository(store: store).lag() }) {
            body.database = "ok"
            body.queueDepth = lag.queueDepth
            body.oldestQueuedAgeSeconds = lag.oldestQueuedAgeSeconds
            body.headAgeSeconds = lag.headAgeSeconds
            body.ready = lag.oldestQueuedAgeSeconds <= lagLimit && body.stalledServices.isEmpty
        }
        var response = try JSON.response(body, status: body.ready ? .ok : .serviceUnavailable)
        if !body.ready { response.headers[.retryAfter] = "1" }
        return response
    }
}
