CREATE TABLE IF NOT EXISTS keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'active',
    enabled INTEGER NOT NULL DEFAULT 1,
    balance REAL,
    charge_balance REAL,
    account_id TEXT,
    usage_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    checked_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS pins (
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    key_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, resource_id)
);

CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS model_facts (
    model TEXT PRIMARY KEY,
    free INTEGER,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

INSERT OR IGNORE INTO meta (name, value) VALUES ('keys_version', 0);
