import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus
import TuitionStore

/// Where the service's metrics go: a Prometheus registry, reached through swift-metrics with an explicit factory,
/// so each router (the service's, or a test's) has its own and nothing depends on the global bootstrap.
public struct Telemetry: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Money-path requests take milliseconds; the dashboard's budget is 200 ms.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
        ]
        self.factory = factory
    }
}

/// Counts requests and records their latency by route pattern (`/v1/enrollments/{id}/payments`, never the concrete
/// path, so the series stay few), method and status. It sits outside the problem middleware and sees the status the
/// client gets.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: any MetricsFactory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = context.endpointPath ?? "unmatched"
        do {
            let response = try await next(request, context)
            record(route: route, method: request.method, status: response.status, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            record(route: route, method: request.method, status: status, since: start)
            throw error
        }
    }

    func record(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, since start: ContinuousClock.Instant) {
        let dimensions = [("route", route), ("method", method.rawValue), ("status", String(status.code))]
        Counter(label: "tuitionguard_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "tuitionguard_http_request_duration_seconds", dimensions: dimensions, factory: factory)
            .recordInterval(since: start)
    }
}

extension Timer {
    fileprivate func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// `GET /metrics`: the request metrics, then figures read from the database at scrape time (ledger transfers by
/// kind, open warnings, fast-track progress, the evidence log's lag) in a registry made for this scrape, so a figure
/// that is gone leaves no stale series behind, then the background services' health. The database figures are read
/// within `databaseFiguresDeadline`; when the database cannot give them (it is down, or slow), the scrape still answers
/// with everything the process knows itself — exactly when an operator needs the restart counters and how long each
/// background service has gone without a success — and `tuitionguard_database_figures_up` says 0. It needs `Authorization: Bearer <TUITIONGUARD_METRICS_TOKEN>`; without a configured token
/// it is not served at all (404), so nothing about the platform is public by accident. A wrong scrape token is a guess
/// like a wrong bearer token: it counts against the client's address in the API's limiter, which then refuses the
/// address (429) until its window ends.
func addMetricsRoutes(
    to router: Router<AppRequestContext>, store: Store, telemetry: Telemetry, scrapeToken: String?, health: ServiceHealth,
    limiter: FailedAuthenticationLimiter, logCache: LogNodeCache?
) {
    router.get("metrics") { request, context in
        guard let scrapeToken else { throw Problem.notFound }
        let address = limiter.address(of: request, context)
        if let wait = limiter.retryAfter(address) { return try FailedAuthenticationLimiter.refusal(waiting: wait, request, context) }
        guard let offered = request.headers.bearerToken, constantTimeEquals(offered, scrapeToken) else {
            limiter.recordFailure(address)
            throw Problem.unauthenticated
        }
        let database: (OperationsFigures, LogLag)?
        do {
            database = try await withDeadline(databaseFiguresDeadline) {
                (try await OperationsRepository(store: store).figures(), try await LogLagRepository(store: store).lag())
            }
        } catch {
            store.logger.warning("metrics scrape without the database's figures", metadata: ["cause": "\(String(reflecting: error))"])
            database = nil
        }
        var buffer = telemetry.registry.emitToBuffer()
        if let (figures, lag) = database {
            scrapeRegistry(figures).emit(into: &buffer)
            lagRegistry(lag).emit(into: &buffer)
        }
        healthRegistry(health, databaseFiguresUp: database != nil, logCacheSize: logCache?.size).emit(into: &buffer)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
}

func scrapeRegistry(_ figures: OperationsFigures) -> PrometheusCollectorRegistry {
    let registry = PrometheusCollectorRegistry()
    let transfers = metricName("ledger_transfers", unit: "total", "Ledger transfers by kind, counted from the append-only transfers table")
    // Counts only: money totals belong to the regulator's dashboard, behind its sign-in, not to a scrape.
    for kind in figures.transfers {
        // The table only grows, so these are counters; a fresh registry starts them at zero and adds the count.
        registry.makeCounter(descriptor: transfers, labels: [("kind", kind.kind)]).increment(by: kind.count)
    }
    let warnings = metricName("open_warnings", "Open warnings by district and severity")
    for row in figures.openWarnings {
        registry.makeGauge(descriptor: warnings, labels: [("district", row.district), ("severity", row.severity)]).set(Int64(row.count))
    }
    let total = metricName("fast_track_enrollments", "Enrollments of a defunct case's fast-track")
    let done = metricName("fast_track_enrollments_done", "Enrollments the fast-track has settled")
    let uncovered = metricName("fast_track_uncovered_fen", "Unconsumed tuition the waterfall could not cover, in fen")
    for row in figures.fastTrack {
        // /metrics is public: the licence number (public anyway, one case per institution) names the case, not its id.
        let labels = [("district", row.district), ("licence", row.licenceNumber), ("status", row.status)]
        registry.makeGauge(descriptor: total, labels: labels).set(Int64(row.enrollmentsTotal))
        registry.makeGauge(descriptor: done, labels: labels).set(Int64(row.enrollmentsDone))
        registry.makeGauge(descriptor: uncovered, labels: labels).set(row.uncoveredFen)
    }
    return registry
}

/// How long a scrape waits for the database's figures before answering without them.
let databaseFiguresDeadline: Duration = .seconds(3)

private func metricName(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "tuitionguard", metricName: metric, unitName: unit, helpText: help)
}

/// Issue #13: how far the evidence log is behind.
func lagRegistry(_ lag: LogLag) -> PrometheusCollectorRegistry {
    let registry = PrometheusCollectorRegistry()
    let depth = metricName(
        "evidence_queue_depth", "Evidence events queued and not yet logged, counted up to \(LogLagRepository.depthCountLimit)")
    registry.makeGauge(descriptor: depth).set(lag.queueDepth)
    registry.makeGauge(descriptor: metricName("evidence_queue_head_age", unit: "seconds", "How long the oldest queued event has waited"))
        .set(lag.oldestQueuedAgeSeconds)
    if let age = lag.headAgeSeconds {
        registry.makeGauge(descriptor: metricName("log_tree_head_age", unit: "seconds", "Age of the newest signed tree head")).set(age)
    }
    return registry
}

/// What the process knows of its background services without the database: how often each was restarted and how long
/// it has gone without a successful batch (an alert's figure: it grows while a service is stuck or failing), and
/// whether this scrape could read the database's figures, and the tree the log cache holds.
func healthRegistry(
    _ health: ServiceHealth, databaseFiguresUp: Bool, logCacheSize: Int64? = nil, now: ContinuousClock.Instant = .now
) -> PrometheusCollectorRegistry {
    let registry = PrometheusCollectorRegistry()
    registry.makeGauge(descriptor: metricName("database_figures_up", "1 when this scrape read the database's figures, 0 when it could not"))
        .set(Int64(databaseFiguresUp ? 1 : 0))
    if let logCacheSize {
        // Below the newest head's size for long (log_tree_head_age is fresh): the cache refused what it read, or is full.
        registry.makeGauge(
            descriptor: metricName(
                "log_cache_tree_size",
                "Entries of the signed tree whose nodes this instance holds; proofs of larger trees read the database")
        )
        .set(logCacheSize)
    }
    let sinceSuccess = metricName(
        "background_since_last_success", unit: "seconds",
        "Time since a supervised background service last finished a batch (or started, if it never has)")
    let restarts = metricName(
        "background_restarts", unit: "total", "Restarts of a supervised background service after a failed or stuck batch")
    for (service, record) in health.snapshot {
        registry.makeCounter(descriptor: restarts, labels: [("service", service)]).increment(by: Int64(record.restarts))
        registry.makeGauge(descriptor: sinceSuccess, labels: [("service", service)])
            .set((now - record.lastSuccess).components.seconds)
    }
    return registry
}
