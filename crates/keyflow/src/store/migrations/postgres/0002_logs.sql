-- The request log and the price table (SQLite's 0002).
CREATE TABLE IF NOT EXISTS request_logs (
    id BIGSERIAL PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    client TEXT,
    route TEXT NOT NULL,
    model TEXT,
    key_id BIGINT,
    status BIGINT NOT NULL,
    error TEXT,
    latency_ms BIGINT NOT NULL,
    ttfb_ms BIGINT,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    retries BIGINT NOT NULL DEFAULT 0,
    stream BOOLEAN NOT NULL DEFAULT FALSE,
    images BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    aborted BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX IF NOT EXISTS request_logs_ts ON request_logs (ts_ms);
CREATE INDEX IF NOT EXISTS request_logs_model_ts ON request_logs (model, ts_ms);
CREATE INDEX IF NOT EXISTS request_logs_key_ts ON request_logs (key_id, ts_ms);

CREATE TABLE IF NOT EXISTS model_prices (
    model TEXT PRIMARY KEY,
    input_per_m DOUBLE PRECISION NOT NULL DEFAULT 0,
    output_per_m DOUBLE PRECISION NOT NULL DEFAULT 0,
    per_image DOUBLE PRECISION NOT NULL DEFAULT 0,
    per_m_chars DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
