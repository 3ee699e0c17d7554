//! The `api_keys` and `logs` tables that silicon-pool and the FastAPI proxy
//! share, read from their SQLite file opened read-only.
//!
//! Versions of both tools differ in columns (the log's endpoint column is
//! `api_endpoint`, `endpoint` or absent; old `api_keys` lack `enabled`), and
//! SQLite stores whatever type it was given, so every column is looked up
//! first and read through a `CAST`.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row as _;

use super::{MigrateError, OldKey};
use crate::secret::Secret;

/// Where an old log row was sent when the tool did not say.
pub const DEFAULT_ROUTE: &str = "/v1/chat/completions";

/// Opens an old tool's SQLite file without any chance of writing to it.
pub async fn open_read_only(path: &Path) -> Result<SqlitePool, MigrateError> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true).create_if_missing(false);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|source| MigrateError::OldDatabase { path: path.to_path_buf(), source })
}

/// The columns of `table`; empty when the table does not exist.
pub async fn columns(pool: &SqlitePool, path: &Path, table: &str) -> Result<Vec<String>, MigrateError> {
    let rows = sqlx::query(&format!("PRAGMA table_info(\"{table}\")"))
        .fetch_all(pool)
        .await
        .map_err(|source| MigrateError::OldDatabase { path: path.to_path_buf(), source })?;
    Ok(rows.iter().filter_map(|r| r.try_get::<String, _>("name").ok()).collect())
}

/// `CAST(col AS ty)` when the column exists, else `fallback`.
fn column_or(columns: &[String], col: &str, ty: &str, fallback: &str) -> String {
    if columns.iter().any(|c| c.eq_ignore_ascii_case(col)) {
        format!("CAST(\"{col}\" AS {ty})")
    } else {
        fallback.to_string()
    }
}

/// What the two Python tools' `pool.db` holds, as a migration source:
/// keys with known balances and the request log (when the table exists).
pub async fn read_source(db: &Path, tool: super::Tool) -> Result<super::Source, MigrateError> {
    let pool = open_read_only(db).await?;
    let mut source = super::Source { balances_known: true, ..super::Source::default() };
    source.keys = read_keys(&pool, db).await?;
    source.logs =
        LogTable::find(&pool, db).await?.map(|table| super::LogSource { table, mark_name: super::mark_name(tool, db) });
    source.files.push(db.to_path_buf());
    source.not_carried.push("console sessions: log in to keyflow's console again".into());
    Ok(source)
}

/// Every row of `api_keys`: key, balance, enabled flag, add time, usage.
pub async fn read_keys(pool: &SqlitePool, path: &Path) -> Result<Vec<OldKey>, MigrateError> {
    let cols = columns(pool, path, "api_keys").await?;
    if cols.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT CAST(key AS TEXT) AS key, {} AS balance, {} AS enabled, {} AS add_time, {} AS usage_count \
         FROM api_keys ORDER BY rowid",
        column_or(&cols, "balance", "REAL", "NULL"),
        column_or(&cols, "enabled", "INTEGER", "1"),
        column_or(&cols, "add_time", "REAL", "NULL"),
        column_or(&cols, "usage_count", "INTEGER", "0"),
    );
    let rows = sqlx::query(&sql)
        .fetch_all(pool)
        .await
        .map_err(|source| MigrateError::OldDatabase { path: path.to_path_buf(), source })?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(Some(key)) = row.try_get::<Option<String>, _>("key") else { continue };
        keys.push(OldKey {
            key: Secret::new(key.trim()),
            balance: row.try_get::<Option<f64>, _>("balance").ok().flatten(),
            // NULL counts as enabled: the column's default.
            enabled: row.try_get::<Option<i64>, _>("enabled").ok().flatten().is_none_or(|e| e != 0),
            created_at: row.try_get::<Option<f64>, _>("add_time").ok().flatten().map(|t| t as i64),
            usage_count: row.try_get::<Option<i64>, _>("usage_count").ok().flatten().unwrap_or(0).max(0) as u64,
        });
    }
    Ok(keys)
}

