//! An immutable view of the pool that selection reads without locks.
//!
//! It is rebuilt off the request path whenever keys are added, removed or
//! change state, and holds precomputed orders so that balance and age
//! strategies find their key by walking an index, not by sorting.

use std::collections::HashMap;
use std::sync::Arc;

use super::entry::KeyEntry;
use crate::store::{KeyId, KeyState};

/// Keys of one state, in the orders the strategies walk.
#[derive(Default)]
pub struct Group {
    /// Slots into `Snapshot::entries`.
    pub members: Vec<u32>,
    /// Highest balance first; keys of unknown balance last, as equals.
    pub by_balance: Vec<u32>,
    /// How many of `by_balance` have a known balance.
    pub n_known_balance: usize,
    /// Oldest first (creation time, then id).
    pub by_age: Vec<u32>,
    /// For each position of `by_balance`, one past the end of its run of
    /// equal balances; lets ties spread over keys in constant time.
    pub balance_run_end: Vec<u32>,
    pub age_run_end: Vec<u32>,
}

#[derive(Default)]
pub struct Snapshot {
    pub entries: Vec<Arc<KeyEntry>>,
    pub by_id: HashMap<KeyId, u32>,
    pub active: Group,
    pub free: Group,
}

impl Snapshot {
    pub fn build(entries: Vec<Arc<KeyEntry>>) -> Snapshot {
        let by_id = entries.iter().enumerate().map(|(i, e)| (e.id, i as u32)).collect();
        let active = Group::build(&entries, KeyState::Active);
        let free = Group::build(&entries, KeyState::Free);
        Snapshot { entries, by_id, active, free }
    }

    pub fn get(&self, id: KeyId) -> Option<&Arc<KeyEntry>> {
        self.by_id.get(&id).map(|&slot| &self.entries[slot as usize])
    }
}

impl Group {
    fn build(entries: &[Arc<KeyEntry>], state: KeyState) -> Group {
        let members: Vec<u32> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.enabled() && e.state() == state)
            .map(|(i, _)| i as u32)
            .collect();
        let balance_of = |slot: &u32| entries[*slot as usize].balance_micros();
        let mut by_balance = members.clone();
        // Known balances descending, then unknown; ties keep slot order.
        by_balance.sort_by_key(|slot| match balance_of(slot) {
            Some(b) => (0u8, std::cmp::Reverse(b)),
            None => (1u8, std::cmp::Reverse(0)),
        });
        let n_known_balance = by_balance.iter().filter(|s| balance_of(s).is_some()).count();
        let balance_run_end = run_ends(&by_balance, |s| balance_of(s));
        let mut by_age = members.clone();
        by_age.sort_by_key(|slot| {
            let e = &entries[*slot as usize];
            (e.created_at, e.id)
        });
        let age_run_end = run_ends(&by_age, |s| entries[*s as usize].created_at);
        Group { members, by_balance, n_known_balance, by_age, balance_run_end, age_run_end }
    }
}

/// For each position, the end of the run of positions with an equal metric.
fn run_ends<T: PartialEq>(order: &[u32], metric: impl Fn(&u32) -> T) -> Vec<u32> {
    let mut ends = vec![0u32; order.len()];
    let mut end = order.len();
    for i in (0..order.len()).rev() {
        if i + 1 < order.len() && metric(&order[i]) != metric(&order[i + 1]) {
            end = i + 1;
        }
        ends[i] = end as u32;
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ends_mark_equal_neighbours() {
        let order = [0u32, 1, 2, 3, 4];
        let metric = [5, 5, 3, 3, 3];
        let ends = run_ends(&order, |s| metric[*s as usize]);
        assert_eq!(ends, vec![2, 2, 5, 5, 5]);
    }
}
