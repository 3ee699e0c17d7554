//! The SQLite store: every SQLite statement keyflow runs lives here.
//!
//! WAL mode lets readers (the console, a CLI run) work while the gateway
//! writes. Migrations are embedded and applied in order at open.

use std::str::FromStr;

use async_trait::async_trait;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::cipher::{self, SecretCipher, KDF_ROW, RUNTIME_ROW};
use super::*;
use crate::secret::Secret;

/// Embedded migrations, applied in order; the index is the schema version.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/sqlite/0001_init.sql")),
    ("0002_logs", include_str!("migrations/sqlite/0002_logs.sql")),
    ("0003_tokens", include_str!("migrations/sqlite/0003_tokens.sql")),
    ("0004_pin_owner", include_str!("migrations/sqlite/0004_pin_owner.sql")),
    ("0005_cluster", include_str!("migrations/sqlite/0005_cluster.sql")),
    ("0006_log_key_index", include_str!("migrations/sqlite/0006_log_key_index.sql")),
];

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// Seals stored keys and secret settings when `KEYFLOW_SECRET` is set.
    cipher: Option<SecretCipher>,
}

/// The key's identity in the database: a hash, so that uniqueness holds even
/// when the stored secret is encrypted.
pub(crate) fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl SqliteStore {
    /// Opens (creating if needed) the database; with `secret`, everything
    /// stored plain or in the old sealed format is sealed anew.
    pub async fn open(url: &str, secret: Option<&Secret>) -> StoreResult<SqliteStore> {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        if path != ":memory:" {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Migration(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
            }
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10))
            // A value replaced in a page (a key sealed at open, a changed
            // setting) is zeroed where the page is written anyway, so the
            // file does not keep the plain text it replaced.
            .pragma("secure_delete", "FAST")
            .foreign_keys(true);
        let max = if path == ":memory:" { 1 } else { 4 };
        let pool = SqlitePoolOptions::new().max_connections(max).connect_with(options).await?;
        let mut store = SqliteStore { pool, cipher: None };
        store.migrate().await?;
        store.cipher = store.seal_at_rest(secret).await?;
        Ok(store)
    }

    /// Applies the missing migrations in one transaction that holds the
    /// write lock from its start (`BEGIN IMMEDIATE`): processes opening a
    /// new file together read the version one after the other, so none
    /// applies a migration twice.
    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").execute(&mut *tx).await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM schema_version").fetch_one(&mut *tx).await?;
        let current = current.unwrap_or(0) as usize;
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
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
        let sealed_key: Option<i64> =
            sqlx::query_scalar("SELECT id FROM keys WHERE substr(secret, 1, 4) = 'enc:' LIMIT 1")
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
            sqlx::query_as("SELECT id, secret, fingerprint FROM keys WHERE substr(secret, 1, 7) != 'enc:v2:'")
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
            let inserted = sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING")
                .bind(KDF_ROW)
                .bind(record)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                return Ok(false);
            }
        }
        // Compared with the value read, so a concurrent change is never overwritten.
        for (id, stored, sealed) in resealed {
            sqlx::query("UPDATE keys SET secret = ? WHERE id = ? AND secret = ?")
                .bind(sealed)
                .bind(id)
                .bind(stored)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((sealed, stored)) = settings.filter(|(sealed, stored)| sealed != stored) {
            sqlx::query("UPDATE settings SET value = ? WHERE name = ? AND value = ?")
                .bind(sealed)
                .bind(RUNTIME_ROW)
                .bind(stored)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if changed {
            // Moves the sealed pages into the main file and empties the WAL,
            // so neither keeps a page of plain text. Best effort: a reader
            // holding an old snapshot only delays it to a later checkpoint.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
        }
        Ok(true)
    }

    fn seal(&self, plain: &str, row: &str) -> StoreResult<String> {
        match &self.cipher {
            Some(c) => c.seal(plain, row),
            None => Ok(plain.to_string()),
        }
    }

    async fn bump_keys_version(tx: &mut sqlx::SqliteConnection) -> StoreResult<()> {
        sqlx::query("UPDATE meta SET value = value + 1 WHERE name = 'keys_version'").execute(tx).await?;
        Ok(())
    }
}

