//! Persistence behind one trait, so the services never see SQL.
//!
//! `sqlite.rs` holds every SQLite statement, `postgres.rs` every PostgreSQL
//! one; both implement the same [`Store`] trait, checked by one contract
//! suite (`tests/store_contract.rs`). The request path never awaits a store
//! call: writes that follow requests leave through [`writer`].

pub mod cipher;
mod logs;
mod postgres;
mod postgres_cluster;
mod postgres_keys;
mod postgres_logs;
mod sqlite;
mod sqlite_logs;
mod sqlite_sessions;
pub mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use logs::{Bucket, Dimension, LogFilter, LogRow, LogTotals, ModelPrice, StatusFilter};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Database id of a pool key.
pub type KeyId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("unsupported database url `{0}`: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DATABASE")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Secret(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Upstream's verdict on a key, as stored. `disabled` is a separate flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Valid with balance (or balance unknown): serves every model.
    Active,
    /// Valid without balance: serves free models only.
    Free,
    /// Upstream says the key is dead: never used until revalidated.
    Invalid,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Free => "free",
            KeyState::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<KeyState> {
        match s {
            "active" => Some(KeyState::Active),
            "free" => Some(KeyState::Free),
            "invalid" => Some(KeyState::Invalid),
            _ => None,
        }
    }
}

/// A key row as stored.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: KeyId,
    /// The raw key (decrypted by the store when encryption at rest is on).
    pub secret: String,
    pub state: KeyState,
    pub enabled: bool,
    /// `totalBalance` from upstream; `None` when unknown.
    pub balance: Option<f64>,
    pub charge_balance: Option<f64>,
    pub account_id: Option<String>,
    pub usage_count: u64,
    pub last_error: Option<String>,
    pub checked_at: Option<i64>,
    pub created_at: i64,
    /// Spend metered since `balance` was read (CNY).
    pub spent: f64,
}

/// A key to insert, stored as given: the key service decides its state.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub secret: String,
    pub state: KeyState,
    pub balance_hint: Option<f64>,
    pub created_at: i64,
}

/// The state part of a key that validation or traffic changes.
#[derive(Debug, Clone)]
pub struct KeyStatusUpdate {
    pub id: KeyId,
    pub state: KeyState,
    /// `Some(None)` clears the balance to unknown; `None` leaves it.
    pub balance: Option<Option<f64>>,
    pub charge_balance: Option<Option<f64>>,
    pub account_id: Option<String>,
    pub last_error: Option<String>,
    pub checked_at: Option<i64>,
}

/// Which upstream account owns a resource (file, batch, voice, video job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub kind: String,
    pub resource_id: String,
    pub key_id: KeyId,
    pub created_at: i64,
    /// The client token (by display name) that created the resource.
    pub owner: Option<String>,
}

/// A client token made in the console (the value itself is only hashed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientTokenRecord {
    pub id: i64,
    pub name: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The token as shown (`kf-abcd…wxyz`).
    pub masked: String,
    /// `all` or `free`.
    pub scope: String,
    pub rpm_limit: Option<u32>,
    /// CNY; `None` = unlimited.
    pub spend_quota: Option<f64>,
    pub created_at: i64,
}

/// What the store knows about a model beyond the upstream catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFact {
    pub model: String,
    /// `Some(true)` free, `Some(false)` paid, `None` not known yet.
    pub free: Option<bool>,
    pub updated_at: i64,
}

/// A console session as stored: the cookie itself only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie value, hex.
    pub token_hash: String,
    /// `admin` or `guest`.
    pub role: String,
    pub username: String,
    pub csrf: String,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
}

/// What a listener hears from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// An announcement: a topic (`keys`, `settings`, …) or a message.
    Message(String),
    /// The connection was lost and made again: announcements in between
    /// are missed, so everything shared should be read afresh.
    Lost,
}

/// Announcements made by any instance sharing the database.
#[async_trait]
pub trait Announcements: Send {
    async fn next(&mut self) -> Heard;
}

