-- Logged-in browser sessions. The cookie holds a random id; only its
-- sha256 is stored, so a copy of the database logs no one in. Logging out
-- deletes the row, which ends the session at once, across restarts.
CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY,
    -- Which tokens the session was granted under: when drover's tokens
    -- change, the old sessions no longer match and end.
    token_key  TEXT NOT NULL,
    created_at INTEGER NOT NULL,   -- unix seconds
    expires_at INTEGER NOT NULL    -- unix seconds
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
