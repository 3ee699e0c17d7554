//! Write-behind for what traffic changes: key states, pins, model facts.
//!
//! The request path sends an op and moves on; this task batches ops into
//! store calls. The channel is unbounded because these ops are rare (one per
//! key state change or created resource), and dropping one would lose data.
//!
//! It lives with the store so that every floor above (pins, the catalogue,
//! failover, the services) can hand a write over without knowing who runs
//! the task; `app` spawns [`run`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{KeyId, KeyStatusUpdate, ModelFact, Pin, Store, StoreError};

#[derive(Debug)]
pub enum WriteOp {
    KeyStatus(KeyStatusUpdate),
    DeleteKeys(Vec<KeyId>),
    Pin(Pin),
    ModelFact(ModelFact),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<WriteOp>,
}

impl Writer {
    pub fn channel() -> (Writer, mpsc::UnboundedReceiver<WriteOp>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Writer { tx }, rx)
    }

    pub fn send(&self, op: WriteOp) {
        if self.tx.send(op).is_err() {
            tracing::warn!("store writer has stopped; a state change was not persisted");
        }
    }
}

/// Drains `rx` until every sender is gone, writing in batches.
pub async fn run(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<WriteOp>) {
    let mut ops = Vec::new();
    while rx.recv_many(&mut ops, 1024).await > 0 {
        write_batch(store.as_ref(), std::mem::take(&mut ops)).await;
    }
}

async fn write_batch(store: &dyn Store, ops: Vec<WriteOp>) {
    let mut statuses = Vec::new();
    let mut deletes = Vec::new();
    let mut pins = Vec::new();
    let mut facts = Vec::new();
    for op in ops {
        match op {
            WriteOp::KeyStatus(u) => statuses.push(u),
            WriteOp::DeleteKeys(ids) => deletes.extend(ids),
            WriteOp::Pin(p) => pins.push(p),
            WriteOp::ModelFact(f) => facts.push(f),
        }
    }
    // Retries ride out a busy database and an outage: these writes are few
    // (new ops wait in the channel meanwhile, and join the next batch).
    for attempt in 0u32.. {
        let result = async {
            if !pins.is_empty() {
                store.insert_pins(&pins).await?;
                pins.clear();
            }
            if !statuses.is_empty() {
                store.update_key_status(&statuses).await?;
                statuses.clear();
            }
            if !facts.is_empty() {
                store.save_model_facts(&facts).await?;
                facts.clear();
            }
            if !deletes.is_empty() {
                store.delete_keys(&deletes).await?;
                deletes.clear();
            }
            Ok::<(), StoreError>(())
        }
        .await;
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "store write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
            }
        }
    }
}
