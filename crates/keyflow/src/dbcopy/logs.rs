//! Log rows, in source id order and in batches, each batch written with
//! the target's high-water mark for this source in one transaction: a run
//! cut short anywhere resumes after its last whole batch, and no row is
//! ever written twice. Rows get new ids in the target; a row's key id is
//! re-pointed at the target's id of the same key.
//!
//! The mark assumes source ids only grow. Both backends hand out ids that
//! are never reused, so deleting old rows (retention) does not disturb it;
//! but on a PostgreSQL source that still takes traffic, a row committed
//! after a higher id was copied would be passed over: copy from a stopped
//! deployment (a second run then takes what arrived before it stopped).

use std::collections::HashMap;

use super::Report;
use crate::store::{KeyId, Store, StoreResult};

/// Rows per batch: a few round trips per hundred thousand rows, and a
/// transaction short enough not to hold up a target that serves traffic.
const LOG_BATCH: u64 = 5000;

/// The target's named value holding the last source row id it holds.
/// `source_id` is the source's identity, which never holds a password.
pub(super) fn mark_name(source_id: &str) -> String {
    format!("db_copy:{source_id}:last_log_id")
}

pub(super) async fn copy_logs(
    source: &dyn Store,
    target: &dyn Store,
    mark: &str,
    key_ids: &HashMap<KeyId, KeyId>,
    report: &mut Report,
) -> StoreResult<()> {
    let mut after: i64 = target.load_value(mark).await?.and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut n_unknown_key = 0u64;
    loop {
        let mut rows = source.logs_after(after, LOG_BATCH).await?;
        let Some(last) = rows.last().map(|r| r.id) else { break };
        for row in &mut rows {
            if let Some(id) = row.key_id {
                row.key_id = key_ids.get(&id).copied();
                n_unknown_key += u64::from(row.key_id.is_none());
            }
        }
        target.insert_logs_marked(&rows, (mark, &last.to_string())).await?;
        report.logs_added += rows.len() as u64;
        after = last;
    }
    report.logs_through = after;
    if n_unknown_key > 0 {
        report
            .notes
            .push(format!("{n_unknown_key} log rows name a key the source no longer holds: copied without a key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_named_after_the_source() {
        assert_eq!(mark_name("postgres://kf@db:5432/kf"), "db_copy:postgres://kf@db:5432/kf:last_log_id");
    }
}
