import Testing
import TuitionCore

@Suite struct ContractRuleTests {
    @Test func theInstitutionSignsFirstThenTheGuardianCountersigns() {
        #expect(checkSignature(.institution, status: .draft, institution: .active) == nil)
        #expect(checkSignature(.guardian, status: .draft, institution: .active) == .contractNotAwaitingSignature)
        #expect(checkSignature(.guardian, status: .institutionSigned, institution: .warned) == nil)
        #expect(checkSignature(.institution, status: .institutionSigned, institution: .active) == .contractNotAwaitingSignature)
        #expect(checkSignature(.guardian, status: .signed, institution: .active) == .contractAlreadySigned)
        #expect(checkSignature(.institution, status: .void, institution: .active) == .contractNotAwaitingSignature)
        #expect(ContractSigner.institution.result == .institutionSigned && ContractSigner.guardian.result == .signed)
    }

    @Test(arguments: [InstitutionStatus.suspended, .defunct, .blacklisted])
    func anInstitutionThatIsNotOperatingSignsNothing(status: InstitutionStatus) {
        for signer in ContractSigner.allCases {
            #expect(checkSignature(signer, status: signer.awaits, institution: status) == .institutionNotOperating)
        }
        #expect(checkContractGeneration(existing: nil, institution: status, enrollmentPaid: false) == .institutionNotOperating)
    }

    @Test func aSignedOrPaidEnrollmentGetsNoNewContract() {
        #expect(checkContractGeneration(existing: nil, institution: .active, enrollmentPaid: false) == nil)
        #expect(checkContractGeneration(existing: .institutionSigned, institution: .active, enrollmentPaid: false) == nil)
        #expect(checkContractGeneration(existing: .signed, institution: .active, enrollmentPaid: false) == .contractAlreadySigned)
        #expect(checkContractGeneration(existing: nil, institution: .active, enrollmentPaid: true) == .contractAlreadySigned)
    }

    @Test func identityNumbersAreMaskedBeforeAnythingStoresThem() {
        #expect(maskIdentityNumber("33020319900101123X") == "330203********123X")
        #expect(maskIdentityNumber("330203199001011234") == "330203********1234")
        #expect(maskIdentityNumber("330203********1234") == "330203********1234")
        #expect(maskIdentityNumber("33020319900101123x") == "330203********123X")
        for bad in ["", "3302031990010112", "33020319900101123Y", "A30203199001011234", "330203１９９００１０１1234"] {
            #expect(maskIdentityNumber(bad) == nil, "\(bad)")
        }
    }
}