fn pin_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Pin> {
    Ok(Pin {
        kind: row.try_get("kind")?,
        resource_id: row.try_get("resource_id")?,
        key_id: row.try_get("key_id")?,
        created_at: row.try_get("created_at")?,
        owner: row.try_get("owner")?,
    })
}

fn key_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<KeyRecord> {
    let state: String = row.try_get("state")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        secret: row.try_get("secret")?,
        state: KeyState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("key state `{state}`")))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        balance: row.try_get("balance")?,
        charge_balance: row.try_get("charge_balance")?,
        account_id: row.try_get("account_id")?,
        usage_count: row.try_get::<i64, _>("usage_count")?.max(0) as u64,
        last_error: row.try_get("last_error")?,
        checked_at: row.try_get("checked_at")?,
        created_at: row.try_get("created_at")?,
        spent: row.try_get("spent")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn load_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        // Streamed row by row: with 100,000 keys, holding every raw row and
        // every record at once made a start-up peak the allocator kept.
        let mut rows = sqlx::query(
            "SELECT id, secret, fingerprint, state, enabled, balance, charge_balance, account_id, usage_count, \
             last_error, checked_at, created_at, spent FROM keys ORDER BY id",
        )
        .fetch(&self.pool);
        let mut records = Vec::new();
        while let Some(row) = rows.next().await {
            let row = row?;
            let mut record = key_from_row(&row)?;
            let fingerprint: String = row.try_get("fingerprint")?;
            record.secret = cipher::reveal(self.cipher.as_ref(), &record.secret, &cipher::key_row(&fingerprint))?;
            records.push(record);
        }
        Ok(records)
    }

    async fn insert_keys(&self, keys: &[NewKey]) -> StoreResult<Vec<(KeyId, bool)>> {
        let mut out = Vec::with_capacity(keys.len());
        // Chunks keep each transaction short so readers never wait long.
        for chunk in keys.chunks(500) {
            let mut tx = self.pool.begin().await?;
            let mut any = false;
            for key in chunk {
                let fp = fingerprint(&key.secret);
                let inserted = sqlx::query(
                    "INSERT INTO keys (secret, fingerprint, state, enabled, balance, created_at) \
                     VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT(fingerprint) DO NOTHING",
                )
                .bind(self.seal(&key.secret, &cipher::key_row(&fp))?)
                .bind(&fp)
                .bind(key.state.as_str())
                .bind(key.balance_hint)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let id: i64 = sqlx::query_scalar("SELECT id FROM keys WHERE fingerprint = ?")
                    .bind(&fp)
                    .fetch_one(&mut *tx)
                    .await?;
                any |= inserted;
                out.push((id, inserted));
            }
            if any {
                Self::bump_keys_version(&mut tx).await?;
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    async fn update_key_status(&self, updates: &[KeyStatusUpdate]) -> StoreResult<()> {
        for chunk in updates.chunks(500) {
            let mut tx = self.pool.begin().await?;
            for u in chunk {
                sqlx::query(
                    "UPDATE keys SET state = ?, \
                     spent = CASE WHEN ? THEN 0 ELSE spent END, \
                     balance = CASE WHEN ? THEN ? ELSE balance END, \
                     charge_balance = CASE WHEN ? THEN ? ELSE charge_balance END, \
                     account_id = COALESCE(?, account_id), last_error = ?, \
                     checked_at = COALESCE(?, checked_at) WHERE id = ?",
                )
                .bind(u.state.as_str())
                .bind(u.balance.is_some())
                .bind(u.balance.is_some())
                .bind(u.balance.flatten())
                .bind(u.charge_balance.is_some())
                .bind(u.charge_balance.flatten())
                .bind(&u.account_id)
                .bind(&u.last_error)
                .bind(u.checked_at)
                .bind(u.id)
                .execute(&mut *tx)
                .await?;
            }
            Self::bump_keys_version(&mut tx).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn set_key_enabled(&self, id: KeyId, enabled: bool) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE keys SET enabled = ? WHERE id = ?")
            .bind(enabled as i64)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        Self::bump_keys_version(&mut tx).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn delete_keys(&self, ids: &[KeyId]) -> StoreResult<u64> {
        let mut deleted = 0;
        for chunk in ids.chunks(500) {
            let mut tx = self.pool.begin().await?;
            for id in chunk {
                deleted +=
                    sqlx::query("DELETE FROM keys WHERE id = ?").bind(id).execute(&mut *tx).await?.rows_affected();
            }
            Self::bump_keys_version(&mut tx).await?;
            tx.commit().await?;
        }
        Ok(deleted)
    }

    async fn add_key_usage(&self, counts: &[(KeyId, u64, f64)]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (id, n, spend) in counts {
            sqlx::query("UPDATE keys SET usage_count = usage_count + ?, spent = spent + ? WHERE id = ?")
                .bind(*n as i64)
                .bind(spend)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn keys_version(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE name = 'keys_version'")
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0))
    }

    async fn load_pins(&self) -> StoreResult<Vec<Pin>> {
        let rows =
            sqlx::query("SELECT kind, resource_id, key_id, created_at, owner FROM pins").fetch_all(&self.pool).await?;
        rows.iter().map(pin_from_row).collect()
    }

    async fn find_pin(&self, kind: &str, resource_id: &str) -> StoreResult<Option<Pin>> {
        let row = sqlx::query(
            "SELECT kind, resource_id, key_id, created_at, owner FROM pins WHERE kind = ? AND resource_id = ?",
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
                "INSERT INTO pins (kind, resource_id, key_id, created_at, owner) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT(kind, resource_id) DO UPDATE SET key_id = excluded.key_id, owner = excluded.owner",
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

    async fn load_value(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn save_value(&self, name: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
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
        rows.iter()
            .map(|r| {
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
            })
            .collect()
    }

    async fn insert_client_token(&self, t: &ClientTokenRecord) -> StoreResult<i64> {
        let result = sqlx::query(
            "INSERT INTO client_tokens (name, token_hash, masked, scope, rpm_limit, spend_quota, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(&t.masked)
        .bind(&t.scope)
        .bind(t.rpm_limit.map(i64::from))
        .bind(t.spend_quota)
        .bind(t.created_at)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("a client token named `{}` exists already", t.name)));
        }
        Ok(result.last_insert_rowid())
    }

    async fn delete_client_token(&self, id: i64) -> StoreResult<bool> {
        let n =
            sqlx::query("DELETE FROM client_tokens WHERE id = ?").bind(id).execute(&self.pool).await?.rows_affected();
        Ok(n > 0)
    }

    async fn spend_by_client(&self) -> StoreResult<Vec<(String, f64)>> {
        let rows =
            sqlx::query("SELECT client, SUM(cost) AS spent FROM request_logs WHERE client IS NOT NULL GROUP BY client")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("client")?, r.try_get::<f64, _>("spent")?))).collect()
    }

    async fn load_model_facts(&self) -> StoreResult<Vec<ModelFact>> {
        let rows = sqlx::query("SELECT model, free, updated_at FROM model_facts").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ModelFact {
                    model: r.try_get("model")?,
                    free: r.try_get::<Option<i64>, _>("free")?.map(|v| v != 0),
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn save_model_facts(&self, facts: &[ModelFact]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for f in facts {
            sqlx::query(
                "INSERT INTO model_facts (model, free, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT(model) DO UPDATE SET free = excluded.free, updated_at = excluded.updated_at",
            )
            .bind(&f.model)
            .bind(f.free.map(|v| v as i64))
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
}
