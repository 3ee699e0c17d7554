//! The PostgreSQL store: every PostgreSQL statement keyflow runs lives here,
//! in `postgres_keys.rs` (keys) and in `postgres_logs.rs` (log, prices).
//!
//! Several instances share one database (SPEC §8). Migrations run under an
//! advisory lock, so instances starting together apply them once; keys
//! collapse on their fingerprint as in SQLite; secrets are sealed with
//! `KEYFLOW_SECRET` exactly as there (`cipher.rs`, the salt record in the
//! settings table).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use super::cipher::{self, SecretCipher, KDF_ROW, RUNTIME_ROW};
use super::*;
use crate::secret::Secret;

/// Embedded migrations, applied in order; the index is the schema version.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/postgres/0001_init.sql")),
    ("0002_logs", include_str!("migrations/postgres/0002_logs.sql")),
    ("0003_tokens", include_str!("migrations/postgres/0003_tokens.sql")),
    ("0004_cluster", include_str!("migrations/postgres/0004_cluster.sql")),
    ("0005_log_key_index", include_str!("migrations/postgres/0005_log_key_index.sql")),
];

/// The advisory lock migrations take (any constant; this one spells `kf-migr`).
const MIGRATION_LOCK: i64 = 0x006b_662d_6d69_6772;

/// Rows per statement of a batched write.
pub(super) const BATCH: usize = 1000;

pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// Seals stored keys and secret settings when `KEYFLOW_SECRET` is set.
    pub(super) cipher: Option<SecretCipher>,
    /// For the connections outside the pool: the leader's and the listener's.
    pub(super) options: PgConnectOptions,
    /// The connection holding (or trying for) the leader lock.
    pub(super) leader: tokio::sync::Mutex<Option<postgres_cluster::LeaderConnection>>,
}

