import ContractKit
import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionUseCases
import TuitionWire

@Suite struct ContractUseCaseTests {
    /// Signing reads the signers' revocations in its own transaction: on a pool of one connection it finishes. Before,
    /// it asked the pool for a second connection while holding the first, so that enough concurrent signatures held
    /// every connection of any pool and waited for one another until their deadlines (a pool of four under the
    /// benchmark's seeding answered 503). Every lease in the suite is checked so too (`NestedLease`, debug builds).
    @Test func aContractIsSignedCountersignedAndVerifiedOnAPoolOfOneConnection() async throws {
        try await TestDatabase.withStore("contractonepool", connections: 1) { store in
            let world = try await World.make(store)
            let enrollment = try await world.anotherEnrollment(store, lessons: 5, signed: false)
            // A nested lease waits for ever here (PostgresNIO's lease ignores cancellation); debug builds stop at it first.
            let signed = try await TestContracts.sign(store, enrollment, algorithm: .rsa2048)
            #expect(signed.status == .signed && signed.signatures.count == 2)
            let contracts = try await TestContracts.repository(store)
            let document = try #require(try await contracts.document(signed.id, scope: scopeOf(.guardian(world.guardian))))
            let verification = try await contracts.verify(document)
            #expect(verification.valid && verification.fullySigned && verification.contractId == signed.id)
        }
    }

