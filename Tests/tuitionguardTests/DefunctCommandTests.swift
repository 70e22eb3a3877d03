import ArgumentParser
import Foundation
import Testing
import TuitionCore

@testable import tuitionguard

@Suite struct DefunctCommandTests {
    @Test func parsesTheDefunctCommands() throws {
        let institution = UUID().uuidString
        let mark = try #require(
            try TuitionGuardCommand.parseAsRoot([
                "defunct", "mark", "--institution", institution, "--district", "330203", "--reason", "停业",
                "--effective-at", "2026-11-20T09:30:00+08:00", "--chunk-size", "100",
            ]) as? Defunct.Mark)
        #expect(mark.institution == institution && mark.chunkSize == 100 && !mark.markOnly)
        #expect(parseRFC3339(mark.effectiveAt!) == Date(timeIntervalSince1970: 1_795_138_200))
        #expect(parseRFC3339("2026-11-20T01:30:00.250Z") == Date(timeIntervalSince1970: 1_795_138_200.25))
        #expect(parseRFC3339("yesterday") == nil)
        let progress = try #require(
            try TuitionGuardCommand.parseAsRoot(["defunct", "progress", "--watch", institution]) as? Defunct.Progress)
        #expect(progress.watch && progress.caseID == institution)
        #expect(throws: (any Error).self) { try TuitionGuardCommand.parseAsRoot(["defunct", "mark", "--district", "330203"]) }
        let demo = try #require(try TuitionGuardCommand.parseAsRoot(["demo", "--students", "30"]) as? Demo)
        #expect(demo.students == 30 && demo.url == "http://127.0.0.1:8080")
    }
}
