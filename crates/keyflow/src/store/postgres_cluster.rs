//! PostgreSQL statements for what instances sharing the database need of
//! each other: stored sessions, announcements (LISTEN/NOTIFY) and the
//! leader lock for scheduled work.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{Connection, PgConnection, Row};

use super::postgres::PostgresStore;
use super::{Announcements, Heard, SessionRecord, StoreResult};

/// The channel every announcement travels on.
const CHANNEL: &str = "keyflow";
/// The advisory lock the leader holds (any constant; this one spells `kf-lead`).
const LEADER_LOCK: i64 = 0x006b_662d_6c65_6164;
/// How long a check of the leader's connection may take before it counts as lost.
const LEADER_CHECK: Duration = Duration::from_secs(5);

/// A connection of its own, outside the pool: an advisory lock belongs to
/// its session, so it must live exactly as long as the lead.
pub struct LeaderConnection {
    connection: PgConnection,
    holds_lock: bool,
}

fn session_from(row: &PgRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash")?,
        role: row.try_get("role")?,
        username: row.try_get("username")?,
        csrf: row.try_get("csrf")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
    })
}

impl PostgresStore {
    pub(super) async fn insert_session_row(&self, s: &SessionRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Only expired rows: their deletion announces nothing anybody holds.
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms < $1")
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, role, username, csrf, expires_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (token_hash) DO NOTHING",
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
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from).transpose()
    }

    pub(super) async fn delete_session_row(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn delete_session_rows(&self, role: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE role = $1").bind(role).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn announce_message(&self, message: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(message).execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn listener(&self) -> StoreResult<Listener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Listener { store_pool: self.pool.clone(), listener: Some(listener) })
    }

    /// Checks the held lead, or tries for it. A lost connection is a lost
    /// lead: the server released the lock when the session ended.
    pub(super) async fn take_lead(&self) -> StoreResult<bool> {
        let mut slot = self.leader.lock().await;
        if let Some(held) = slot.as_mut() {
            let alive = tokio::time::timeout(LEADER_CHECK, sqlx::query("SELECT 1").execute(&mut held.connection)).await;
            if !matches!(alive, Ok(Ok(_))) {
                *slot = None;
            }
        }
        if slot.is_none() {
            let connection = tokio::time::timeout(LEADER_CHECK, PgConnection::connect_with(&self.options))
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            *slot = Some(LeaderConnection { connection, holds_lock: false });
        }
        let Some(held) = slot.as_mut() else { return Ok(false) };
        if !held.holds_lock {
            held.holds_lock = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LEADER_LOCK)
                .fetch_one(&mut held.connection)
                .await?;
        }
        Ok(held.holds_lock)
    }
}

/// Announcements on channel `keyflow`, reconnecting after a loss.
pub struct Listener {
    store_pool: sqlx::PgPool,
    listener: Option<PgListener>,
}

#[async_trait]
impl Announcements for Listener {
    async fn next(&mut self) -> Heard {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                // Reconnect; until the database answers, try once a second.
                match PgListener::connect_with(&self.store_pool).await {
                    Ok(mut fresh) => match fresh.listen(CHANNEL).await {
                        Ok(()) => {
                            self.listener = Some(fresh);
                            return Heard::Lost;
                        }
                        Err(e) => tracing::debug!(error = %e, "listening for announcements failed"),
                    },
                    Err(e) => tracing::debug!(error = %e, "connecting the announcement listener failed"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => return Heard::Message(notification.payload().to_string()),
                // The connection dropped: start afresh (and say so once back).
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the database's announcements; reconnecting");
                    self.listener = None;
                }
            }
        }
    }
}
