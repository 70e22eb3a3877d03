import EvidenceLog
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionUseCases

@testable import TuitionAPI

/// The one composition root: `serve` and the tests build the service in `buildApplication`, background work runs
/// inside the service lifecycle, and the tests await it through `BackgroundTasks.settled()`.
@Suite struct CompositionTests {
    /// Swift files under `folder` of the repository, with their text.
    static func sources(_ folder: String) -> [(name: String, text: String)] {
        let root = repositoryRoot.appendingPathComponent(folder)
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "swift" }.compactMap { file in
            (try? String(contentsOf: file, encoding: .utf8)).map { (file.lastPathComponent, $0) }
        }
    }

    @Test func serveAndEveryAPITestComposeTheServiceInBuildApplication() throws {
        let serve = try #require(Self.sources("Sources/tuitionguard").first { $0.name == "TuitionGuardCommand.swift" }).text
        #expect(serve.contains("AppDependencies.production(configuration: configuration, logger: logger)"))
        #expect(serve.contains("buildApplication(configuration: configuration, dependencies: dependencies)"))
        // No parallel wiring: the API's router is built in Composition.swift only, and no API test makes an
        // application of its own (FaultToleranceTests' deadline harness serves test routes, not the API's).
        for (name, text) in Self.sources("Sources/TuitionAPI") + Self.sources("Tests/TuitionAPITests") {
            if !["Composition.swift", "CompositionTests.swift"].contains(name) {
                #expect(!text.contains("Router(context: AppRequestContext.self, options"), "\(name) builds the API's router")
            }
            if !["FaultToleranceTests.swift", "CompositionTests.swift"].contains(name) {
                #expect(!text.contains("Application(router:") && !text.contains("Application(responder:"), "\(name) wires an application")
            }
        }
    }

    @Test func theRequestPoolsSizeIsReadFromTheEnvironmentAndBounded() throws {
        try Self.checkBounded(
            "TUITIONGUARD_DB_CONNECTIONS", default: 32, accepts: ("4", 4), refuses: ["0", "1001", "four", ""], \.databaseConnections)
    }

    @Test func theLogCachesCapacityIsReadFromTheEnvironmentAndZeroKeepsNone() throws {
        try Self.checkBounded(
            "TUITIONGUARD_LOG_CACHE_ENTRIES", default: 2_097_152, accepts: ("0", 0), refuses: ["-1", "100000001", "lots", ""],
            \.logCacheEntries)
    }

    /// A bounded number from the environment: its default when unset, one accepted value, and values refused.
    static func checkBounded<Value: BinaryInteger>(
        _ variable: String, default expected: Value, accepts accepted: (String, Value), refuses bad: [String],
        _ read: KeyPath<AppConfiguration, Value>
    ) throws {
        let base = ["DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused"]
        #expect(try AppConfiguration.fromEnvironment(base)[keyPath: read] == expected)
        #expect(try AppConfiguration.fromEnvironment(base.merging([variable: accepted.0]) { $1 })[keyPath: read] == accepted.1)
        for value in bad {
            #expect(throws: ConfigurationError.self, "\(variable)=\(value)") {
                try AppConfiguration.fromEnvironment(base.merging([variable: value]) { $1 })
            }
        }
    }

    /// `serve`'s dependencies, built from a configuration as `serve` reads it, give the application both pools, the
    /// background work and the three periodic services; the tests' dependencies with serve's schedule give the same
    /// services except the pools, which the test runs itself.
    @Test func serveAndTheTestsGetTheSameServices() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("composition-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let logKey = folder.appendingPathComponent("log-key.pem")
        try LogSigner().privateKeyPEM.write(to: logKey, atomically: true, encoding: .utf8)
        let kek = folder.appendingPathComponent("kek")
        try KeyEncryptionKey.generate().base64.write(to: kek, atomically: true, encoding: .utf8)
        var configuration = try AppConfiguration.fromEnvironment([
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused", "TUITIONGUARD_LOG_KEY_FILE": logKey.path,
            "TUITIONGUARD_CA_KEK_FILE": kek.path, "TUITIONGUARD_WARNING_INTERVAL_SECONDS": "60",
        ])
        configuration.templatesPath = repositoryRoot.appendingPathComponent("contract-templates").path
        let production = try AppDependencies.production(configuration: configuration, logger: Logger(label: "composition"))
        #expect(production.ownedStores.count == 2 && production.contracts != nil)
        #expect(production.schedule.warnings?.interval == .seconds(60) && production.schedule.sequencer?.interval == .milliseconds(200))
        let served = buildApplication(configuration: configuration, dependencies: production)
        #expect(served.periodicServiceNames == ["sequencer", "fast_track", "warnings", "log_cache"])
        #expect(served.services.count == 2 + 1 + 4)
        #expect(served.services.contains { $0 as? BackgroundTasks === served.background })

        // The tests' dependencies on a store (never connected here) with serve's schedule.
        var dependencies = AppDependencies.testing(production.store)
        dependencies.schedule = .production(configuration)
        let tested = buildApplication(configuration: configuration, dependencies: dependencies)
        #expect(tested.periodicServiceNames == served.periodicServiceNames)
        #expect(tested.services.count == 1 + 4)
        #expect(Set(tested.routes.map { "\($0.method) \($0.path)" }) == Set(served.routes.map { "\($0.method) \($0.path)" }))
        #expect(buildApplication(configuration: .testing, dependencies: .testing(production.store)).periodicServiceNames.isEmpty)
        // No cache: no service to keep it.
        configuration.logCacheEntries = 0
        let uncached = try AppDependencies.production(configuration: configuration, logger: Logger(label: "composition"))
        #expect(uncached.logCache == nil)
        #expect(
            buildApplication(configuration: configuration, dependencies: uncached).periodicServiceNames == [
                "sequencer", "fast_track", "warnings",
            ])
    }

    /// The fast-track a defunct mark starts is background work: `settled()` returns once it has paid, with no sleep.
    @Test func theFastTrackAMarkStartsIsAwaitedThroughTheHook() async throws {
        try await API.run("composition_fasttrack") { api, _ in
            let cast = try await Cast.make(api)
            let marked = try await api.call(
                .post, "/v1/institutions/\(cast.world.institution.id)/defunct", token: cast.regulator, json: #"{"reason":"停业"}"#)
            #expect(marked.status == .accepted)
            await api.settled()
            let done = try await api.call(.get, "/v1/defunct-cases/\(marked.string("id"))", token: cast.regulator)
            #expect(done.string("status") == "completed" && done.int("enrollmentsDone") == 1, "\(done.body)")
            let settlements = try await api.call(.get, "/v1/defunct-cases/\(marked.string("id"))/settlements", token: cast.guardian)
            #expect(settlements.items.first?["status"] as? String == "paid")
        }
    }

    /// `settled()` also waits for work that work submitted, and returns at once when nothing is pending.
    @Test func settledWaitsForNestedWork() async {
        let background = BackgroundTasks(logger: Logger(label: "composition"))
        let done = Mutex<[String]>([])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await background.run() }
            await background.settled()
            background.submit("outer") {
                try? await Task.sleep(for: .milliseconds(50))
                background.submit("inner") {
                    try? await Task.sleep(for: .milliseconds(50))
                    done.withLock { $0.append("inner") }
                }
                done.withLock { $0.append("outer") }
            }
            await background.settled()
            #expect(done.withLock { $0 } == ["outer", "inner"])
            group.cancelAll()
        }
    }

    /// With every periodic service running at a fast pace and a piece of background work that would run for an hour,
    /// a graceful shutdown ends all of them promptly; afterwards nothing pending is left and new work is dropped.
    @Test func theServicesStopCleanlyOnShutdown() async throws {
        try await TestDatabase.withStore("composition_shutdown") { store in
            let fast = BackgroundSchedule.Pace(interval: .milliseconds(20), batchDeadline: .seconds(2))
            let app = API.application(store) { _, dependencies in
                dependencies.schedule = BackgroundSchedule(sequencer: fast, fastTrackSweep: fast, warnings: fast)
            }
            #expect(app.periodicServiceNames.count == 3)
            let shutdownStarted = Mutex(ContinuousClock.Instant.now)
            try await app.test(.router) { client in
                app.background.submit("an hour") { try? await Task.sleep(for: .seconds(3_600)) }
                let health = try await client.executeRequest(uri: "/health", method: .get, headers: [:], body: nil)
                #expect(health.status == .ok)
                shutdownStarted.withLock { $0 = .now }
            }
            // Not the hour: at most a batch deadline or two on a loaded machine.
            #expect(ContinuousClock.Instant.now - shutdownStarted.withLock { $0 } < .seconds(20))
            await app.background.settled()
            let ranLate = Mutex(false)
            app.background.submit("after shutdown") { ranLate.withLock { $0 = true } }
            await app.background.settled()
            #expect(!ranLate.withLock { $0 })
        }
    }
}
