-- Public lookup, course catalog and the regulator's web dashboard.

-- A regulator signed in to the dashboard with its token. The browser holds a random session id in an HttpOnly,
-- SameSite=Strict cookie; only the id's SHA-256 is stored, so a copy of this table opens no session.
CREATE TABLE dashboard_sessions (
    id_sha256 bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    principal_id uuid NOT NULL REFERENCES principals (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT expires_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);

-- The catalog pages through courses by price, then id.
CREATE INDEX courses_by_price ON courses (price_per_lesson_fen, id);
-- The dashboard's claims-by-status figure reads every claim of a district's institutions.
CREATE INDEX claims_by_institution_status ON claims (institution_id, status);
