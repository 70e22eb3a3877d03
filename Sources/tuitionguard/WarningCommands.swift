import ArgumentParser
import Foundation
import TuitionAPI
import TuitionCore
import TuitionStore

struct Warnings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Early warnings: evaluate the rules now (the service also runs them on a schedule).",
        subcommands: [Evaluate.self])

    struct Evaluate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate every rule for every institution (or one district): open, refresh, escalate and resolve warnings.")

        @Option(help: "Only this district (six digits).") var district: String?

        func run() async throws {
            let target: EvaluationTarget
            if let district {
                guard let code = DistrictCode(district) else { throw ValidationError("--district must be six digits") }
                target = .district(code)
            } else {
                target = .all
            }
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.warnings", level: configuration.logLevel)
            // Timed inside the store: connecting to the database is not part of an evaluation.
            let (outcome, elapsed) = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                let started = ContinuousClock.now
                let outcome = try await WarningRepository(store: store).evaluate(target)
                return (outcome, ContinuousClock.now - started)
            }
            print(
                "evaluated \(outcome.institutions) institutions in \(elapsed): opened \(outcome.opened), still open \(outcome.stillOpen),"
                    + " escalated \(outcome.escalated), resolved \(outcome.resolved), status changes \(outcome.statusChanges)")
        }
    }
}
