import Foundation
import PostgresNIO
import TuitionCore
import TuitionStore
import TuitionWire

/// A district with one institution, a course, a guardian with a student, and an enrollment, built through the store.
public struct World: Sendable {
    public let district: DistrictCode
    public let institution: InstitutionRecord
    public let course: CourseRecord
    public let guardian: Guardian.ID
    public let student: StudentRecord
    public let enrollment: EnrollmentRecord
    /// The enrollment's contract, signed by both parties (so the enrollment may be paid).
    public let contract: ContractRecord

    public static func make(
        _ store: Store, district code: String = "330203", mode: SupervisionMode = .escrow, pricePerLessonFen: Int64 = 8_000,
        lessons: Int = 40, today: BusinessDate = BusinessDate(shanghaiDateOf: Date())
    ) async throws -> World {
        let parties = PartyRepository(store: store)
        let district = DistrictCode(code)!
        try await parties.ensureDistrict(district)
        let institution = try await parties.registerInstitution(
            NewInstitution(
                licenceNumber: "教民\(UInt32.random(in: .min ... .max))", name: "星火教育培训学校", address: "宁波市海曙区",
                creditCode: "52330203MJ0000000X", licenceValidUntil: today.addingMonths(24), supervisionMode: mode,
                reserveRatioBasisPoints: mode == .reserve ? 2_000 : 0, supervisedBank: "宁波银行",
                supervisedAccountNumber: "8601 0000 0000"),
            district: district)
        let course = try await parties.createCourse(
            NewCourse(
                title: "小学数学思维", category: .nonAcademic, pricePerLessonFen: Money(fen: pricePerLessonFen), lessonMinutes: 60,
                lessonsPerWeek: 2, teacher: "王老师"),
            institution: institution.id)
        let guardian = try await parties.createGuardian(name: "张三", phone: "13800000000")
        let student = try await parties.createStudent(
            NewStudent(name: "张小明", relationship: "父子", school: "海曙中心小学", grade: "三年级"), guardian: guardian)
        let enrollment = try await EnrollmentRepository(store: store).create(
            NewEnrollment(
                studentId: student.id, courseId: course.id, lessons: lessons, termStart: today.addingDays(-30),
                termEnd: today.addingDays(-30).addingMonths(3)),
            institution: institution.id, guardian: guardian)
        return World(
            district: district, institution: institution, course: course, guardian: guardian, student: student,
            enrollment: enrollment, contract: try await TestContracts.sign(store, enrollment))
    }

    /// Another enrollment for the same student and course, its contract signed by both parties unless `signed` is false.
    public func anotherEnrollment(_ store: Store, lessons: Int = 20, signed: Bool = true) async throws -> EnrollmentRecord {
        let created = try await EnrollmentRepository(store: store).create(
            NewEnrollment(
                studentId: student.id, courseId: course.id, lessons: lessons, termStart: enrollment.termStart,
                termEnd: enrollment.termEnd),
            institution: institution.id, guardian: guardian)
        if signed { try await TestContracts.sign(store, created) }
        return created
    }
}
