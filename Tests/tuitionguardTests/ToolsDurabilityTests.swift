import Foundation
import Testing
import TuitionTestSupport

/// `tools/run` must never serve on a cluster that can lose acknowledged commits (issue #13): `ensure_durable` in
/// tools/lib.sh refuses an external DATABASE_URL whose server runs with fsync, synchronous_commit or full_page_writes
/// off. tools/test starts its cluster in fast mode, so the refusal is what a test run sees.
@Suite struct ToolsDurabilityTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func toolsRunRefusesAClusterWithoutFsync() throws {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests with tools/test, which starts PostgreSQL")
            return
        }
        let bash = try requireExecutable("bash", debianPackage: "bash")
        let psql = try requireExecutable("psql", debianPackage: "postgresql-client")
        let fsync = try runExecutable(psql, ["-XtAc", "SHOW fsync", url]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let check = try runExecutable(
            bash, ["-c", #"source "$0/tools/lib.sh" && DATABASE_URL="$1" ensure_durable external"#, Self.repository.path, url])
        if fsync == "off" {
            #expect(check.status == 1)
            #expect(check.errors.contains("refusing to serve"), "\(check.errors)")
        } else {
            #expect(fsync == "on")
            #expect(check.status == 0, "\(check.errors)")
        }
    }
}
