import Foundation
import PostgresNIO
import TuitionCore
import TuitionWire

/// Districts, institutions, guardians, insurers, students and courses.
public struct PartyRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    // MARK: Districts

    public func ensureDistrict(_ code: DistrictCode, name: String = "") async throws {
        try await store.query("INSERT INTO districts (code, name) VALUES (\(code.value), \(name)) ON CONFLICT DO NOTHING")
    }

    public func chargeCaps(_ code: DistrictCode) async throws -> ChargeCaps {
        let rows = try await store.query(
            "SELECT charge_lessons_max, charge_term_months_max, charge_amount_max_fen FROM districts WHERE code = \(code.value)")
        for try await (lessons, months, amount) in rows.decode((Int, Int, Int64).self) {
            return ChargeCaps(lessonsMax: lessons, termMonthsMax: months, amountMax: Money(fen: amount))
        }
        return .national
    }

    public func setChargeCaps(_ caps: ChargeCaps, district code: DistrictCode) async throws -> ChargeCaps {
        if let rejection = caps.rejectionAsDistrictCaps { throw rejection }
        try await store.query(
            """
            UPDATE districts SET charge_lessons_max = \(caps.lessonsMax), charge_term_months_max = \(caps.termMonthsMax),
                charge_amount_max_fen = \(caps.amountMax.fen)
            WHERE code = \(code.value)
            """)
        return caps
    }

    // MARK: Institutions

    public func registerInstitution(_ new: NewInstitution, district: DistrictCode) async throws -> InstitutionRecord {
        let text = try InstitutionRegistrationRule.validText(
            licenceNumber: new.licenceNumber, name: new.name, address: new.address, creditCode: new.creditCode,
            supervisedBank: new.supervisedBank, supervisedAccountNumber: new.supervisedAccountNumber)
        let (licence, name, address, creditCode) = (text.licenceNumber, text.name, text.address, text.creditCode)
        let (bank, account) = (text.supervisedBank, text.supervisedAccountNumber)
        let ratio = new.reserveRatioBasisPoints ?? 0
        if let rejection = checkReserveRatio(mode: new.supervisionMode, basisPoints: ratio) { throw rejection }
        if let rejection = InstitutionRegistrationRule.check(
            address: address, creditCode: creditCode, licenceValidUntil: new.licenceValidUntil)
        {
            throw rejection
        }
        let id = store.dependencies.newID()
        let now = store.dependencies.now()
        return try await mappingRejections {
            try await store.transaction { connection in
                try await connection.query(
                    """
                    INSERT INTO institutions (id, district_code, licence_number, name, address, credit_code, licence_valid_until,
                        supervision_mode, reserve_ratio_bp, supervised_bank, supervised_account_number, created_at)
                    VALUES (\(id), \(district.value), \(licence), \(name), \(address), \(creditCode),
                        \(new.licenceValidUntil?.description)::date, \(new.supervisionMode.rawValue), \(ratio),
                        \(bank), \(account), \(now))
                    """, logger: store.logger)
                try await connection.query(
                    """
                    INSERT INTO accounts (kind, institution_id, restricted)
                    SELECT kind, \(id), kind <> 'institution_bank'
                    FROM unnest(ARRAY['escrow', 'operating', 'reserve', 'institution_bank']) AS kind
                    """, logger: store.logger)
                try await EvidenceQueue(store: store).enqueue(
                    EvidenceEvent(kind: .institutionRegistered, occurredAt: now, institution: Institution.ID(id), reference: licence),
                    on: connection)
                guard let registered = try await fetchInstitution(Institution.ID(id), on: connection) else { throw NotFound() }
                return registered
            }
        }
    }

    /// The regulator of the institution's district renews its licence or sets its reserve ratio (reserve mode only,
    /// `reserveRatioInvalid` otherwise). A defunct or blacklisted institution's record is final.
    public func changeInstitution(_ id: Institution.ID, district: DistrictCode, changes: InstitutionChanges) async throws
        -> InstitutionRecord
    {
        try await store.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT status, supervision_mode FROM institutions
                WHERE id = \(id.uuid) AND district_code = \(district.value) FOR UPDATE
                """, logger: store.logger)
            var found: (String, String)?
            for try await row in rows.decode((String, String).self) { found = row }
            guard let (status, mode) = found else { throw NotFound() }
            switch try decodeEnum(status) as InstitutionStatus {
            case .defunct: throw Rejection.institutionDefunct
            case .blacklisted: throw Rejection.institutionIsBlacklisted
            default: break
            }
            if let ratio = changes.reserveRatioBasisPoints, let rejection = checkReserveRatio(mode: try decodeEnum(mode), basisPoints: ratio) {
                throw rejection
            }
            try await connection.query(
                """
                UPDATE institutions SET licence_valid_until = coalesce(\(changes.licenceValidUntil?.description)::date, licence_valid_until),
                    reserve_ratio_bp = coalesce(\(changes.reserveRatioBasisPoints)::int, reserve_ratio_bp)
                WHERE id = \(id.uuid)
                """, logger: store.logger)
            guard let changed = try await fetchInstitution(id, on: connection) else { throw NotFound() }
            return changed
        }
    }

    public func institution(_ id: Institution.ID, scope: Scope) async throws -> InstitutionRecord? {
        try await store.withConnection { connection in
            try await fetchInstitution(id, scope: scope, on: connection)
        }
    }

    func fetchInstitution(_ id: Institution.ID, scope: Scope? = nil, on connection: PostgresConnection) async throws -> InstitutionRecord? {
        let unscoped = scope == nil
        let rows = try await connection.query(
            """
            SELECT \(unescaped: InstitutionRecord.columns) FROM institutions i
            WHERE i.id = \(id.uuid) AND (\(unscoped) OR i.district_code = \(scope?.district) OR i.id = \(scope?.institution))
            """, logger: store.logger)
        for try await row in rows { return try InstitutionRecord(row: row) }
        return nil
    }

    public func institutions(scope: Scope, status: InstitutionStatus?, page: PageRequest) async throws -> Page<InstitutionRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: InstitutionRecord.columns) FROM institutions i
            WHERE (i.district_code = \(scope.district) OR i.id = \(scope.institution))
              AND (\(status?.rawValue)::text IS NULL OR i.status = \(status?.rawValue))
              AND i.id > \(page.afterOrFloor)
            ORDER BY i.id LIMIT \(page.limit + 1)
            """)
        var items: [InstitutionRecord] = []
        for try await row in rows { items.append(try InstitutionRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    public func setInstitutionStatus(_ id: Institution.ID, status: InstitutionStatus) async throws {
        try await store.transactionChangingAuthority { connection in
            try await mappingRejections {
                try await connection.query(
                    "UPDATE institutions SET status = \(status.rawValue) WHERE id = \(id.uuid)", logger: store.logger)
            }
            try await EvidenceQueue(store: store).enqueue(
                EvidenceEvent(
                    kind: .institutionStatusChanged, occurredAt: store.dependencies.now(), institution: id, reference: status.rawValue),
                on: connection)
        }
    }

    // MARK: Guardians, insurers, students

    public func createGuardian(name: String, phone: String = "") async throws -> Guardian.ID {
        try await store.transaction { connection in try await createGuardian(name: name, phone: phone, on: connection) }
    }

    /// The guardian and its bank account, in the caller's transaction.
    func createGuardian(name: String, phone: String, on connection: PostgresConnection) async throws -> Guardian.ID {
        let (name, phone) = (try validText(name, maxScalars: 100), try validOptionalLine(phone, maxScalars: 32))
        let id = store.dependencies.newID()
        let now = store.dependencies.now()
        try await connection.query(
            "INSERT INTO guardians (id, name, phone, created_at) VALUES (\(id), \(name), \(phone), \(now))", logger: store.logger)
        try await connection.query(
            "INSERT INTO accounts (kind, guardian_id, restricted) VALUES ('guardian_bank', \(id), false)", logger: store.logger)
        return Guardian.ID(id)
    }

    public func createInsurer(name: String) async throws -> Insurer.ID {
        let name = try validText(name, maxScalars: 200)
        let id = store.dependencies.newID()
        let now = store.dependencies.now()
        try await store.transaction { connection in
            try await connection.query(
                "INSERT INTO insurers (id, name, created_at) VALUES (\(id), \(name), \(now))", logger: store.logger)
            try await connection.query(
                """
                INSERT INTO accounts (kind, insurer_id, restricted)
                VALUES ('insurer_claims', \(id), false), ('insurer_bank', \(id), false)
                """, logger: store.logger)
        }
        return Insurer.ID(id)
    }

    public func exists(_ entity: PrincipalEntity) async throws -> Bool {
        let query: PostgresQuery =
            switch entity {
            case .regulator(let code): "SELECT 1 FROM districts WHERE code = \(code.value)"
            case .institution(let id): "SELECT 1 FROM institutions WHERE id = \(id.uuid)"
            case .guardian(let id): "SELECT 1 FROM guardians WHERE id = \(id.uuid)"
            case .insurer(let id): "SELECT 1 FROM insurers WHERE id = \(id.uuid)"
            }
        for try await _ in try await store.query(query) { return true }
        return false
    }

    public func createStudent(_ new: NewStudent, guardian: Guardian.ID) async throws -> StudentRecord {
        let name = try validText(new.name, maxScalars: 100)
        let (relationship, school, grade) =
            (
                try validOptionalLine(new.relationship, maxScalars: 50), try validOptionalLine(new.school, maxScalars: 200),
                try validOptionalLine(new.grade, maxScalars: 50)
            )
        let id = store.dependencies.newID()
        let student = try await store.firstRow(
            ofWrite: """
                INSERT INTO students AS s (id, guardian_id, name, relationship, school, grade, created_at)
                VALUES (\(id), \(guardian.uuid), \(name), \(relationship), \(school), \(grade),
                    \(store.dependencies.now()))
                RETURNING \(unescaped: StudentRecord.columns)
                """, StudentRecord.init(row:))
        guard let student else { throw CorruptRow(value: "student insert returned nothing") }
        return student
    }

    /// Students are their guardian's alone; institutions and regulators see them through enrollments.
    public func student(_ id: Student.ID, scope: Scope) async throws -> StudentRecord? {
        let rows = try await store.query(
            "SELECT \(unescaped: StudentRecord.columns) FROM students s WHERE s.id = \(id.uuid) AND s.guardian_id = \(scope.guardian)")
        for try await row in rows { return try StudentRecord(row: row) }
        return nil
    }

    public func students(scope: Scope, page: PageRequest) async throws -> Page<StudentRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: StudentRecord.columns) FROM students s
            WHERE s.guardian_id = \(scope.guardian) AND s.id > \(page.afterOrFloor)
            ORDER BY s.id LIMIT \(page.limit + 1)
            """)
        var items: [StudentRecord] = []
        for try await row in rows { items.append(try StudentRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }

    // MARK: Courses

    public func createCourse(_ new: NewCourse, institution: Institution.ID) async throws -> CourseRecord {
        let title = try validText(new.title, maxScalars: 200)
        let teacher = try validOptionalLine(new.teacher, maxScalars: 100)
        guard new.pricePerLessonFen.isPositive else { throw Rejection.priceMustBePositive }
        guard new.pricePerLessonFen <= ChargeCaps.national.amountMax else { throw Rejection.chargeAmountTooLarge }
        guard new.lessonMinutes > 0, new.lessonMinutes <= 24 * 60 else { throw Rejection.lessonMinutesMustBePositive }
        let perWeek = new.lessonsPerWeek ?? 1
        guard (1...21).contains(perWeek) else { throw Rejection.lessonsMustBePositive }
        let id = store.dependencies.newID()
        // Only an operating institution publishes: a suspended one sells nothing new (its refunds stay open).
        let course = try await store.firstRow(
            ofWrite: """
                INSERT INTO courses AS c (id, institution_id, title, category, price_per_lesson_fen, lesson_minutes,
                    lessons_per_week, teacher, created_at)
                SELECT \(id), i.id, \(title), \(new.category.rawValue), \(new.pricePerLessonFen.fen),
                    \(new.lessonMinutes), \(perWeek), \(teacher), \(store.dependencies.now())
                FROM institutions i WHERE i.id = \(institution.uuid) AND i.status IN ('active', 'warned')
                RETURNING \(unescaped: CourseRecord.columns)
                """, CourseRecord.init(row:))
        guard let course else { throw Rejection.institutionNotOperating }
        return course
    }

    /// A course is seen by its institution, its district's regulator, and guardians enrolled in it.
    public func course(_ id: Course.ID, scope: Scope) async throws -> CourseRecord? {
        let rows = try await store.query(
            """
            SELECT \(unescaped: CourseRecord.columns) FROM courses c JOIN institutions i ON i.id = c.institution_id
            WHERE c.id = \(id.uuid) AND (c.institution_id = \(scope.institution) OR i.district_code = \(scope.district)
                OR EXISTS (SELECT 1 FROM enrollments e WHERE e.course_id = c.id AND e.guardian_id = \(scope.guardian)))
            """)
        for try await row in rows { return try CourseRecord(row: row) }
        return nil
    }

    public func courses(scope: Scope, page: PageRequest) async throws -> Page<CourseRecord> {
        let rows = try await store.query(
            """
            SELECT \(unescaped: CourseRecord.columns) FROM courses c JOIN institutions i ON i.id = c.institution_id
            WHERE (c.institution_id = \(scope.institution) OR i.district_code = \(scope.district)
                OR EXISTS (SELECT 1 FROM enrollments e WHERE e.course_id = c.id AND e.guardian_id = \(scope.guardian)))
              AND c.id > \(page.afterOrFloor)
            ORDER BY c.id LIMIT \(page.limit + 1)
            """)
        var items: [CourseRecord] = []
        for try await row in rows { items.append(try CourseRecord(row: row)) }
        return page.page(items) { $0.id.uuid }
    }
}