/// One row of the old `logs` table.
#[derive(Debug, Clone, PartialEq)]
pub struct OldLog {
    pub id: i64,
    pub used_key: Option<String>,
    pub model: Option<String>,
    pub endpoint: Option<String>,
    /// Unix seconds.
    pub call_time: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

/// The `logs` table of an open file, read in id order.
pub struct LogTable {
    pool: SqlitePool,
    path: PathBuf,
    select: String,
}

impl std::fmt::Debug for LogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogTable").field("path", &self.path).field("select", &self.select).finish()
    }
}

impl LogTable {
    /// The log table of `pool`, or `None` when the file has none.
    pub async fn find(pool: &SqlitePool, path: &Path) -> Result<Option<LogTable>, MigrateError> {
        let cols = columns(pool, path, "logs").await?;
        if !cols.iter().any(|c| c == "id") {
            return Ok(None);
        }
        // Newer silicon-pool: `api_endpoint`; older: `endpoint`; the FastAPI proxy: none.
        let endpoint = ["api_endpoint", "endpoint"]
            .iter()
            .find(|c| cols.iter().any(|have| have.eq_ignore_ascii_case(c)))
            .map_or_else(|| "NULL".to_string(), |c| format!("CAST(\"{c}\" AS TEXT)"));
        let select = format!(
            "SELECT id, {} AS used_key, {} AS model, {endpoint} AS endpoint, {} AS call_time, \
             {} AS input_tokens, {} AS output_tokens, {} AS total_tokens FROM logs",
            column_or(&cols, "used_key", "TEXT", "NULL"),
            column_or(&cols, "model", "TEXT", "NULL"),
            column_or(&cols, "call_time", "REAL", "NULL"),
            column_or(&cols, "input_tokens", "INTEGER", "0"),
            column_or(&cols, "output_tokens", "INTEGER", "0"),
            column_or(&cols, "total_tokens", "INTEGER", "0"),
        );
        Ok(Some(LogTable { pool: pool.clone(), path: path.to_path_buf(), select }))
    }

    fn failed(&self, source: sqlx::Error) -> MigrateError {
        MigrateError::OldDatabase { path: self.path.clone(), source }
    }

    /// Rows with an id at most `id`: those an earlier run took.
    pub async fn count_upto(&self, id: i64) -> Result<u64, MigrateError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM logs WHERE id <= ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(n.max(0) as u64)
    }

    /// Up to `limit` rows after the id `after`, in id order.
    pub async fn batch_after(&self, after: i64, limit: u32) -> Result<Vec<OldLog>, MigrateError> {
        let sql = format!("{} WHERE id > ? ORDER BY id LIMIT ?", self.select);
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let count = |row: &sqlx::sqlite::SqliteRow, col: &str| {
            row.try_get::<Option<i64>, _>(col).ok().flatten().unwrap_or(0).max(0) as u64
        };
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(OldLog {
                    id: row.try_get::<i64, _>("id").ok()?,
                    used_key: row.try_get::<Option<String>, _>("used_key").ok().flatten(),
                    model: row.try_get::<Option<String>, _>("model").ok().flatten(),
                    endpoint: row.try_get::<Option<String>, _>("endpoint").ok().flatten(),
                    call_time: row.try_get::<Option<f64>, _>("call_time").ok().flatten(),
                    input_tokens: count(row, "input_tokens"),
                    output_tokens: count(row, "output_tokens"),
                    total_tokens: count(row, "total_tokens"),
                })
            })
            .collect())
    }
}

