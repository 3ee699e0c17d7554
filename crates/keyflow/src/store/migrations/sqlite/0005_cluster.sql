-- Console sessions, stored so that they survive a restart and, on a shared
-- database, work through every instance. Only a hash of the cookie is kept.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

-- The instance that served each logged request.
ALTER TABLE request_logs ADD COLUMN instance TEXT;
