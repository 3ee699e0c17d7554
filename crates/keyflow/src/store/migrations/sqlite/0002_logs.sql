CREATE TABLE IF NOT EXISTS request_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    client TEXT,
    route TEXT NOT NULL,
    model TEXT,
    key_id INTEGER,
    status INTEGER NOT NULL,
    error TEXT,
    latency_ms INTEGER NOT NULL,
    ttfb_ms INTEGER,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    stream INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    aborted INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS request_logs_ts ON request_logs (ts_ms);
CREATE INDEX IF NOT EXISTS request_logs_model_ts ON request_logs (model, ts_ms);
CREATE INDEX IF NOT EXISTS request_logs_key_ts ON request_logs (key_id, ts_ms);

CREATE TABLE IF NOT EXISTS model_prices (
    model TEXT PRIMARY KEY,
    input_per_m REAL NOT NULL DEFAULT 0,
    output_per_m REAL NOT NULL DEFAULT 0,
    per_image REAL NOT NULL DEFAULT 0,
    per_m_chars REAL NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

ALTER TABLE keys ADD COLUMN spent REAL NOT NULL DEFAULT 0;
