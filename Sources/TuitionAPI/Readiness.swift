import Foundation
import Hummingbird
import TuitionStore
import TuitionWire

/// When the service counts as ready to take traffic (`GET /ready`), as opposed to alive (`GET /health`).
public struct ReadinessPolicy: Sendable {
    /// How long the database check may take before the database counts as unreachable.
    public var databaseCheckDeadline: Duration = .seconds(2)

    public init() {}
}

/// `GET /ready`: 200 when this instance can serve, that is the database answers and none of its background services is
/// stuck; 503 otherwise, with the reason. The evidence log's lag is in the body and in `/metrics`, for alerting, but
/// does not decide: the queue is shared by every instance, so a backlog (a province's fast-track queues some 300,000
/// events) would take them all out of service at once while each could serve. `GET /health` stays a liveness check
/// that needs nothing but the process.
func addReadinessRoute(to router: Router<AppRequestContext>, store: Store, health: ServiceHealth, policy: ReadinessPolicy) {
    router.get("ready") { _, _ in
        var body = ReadinessBody(ready: false, database: "unreachable", stalledServices: health.stalled)
        if let lag = try? await withDeadline(policy.databaseCheckDeadline, { try await LogLagRepository(store: store).lag() }) {
            body.database = "ok"
            body.queueDepth = lag.queueDepth
            body.oldestQueuedAgeSeconds = lag.oldestQueuedAgeSeconds
            body.headAgeSeconds = lag.headAgeSeconds
            body.ready = body.stalledServices.isEmpty
        }
        var response = try JSON.response(body, status: body.ready ? .ok : .serviceUnavailable)
        if !body.ready { response.headers[.retryAfter] = "1" }
        return response
    }
}
