//! The two tasks behind the recorder. `ingest` takes each outcome as it
//! comes: live rates, metrics, cost, the key's balance estimate and the
//! client's spend, then a log row for `write`, which commits rows in
//! batches (one transaction each). Both channels are bounded, so a slow
//! database slows intake instead of losing rows.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

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

pub async fn ingest(
    mut rx: mpsc::Receiver<Outcome>,
    rows: mpsc::Sender<LogRow>,
    meters: Arc<Meters>,
    pool: Arc<KeyPool>,
) {
    while let Some(outcome) = rx.recv().await {
        let row = meters.take(&outcome, &pool);
        meters.rows_pending.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if rows.send(row).await.is_err() {
            tracing::error!("log writer stopped; rows can no longer be stored");
        }
    }
}

pub async fn write(mut rx: mpsc::Receiver<LogRow>, store: Arc<dyn Store>, meters: Arc<Meters>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return;
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
        commit(store.as_ref(), &batch).await;
        meters.rows_pending.fetch_sub(batch.len(), std::sync::atomic::Ordering::Relaxed);
        meters.rows_written.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        batch.clear();
    }
}

/// Commits a batch, retrying until it is stored: rows are never dropped
/// while the process runs (a full queue holds new requests back meanwhile).
async fn commit(store: &dyn Store, rows: &[LogRow]) {
    let mut wait = Duration::from_millis(100);
    loop {
        match store.insert_logs(rows).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, n_rows = rows.len(), "writing request logs failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
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
        }
    }
}
