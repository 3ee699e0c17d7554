CREATE TABLE IF NOT EXISTS client_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    masked TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT 'all',
    rpm_limit INTEGER,
    spend_quota REAL,
    created_at INTEGER NOT NULL
);
