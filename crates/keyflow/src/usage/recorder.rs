//! The recording seam of the request path: a bounded channel of outcomes.
//!
//! A request reserves its slot when it arrives ([`Recorder::slot`]). That is
//! the one place it may wait: when the log writer falls behind, new
//! requests wait for room instead of rows being dropped. Sending through a
//! reserved slot never waits, so it also works from `Drop` when a client
//! hangs up mid-stream.

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::Outcome;

/// Outcomes waiting for the ingest task. Enough for bursts of tens of
/// thousands of requests per second while the database commits a batch.
pub const QUEUE_CAPACITY: usize = 65_536;

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Outcome>,
}

/// Room for one outcome, reserved in advance.
pub struct Slot {
    permit: mpsc::OwnedPermit<Outcome>,
}

impl Slot {
    pub fn send(self, outcome: Outcome) {
        self.permit.send(outcome);
    }
}

impl Recorder {
    pub fn channel(capacity: usize) -> (Recorder, mpsc::Receiver<Outcome>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Recorder { tx }, rx)
    }

    /// Reserves room for this request's outcome; waits only under overload.
    /// `None` once the recorder has shut down.
    pub async fn slot(&self) -> Option<Slot> {
        self.tx.clone().reserve_owned().await.ok().map(|permit| Slot { permit })
    }

    /// Records without a reserved slot (waits for room when full).
    pub async fn record(&self, outcome: Outcome) {
        if self.tx.send(outcome).await.is_err() {
            tracing::warn!("recorder closed; an outcome was not logged");
        }
    }

    /// Records an outcome that has no reserved slot (answers generated on
    /// a task of their own): at once when there is room, else on a tracked
    /// task that waits for room. Never drops it.
    pub fn record_soon(&self, tracker: &TaskTracker, outcome: Outcome) {
        if let Some(outcome) = self.try_record(outcome) {
            let recorder = self.clone();
            tracker.spawn(async move { recorder.record(outcome).await });
        }
    }

    /// Records at once if there is room; hands the outcome back otherwise.
    pub fn try_record(&self, outcome: Outcome) -> Option<Outcome> {
        match self.tx.try_send(outcome) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(o) | mpsc::error::TrySendError::Closed(o)) => Some(o),
        }
    }

    /// Outcomes reserved or queued and not yet taken by the ingest task.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}