    /// Past the platform CA's end no signer can be certified: signing answers a named error, writes nothing, and the
    /// process lives (Foundation traps on the reversed validity interval the issue would have built).
    @Test func signingAfterTheCertificateAuthorityExpiredIsANamedErrorNotATrap() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("caexpired", clock: clock) { store in
            let world = try await World.make(store)
            let enrollment = try await world.anotherEnrollment(store, lessons: 5, signed: false)
            let contracts = try await TestContracts.repository(store)
            let draft = try await contracts.generate(for: enrollment.id, institution: world.institution.id)
            let authority = try #require(try await Certificates(store: store).authorityCertificate())
            clock.advance(by: authority.notValidAfter.timeIntervalSince(clock.now) + 3_600)
            await #expect(throws: CertificateAuthorityExpired.self) {
                _ = try await contracts.signAsInstitution(draft.id, institution: world.institution.id)
            }
            let unchanged = try #require(try await contracts.contract(draft.id, scope: scopeOf(.institution(world.institution.id))))
            #expect(unchanged.status == draft.status && unchanged.signatures.isEmpty)
        }
    }

    @Test func paymentIsRefusedUntilBothPartiesHaveSigned() async throws {
        try await TestDatabase.withStore("contractpay") { store in
            let world = try await World.make(store)
            let enrollments = EnrollmentRepository(store: store)
            let contracts = try await TestContracts.repository(store)
            let unsigned = try await world.anotherEnrollment(store, lessons: 5, signed: false)
            func pay() async throws {
                _ = try await store.transaction {
                    try await enrollments.pay(unsigned.id, guardian: world.guardian, amount: unsigned.amountFen, on: $0)
                }
            }
            #expect(try await rejection(pay) == .contractNotSigned)
            let draft = try await contracts.generate(for: unsigned.id, institution: world.institution.id)
            #expect(draft.status == .draft && draft.signatures.isEmpty)
            #expect(try await rejection(pay) == .contractNotSigned)
            // The guardian cannot sign first.
            #expect(
                try await rejection { _ = try await contracts.countersign(draft.id, guardian: world.guardian) }
                    == .contractNotAwaitingSignature)
            let half = try await contracts.signAsInstitution(draft.id, institution: world.institution.id, algorithm: .rsa2048)
            #expect(half.status == .institutionSigned && half.signatures.map(\.signer) == [.institution])
            #expect(try await rejection(pay) == .contractNotSigned)
            #expect(
                try await rejection { _ = try await contracts.signAsInstitution(draft.id, institution: world.institution.id) }
                    == .contractNotAwaitingSignature)
            let signed = try await contracts.countersign(draft.id, guardian: world.guardian)
            #expect(signed.status == .signed && signed.signatures.map(\.position) == [0, 1])
            #expect(signed.signatures[0].algorithm == "rsa-2048" && signed.signatures[1].algorithm == "ecdsa-p256")
            #expect(try await rejection(pay) == nil)
            #expect(
                try await rejection { _ = try await contracts.countersign(draft.id, guardian: world.guardian) } == .contractAlreadySigned)
            #expect(
                try await rejection { _ = try await contracts.generate(for: unsigned.id, institution: world.institution.id) }
                    == .contractAlreadySigned)
        }
    }

    @Test func theDatabaseRefusesAPaymentWithoutASignedContractAndChangesToASignedOne() async throws {
        try await TestDatabase.withStore("contractdb") { store in
            let world = try await World.make(store)
            let unsigned = try await world.anotherEnrollment(store, lessons: 5, signed: false)
            await #expect(throws: PSQLError.self) {
                try await store.query("UPDATE enrollments SET paid_fen = amount_fen WHERE id = \(unsigned.id.uuid)")
            }
            await #expect(throws: PSQLError.self) {
                try await store.query("UPDATE contracts SET document = 'x'::bytea WHERE id = \(world.contract.id.uuid)")
            }
            await #expect(throws: PSQLError.self) {
                try await store.query("DELETE FROM contract_signatures WHERE contract_id = \(world.contract.id.uuid)")
            }
        }
    }

    @Test func theStoredDocumentVerifiesAgainstThePlatformCAAndMatchesItsRecord() async throws {
        try await TestDatabase.withStore("contractdoc") { store in
            let world = try await World.make(store)
            let contracts = try await TestContracts.repository(store)
            let document = try #require(try await contracts.document(world.contract.id, scope: scopeOf(.guardian(world.guardian))))
            #expect(try sha256Hex(document) == world.contract.documentSha256)
            #expect(world.contract.templateId == "GF-2021-2604" && world.contract.templateVersion == 2)
            #expect(world.contract.templateSha256 == (try TestContracts.templates.template(id: "GF-2021-2604")).sha256)
            let verification = try await contracts.verify(document)
            #expect(verification.valid && verification.fullySigned && verification.contractId == world.contract.id)
            #expect(
                verification.signatures[0].signer?.contains("星火教育培训学校") == true
                    && verification.signatures[1].signer?.contains("CN=张三") == true)
            let ca = try #require(try await Certificates(store: store).authorityCertificate())
            #expect(try XMLSignatureVerifier(trustAnchor: ca).verify(document).isValid)
            // A changed amount is caught, and the document no longer matches any stored contract.
            let tampered = Array(
                String(decoding: document, as: UTF8.self).replacingOccurrences(of: "<tg:totalFen>320000", with: "<tg:totalFen>320001").utf8)
            let report = try await contracts.verify(tampered)
            #expect(!report.valid && report.contractId == nil && report.firstFailure?.contains("digest") == true)
            // A copy whose signatures still verify each, but which is changed where no digest reaches, names no contract.
            let commented = Array(
                String(decoding: document, as: UTF8.self).replacingOccurrences(of: "<tg:partyA>", with: "<!-- 总价 1 元 --><tg:partyA>").utf8)
            let annotated = try await contracts.verify(commented)
            #expect(annotated.signatures.allSatisfy { $0.failures.isEmpty } && !annotated.valid)
            #expect(annotated.contractId == nil && annotated.contractStatus == nil)
            // Others do not see it.
            #expect(try await contracts.document(world.contract.id, scope: scopeOf(.guardian(Guardian.ID(UUID())))) == nil)
            #expect(try await contracts.contract(world.contract.id, scope: scopeOf(.institution(Institution.ID(UUID())))) == nil)
        }
    }

    @Test func aRevokedInstitutionSignsNothingMoreWhileItsEarlierSignaturesStayValid() async throws {
        try await TestDatabase.withStore("contractrevoke") { store in
            let world = try await World.make(store)
            let contracts = try await TestContracts.repository(store)
            let pending = try await world.anotherEnrollment(store, lessons: 5, signed: false)
            let draft = try await contracts.generate(for: pending.id, institution: world.institution.id)
            #expect(try await CertificateRepository(store: store).revokeInstitution(world.institution.id, reason: "blacklisted") == 1)
            #expect(
                try await rejection { _ = try await contracts.signAsInstitution(draft.id, institution: world.institution.id) }
                    == .signingCertificateRevoked)
            // Not another algorithm either: revocation is for the institution, not a key.
            #expect(
                try await rejection {
                    _ = try await contracts.signAsInstitution(draft.id, institution: world.institution.id, algorithm: .rsa2048)
                }
                    == .signingCertificateRevoked)
            let document = try #require(try await contracts.document(world.contract.id, scope: scopeOf(.institution(world.institution.id))))
            let verification = try await contracts.verify(document)
            #expect(verification.valid && verification.signatures[0].certificateRevokedAt != nil)
            // A blacklisted institution is refused before any key is touched.
            try await PartyRepository(store: store).setInstitutionStatus(world.institution.id, status: .blacklisted)
            #expect(
                try await rejection { _ = try await contracts.signAsInstitution(draft.id, institution: world.institution.id) }
                    == .institutionNotOperating)
        }
    }

    /// Issue 12: a contract signed before its institution was blacklisted stays valid from any C14N-equivalent copy
    /// (CRLF line ends, an unused namespace declaration), judged at its timestamps' time, found by its signatures.
    @Test func aContractSignedBeforeABlacklistingVerifiesFromACRLFCopyAtItsTimestampTime() async throws {
        try await TestDatabase.withStore("contractcrlf") { store in
            let world = try await World.make(store)
            let contracts = try await TestContracts.repository(store)
            #expect(try await CertificateRepository(store: store).revokeInstitution(world.institution.id, reason: "blacklisted") == 1)
            let document = try #require(try await contracts.document(world.contract.id, scope: scopeOf(.institution(world.institution.id))))
            let copy = String(decoding: document, as: UTF8.self)
                .replacingOccurrences(of: "\n", with: "\r\n")
                .replacingOccurrences(of: "<tg:contract ", with: #"<tg:contract xmlns:unused="urn:example:unused" "#)
            #expect(Array(copy.utf8) != document)
            let verification = try await contracts.verify(Array(copy.utf8))
            #expect(verification.valid && verification.fullySigned, "\(String(describing: verification.firstFailure))")
            #expect(verification.contractId == world.contract.id && verification.contractStatus == .signed)
            let signature = verification.signatures[0]
            let revokedAt = try #require(signature.certificateRevokedAt)
            let signedAt = try #require(signature.signingTime)
            #expect(signedAt < revokedAt && signedAt.hasSuffix("Z") && signedAt.count == 24)
            // The reported time is the timestamp recorded when it was signed, to the millisecond.
            let recorded = try await store.query(
                "SELECT timestamped_at FROM contract_signatures WHERE contract_id = \(world.contract.id.uuid) ORDER BY position")
            var times: [Date] = []
            for try await time in recorded.decode(Date.self) { times.append(time) }
            #expect(times.map(XAdESTime.format) == verification.signatures.map(\.signingTime))
            // A contract signed after the revocation by a certificate revoked before its timestamp fails (the same rule).
            let ca = try #require(try await Certificates(store: store).authorityCertificate())
            let signer = try #require(verification.signatures[0].certificateSerial)
            let early = XMLSignatureVerifier(trustAnchor: ca, revocations: [signer: Date(timeIntervalSince1970: 0)])
            guard case .signature(position: 0, .signerCertificateWasRevokedBeforeSigning)? = try early.verify(document).firstFailure else {
                Issue.record("a revocation before the timestamp did not fail the signature")
                return
            }
        }
    }

    /// Regenerating while the guardian countersigns never fails with a 500: one wins, the other gets a named conflict.
    @Test func regenerateAndCountersignRaceEndsInAConflictNotAnError() async throws {
        try await TestDatabase.withStore("contractrace") { store in
            let world = try await World.make(store)
            let contracts = try await TestContracts.repository(store)
            for _ in 0..<4 {
                let pending = try await world.anotherEnrollment(store, lessons: 5, signed: false)
                let draft = try await contracts.generate(for: pending.id, institution: world.institution.id)
                _ = try await contracts.signAsInstitution(draft.id, institution: world.institution.id)
                async let countersigned: Rejection? = outcome {
                    _ = try await contracts.countersign(draft.id, guardian: pending.guardianId)
                }
                async let regenerated: Rejection? = outcome {
                    _ = try await contracts.generate(for: pending.id, institution: world.institution.id)
                }
                let (first, second) = await (countersigned, regenerated)
                let allowed: Set<Rejection?> = [nil, .contractAlreadySigned, .contractNotAwaitingSignature]
                #expect(allowed.contains(first) && allowed.contains(second))
                #expect(first == nil || second == nil, "one of the two must win")
            }
        }
    }

    @Test func keysAreStoredSealedAndOnlyTheRightKeyEncryptionKeyOpensThem() async throws {
        try await TestDatabase.withStore("contractkeys") { store in
            let world = try await World.make(store)
            let rows = try await store.query(
                "SELECT private_key_sealed FROM certificates UNION ALL SELECT private_key_sealed FROM platform_ca")
            var count = 0
            for try await sealed in rows.decode(Data.self) {
                count += 1
                #expect(!String(decoding: sealed, as: UTF8.self).contains("PRIVATE KEY"))
            }
            #expect(count == 3)  // the CA, the institution, the guardian
            let otherKey = KeyEncryptionKey.generate()
            await #expect(throws: KeyEncryptionKeyError.self) {
                _ = try await Certificates(store: store).initializeAuthority(kek: otherKey)
            }
            let (_, created) = try await Certificates(store: store).initializeAuthority(kek: TestContracts.keyEncryptionKey)
            #expect(!created)
            // The guardian's second contract reuses its certificate.
            let second = try await world.anotherEnrollment(store, lessons: 3)
            _ = second
            var certificates = 0
            for try await n in try await store.query("SELECT count(*)::int FROM certificates").decode(Int.self) { certificates = n }
            #expect(certificates == 2)
        }
    }

    @Test func generationTakesItsFieldsFromTheRecordsAndNamesWhatIsMissing() async throws {
        try await TestDatabase.withStore("contractgen") { store in
            let world = try await World.make(store)
            let contracts = try await TestContracts.repository(store)
            let pending = try await world.anotherEnrollment(store, lessons: 5, signed: false)
            let first = try await contracts.generate(
                for: pending.id, institution: world.institution.id,
                terms: ContractTerms(classNumber: "A班", guardianIdNumber: "33020319900101123X"))
            let text = String(
                decoding: try #require(try await contracts.document(first.id, scope: scopeOf(.institution(world.institution.id)))),
                as: UTF8.self)
            #expect(text.contains("<tg:guardianIdNumber>330203********123X</tg:guardianIdNumber>") && !text.contains("19900101"))
            #expect(
                text.contains("<tg:totalFen>\(pending.amountFen.fen)</tg:totalFen>") && text.contains("<tg:classNumber>A班</tg:classNumber>")
            )
            // Generating again voids the unsigned draft; one live contract per enrollment.
            let second = try await contracts.generate(for: pending.id, institution: world.institution.id)
            #expect(try await contracts.contract(first.id, scope: scopeOf(.institution(world.institution.id)))?.status == .void)
            #expect(try await contracts.contract(ofEnrollment: pending.id, scope: scopeOf(.guardian(world.guardian)))?.id == second.id)
            #expect(
                try await rejection {
                    _ = try await contracts.generate(
                        for: pending.id, institution: world.institution.id, terms: ContractTerms(studentIdNumber: "123"))
                }
                    == .identityNumberInvalid)
            await #expect(throws: ContractRenderError.fieldInvalid(field: "refunds.coolingOffDays", reason: "")) {
                do {
                    _ = try await contracts.generate(
                        for: pending.id, institution: world.institution.id, terms: ContractTerms(coolingOffDays: -1))
                } catch ContractRenderError.fieldInvalid(let field, _) {
                    throw ContractRenderError.fieldInvalid(field: field, reason: "")
                }
            }
            try await store.query("UPDATE institutions SET credit_code = '' WHERE id = \(world.institution.id.uuid)")
            await #expect(throws: ContractRenderError.fieldMissing("institution.creditCode")) {
                _ = try await contracts.generate(for: pending.id, institution: world.institution.id)
            }
            // Someone else's enrollment is not found.
            await #expect(throws: NotFound.self) {
                _ = try await contracts.generate(for: pending.id, institution: Institution.ID(UUID()))
            }
        }
    }
}

/// Nil on success, the rejection when the body throws one; any other error is recorded as a test failure.
private func outcome(_ body: () async throws -> Void) async -> Rejection? {
    do {
        try await body()
        return nil
    } catch let rejection as Rejection {
        return rejection
    } catch let error as PostgresTransactionError {
        if let rejection = error.closureError as? Rejection { return rejection }
        Issue.record("unexpected error: \(String(reflecting: error))")
        return nil
    } catch {
        Issue.record("unexpected error: \(String(reflecting: error))")
        return nil
    }
}
