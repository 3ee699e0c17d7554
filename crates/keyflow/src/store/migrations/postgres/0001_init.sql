-- Keys, pins, settings, model facts and the keys version: the same tables
-- as SQLite's 0001 (with `keys.spent` from its 0002 and `pins.owner` from
-- its 0004 folded in, since no PostgreSQL database predates them).
CREATE TABLE IF NOT EXISTS keys (
    id BIGSERIAL PRIMARY KEY,
    secret TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'active',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    balance DOUBLE PRECISION,
    charge_balance DOUBLE PRECISION,
    account_id TEXT,
    usage_count BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    checked_at BIGINT,
    created_at BIGINT NOT NULL,
    spent DOUBLE PRECISION NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS pins (
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    key_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The client token that created the resource (NULL: an open gateway).
    owner TEXT,
    PRIMARY KEY (kind, resource_id)
);

CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS model_facts (
    model TEXT PRIMARY KEY,
    free BOOLEAN,
    updated_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO meta (name, value) VALUES ('keys_version', 0) ON CONFLICT (name) DO NOTHING;