/// Everything keyflow persists. One implementation per database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;

    async fn load_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Inserts keys that are not present yet (by the key itself) and returns,
    /// for each input in order, its id and whether it was inserted now.
    async fn insert_keys(&self, keys: &[NewKey]) -> StoreResult<Vec<(KeyId, bool)>>;
    async fn update_key_status(&self, updates: &[KeyStatusUpdate]) -> StoreResult<()>;
    async fn set_key_enabled(&self, id: KeyId, enabled: bool) -> StoreResult<bool>;
    async fn delete_keys(&self, ids: &[KeyId]) -> StoreResult<u64>;
    /// Adds request counts and metered spend (CNY) to keys, behind traffic.
    async fn add_key_usage(&self, counts: &[(KeyId, u64, f64)]) -> StoreResult<()>;
    /// A number that changes whenever keys change, so instances sharing a
    /// database (or a CLI run) can tell when to reload.
    async fn keys_version(&self) -> StoreResult<i64>;

    async fn load_pins(&self) -> StoreResult<Vec<Pin>>;
    async fn find_pin(&self, kind: &str, resource_id: &str) -> StoreResult<Option<Pin>>;
    async fn insert_pins(&self, pins: &[Pin]) -> StoreResult<()>;

    async fn load_settings(&self) -> StoreResult<Option<String>>;
    async fn save_settings(&self, json: &str) -> StoreResult<()>;
    /// A named value of the settings table (e.g. the admin password hash).
    async fn load_value(&self, name: &str) -> StoreResult<Option<String>>;
    async fn save_value(&self, name: &str, value: &str) -> StoreResult<()>;
    /// Every named value as stored (sealed ones stay sealed), by name: what
    /// `keyflow db copy` carries to another database.
    async fn load_values(&self) -> StoreResult<Vec<(String, String)>>;

    async fn load_client_tokens(&self) -> StoreResult<Vec<ClientTokenRecord>>;
    /// Inserts a token; fails with `StoreError::Conflict` when the name is taken.
    async fn insert_client_token(&self, token: &ClientTokenRecord) -> StoreResult<i64>;
    async fn delete_client_token(&self, id: i64) -> StoreResult<bool>;
    /// Logged spend per client name (CNY).
    async fn spend_by_client(&self) -> StoreResult<Vec<(String, f64)>>;

    /// Appends request log rows in one transaction.
    async fn insert_logs(&self, rows: &[LogRow]) -> StoreResult<()>;
    /// Appends log rows and sets the named value `mark` (name, value) in the
    /// same transaction, so a copy cut short resumes after its last batch.
    async fn insert_logs_marked(&self, rows: &[LogRow], mark: (&str, &str)) -> StoreResult<()>;
    /// Up to `limit` log rows with an id above `after_id`, oldest first.
    async fn logs_after(&self, after_id: i64, limit: u64) -> StoreResult<Vec<LogRow>>;
    /// A page of log rows, newest first, and the number matching.
    async fn query_logs(&self, filter: &LogFilter, offset: u64, limit: u64) -> StoreResult<(Vec<LogRow>, u64)>;
    /// Deletes rows older than `before_ms`, or all rows.
    async fn delete_logs(&self, before_ms: Option<i64>) -> StoreResult<u64>;
    async fn log_totals(&self, filter: &LogFilter) -> StoreResult<LogTotals>;
    /// Sums per time bucket (UTC, `bucket_ms` wide) and per dimension.
    async fn log_buckets(&self, filter: &LogFilter, bucket_ms: i64, dim: Dimension) -> StoreResult<Vec<Bucket>>;

    async fn load_prices(&self) -> StoreResult<Vec<ModelPrice>>;
    /// Inserts or replaces a model's price, stamped `updated_at` (Unix seconds).
    async fn save_price(&self, price: &ModelPrice, updated_at: i64) -> StoreResult<()>;
    async fn delete_price(&self, model: &str) -> StoreResult<bool>;

    async fn load_model_facts(&self) -> StoreResult<Vec<ModelFact>>;
    async fn save_model_facts(&self, facts: &[ModelFact]) -> StoreResult<()>;

    /// Stores a new session, dropping expired ones.
    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Ends every session of `role`; returns how many there were.
    async fn delete_sessions(&self, role: &str) -> StoreResult<u64>;

    /// Tells every instance listening on this database `message`. A
    /// database only one instance uses has nobody to tell.
    async fn announce(&self, _message: &str) -> StoreResult<()> {
        Ok(())
    }

    /// Announcements of changes to shared state, or `None` when this
    /// database cannot announce (SQLite: readers poll the keys version).
    async fn listen(&self) -> StoreResult<Option<Box<dyn Announcements>>> {
        Ok(None)
    }

    /// Takes or keeps the lead of scheduled work among the instances
    /// sharing the database; false while another instance holds it. The
    /// lead ends with the leader's connection, so a dead leader's lead
    /// passes on at the next call elsewhere.
    async fn lead(&self) -> StoreResult<bool> {
        Ok(true)
    }
}

/// Opens the database named by `url` and brings its schema up to date.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    open_with(url, None).await
}

/// Like [`open`], sealing stored keys and secret settings with `secret`
/// (`KEYFLOW_SECRET`, see [`cipher`]).
pub async fn open_with(url: &str, secret: Option<&crate::secret::Secret>) -> StoreResult<Arc<dyn Store>> {
    open_sized(url, secret, crate::config::DEFAULT_DATABASE_POOL_SIZE).await
}

/// Like [`open_with`], with at most `pool_size` connections to a PostgreSQL
/// database (`DATABASE_POOL_SIZE`; SQLite keeps its own four).
pub async fn open_sized(
    url: &str,
    secret: Option<&crate::secret::Secret>,
    pool_size: u32,
) -> StoreResult<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url, secret).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::open(url, secret, pool_size).await?)),
        _ => Err(StoreError::UnsupportedUrl(redacted_url(url))),
    }
}

/// The database URL without its password, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            let hidden = if user_info.contains(':') { ":…" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_leave_in_a_url() {
        assert_eq!(redacted_url("postgres://kf:s3cret@db:5432/keyflow"), "postgres://kf:…@db:5432/keyflow");
        assert_eq!(
            redacted_url("postgresql://kf@db/keyflow?sslmode=disable"),
            "postgresql://kf@db/keyflow?sslmode=disable"
        );
        assert_eq!(redacted_url("postgres://kf:p@ss@db/x"), "postgres://kf:…@db/x");
        assert_eq!(redacted_url("sqlite://data/keyflow.db"), "sqlite://data/keyflow.db");
        assert_eq!(redacted_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[tokio::test]
    async fn other_schemes_are_refused_without_their_password() {
        let error = open("mysql://root:hunter2@db/x").await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("postgres://") && !error.contains("hunter2"), "{error}");
    }
}
