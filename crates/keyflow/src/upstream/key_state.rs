//! What a verdict does to the key that earned it (and what it teaches about
//! the model): the in-memory change at once, through the entry's atomics,
//! so the next pick sees it; the persistent change queued to the store
//! writer, so the request never waits for the database.

use super::failover::Failover;
use super::Verdict;
use crate::pool::{KeyEntry, KeyPool};
use crate::store::writer::WriteOp;
use crate::store::{KeyState, KeyStatusUpdate};

/// Applies `verdict` on `entry` for `model`; `summary` is upstream's error,
/// masked, for `last_error`.
pub(super) fn apply(failover: &Failover<'_>, entry: &KeyEntry, model: &str, verdict: &Verdict, summary: &str) {
    // Upstream's word on the key is a check too: stamped, so that instances
    // sharing the database take this state over the one they hold.
    let persist = |new_state: KeyState, balance: Option<Option<f64>>| {
        let now = crate::clock::now_secs();
        entry.set_checked_at(now);
        failover.writer.send(WriteOp::KeyStatus(KeyStatusUpdate {
            id: entry.id,
            state: new_state,
            balance,
            charge_balance: None,
            account_id: None,
            last_error: Some(summary.to_string()),
            checked_at: Some(now),
        }));
    };
    match verdict {
        Verdict::KeyDead => {
            tracing::warn!(key = %entry.secret, "upstream says the key is invalid (401)");
            entry.set_state(KeyState::Invalid);
            entry.set_last_error(Some(summary.to_string()));
            failover.pool.mark_dirty();
            if failover.purge_invalid {
                failover.pool.remove(&[entry.id]);
                failover.writer.send(WriteOp::DeleteKeys(vec![entry.id]));
            } else {
                persist(KeyState::Invalid, None);
            }
        }
        // Only upstream's verdict on the key itself condemns it: a doubtful
        // 401 asks for a check in the background, and nothing changes now.
        Verdict::KeyDoubted => failover.recheck.recheck(entry.id),
        Verdict::NoBalance => {
            tracing::info!(key = %entry.secret, model, "key has no balance (30001): now free-only");
            entry.set_state(KeyState::Free);
            entry.set_reported_balance(Some(0.0), entry.charge_balance().map(|_| 0.0));
            entry.set_last_error(Some(summary.to_string()));
            failover.pool.mark_dirty();
            persist(KeyState::Free, Some(Some(0.0)));
            if !model.is_empty() {
                failover.catalog.learn(failover.writer, model, false);
            }
        }
        Verdict::ForbiddenForModel => {
            entry.block_model(model);
            entry.set_last_error(Some(format!("{summary} (model {model})")));
        }
        Verdict::RateLimited { window, retry_after } => {
            let wait = failover.pool.cooldowns().trip(KeyPool::scope_of(entry), model, *window, *retry_after);
            entry.set_last_error(Some(format!("{summary} (cooling {} s)", wait.as_secs())));
            tracing::debug!(key = %entry.secret, model, wait_secs = wait.as_secs(), "rate limited; cooling down");
        }
        // Trouble with upstream or the client's own request says nothing
        // about the key.
        Verdict::Success | Verdict::Transient | Verdict::Final | Verdict::NoAnswer(_) => {}
    }
}
