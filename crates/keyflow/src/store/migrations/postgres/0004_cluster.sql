-- What several instances on one database share (SPEC §8): stored console
-- sessions, the instance on each log row, and change notifications.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

ALTER TABLE request_logs ADD COLUMN IF NOT EXISTS instance TEXT;

-- Every committed change to shared state is announced on channel `keyflow`
-- with the topic as payload; instances LISTEN and reload that part. NOTIFY
-- is transactional: it is sent at commit, once per distinct payload.
CREATE OR REPLACE FUNCTION keyflow_announce() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keyflow', TG_ARGV[0]);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- Every change to keys bumps the keys version in `meta`.
CREATE TRIGGER keys_announce AFTER UPDATE ON meta
    FOR EACH STATEMENT EXECUTE FUNCTION keyflow_announce('keys');
CREATE TRIGGER settings_announce AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION keyflow_announce('settings');
CREATE TRIGGER tokens_announce AFTER INSERT OR UPDATE OR DELETE ON client_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION keyflow_announce('tokens');
-- New sessions are found on a miss; ended ones must leave every cache.
CREATE TRIGGER sessions_announce AFTER DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION keyflow_announce('sessions');
CREATE TRIGGER prices_announce AFTER INSERT OR UPDATE OR DELETE ON model_prices
    FOR EACH STATEMENT EXECUTE FUNCTION keyflow_announce('prices');
CREATE TRIGGER facts_announce AFTER INSERT OR UPDATE OR DELETE ON model_facts
    FOR EACH STATEMENT EXECUTE FUNCTION keyflow_announce('models');

-- A pin names its resource, so instances add that one pin.
CREATE OR REPLACE FUNCTION keyflow_announce_pin() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keyflow', 'pin ' || NEW.kind || ' ' || NEW.resource_id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER pins_announce AFTER INSERT ON pins
    FOR EACH ROW EXECUTE FUNCTION keyflow_announce_pin();
