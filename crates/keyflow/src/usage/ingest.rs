//! The two tasks behind the recorder. `ingest` takes each outcome as it
//! comes: live rates, metrics, cost, the key's balance estimate and the
//! client's spend, then a log row for `write`, which commits rows in
//! batches (one transaction each). While the database is away, rows wait
//! in the journal (`journal.rs`); both channels are bounded, so when even
//! that cannot take them intake slows down instead of losing rows.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::journal::Journal;
use super::meters::Meters;
use super::prices::Units;
use super::Outcome;
use crate::pool::KeyPool;
use crate::store::{LogRow, Store};

/// Rows between ingest and the database writer.
pub const ROW_QUEUE: usize = 16_384;
/// A batch waits at most this long to fill up.
const LINGER: Duration = Duration::from_millis(100);
/// Rows per transaction at most.
const BATCH: usize = 4_096;
/// How long one attempt to store a batch may take before the rows go to
/// the journal: a database that does not answer must not hold intake up.
const ATTEMPT: Duration = Duration::from_secs(10);

pub async fn ingest(
    mut rx: mpsc::Receiver<Outcome>,
    rows: mpsc::Sender<LogRow>,
    meters: Arc<Meters>,
    pool: Arc<KeyPool>,
    instance: Arc<str>,
) {
    while let Some(outcome) = rx.recv().await {
        let mut row = meters.take(&outcome, &pool);
        row.instance = Some(instance.to_string());
        meters.rows_pending.fetch_add(1, Ordering::Relaxed);
        if rows.send(row).await.is_err() {
            tracing::error!("log writer stopped; rows can no longer be stored");
        }
    }
}

/// Commits rows in batches. While the database refuses them, batches go to
/// the journal (when there is one and it has room) and drain from there
/// once the database answers again, oldest first.
pub async fn write(
    mut rx: mpsc::Receiver<LogRow>,
    store: Arc<dyn Store>,
    meters: Arc<Meters>,
    mut journal: Option<Journal>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut retry = Retry::default();
    loop {
        let waiting = journal.as_ref().is_some_and(Journal::has_rows);
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => if n == 0 {
                // Shutting down: what still waits in the journal stays
                // there for the next start.
                return;
            },
            _ = tokio::time::sleep(retry.wait), if waiting => {
                retry.outcome(drain(journal.as_mut(), store.as_ref(), &meters).await);
                continue;
            }
        }
        // Let a small batch fill up a little: fewer, larger transactions.
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let n = batch.len();
        if !commit(store.as_ref(), journal.as_mut(), &batch, &mut retry).await {
            meters.rows_journaled.fetch_add(n as u64, Ordering::Relaxed);
        } else {
            meters.rows_written.fetch_add(n as u64, Ordering::Relaxed);
        }
        meters.rows_pending.fetch_sub(n, Ordering::Relaxed);
        batch.clear();
    }
}

/// When the database is tried again after a failure: soon at first, then
/// every few seconds.
struct Retry {
    wait: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry { wait: Duration::from_millis(100) }
    }
}

impl Retry {
    fn outcome(&mut self, ok: bool) {
        self.wait = if ok { Duration::from_millis(100) } else { (self.wait * 2).min(Duration::from_secs(5)) };
    }
}

/// Drains the journal while the database takes it; false when it did not.
async fn drain(journal: Option<&mut Journal>, store: &dyn Store, meters: &Meters) -> bool {
    let Some(journal) = journal else { return true };
    let started = tokio::time::Instant::now();
    // A second at a time, so new rows keep moving too.
    while journal.has_rows() && started.elapsed() < Duration::from_secs(1) {
        match journal.drain_chunk(store).await {
            Ok(n) => {
                meters.rows_written.fetch_add(n as u64, Ordering::Relaxed);
                meters
                    .rows_journaled
                    .fetch_sub((n as u64).min(meters.rows_journaled.load(Ordering::Relaxed)), Ordering::Relaxed);
                if !journal.has_rows() {
                    tracing::info!("the log journal is drained: every row is in the database");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "draining the log journal failed; retrying");
                return false;
            }
        }
    }
    true
}

/// Stores a batch: in the database when it takes it (and nothing older
/// waits in the journal), else in the journal. Returns whether the rows
/// reached the database. With no journal, or a full one, it retries until
/// the database takes them: rows are never dropped while the process runs
/// (a full queue holds new requests back meanwhile).
async fn commit(store: &dyn Store, mut journal: Option<&mut Journal>, rows: &[LogRow], retry: &mut Retry) -> bool {
    loop {
        let behind = journal.as_ref().is_some_and(|j| j.has_rows());
        if !behind {
            match tokio::time::timeout(ATTEMPT, store.insert_logs(rows)).await {
                Ok(Ok(())) => {
                    retry.outcome(true);
                    return true;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, n_rows = rows.len(), "writing request logs failed");
                    retry.outcome(false);
                }
                Err(_) => {
                    tracing::error!(n_rows = rows.len(), "the database did not take request logs in time");
                    retry.outcome(false);
                }
            }
        }
        if let Some(journal) = journal.as_deref_mut() {
            match journal.append(rows).await {
                Ok(true) => return false,
                Ok(false) => tracing::error!("the log journal is full; holding rows in memory"),
                Err(e) => tracing::error!(error = %e, "writing the log journal failed; holding rows in memory"),
            }
            if behind && journal.has_rows() {
                // Older rows first: try to make room by draining.
                if let Ok(n) = journal.drain_chunk(store).await {
                    if n > 0 {
                        continue;
                    }
                }
            }
        }
        tokio::time::sleep(retry.wait).await;
        retry.outcome(false);
    }
}

impl Meters {
    /// Applies one outcome to the in-memory figures and makes its row.
    pub fn take(&self, o: &Outcome, pool: &KeyPool) -> LogRow {
        let usage = o.usage.unwrap_or_default();
        let model = o.model.as_deref().unwrap_or("");
        let units = Units {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            images: o.images,
            input_chars: o.input_chars,
        };
        let cost =
            if (200..300).contains(&o.status) || o.usage.is_some() { self.prices.cost(model, units) } else { 0.0 };
        let total_tokens = usage.total_tokens.max(usage.prompt_tokens + usage.completion_tokens);
        let now_ms = o.started_at_ms;
        self.live.add((now_ms / 1000).max(0) as u64, total_tokens);
        self.metrics.record(o, cost);
        self.add_totals(o, total_tokens, cost);
        if let (Some(id), true) = (o.key_id, cost > 0.0) {
            if let Some(entry) = pool.get(id) {
                entry.add_spend(cost);
            }
        }
        if let (Some(client), true) = (&o.client, cost > 0.0) {
            self.add_client_spend(client, cost);
        }
        LogRow {
            id: 0,
            ts_ms: now_ms,
            client: o.client.as_deref().map(str::to_string),
            route: o.route.clone(),
            model: o.model.clone(),
            key_id: o.key_id,
            status: o.status,
            error: o.error.clone(),
            latency_ms: o.latency.as_millis() as u64,
            ttfb_ms: o.ttfb.map(|t| t.as_millis() as u64),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens,
            retries: o.retries,
            stream: o.stream,
            images: o.images,
            cost,
            aborted: o.aborted,
            instance: None,
        }
    }
}
