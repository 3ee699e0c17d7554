//! PostgreSQL statements for the pool's keys.
//!
//! Batches travel as arrays (`UNNEST`): refreshing 100,000 keys is a
//! hundred statements, not 100,000 round trips. Transactions that change
//! several keys lock them in id order first, so two instances writing the
//! same keys wait for each other instead of deadlocking; imports queue on an
//! advisory lock for the same reason (new rows cannot be locked in advance).

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::postgres::{big, BATCH};
use super::sqlite::fingerprint;
use super::*;

/// The advisory lock imports take (any constant; this one spells `kf-keys`).
const IMPORT_LOCK: i64 = 0x006b_662d_6b65_7973;

/// Splits `items` into consecutive runs in which no id repeats: one
/// `UPDATE … FROM UNNEST` changes a row once, so a batch that names a key
/// twice is applied as two statements, in order, as SQLite applies it.
fn distinct_runs<T>(items: &[T], id: impl Fn(&T) -> i64) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut seen = HashSet::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(id(item)) {
            runs.push(&items[start..i]);
            seen.clear();
            seen.insert(id(item));
            start = i;
        }
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

fn key_from_row(row: &PgRow) -> StoreResult<KeyRecord> {
    let state: String = row.try_get("state")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        secret: row.try_get("secret")?,
        state: KeyState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("key state `{state}`")))?,
        enabled: row.try_get("enabled")?,
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

impl PostgresStore {
    async fn bump_keys_version(tx: &mut PgConnection) -> StoreResult<()> {
        sqlx::query("UPDATE meta SET value = value + 1 WHERE name = 'keys_version'").execute(tx).await?;
        Ok(())
    }

    /// Locks the rows of `ids` in id order: transactions that change the
    /// same keys then wait for each other instead of deadlocking.
    async fn lock_keys(tx: &mut PgConnection, ids: &[i64]) -> StoreResult<()> {
        sqlx::query("SELECT id FROM keys WHERE id = ANY($1) ORDER BY id FOR UPDATE").bind(ids).execute(tx).await?;
        Ok(())
    }

