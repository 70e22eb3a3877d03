-- What an approval grants above the approvable amount is added back: the value of contested lessons (disputed, or a
-- burst before a collapse) that a person found not given. Those lessons stay recorded and their value stays released
-- to the institution, so the add-back is not a return of what the enrollment is still owed: until now it counted in
-- `enrollments.returned_fen` like one, so a guardian repaid for two disputed lessons lost two of the lessons left (the
-- institution could consume the rest of the tuition early, and the unconsumed figure went negative when the add-back
-- was more than was owed), and the escrow paid it out of the guardian's own prepaid tuition. Now the insurer pays it,
-- `returned_fen` counts only the rest, and the claim records it: `added_back_fen`, paid within the insurer's part.
-- Claims paid before this migration keep it at 0 (their add-back stays counted in `returned_fen`, as it was paid).
ALTER TABLE claims
    ADD COLUMN added_back_fen bigint NOT NULL DEFAULT 0 CHECK (added_back_fen >= 0),
    ADD CONSTRAINT added_back_paid_by_the_insurer CHECK (added_back_fen <= paid_fen - escrow_paid_fen);
