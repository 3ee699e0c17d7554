//! Choosing a key for one attempt: the nine strategies over a snapshot.
//!
//! Every strategy walks candidates through one `accept` filter (enabled,
//! right state, not tried yet, not blocked or cooling for the model, under
//! the per-key RPM cap). Static orders (balance, age) come precomputed in
//! the snapshot, and ties rotate so concurrent requests spread over keys.
//! The usage and in-flight strategies scan exactly up to
//! `EXACT_SCAN_LIMIT` keys and sample beyond it, so the cost stays bounded
//! whatever the pool size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::Rng;

use super::entry::KeyEntry;
use super::snapshot::{Group, Snapshot};
use crate::config::Strategy;

/// Up to this many keys the usage and in-flight strategies compare every
/// candidate; above it they compare a random sample of `SAMPLE` accepted ones.
const EXACT_SCAN_LIMIT: usize = 256;
const SAMPLE: usize = 16;
/// Probes tried inside a tie run before falling back to its first accepted key.
const TIE_PROBES: usize = 32;
/// Rejected candidates an ordered walk passes before it switches to
/// sampling: with much of the pool cooling for a model, walking on would
/// make one pick cost the whole pool.
const WALK_LIMIT: usize = 64;

pub struct Selector<'a> {
    pub snapshot: &'a Snapshot,
    pub counter: &'a AtomicU64,
}

impl Selector<'_> {
    /// The slot of the chosen key in `group`, if any key is acceptable.
    pub fn pick(&self, group: &Group, strategy: Strategy, accept: &dyn Fn(&KeyEntry) -> bool) -> Option<u32> {
        if group.members.is_empty() {
            return None;
        }
        let ok = |slot: u32| accept(&self.snapshot.entries[slot as usize]);
        match strategy {
            Strategy::Random => {
                let start = rand::rng().random_range(0..group.members.len());
                probe_from(&group.members, start, ok)
            }
            Strategy::RoundRobin => {
                let start = self.tick() as usize % group.members.len();
                probe_from(&group.members, start, ok)
            }
            Strategy::BalanceDesc => self.walk_ordered(&group.by_balance, &group.balance_run_end, false, ok),
            Strategy::BalanceAsc => {
                // Ascending over the known balances, then the unknown ones.
                let known = &group.by_balance[..group.n_known_balance];
                let ends = &group.balance_run_end[..group.n_known_balance];
                self.walk_ordered(known, ends, true, ok).or_else(|| {
                    let rest = &group.by_balance[group.n_known_balance..];
                    let start = if rest.is_empty() { 0 } else { self.tick() as usize % rest.len() };
                    probe_from(rest, start, ok)
                })
            }
            Strategy::Oldest => self.walk_ordered(&group.by_age, &group.age_run_end, false, ok),
            Strategy::Newest => self.walk_ordered(&group.by_age, &group.age_run_end, true, ok),
            Strategy::LeastUsed => self.best_by(group, ok, |e| std::cmp::Reverse(e.usage_count())),
            Strategy::MostUsed => self.best_by(group, ok, |e| e.usage_count()),
            Strategy::LeastInflight => self.best_by(group, ok, |e| std::cmp::Reverse(e.inflight())),
        }
    }

    fn tick(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Walks `order` (or its reverse) to the first accepted key, then
    /// spreads over the run of keys that tie with it.
    fn walk_ordered(&self, order: &[u32], run_end: &[u32], reverse: bool, ok: impl Fn(u32) -> bool) -> Option<u32> {
        let n = order.len();
        for step in 0..n {
            if step == WALK_LIMIT {
                return sample_ordered(order, reverse, &ok);
            }
            let pos = if reverse { n - 1 - step } else { step };
            if !ok(order[pos]) {
                continue;
            }
            // The tie run containing `pos`: [start, end).
            let end = run_end[pos] as usize;
            let start = if reverse { run_start(run_end, pos) } else { pos };
            let len = end - start;
            if len <= 1 {
                return Some(order[pos]);
            }
            let offset = self.tick() as usize % len;
            for probe in 0..len.min(TIE_PROBES) {
                let slot = order[start + (offset + probe) % len];
                if ok(slot) {
                    return Some(slot);
                }
            }
            return Some(order[pos]);
        }
        None
    }

    /// The accepted key with the greatest `score`: exact for small groups,
    /// over a random sample for large ones. Ties go to a random candidate.
    fn best_by<S: Ord>(&self, group: &Group, ok: impl Fn(u32) -> bool, score: impl Fn(&KeyEntry) -> S) -> Option<u32> {
        let entries = &self.snapshot.entries;
        let members = &group.members;
        let n = members.len();
        let mut rng = rand::rng();
        let mut best: Option<(S, u32)> = None;
        let mut consider = |slot: u32, rng: &mut rand::rngs::ThreadRng| {
            let s = score(&entries[slot as usize]);
            let better = match &best {
                None => true,
                Some((b, _)) => s > *b || (s == *b && rng.random_bool(0.5)),
            };
            if better {
                best = Some((s, slot));
            }
        };
        if n <= EXACT_SCAN_LIMIT {
            let start = rng.random_range(0..n);
            for i in 0..n {
                let slot = members[(start + i) % n];
                if ok(slot) {
                    consider(slot, &mut rng);
                }
            }
        } else {
            let mut found = 0;
            for _ in 0..SAMPLE * 4 {
                let slot = members[rng.random_range(0..n)];
                if ok(slot) {
                    consider(slot, &mut rng);
                    found += 1;
                    if found == SAMPLE {
                        break;
                    }
                }
            }
            if found == 0 {
                // Most keys are unusable right now: find any that is not.
                let start = rng.random_range(0..n);
                return probe_from(members, start, ok);
            }
        }
        best.map(|(_, slot)| slot)
    }
}

/// After a long run of rejected keys: the accepted key closest to the
/// order's start among a random sample of positions beyond the walked
/// part. Only when the sample finds none (nearly every key unusable) does
/// it scan the rest, so a usable key is never missed.
fn sample_ordered(order: &[u32], reverse: bool, ok: &impl Fn(u32) -> bool) -> Option<u32> {
    let n = order.len();
    let rest = n.saturating_sub(WALK_LIMIT);
    if rest == 0 {
        return None;
    }
    let mut rng = rand::rng();
    let position = |i: usize| if reverse { n - 1 - (WALK_LIMIT + i) } else { WALK_LIMIT + i };
    let best = (0..SAMPLE * 4).map(|_| rng.random_range(0..rest)).filter(|i| ok(order[position(*i)])).min();
    match best {
        Some(i) => Some(order[position(i)]),
        None => (0..rest).map(position).map(|p| order[p]).find(|&slot| ok(slot)),
    }
}

/// The first accepted slot at or after `start`, wrapping around.
fn probe_from(slots: &[u32], start: usize, ok: impl Fn(u32) -> bool) -> Option<u32> {
    let n = slots.len();
    (0..n).map(|i| slots[(start + i) % n]).find(|&slot| ok(slot))
}

/// The first position of the tie run that contains `pos`.
fn run_start(run_end: &[u32], pos: usize) -> usize {
    let end = run_end[pos];
    let mut start = pos;
    // Runs are contiguous; step back while the previous position shares the end.
    while start > 0 && run_end[start - 1] == end {
        start -= 1;
        if pos - start >= TIE_PROBES * 4 {
            break;
        }
    }
    start
}

/// Convenience for callers holding `Arc`s.
pub fn entry_at(snapshot: &Snapshot, slot: u32) -> &Arc<KeyEntry> {
    &snapshot.entries[slot as usize]
}
