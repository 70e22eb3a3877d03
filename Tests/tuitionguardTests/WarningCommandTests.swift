import ArgumentParser
import Testing

@testable import tuitionguard

@Suite struct WarningCommandTests {
    @Test func parsesTheWarningsEvaluateCommand() throws {
        let all = try #require(try TuitionGuardCommand.parseAsRoot(["warnings", "evaluate"]) as? Warnings.Evaluate)
        #expect(all.district == nil)
        let one = try #require(try TuitionGuardCommand.parseAsRoot(["warnings", "evaluate", "--district", "330203"]) as? Warnings.Evaluate)
        #expect(one.district == "330203")
    }
}