    /// Inserts one chunk of keys; returns each input's id and whether it is new.
    async fn insert_key_chunk(&self, chunk: &[NewKey]) -> StoreResult<Vec<(KeyId, bool)>> {
        let mut secrets = Vec::with_capacity(chunk.len());
        let mut fingerprints = Vec::with_capacity(chunk.len());
        let mut states = Vec::with_capacity(chunk.len());
        for key in chunk {
            let fp = fingerprint(&key.secret);
            secrets.push(self.seal(&key.secret, &cipher::key_row(&fp))?);
            fingerprints.push(fp);
            states.push(key.state.as_str());
        }
        let balances: Vec<Option<f64>> = chunk.iter().map(|k| k.balance_hint).collect();
        let created: Vec<i64> = chunk.iter().map(|k| k.created_at).collect();
        let mut tx = self.pool.begin().await?;
        // Imports wait for each other: two imports of the same keys in
        // another order would otherwise deadlock on the unique index.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(IMPORT_LOCK).execute(&mut *tx).await?;
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO keys (secret, fingerprint, state, enabled, balance, created_at) \
             SELECT secret, fingerprint, state, TRUE, balance, created_at \
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::FLOAT8[], $5::INT8[]) WITH ORDINALITY \
             AS k(secret, fingerprint, state, balance, created_at, n) ORDER BY n \
             ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint",
        )
        .bind(&secrets)
        .bind(&fingerprints)
        .bind(&states)
        .bind(&balances)
        .bind(&created)
        .fetch_all(&mut *tx)
        .await?;
        // A new statement sees rows other transactions committed meanwhile.
        let ids: HashMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT fingerprint, id FROM keys WHERE fingerprint = ANY($1)")
                .bind(&fingerprints)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        if !inserted.is_empty() {
            Self::bump_keys_version(&mut tx).await?;
        }
        tx.commit().await?;
        // The first of two equal keys in one import is the one inserted.
        let mut fresh: HashSet<String> = inserted.into_iter().collect();
        fingerprints
            .iter()
            .map(|fp| {
                let id = ids.get(fp).ok_or_else(|| StoreError::Corrupt("an inserted key vanished".into()))?;
                Ok((*id, fresh.remove(fp)))
            })
            .collect()
    }

    /// One `UPDATE … FROM UNNEST` for updates naming distinct keys.
    async fn update_key_run(tx: &mut PgConnection, run: &[KeyStatusUpdate]) -> StoreResult<()> {
        let ids: Vec<i64> = run.iter().map(|u| u.id).collect();
        let states: Vec<&str> = run.iter().map(|u| u.state.as_str()).collect();
        let set_balance: Vec<bool> = run.iter().map(|u| u.balance.is_some()).collect();
        let balance: Vec<Option<f64>> = run.iter().map(|u| u.balance.flatten()).collect();
        let set_charge: Vec<bool> = run.iter().map(|u| u.charge_balance.is_some()).collect();
        let charge: Vec<Option<f64>> = run.iter().map(|u| u.charge_balance.flatten()).collect();
        let account: Vec<Option<&str>> = run.iter().map(|u| u.account_id.as_deref()).collect();
        let error: Vec<Option<&str>> = run.iter().map(|u| u.last_error.as_deref()).collect();
        let checked: Vec<Option<i64>> = run.iter().map(|u| u.checked_at).collect();
        sqlx::query(
            "UPDATE keys AS k SET state = u.state, \
             spent = CASE WHEN u.set_balance THEN 0 ELSE k.spent END, \
             balance = CASE WHEN u.set_balance THEN u.balance ELSE k.balance END, \
             charge_balance = CASE WHEN u.set_charge THEN u.charge ELSE k.charge_balance END, \
             account_id = COALESCE(u.account_id, k.account_id), last_error = u.last_error, \
             checked_at = COALESCE(u.checked_at, k.checked_at) \
             FROM UNNEST($1::INT8[], $2::TEXT[], $3::BOOL[], $4::FLOAT8[], $5::BOOL[], $6::FLOAT8[], \
             $7::TEXT[], $8::TEXT[], $9::INT8[]) \
             AS u(id, state, set_balance, balance, set_charge, charge, account_id, last_error, checked_at) \
             WHERE k.id = u.id",
        )
        .bind(&ids)
        .bind(&states)
        .bind(&set_balance)
        .bind(&balance)
        .bind(&set_charge)
        .bind(&charge)
        .bind(&account)
        .bind(&error)
        .bind(&checked)
        .execute(tx)
        .await?;
        Ok(())
    }

    pub(super) async fn load_key_rows(&self) -> StoreResult<Vec<KeyRecord>> {
        // Streamed row by row, as in SQLite: no second copy of every row.
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

    pub(super) async fn insert_key_rows(&self, keys: &[NewKey]) -> StoreResult<Vec<(KeyId, bool)>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            out.extend(self.insert_key_chunk(chunk).await?);
        }
        Ok(out)
    }

    pub(super) async fn update_key_rows(&self, updates: &[KeyStatusUpdate]) -> StoreResult<()> {
        for chunk in updates.chunks(BATCH) {
            let mut tx = self.pool.begin().await?;
            let ids: Vec<i64> = chunk.iter().map(|u| u.id).collect();
            Self::lock_keys(&mut tx, &ids).await?;
            for run in distinct_runs(chunk, |u| u.id) {
                Self::update_key_run(&mut tx, run).await?;
            }
            Self::bump_keys_version(&mut tx).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    pub(super) async fn set_key_row_enabled(&self, id: KeyId, enabled: bool) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE keys SET enabled = $1 WHERE id = $2")
            .bind(enabled)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        Self::bump_keys_version(&mut tx).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    pub(super) async fn delete_key_rows(&self, ids: &[KeyId]) -> StoreResult<u64> {
        let mut deleted = 0;
        for chunk in ids.chunks(BATCH) {
            let mut tx = self.pool.begin().await?;
            Self::lock_keys(&mut tx, chunk).await?;
            deleted +=
                sqlx::query("DELETE FROM keys WHERE id = ANY($1)").bind(chunk).execute(&mut *tx).await?.rows_affected();
            Self::bump_keys_version(&mut tx).await?;
            tx.commit().await?;
        }
        Ok(deleted)
    }

    pub(super) async fn add_key_row_usage(&self, counts: &[(KeyId, u64, f64)]) -> StoreResult<()> {
        for chunk in counts.chunks(BATCH) {
            let ids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
            let n: Vec<i64> = chunk.iter().map(|c| big(c.1)).collect();
            let spend: Vec<f64> = chunk.iter().map(|c| c.2).collect();
            let mut tx = self.pool.begin().await?;
            Self::lock_keys(&mut tx, &ids).await?;
            // Summed per key first: one UPDATE changes a row once.
            sqlx::query(
                "UPDATE keys AS k SET usage_count = k.usage_count + u.n, spent = k.spent + u.spend \
                 FROM (SELECT id, SUM(n)::INT8 AS n, SUM(spend) AS spend \
                 FROM UNNEST($1::INT8[], $2::INT8[], $3::FLOAT8[]) AS t(id, n, spend) GROUP BY id) AS u \
                 WHERE k.id = u.id",
            )
            .bind(&ids)
            .bind(&n)
            .bind(&spend)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    pub(super) async fn key_rows_version(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE name = 'keys_version'")
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_never_repeat_an_id_and_keep_the_order() {
        let ids = [1, 2, 3, 2, 4, 1, 1];
        let runs: Vec<Vec<i64>> = distinct_runs(&ids, |i| *i).into_iter().map(<[i64]>::to_vec).collect();
        assert_eq!(runs, vec![vec![1, 2, 3], vec![2, 4, 1], vec![1]]);
        assert!(distinct_runs(&[] as &[i64], |i| *i).is_empty());
        assert_eq!(big(u64::MAX), i64::MAX);
    }
}
