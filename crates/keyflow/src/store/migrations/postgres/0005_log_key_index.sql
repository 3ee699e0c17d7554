-- The (key_id, ts_ms) index ordered every log batch by key: with a thousand
-- keys, each batch dirtied about a thousand scattered index pages, and those
-- page writes cost more than the rest of the log writer together (about a
-- quarter of keyflow's CPU under load, docs/benchmarks.md). The log's key
-- filter reads newest rows first by id, like its token and status filters.
DROP INDEX IF EXISTS request_logs_key_ts;
