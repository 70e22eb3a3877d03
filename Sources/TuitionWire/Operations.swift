import Foundation

/// `GET /ready`: whether the service takes traffic, and why not.
public struct ReadinessBody: Encodable, Sendable {
    public var ready: Bool
    public var database: String
    public var queueDepth: Int64?
    public var oldestQueuedAgeSeconds: Double?
    public var headAgeSeconds: Double?
    public var stalledServices: [String]

    public init(
        ready: Bool, database: String, queueDepth: Int64? = nil, oldestQueuedAgeSeconds: Double? = nil, headAgeSeconds: Double? = nil,
        stalledServices: [String]
    ) {
        self.ready = ready
        self.database = database
        self.queueDepth = queueDepth
        self.oldestQueuedAgeSeconds = oldestQueuedAgeSeconds
        self.headAgeSeconds = headAgeSeconds
        self.stalledServices = stalledServices
    }
}
