import Foundation
import Logging

/// Which pools the current task holds a connection of, and where it leased it. A task that holds one and asks the same
/// pool for another waits for a connection other tasks hold; when every connection is held by a task waiting so,
/// nothing moves until the deadlines answer 503 (seen with a pool of four under contract signing). Every lease of the
/// store goes through `Store.leasing`, which logs a nested one and, in debug builds, stops (the tests find them).
enum NestedLease {
    /// Where a lease was asked for.
    struct Site: Sendable, CustomStringConvertible {
        var what: StaticString
        var file: StaticString
        var line: UInt

        var description: String { "\(what) at \(file):\(line)" }
    }

    @TaskLocal static var held: [ObjectIdentifier: Site] = [:]

    /// Whether a nested lease stops a debug build; `TUITIONGUARD_NESTED_LEASE=log` only logs, to list them all in one run.
    static let stopsDebugBuilds = ProcessInfo.processInfo.environment["TUITIONGUARD_NESTED_LEASE"] != "log"

    /// Runs `body` as a holder of a connection of `pool`, leased at `site`.
    static func leasing<Result>(
        _ pool: RenewablePool, _ site: Site, logger: Logger, _ body: () async throws -> Result
    ) async throws -> Result {
        let id = ObjectIdentifier(pool)
        if let outer = held[id] {
            logger.error(
                "a connection was leased while this task already holds one of the same pool",
                metadata: ["lease": "\(site)", "held": "\(outer)"])
            if stopsDebugBuilds { assertionFailure("nested lease: \(site), while holding \(outer)") }
        }
        var holding = held
        holding[id] = site
        return try await $held.withValue(holding) { try await body() }
    }
}
