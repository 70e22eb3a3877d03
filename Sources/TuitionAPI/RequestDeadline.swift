import HTTPTypes
import Hummingbird
import Logging
import Metrics
import TuitionStore

/// Gives every request a deadline. A request still running when it passes is cancelled and answered at once: `503
/// service_unavailable` when none of its transactions began its COMMIT (and then none will: `CommitTracker`), `504
/// retry_with_same_idempotency_key` when one may have. It wraps the whole router, so a handler stuck on a dead database
/// connection, which ignores cancellation, still gets its client an answer.
struct RequestDeadlineResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: Sendable {
    typealias Context = Inner.Context
    let inner: Inner
    let limit: Duration
    let factory: any MetricsFactory

    func respond(to request: Request, context: Context) async throws -> Response {
        let tracker = CommitTracker()
        let inner = inner
        do {
            return try await CommitTracker.$current.withValue(tracker) {
                try await withDeadline(limit) { try await inner.respond(to: request, context: context) }
            }
        } catch is DeadlineExceeded {
            let problem = Problem.cutShort(tracker)
            Logger(label: "tuitionguard.deadline").warning(
                "request passed its deadline",
                metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "answer": "\(problem.code)"])
            Counter(label: "tuitionguard_http_deadline_exceeded_total", dimensions: [("code", problem.code)], factory: factory)
                .increment()
            // Answered outside the router, so its middleware never sees this response: the same headers as every other.
            var response = problem.httpResponse()
            SecurityHeadersMiddleware<AppRequestContext>.secure(&response.headers)
            return response
        }
    }
}
