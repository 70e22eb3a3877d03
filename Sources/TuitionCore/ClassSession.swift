/// A class session (batch attendance): the institution marks one course's class present on one date, one lesson
/// for each enrollment it lists. Each listed enrollment is decided on its own by `decideLessons`, the rule the
/// single-lesson route uses, so a session and N single records agree to the fen.
public enum ClassSessionLimits {
    /// The most enrollments one session may list: a large lecture hall, and a transaction short enough that the
    /// institution's accounts are not held for long.
    public static let enrollmentsMax = 500
}

/// What the session knows of a listed enrollment the institution owns: its course and its position.
public struct ClassSessionCandidate: Hashable, Sendable {
    public var course: Course.ID
    public var position: EnrollmentPosition

    public init(course: Course.ID, position: EnrollmentPosition) {
        self.course = course
        self.position = position
    }
}

/// Why one listed enrollment got no lesson. An id that is unknown or another institution's is the same refusal,
/// so a session cannot probe for other institutions' enrollments.
public enum ClassSessionRefusal: Error, Hashable, Sendable {
    case enrollmentNotFound
    case rejected(Rejection)
}

/// One listed enrollment's outcome: a lesson with the release it moves (nil in reserve mode), or a refusal.
public typealias ClassSessionDecision = Result<PlannedTransfer?, ClassSessionRefusal>

/// Decides a class session. Refusals of the whole session come first, in this order: the list's size, the
/// institution's money path (`refusal(of:)`), a future date; then each listed enrollment, in the order listed:
/// unknown or foreign, listed before in this session, another course, then `decideLessons` for one lesson.
public func decideClassSession(
    listed: [Enrollment.ID], candidates: [Enrollment.ID: ClassSessionCandidate], course: Course.ID, institution: InstitutionStatus,
    takenOn: BusinessDate, today: BusinessDate
) throws(Rejection) -> [ClassSessionDecision] {
    try checkClassSessionSize(listed.count)
    if let closed = refusal(of: institution) { throw closed }
    guard takenOn <= today else { throw .lessonDateInFuture }
    var seen = Set<Enrollment.ID>()
    return listed.map { id in
        guard let candidate = candidates[id] else { return .failure(.enrollmentNotFound) }
        guard seen.insert(id).inserted else { return .failure(.rejected(.enrollmentListedTwice)) }
        guard candidate.course == course else { return .failure(.rejected(.enrollmentNotInCourse)) }
        return decideLessons(candidate.position, institution: institution, lessons: 1, takenOn: takenOn, today: today)
            .mapError(ClassSessionRefusal.rejected)
    }
}

/// A session lists 1–`ClassSessionLimits.enrollmentsMax` enrollments.
public func checkClassSessionSize(_ count: Int) throws(Rejection) {
    guard (1...ClassSessionLimits.enrollmentsMax).contains(count) else { throw .classSessionSizeOutOfRange }
}
