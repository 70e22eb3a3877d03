import ArgumentParser
import Foundation
import TuitionAPI
import TuitionCore
import TuitionStore
import TuitionWire

struct Defunct: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mark an institution defunct and run or watch its fast-track.", subcommands: [Mark.self, Run.self, Progress.self])

    struct Mark: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark an institution defunct for its district's regulator, then run the fast-track with a progress bar.",
            discussion:
                "The same as POST /v1/institutions/{id}/defunct, for an operator at the console. Prints the wall time from the mark until every settlement is decided and paid."
        )

        @Option(help: "The institution's id.") var institution: String
        @Option(help: "The institution's district code (six digits).") var district: String
        @Option(help: "When the institution stopped serving, RFC 3339 (default: now).") var effectiveAt: String?
        @Option(help: "Why, in words for the record.") var reason: String
        @Option(help: "Settlements paid per transaction.") var chunkSize = 5_000
        @Option(help: "Chunks paid at once, each on its own connection.") var workers = 2
        @Flag(help: "Only mark; a running service (or `defunct run`) does the rest.") var markOnly = false

        func run() async throws {
            guard let id = Institution.ID(institution) else { throw ValidationError("--institution must be an institution id") }
            let effective = try effectiveAt.map { text in
                guard let date = parseRFC3339(text) else { throw ValidationError("--effective-at must be an RFC 3339 time") }
                return date
            }
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.defunct", level: configuration.logLevel)
            let started = ContinuousClock.now
            let finished = try await withStore(databaseURL: configuration.databaseURL, logger: logger) {
                [chunkSize, workers, markOnly] store in
                let marked = try await DefunctRepository(store: store).mark(id, district: district, effectiveAt: effective, reason: reason)
                print("case \(marked.id): \(id) defunct as of \(marked.effectiveAt)")
                if markOnly { return marked }
                return try await FastTrackJob(store: store, chunkSize: chunkSize, workers: workers).run(
                    marked.id, progress: ProgressBar().show)
            }
            if !markOnly { printSummary(finished, elapsed: ContinuousClock.now - started) }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run (or finish) a defunct case's fast-track; running it again pays nothing twice.")

        @Argument(help: "The case id.") var caseID: String
        @Option(help: "Settlements paid per transaction.") var chunkSize = 5_000
        @Option(help: "Chunks paid at once, each on its own connection.") var workers = 2

        func run() async throws {
            guard let id = DefunctCase.ID(caseID) else { throw ValidationError("not a case id: \(caseID)") }
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.defunct", level: configuration.logLevel)
            let started = ContinuousClock.now
            let finished = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { [chunkSize, workers] store in
                try await FastTrackJob(store: store, chunkSize: chunkSize, workers: workers).run(id, progress: ProgressBar().show)
            }
            printSummary(finished, elapsed: ContinuousClock.now - started)
        }
    }

    struct Progress: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a defunct case's progress; --watch follows it until it completes.")

        @Argument(help: "The case id.") var caseID: String
        @Flag(help: "Poll every half second until the case completes.") var watch = false

        func run() async throws {
            guard let id = DefunctCase.ID(caseID) else { throw ValidationError("not a case id: \(caseID)") }
            let configuration = try AppConfiguration.fromEnvironment()
            let logger = makeLogger("tuitionguard.defunct", level: configuration.logLevel)
            let finished = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { [watch] store in
                let bar = ProgressBar()
                while true {
                    guard let found = try await DefunctRepository(store: store).caseForOperator(id) else {
                        throw ValidationError("no case \(id)")
                    }
                    await bar.show(found)
                    if !watch || found.status != .running { return found }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            if finished.status != .running { printSummary(finished, elapsed: nil) }
        }
    }
}

/// One line redrawn in place on a terminal, one line per update otherwise.
struct ProgressBar: Sendable {
    let width = 30
    let interactive = isatty(STDOUT_FILENO) == 1
    let started = ContinuousClock.now

    @Sendable func show(_ progress: DefunctCaseRecord) async {
        let total = max(progress.enrollmentsTotal, 1)
        let filled = progress.plannedAt == nil ? 0 : width * progress.enrollmentsDone / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line =
            "[\(bar)] \(progress.enrollmentsDone)/\(progress.enrollmentsTotal) enrollments  paid \(progress.paidFen)"
            + "  referred \(progress.referredCount)  uncovered \(progress.uncoveredFen)  "
            + String(format: "%.1f s", seconds(ContinuousClock.now - started))
        if interactive {
            // Unbuffered: a line without its newline would otherwise wait in stdio's buffer.
            FileHandle.standardOutput.write(Data("\r\(line)\(progress.status == .completed ? "\n" : "")".utf8))
        } else {
            print(line)
        }
    }
}

func printSummary(_ finished: DefunctCaseRecord, elapsed: Duration?) {
    print(
        """
        case \(finished.id): \(finished.status.rawValue)
          enrollments owed:  \(finished.enrollmentsTotal) (settled \(finished.enrollmentsDone))
          entitled:          \(finished.entitledFen)
          paid by escrow:    \(finished.paidEscrowFen)
          paid by reserve:   \(finished.paidReserveFen)
          paid by risk policy:    \(finished.paidRiskPolicyFen)
          paid by tuition policies: \(finished.paidTuitionPolicyFen)
          referred:          \(finished.referredCount) settlements, \(finished.referredFen) of insurance awaiting a person
          uncovered loss:    \(finished.uncoveredFen)
          late payments:     \(finished.returnDueFen) due back, \(finished.paidReturnFen) returned, \(finished.returnUncoveredFen) uncovered
        """)
    if let reason = finished.blockedReason {
        print("  blocked:           \(reason) (run `tuitionguard defunct run \(finished.id)` when resolved)")
    }
    if let elapsed {
        let wall = seconds(elapsed)
        let rate = wall > 0 ? Double(finished.enrollmentsDone) / wall : 0
        print(String(format: "  wall time:         %.2f s from the mark (%.0f enrollments/s)", wall, rate))
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
