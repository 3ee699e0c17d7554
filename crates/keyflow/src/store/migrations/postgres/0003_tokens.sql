-- Console client tokens (SQLite's 0003).
CREATE TABLE IF NOT EXISTS client_tokens (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    masked TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT 'all',
    rpm_limit BIGINT,
    spend_quota DOUBLE PRECISION,
    created_at BIGINT NOT NULL
);
