//! SQLite statements for console sessions.

use sqlx::Row;

use super::sqlite::SqliteStore;
use super::{SessionRecord, StoreResult};

fn session_from(row: &sqlx::sqlite::SqliteRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash")?,
        role: row.try_get("role")?,
        username: row.try_get("username")?,
        csrf: row.try_get("csrf")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
    })
}

impl SqliteStore {
    pub(super) async fn insert_session_row(&self, s: &SessionRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms < ?")
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, role, username, csrf, expires_at_ms) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(token_hash) DO NOTHING",
        )
        .bind(&s.token_hash)
        .bind(&s.role)
        .bind(&s.username)
        .bind(&s.csrf)
        .bind(s.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn find_session_row(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from).transpose()
    }

    pub(super) async fn delete_session_row(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn delete_session_rows(&self, role: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE role = ?").bind(role).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
