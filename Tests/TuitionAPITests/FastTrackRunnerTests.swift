import Foundation
import Logging
import Synchronization
import Testing
import TuitionCore
import TuitionStore
import _ConnectionPoolModule

@testable import TuitionAPI

/// How often each case was run, and the failures a case is made to throw.
private final class CaseRuns: Sendable {
    let counts = Mutex<[DefunctCase.ID: Int]>([:])

    func record(_ id: DefunctCase.ID) { counts.withLock { $0[id, default: 0] += 1 } }
    func count(_ id: DefunctCase.ID) -> Int { counts.withLock { $0[id] ?? 0 } }
}

private struct PlanFailed: Error {}

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    let start = ContinuousClock.now
    let offset = Mutex(Duration.zero)

    func now() -> ContinuousClock.Instant { start + offset.withLock { $0 } }
    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
}

private func newCase() -> DefunctCase.ID { DefunctCase.ID(UUID()) }

@Suite struct FastTrackRunnerTests {
    /// The mark's own run fills the background pool with its chunk workers: the sweep must not start the same case again
    /// beside it, and takes it up once that run has ended.
    @Test func sweepSkipsACaseAlreadyRunningInThisProcess() async throws {
        let background = BackgroundTasks(logger: Logger(label: "fast-track"))
        let marked = newCase()
        let runs = CaseRuns()
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let (gate, opened) = AsyncStream<Void>.makeStream()
        let runner = FastTrackRunner(
            background: background, logger: Logger(label: "fast-track"), factory: Telemetry().factory,
            unfinishedCases: { [marked] },
            runCase: { id in
                runs.record(id)
                guard runs.count(id) == 1 else { return }
                startedContinuation.yield()
                for await _ in gate { break }
            })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await background.run() }
            runner.start(marked)
            for await _ in started { break }
            try await runner.sweep()
            #expect(runs.count(marked) == 1, "the sweep ran a case that was already running")
            opened.yield()
            await background.settled()
            try await runner.sweep()
            #expect(runs.count(marked) == 2)
            group.cancelAll()
        }
    }

    /// A case that fails every time is logged, counted and backed off on its own, and its sweep throws so the supervised
    /// service counts a restart; the other cases keep running.
    @Test func aFailingCaseIsCountedBackedOffAndFailsItsSweep() async throws {
        let failing = newCase()
        let healthy = newCase()
        let runs = CaseRuns()
        let clock = ManualClock()
        let telemetry = Telemetry()
        let runner = FastTrackRunner(
            background: BackgroundTasks(logger: Logger(label: "fast-track")), logger: Logger(label: "fast-track"),
            factory: telemetry.factory, caseBackoff: Backoff(first: .seconds(10), maximum: .seconds(40)), now: clock.now,
            unfinishedCases: { [failing, healthy] },
            runCase: { id in
                runs.record(id)
                if id == failing { throw PlanFailed() }
            })
        let sweep = FastTrackSweepWork(runner: runner)
        func failuresCounted() -> String {
            let metrics = String(decoding: telemetry.registry.emitToBuffer(), as: UTF8.self)
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("tuitionguard_fast_track_case_failures_total ") }
            return line.map(String.init) ?? ""
        }

        let error = await #expect(throws: FastTrackCasesFailed.self) { try await sweep.runBatch() }
        #expect(error?.cases == [failing])
        #expect(runs.count(failing) == 1 && runs.count(healthy) == 1)
        #expect(failuresCounted() == "tuitionguard_fast_track_case_failures_total 1")

        // Within its back-off the failing case waits; the sweep, with nothing failing, succeeds.
        #expect(try await sweep.runBatch() == false)
        #expect(runs.count(failing) == 1 && runs.count(healthy) == 2)

        clock.advance(by: .seconds(10))
        await #expect(throws: FastTrackCasesFailed.self) { try await sweep.runBatch() }
        #expect(runs.count(failing) == 2)

        // The back-off doubled: 10 s later it still waits, 20 s later it runs again.
        clock.advance(by: .seconds(10))
        _ = try await sweep.runBatch()
        #expect(runs.count(failing) == 2)
        clock.advance(by: .seconds(10))
        await #expect(throws: FastTrackCasesFailed.self) { try await sweep.runBatch() }
        #expect(runs.count(failing) == 3)
        #expect(failuresCounted() == "tuitionguard_fast_track_case_failures_total 3")
    }

    /// A run its mark started that hangs (a query the database will never answer ignores cancellation) is abandoned at
    /// its deadline like any other: the case is not left running in this process for ever, skipped by every sweep.
    @Test func aMarkedCaseThatHangsIsAbandonedAtItsDeadlineAndTheSweepTakesItUp() async throws {
        let background = BackgroundTasks(logger: Logger(label: "fast-track"))
        let marked = newCase()
        let runs = CaseRuns()
        let clock = ManualClock()
        let runner = FastTrackRunner(
            background: background, logger: Logger(label: "fast-track"), factory: Telemetry().factory,
            caseBackoff: Backoff(first: .seconds(10), maximum: .seconds(40)), caseDeadline: .milliseconds(200), now: clock.now,
            unfinishedCases: { [marked] },
            runCase: { id in
                runs.record(id)
                if runs.count(id) == 1 { await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in } }
            })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await background.run() }
            runner.start(marked)
            await background.settled()
            #expect(runs.count(marked) == 1)
            clock.advance(by: .seconds(10))
            try await runner.sweep()
            #expect(runs.count(marked) == 2, "the sweep skipped a case whose run hung")
            group.cancelAll()
        }
    }

    /// A case the database's absence interrupted is resumed by the next sweep, not backed off as if it were at fault.
    @Test func aCaseInterruptedByTheDatabaseIsNotBackedOff() async throws {
        let interrupted = newCase()
        let runs = CaseRuns()
        let telemetry = Telemetry()
        let runner = FastTrackRunner(
            background: BackgroundTasks(logger: Logger(label: "fast-track")), logger: Logger(label: "fast-track"),
            factory: telemetry.factory, unfinishedCases: { [interrupted] },
            runCase: { id in
                runs.record(id)
                if runs.count(id) == 1 { throw ConnectionPoolError.connectionCreationCircuitBreakerTripped }
            })
        await #expect(throws: FastTrackCasesFailed.self) { try await runner.sweep() }
        try await runner.sweep()
        #expect(runs.count(interrupted) == 2)
        // A deadline, a cancellation or a timeout is no absence of the database: such a case keeps its back-off.
        #expect(!DatabaseAvailability.wasAway(DeadlineExceeded(limit: .seconds(1))) && !DatabaseAvailability.wasAway(CancellationError()))
        let metrics = String(decoding: telemetry.registry.emitToBuffer(), as: UTF8.self)
        #expect(!metrics.contains("tuitionguard_fast_track_case_failures_total 1"))
    }
}
