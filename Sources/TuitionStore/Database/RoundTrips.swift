import Synchronization

/// Counts the statements `Store.query` sends while it is the task's current counter, so a test can pin how many
/// round trips an operation costs (a log proof reads the database twice). Statements sent on a connection inside
/// `Store.transaction` are not counted.
public final class RoundTripCounter: Sendable {
    @TaskLocal public static var current: RoundTripCounter?

    private let count = Atomic<Int>(0)

    public init() {}

    /// Statements sent so far.
    public var value: Int { count.load(ordering: .relaxed) }

    func record() { count.add(1, ordering: .relaxed) }
}
