import Logging
import TuitionCore
import TuitionStore

/// Runs defunct cases' fast-track jobs beside the HTTP server, built once by `buildApplication`: a case marked through
/// the API starts at once as background work; the `fast_track` service's sweep also runs any case still unfinished (a
/// crash, an error or a shutdown mid-way), which pays nothing twice.
struct FastTrackRunner: Sendable {
    let job: FastTrackJob
    let defunct: DefunctRepository
    let background: BackgroundTasks
    let logger: Logger

    init(store: Store, background: BackgroundTasks, logger: Logger) {
        self.job = FastTrackJob(store: store)
        self.defunct = DefunctRepository(store: store)
        self.background = background
        self.logger = logger
    }

    func start(_ id: DefunctCase.ID) {
        background.submit("fast_track \(id)") { await run(id) }
    }

    func run(_ id: DefunctCase.ID) async {
        do {
            let finished = try await job.run(id)
            logger.info(
                "fast-track completed",
                metadata: ["case": "\(id)", "enrollments": "\(finished.enrollmentsDone)", "paid_fen": "\(finished.paidFen.fen)"])
        } catch {
            logger.error(
                "fast-track stopped; it resumes on the next sweep", metadata: ["case": "\(id)", "error": "\(String(reflecting: error))"])
        }
    }

    func sweep() async {
        do {
            for id in try await defunct.unfinishedCases() { await run(id) }
        } catch {
            logger.error("fast-track sweep failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
