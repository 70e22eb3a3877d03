/// Every business refusal, named as a sentence. The raw value is the stable `code` the API reports.
/// Checks run in a fixed order and the first failure wins.
public enum Rejection: String, Error, Sendable, CaseIterable {
    // Amounts and figures
    case amountMustBePositive = "amount_must_be_positive"
    case amountTooLarge = "amount_too_large"
    case lessonsMustBePositive = "lessons_must_be_positive"
    case priceMustBePositive = "price_must_be_positive"
    case lessonMinutesMustBePositive = "lesson_minutes_must_be_positive"
    case textFieldInvalid = "text_field_invalid"
    case valueOutOfRange = "value_out_of_range"
    // The prepayment rule
    case chargeCoversTooManyLessons = "charge_exceeds_lesson_cap"
    case chargeTermTooLong = "charge_exceeds_term_cap"
    case chargeAmountTooLarge = "charge_exceeds_amount_cap"
    case termEndsBeforeItStarts = "term_ends_before_it_starts"
    case districtCapAboveNationalCap = "district_cap_above_national_cap"
    // Institutions
    case licenceNumberTaken = "licence_number_taken"
    case reserveRatioInvalid = "reserve_ratio_invalid"
    case institutionNotOperating = "institution_not_operating"
    // Enrollments and the ledger
    case enrollmentAlreadyPaid = "enrollment_already_paid"
    case enrollmentNotPaid = "enrollment_not_paid"
    case paymentDoesNotMatchOrder = "payment_does_not_match_order"
    case lessonsExceedRemaining = "lessons_exceed_remaining"
    case lessonDateInFuture = "lesson_date_in_future"
    case lessonDateBeforeTerm = "lesson_date_before_term"
    case nothingToRefund = "nothing_to_refund"
    case refundExceedsUnconsumed = "refund_exceeds_unconsumed"
    case accountWouldGoNegative = "insufficient_funds"
    // Lessons
    case lessonAlreadyAnswered = "lesson_already_answered"
    case lessonAnswerWindowClosed = "lesson_answer_window_closed"
    // Insurance
    case premiumRateInvalid = "premium_rate_invalid"
    case coverageTermsInvalid = "coverage_terms_invalid"
    case policyPeriodInvalid = "policy_period_invalid"
    case insuredDoesNotMatchProduct = "insured_does_not_match_product"
    case sumInsuredExceedsCover = "sum_insured_exceeds_cover"
    case policyStartsInThePast = "policy_starts_in_the_past"
    case enrollmentAlreadyInsured = "enrollment_already_insured"
    // Claims
    case claimAlreadyOpen = "claim_already_open"
    case claimNotAwaitingDecision = "claim_not_awaiting_decision"
    case approvalExceedsApprovable = "approval_exceeds_approvable"
    case claimNotApproved = "claim_not_approved"
    case payoutExceedsPolicyRemaining = "payout_exceeds_policy_remaining"
    case payoutExceedsEntitlement = "payout_exceeds_entitlement"
    // Defunct fast-track
    case institutionAlreadyDefunct = "institution_already_defunct"
    case effectiveTimeInFuture = "effective_time_in_future"
    case institutionNotDefunct = "institution_not_defunct"
    case fastTrackInProgress = "fast_track_in_progress"
    // Supervision: warnings, sanctions, inspections, reviews and complaints
    case warningThresholdInvalid = "warning_threshold_invalid"
    case warningAlreadyResolved = "warning_already_resolved"
    case institutionIsBlacklisted = "institution_is_blacklisted"
    case institutionNotSuspended = "institution_not_suspended"
    case institutionAlreadySuspended = "institution_already_suspended"
    case inspectionInvalid = "inspection_invalid"
    case ratingOutOfRange = "rating_out_of_range"
    case enrollmentAlreadyReviewed = "enrollment_already_reviewed"
    case complaintNotAwaitingAnswer = "complaint_not_awaiting_answer"
    case complaintAlreadyClosed = "complaint_already_closed"
    // Contracts
    case contractNotSigned = "contract_not_signed"
    case contractNotAwaitingSignature = "contract_not_awaiting_signature"
    case contractAlreadySigned = "contract_already_signed"
    case signingCertificateRevoked = "signing_certificate_revoked"
    case identityNumberInvalid = "identity_number_invalid"
    case approvingAuthorityInvalid = "approving_authority_invalid"
}
