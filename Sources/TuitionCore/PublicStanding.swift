/// What the public may read about an institution, and the district figures the regulator's dashboard shows.
/// Plain rules over values; the store gathers the values with set-based SQL.

/// The public list an institution is on, as the bureaus publish them (白名单 / 黑名单).
public enum PublicList: String, Sendable, Codable, CaseIterable {
    /// Licensed, licence in force, operating: parents may buy its courses.
    case white
    /// Blacklisted by the regulator; final.
    case black
    /// Neither: suspended, defunct, or its licence has lapsed.
    case neither
}

/// A licence's validity on a given day.
public enum LicenceValidity: String, Sendable, Codable, CaseIterable {
    case valid
    /// Valid, but ends within `LicenceValidity.noticeDays`.
    case expiringSoon = "expiring_soon"
    case expired
    /// No end date was recorded.
    case unknown

    /// The notice period the public page flags, the same 30 days the warning rules use by default, counted the same way
    /// (`licenceExpiring`: 30 days left is within it).
    public static let noticeDays = 30

    public init(validUntil: BusinessDate?, today: BusinessDate) {
        guard let validUntil else {
            self = .unknown
            return
        }
        if validUntil < today {
            self = .expired
        } else if validUntil <= today.addingDays(Self.noticeDays) {
            self = .expiringSoon
        } else {
            self = .valid
        }
    }

    /// Whether the licence allows the institution to operate today.
    public var isInForce: Bool { self == .valid || self == .expiringSoon }
}

extension PublicList {
    /// Blacklisting wins over everything, and stays: a blacklisted institution later marked defunct (its owner can still
    /// run away) is still on the black list (`everBlacklisted`, from the sanctions' history). The white list needs an
    /// operating institution with a licence in force. An institution without a recorded licence end date stays on the
    /// white list while it operates: the register is the regulator's, and a missing date is the regulator's gap, not
    /// the institution's fault.
    public init(status: InstitutionStatus, licence: LicenceValidity, everBlacklisted: Bool = false) {
        if status == .blacklisted || everBlacklisted {
            self = .black
        } else if status.isOperating && (licence.isInForce || licence == .unknown) {
            self = .white
        } else {
            self = .neither
        }
    }
}

/// Parents' reviews of an institution or a course: counts and sums of the 1–5 scores, averaged for display.
public struct ReviewSummary: Sendable, Hashable, Codable {
    public let count: Int
    /// Averages in tenths (43 = 4.3), rounded half up; nil without reviews.
    public let teachingTenths: Int?
    public let environmentTenths: Int?
    public let curriculumTenths: Int?
    /// The mean of the three averages, in tenths.
    public let overallTenths: Int?

    public init(count: Int, teachingSum: Int, environmentSum: Int, curriculumSum: Int) {
        precondition(count >= 0)
        self.count = count
        guard count > 0 else {
            (teachingTenths, environmentTenths, curriculumTenths, overallTenths) = (nil, nil, nil, nil)
            return
        }
        teachingTenths = Self.tenths(teachingSum, count)
        environmentTenths = Self.tenths(environmentSum, count)
        curriculumTenths = Self.tenths(curriculumSum, count)
        overallTenths = Self.tenths(teachingSum + environmentSum + curriculumSum, count * 3)
    }

    /// `sum / count` in tenths, rounded half up, in integers.
    static func tenths(_ sum: Int, _ count: Int) -> Int { (sum * 20 + count) / (count * 2) }

    /// "4.3" for people; "—" without reviews.
    public static func text(_ tenths: Int?) -> String {
        guard let tenths else { return "—" }
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// How an institution's unconsumed tuition is covered: escrow held, its reserve, then insurance, in the order the
/// fast-track waterfall would use them. The cover never counts for more than what is owed.
public struct TuitionCoverage: Sendable, Hashable, Codable {
    public let unconsumed: Money
    public let escrow: Money
    public let reserve: Money
    public let insurance: Money
    /// min(escrow + reserve + insurance, unconsumed).
    public let covered: Money
    public let uncovered: Money

    public init(unconsumed: Money, escrow: Money, reserve: Money, insurance: Money) {
        precondition(unconsumed.fen >= 0 && escrow.fen >= 0 && reserve.fen >= 0 && insurance.fen >= 0)
        self.unconsumed = unconsumed
        self.escrow = escrow
        self.reserve = reserve
        self.insurance = insurance
        // Saturating: three large balances must not overflow; the cover is capped at what is owed anyway.
        let available = [escrow.fen, reserve.fen, insurance.fen].reduce(Int64(0)) { sum, part in
            let (total, overflow) = sum.addingReportingOverflow(part)
            return overflow ? .max : total
        }
        self.covered = Money(fen: min(available, unconsumed.fen))
        self.uncovered = Money(fen: unconsumed.fen - covered.fen)
    }

    /// The cover split in the waterfall's order: escrow first, then the reserve, then insurance for the rest.
    public var escrowApplied: Money { Money(fen: min(escrow.fen, covered.fen)) }
    public var reserveApplied: Money { Money(fen: min(reserve.fen, covered.fen - escrowApplied.fen)) }
    public var insuranceApplied: Money { Money(fen: covered.fen - escrowApplied.fen - reserveApplied.fen) }

    /// covered / unconsumed in basis points (10000 = fully covered; nothing owed counts as fully covered).
    public var coverageBasisPoints: Int {
        guard unconsumed.fen > 0 else { return 10_000 }
        // 128-bit intermediate; covered ≤ unconsumed keeps the quotient within 0…10000.
        return Int(unconsumed.fen.dividingFullWidth(covered.fen.multipliedFullWidth(by: 10_000)).quotient)
    }
}

/// How far an open warning's deadline is, for the dashboard's buckets.
public enum DeadlineBucket: String, Sendable, Codable, CaseIterable {
    case overdue
    /// Due today up to 3 days ahead.
    case within3Days = "within_3_days"
    /// Due in 4–7 days.
    case within7Days = "within_7_days"
    case later

    public init(deadline: BusinessDate, today: BusinessDate) {
        if deadline < today {
            self = .overdue
        } else if deadline <= today.addingDays(3) {
            self = .within3Days
        } else if deadline <= today.addingDays(7) {
            self = .within7Days
        } else {
            self = .later
        }
    }

    /// The deadlines this bucket holds, as an inclusive range of days from today (nil = unbounded), for SQL.
    public var daysFromToday: (from: Int?, through: Int?) {
        switch self {
        case .overdue: (nil, -1)
        case .within3Days: (0, 3)
        case .within7Days: (4, 7)
        case .later: (8, nil)
        }
    }
}