/// keyflow's route for an old endpoint name: silicon-pool wrote
/// `chat_completions`, `embeddings`, `images_generations`…; a path is kept.
pub fn route_of(endpoint: Option<&str>) -> String {
    let Some(endpoint) = endpoint.map(str::trim).filter(|e| !e.is_empty()) else {
        return DEFAULT_ROUTE.to_string();
    };
    if endpoint.starts_with('/') {
        return if endpoint.starts_with("/v1/") { endpoint.to_string() } else { format!("/v1{endpoint}") };
    }
    let path = endpoint.trim_start_matches("v1_").replace('_', "/");
    if path.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-') {
        format!("/v1/{path}")
    } else {
        DEFAULT_ROUTE.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_routes() {
        assert_eq!(route_of(None), DEFAULT_ROUTE);
        assert_eq!(route_of(Some("  ")), DEFAULT_ROUTE);
        assert_eq!(route_of(Some("chat_completions")), "/v1/chat/completions");
        assert_eq!(route_of(Some("embeddings")), "/v1/embeddings");
        assert_eq!(route_of(Some("images_generations")), "/v1/images/generations");
        assert_eq!(route_of(Some("/v1/rerank")), "/v1/rerank");
        assert_eq!(route_of(Some("/completions")), "/v1/completions");
        assert_eq!(route_of(Some("what? no")), DEFAULT_ROUTE);
    }

    async fn old_db(dir: &Path, logs_schema: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let path = dir.join("pool.db");
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        sqlx::query(
            "CREATE TABLE api_keys (key TEXT PRIMARY KEY, add_time REAL, balance REAL, usage_count INTEGER, \
             enabled INTEGER DEFAULT 1)",
        )
        .execute(&pool)
        .await?;
        sqlx::query(logs_schema).execute(&pool).await?;
        sqlx::query("INSERT INTO api_keys VALUES ('sk-a', 1700000000.5, 12, 3, 0), ('sk-b', NULL, '0.5', NULL, NULL)")
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(path)
    }

    #[tokio::test]
    async fn every_endpoint_column_variant_reads() -> Result<(), Box<dyn std::error::Error>> {
        let variants = [("api_endpoint", Some("/v1/embeddings")), ("endpoint", Some("/v1/embeddings")), ("", None)];
        for (column, want) in variants {
            let dir = tempfile::tempdir()?;
            let extra = if column.is_empty() { String::new() } else { format!("{column} TEXT, ") };
            let schema = format!(
                "CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, used_key TEXT, model TEXT, {extra}\
                 call_time REAL, input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER)"
            );
            let path = old_db(dir.path(), &schema).await?;
            let writer = SqlitePoolOptions::new().connect_with(SqliteConnectOptions::new().filename(&path)).await?;
            for i in 0..3 {
                let sql = if column.is_empty() {
                    "INSERT INTO logs (used_key, model, call_time, input_tokens, output_tokens, total_tokens) \
                     VALUES ('sk-a', 'm', ?, 1, 2, 3)"
                        .to_string()
                } else {
                    format!(
                        "INSERT INTO logs (used_key, model, {column}, call_time, input_tokens, output_tokens, \
                         total_tokens) VALUES ('sk-a', 'm', 'embeddings', ?, 1, 2, 3)"
                    )
                };
                sqlx::query(&sql).bind(1_700_000_000.0 + f64::from(i)).execute(&writer).await?;
            }
            writer.close().await;

            let pool = open_read_only(&path).await?;
            let keys = read_keys(&pool, &path).await?;
            assert_eq!(keys.len(), 2);
            assert_eq!(
                (keys[0].balance, keys[0].enabled, keys[0].created_at),
                (Some(12.0), false, Some(1_700_000_000))
            );
            assert_eq!(keys[0].usage_count, 3);
            assert_eq!((keys[1].balance, keys[1].enabled, keys[1].usage_count), (Some(0.5), true, 0));

            let table = LogTable::find(&pool, &path).await?.ok_or("no log table")?;
            let first = table.batch_after(0, 2).await?;
            assert_eq!(first.iter().map(|l| l.id).collect::<Vec<_>>(), [1, 2]);
            assert_eq!(route_of(first[0].endpoint.as_deref()), want.unwrap_or(DEFAULT_ROUTE), "{column}");
            assert_eq!((first[0].input_tokens, first[0].output_tokens, first[0].total_tokens), (1, 2, 3));
            assert_eq!(table.batch_after(2, 10).await?.len(), 1);
            assert_eq!(table.count_upto(2).await?, 2);
            // Read-only: the file cannot be changed through this pool.
            assert!(sqlx::query("DELETE FROM logs").execute(&pool).await.is_err());
        }
        Ok(())
    }
}