/// A count as PostgreSQL's `BIGINT` (saturating; no count comes near it).
pub(super) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects with at most `pool_size` connections, brings the schema up
    /// to date and, with `secret`, seals what is stored plain or as v1.
    pub async fn open(url: &str, secret: Option<&Secret>, pool_size: u32) -> StoreResult<PostgresStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("keyflow");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            // While the server is away, callers learn it in seconds: the
            // writers fall back to their journal and retries, the console
            // answers with an error instead of hanging.
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        let mut store = PostgresStore { pool, cipher: None, options, leader: Default::default() };
        store.migrate().await?;
        store.cipher = store.seal_at_rest(secret).await?;
        Ok(store)
    }

    /// Applies the missing migrations in one transaction. The advisory lock
    /// queues instances that start together; each reads the version only
    /// once it holds the lock, so a migration never runs twice. DDL is
    /// transactional here: a failed migration leaves nothing behind.
    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").execute(&mut *tx).await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM schema_version").fetch_one(&mut *tx).await?;
        let current = current.unwrap_or(0).max(0) as usize;
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind((index + 1) as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// With a secret: finds (or makes) the database's key derivation record
    /// and reseals what is stored plain or as v1. Without one: checks that
    /// nothing stored needs one.
    async fn seal_at_rest(&self, secret: Option<&Secret>) -> StoreResult<Option<SecretCipher>> {
        let Some(secret) = secret else {
            self.check_nothing_sealed().await?;
            return Ok(None);
        };
        // Two first starts at once may both make a record; the one that
        // loses the insert starts over with the winner's.
        for _ in 0..2 {
            let (cipher, new_record) = match self.load_value(KDF_ROW).await? {
                Some(record) => (cipher::unlock(secret, &record).await?, None),
                None => {
                    let (cipher, record) = cipher::create(secret).await?;
                    (cipher, Some(record))
                }
            };
            if self.reseal(&cipher, new_record.as_deref()).await? {
                return Ok(Some(cipher));
            }
        }
        Err(StoreError::Conflict("setting up encryption at rest raced with another process: start again".into()))
    }

    async fn check_nothing_sealed(&self) -> StoreResult<()> {
        let sealed_key: Option<i64> = sqlx::query_scalar("SELECT id FROM keys WHERE LEFT(secret, 4) = 'enc:' LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        let settings = self.load_value(RUNTIME_ROW).await?;
        if sealed_key.is_some() || settings.as_deref().is_some_and(cipher::settings_sealed) {
            return Err(cipher::needs_secret());
        }
        Ok(())
    }

    /// Seals keys and settings not in the current format, in one transaction
    /// with a new key derivation record (if any). Every value is opened
    /// before anything is written, so a wrong secret changes nothing.
    /// Returns false when another process stored a record first.
    async fn reseal(&self, cipher: &SecretCipher, new_record: Option<&str>) -> StoreResult<bool> {
        let keys: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, secret, fingerprint FROM keys WHERE LEFT(secret, 7) <> 'enc:v2:' ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        let mut resealed = Vec::with_capacity(keys.len());
        for (id, stored, fingerprint) in keys {
            let row = cipher::key_row(&fingerprint);
            let sealed = cipher.seal(&cipher.open(&stored, &row)?, &row)?;
            resealed.push((id, stored, sealed));
        }
        let settings = match self.load_value(RUNTIME_ROW).await? {
            Some(json) => Some((cipher::seal_settings(cipher, &json, RUNTIME_ROW)?, json)),
            None => None,
        };
        let changed = !resealed.is_empty() || settings.as_ref().is_some_and(|(sealed, stored)| sealed != stored);
        let mut tx = self.pool.begin().await?;
        if let Some(record) = new_record {
            let inserted =
                sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(KDF_ROW)
                    .bind(record)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if inserted == 0 {
                return Ok(false);
            }
        }
        // Compared with the value read, so a concurrent change is never
        // overwritten; in id order, as every other writer of several keys.
        for (id, stored, sealed) in resealed {
            sqlx::query("UPDATE keys SET secret = $1 WHERE id = $2 AND secret = $3")
                .bind(sealed)
                .bind(id)
                .bind(stored)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((sealed, stored)) = settings.filter(|(sealed, stored)| sealed != stored) {
            sqlx::query("UPDATE settings SET value = $1 WHERE name = $2 AND value = $3")
                .bind(sealed)
                .bind(RUNTIME_ROW)
                .bind(stored)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if changed {
            // The replaced row versions stay in the pages until vacuumed.
            // Best effort: the server's WAL keeps them until it is recycled,
            // which no client can hurry.
            if let Err(e) = sqlx::raw_sql("VACUUM keys, settings").execute(&self.pool).await {
                tracing::warn!(error = %e, "vacuuming after sealing stored secrets failed");
            }
        }
        Ok(true)
    }

    pub(super) fn seal(&self, plain: &str, row: &str) -> StoreResult<String> {
        match &self.cipher {
            Some(c) => c.seal(plain, row),
            None => Ok(plain.to_string()),
        }
    }
}

fn pin_from_row(row: &PgRow) -> StoreResult<Pin> {
    Ok(Pin {
        kind: row.try_get("kind")?,
        resource_id: row.try_get("resource_id")?,
        key_id: row.try_get("key_id")?,
        created_at: row.try_get("created_at")?,
        owner: row.try_get("owner")?,
    })
}

fn token_from_row(r: &PgRow) -> StoreResult<ClientTokenRecord> {
    Ok(ClientTokenRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        token_hash: r.try_get("token_hash")?,
        masked: r.try_get("masked")?,
        scope: r.try_get("scope")?,
        rpm_limit: r.try_get::<Option<i64>, _>("rpm_limit")?.map(|v| v.clamp(0, u32::MAX as i64) as u32),
        spend_quota: r.try_get("spend_quota")?,
        created_at: r.try_get("created_at")?,
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn load_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        self.load_key_rows().await
    }

    async fn insert_keys(&self, keys: &[NewKey]) -> StoreResult<Vec<(KeyId, bool)>> {
        self.insert_key_rows(keys).await
    }

    async fn update_key_status(&self, updates: &[KeyStatusUpdate]) -> StoreResult<()> {
        self.update_key_rows(updates).await
    }

    async fn set_key_enabled(&self, id: KeyId, enabled: bool) -> StoreResult<bool> {
        self.set_key_row_enabled(id, enabled).await
    }

    async fn delete_keys(&self, ids: &[KeyId]) -> StoreResult<u64> {
        self.delete_key_rows(ids).await
    }

    async fn add_key_usage(&self, counts: &[(KeyId, u64, f64)]) -> StoreResult<()> {
        self.add_key_row_usage(counts).await
    }

    async fn keys_version(&self) -> StoreResult<i64> {
        self.key_rows_version().await
    }

    async fn load_pins(&self) -> StoreResult<Vec<Pin>> {
        let rows =
            sqlx::query("SELECT kind, resource_id, key_id, created_at, owner FROM pins").fetch_all(&self.pool).await?;
        rows.iter().map(pin_from_row).collect()
    }

    async fn find_pin(&self, kind: &str, resource_id: &str) -> StoreResult<Option<Pin>> {
        let row = sqlx::query(
            "SELECT kind, resource_id, key_id, created_at, owner FROM pins WHERE kind = $1 AND resource_id = $2",
        )
        .bind(kind)
        .bind(resource_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pin_from_row).transpose()
    }

    async fn insert_pins(&self, pins: &[Pin]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for pin in pins {
            sqlx::query(
                "INSERT INTO pins (kind, resource_id, key_id, created_at, owner) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (kind, resource_id) DO UPDATE SET key_id = excluded.key_id, owner = excluded.owner",
            )
            .bind(&pin.kind)
            .bind(&pin.resource_id)
            .bind(pin.key_id)
            .bind(pin.created_at)
            .bind(&pin.owner)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load_settings(&self) -> StoreResult<Option<String>> {
        let stored = self.load_value(RUNTIME_ROW).await?;
        stored.map(|json| cipher::open_settings(self.cipher.as_ref(), &json, RUNTIME_ROW)).transpose()
    }

    async fn save_settings(&self, json: &str) -> StoreResult<()> {
        let json = match &self.cipher {
            Some(c) => cipher::seal_settings(c, json, RUNTIME_ROW)?,
            None => json.to_string(),
        };
        self.save_value(RUNTIME_ROW, &json).await
    }

    async fn load_value(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn save_value(&self, name: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_values(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT name, value FROM settings ORDER BY name").fetch_all(&self.pool).await?)
    }

    async fn load_client_tokens(&self) -> StoreResult<Vec<ClientTokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, token_hash, masked, scope, rpm_limit, spend_quota, created_at FROM client_tokens ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn insert_client_token(&self, t: &ClientTokenRecord) -> StoreResult<i64> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO client_tokens (name, token_hash, masked, scope, rpm_limit, spend_quota, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(&t.masked)
        .bind(&t.scope)
        .bind(t.rpm_limit.map(i64::from))
        .bind(t.spend_quota)
        .bind(t.created_at)
        .fetch_optional(&self.pool)
        .await?;
        id.ok_or_else(|| StoreError::Conflict(format!("a client token named `{}` exists already", t.name)))
    }

    async fn delete_client_token(&self, id: i64) -> StoreResult<bool> {
        let n =
            sqlx::query("DELETE FROM client_tokens WHERE id = $1").bind(id).execute(&self.pool).await?.rows_affected();
        Ok(n > 0)
    }

    async fn spend_by_client(&self) -> StoreResult<Vec<(String, f64)>> {
        let rows =
            sqlx::query("SELECT client, SUM(cost) AS spent FROM request_logs WHERE client IS NOT NULL GROUP BY client")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("client")?, r.try_get::<f64, _>("spent")?))).collect()
    }

    async fn insert_logs(&self, rows: &[LogRow]) -> StoreResult<()> {
        self.insert_log_rows(rows, None).await
    }

    async fn insert_logs_marked(&self, rows: &[LogRow], mark: (&str, &str)) -> StoreResult<()> {
        self.insert_log_rows(rows, Some(mark)).await
    }

    async fn logs_after(&self, after_id: i64, limit: u64) -> StoreResult<Vec<LogRow>> {
        self.log_rows_after(after_id, limit).await
    }

    async fn query_logs(&self, filter: &LogFilter, offset: u64, limit: u64) -> StoreResult<(Vec<LogRow>, u64)> {
        self.query_log_rows(filter, offset, limit).await
    }

    async fn delete_logs(&self, before_ms: Option<i64>) -> StoreResult<u64> {
        self.delete_log_rows(before_ms).await
    }

    async fn log_totals(&self, filter: &LogFilter) -> StoreResult<LogTotals> {
        self.log_row_totals(filter).await
    }

    async fn log_buckets(&self, filter: &LogFilter, bucket_ms: i64, dim: Dimension) -> StoreResult<Vec<Bucket>> {
        self.log_row_buckets(filter, bucket_ms, dim).await
    }

    async fn load_prices(&self) -> StoreResult<Vec<ModelPrice>> {
        self.load_price_rows().await
    }

    async fn save_price(&self, price: &ModelPrice, updated_at: i64) -> StoreResult<()> {
        self.save_price_row(price, updated_at).await
    }

    async fn delete_price(&self, model: &str) -> StoreResult<bool> {
        self.delete_price_row(model).await
    }

    async fn load_model_facts(&self) -> StoreResult<Vec<ModelFact>> {
        let rows = sqlx::query("SELECT model, free, updated_at FROM model_facts").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ModelFact {
                    model: r.try_get("model")?,
                    free: r.try_get("free")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn save_model_facts(&self, facts: &[ModelFact]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for f in facts {
            sqlx::query(
                "INSERT INTO model_facts (model, free, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (model) DO UPDATE SET free = excluded.free, updated_at = excluded.updated_at",
            )
            .bind(&f.model)
            .bind(f.free)
            .bind(f.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.insert_session_row(session).await
    }

    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        self.find_session_row(token_hash).await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        self.delete_session_row(token_hash).await
    }

    async fn delete_sessions(&self, role: &str) -> StoreResult<u64> {
        self.delete_session_rows(role).await
    }

    async fn announce(&self, message: &str) -> StoreResult<()> {
        self.announce_message(message).await
    }

    async fn listen(&self) -> StoreResult<Option<Box<dyn Announcements>>> {
        Ok(Some(Box::new(self.listener().await?)))
    }

    async fn lead(&self) -> StoreResult<bool> {
        self.take_lead().await
    }
}
