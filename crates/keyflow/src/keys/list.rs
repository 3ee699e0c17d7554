//! Keys as the operator sees them (masked): one view per key, and the
//! filtered, sorted, paged list that `/api/keys`, the public dashboard and
//! `keyflow keys list` all read.

use std::str::FromStr;
use std::time::Instant;

use serde::Serialize;

use crate::clock::now_secs;
use crate::pool::{DisplayState, KeyEntry, KeyPool};
use crate::store::KeyId;

/// A key as the API shows it (masked).
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: KeyId,
    pub key: String,
    /// `active`, `free`, `invalid`, `disabled` or `cooling` ([`DisplayState`]).
    pub state: DisplayState,
    pub balance: Option<f64>,
    pub enabled: bool,
    pub usage_count: u64,
    pub inflight: u32,
    pub last_error: Option<String>,
    /// Unix seconds when the key's account may be used again, if cooling.
    pub cooldown_until: Option<i64>,
    pub account_id: Option<String>,
    pub checked_at: Option<i64>,
    pub created_at: i64,
}

/// The view of one key: its displayed state from [`KeyPool::display_state`].
pub fn view(pool: &KeyPool, entry: &KeyEntry) -> KeyView {
    let (state, until) = pool.display_state(entry);
    // A wall-clock second rounded up, so a client waiting until then finds
    // the account usable.
    let cooldown_until =
        until.map(|until| now_secs() + until.saturating_duration_since(Instant::now()).as_secs() as i64 + 1);
    KeyView {
        id: entry.id,
        key: entry.secret.masked(),
        state,
        balance: entry.balance().map(|b| (b * 10_000.0).round() / 10_000.0),
        enabled: entry.enabled(),
        usage_count: entry.usage_count(),
        inflight: entry.inflight(),
        last_error: entry.last_error(),
        cooldown_until,
        account_id: entry.account().map(|a| a.to_string()),
        checked_at: entry.checked_at(),
        created_at: entry.created_at,
    }
}

/// What a key list is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeySort {
    #[default]
    Id,
    /// Unknown balances first (lowest), as the console has always shown them.
    Balance,
    UsageCount,
    CreatedAt,
    /// By the state's name, then id.
    State,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown sort `{0}`: use id, balance, usage_count, created_at or state")]
pub struct UnknownSort(pub String);

impl FromStr for KeySort {
    type Err = UnknownSort;

    fn from_str(text: &str) -> Result<KeySort, UnknownSort> {
        match text {
            "id" => Ok(KeySort::Id),
            "balance" => Ok(KeySort::Balance),
            "usage_count" | "usage" => Ok(KeySort::UsageCount),
            "created_at" => Ok(KeySort::CreatedAt),
            "state" => Ok(KeySort::State),
            other => Err(UnknownSort(other.to_string())),
        }
    }
}

/// Which keys to list, in what order, which page.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    /// Only keys displaying this state (`active`, `cooling`, …); a name no
    /// state has matches no key.
    pub state: Option<String>,
    /// Matches the masked key's visible part, or the id exactly.
    pub text: Option<String>,
    pub sort: KeySort,
    pub descending: bool,
    /// From 1.
    pub page: usize,
    pub size: usize,
}

impl Default for KeyQuery {
    /// Every key, by id, on one page.
    fn default() -> KeyQuery {
        KeyQuery { state: None, text: None, sort: KeySort::Id, descending: false, page: 1, size: usize::MAX }
    }
}

/// One page of keys and how many matched in all.
#[derive(Debug, Serialize)]
pub struct KeyPage {
    pub items: Vec<KeyView>,
    pub total: usize,
    pub page: usize,
    pub size: usize,
}

/// The keys of the current snapshot that match `query`, sorted and paged.
pub fn list(pool: &KeyPool, query: &KeyQuery) -> KeyPage {
    let snapshot = pool.snapshot();
    let mut rows: Vec<KeyView> = snapshot.entries.iter().map(|e| view(pool, e)).collect();
    if let Some(wanted) = query.state.as_deref().filter(|s| !s.is_empty() && *s != "all") {
        rows.retain(|r| r.state.as_str() == wanted);
    }
    if let Some(text) = query.text.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        rows.retain(|r| r.key.contains(text) || r.id.to_string() == text);
    }
    match query.sort {
        KeySort::Balance => {
            rows.sort_by(|a, b| a.balance.unwrap_or(f64::MIN).total_cmp(&b.balance.unwrap_or(f64::MIN)))
        }
        KeySort::UsageCount => rows.sort_by_key(|r| r.usage_count),
        KeySort::CreatedAt => rows.sort_by_key(|r| (r.created_at, r.id)),
        KeySort::State => rows.sort_by_key(|r| (r.state.as_str(), r.id)),
        KeySort::Id => rows.sort_by_key(|r| r.id),
    }
    if query.descending {
        rows.reverse();
    }
    let total = rows.len();
    let page = query.page.max(1);
    let skip = (page - 1).saturating_mul(query.size);
    let items = rows.into_iter().skip(skip).take(query.size).collect();
    KeyPage { items, total, page, size: query.size }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{LimitWindow, Scope};
    use crate::store::{KeyRecord, KeyState};

    fn pool() -> KeyPool {
        let records: Vec<KeyRecord> = (1..=5)
            .map(|id| KeyRecord {
                id,
                secret: format!("sk-{id:0>48}"),
                state: if id == 3 { KeyState::Free } else { KeyState::Active },
                enabled: true,
                balance: (id != 4).then_some(id as f64),
                charge_balance: None,
                account_id: None,
                usage_count: 10 - id as u64,
                last_error: None,
                checked_at: None,
                created_at: 100 - id,
                spent: 0.0,
            })
            .collect();
        let pool = KeyPool::new();
        pool.replace_all(&records);
        pool.cooldowns().trip(Scope::Key(2), "m", LimitWindow::Minute, None);
        pool
    }

    fn ids(page: &KeyPage) -> Vec<KeyId> {
        page.items.iter().map(|v| v.id).collect()
    }

    #[test]
    fn the_list_shows_the_pools_display_state() {
        let pool = pool();
        let cooling = list(&pool, &KeyQuery { state: Some("cooling".into()), ..KeyQuery::default() });
        assert_eq!(ids(&cooling), [2]);
        assert!(cooling.items[0].cooldown_until.is_some_and(|until| until > now_secs()));
        assert_eq!(ids(&list(&pool, &KeyQuery { state: Some("active".into()), ..KeyQuery::default() })), [1, 4, 5]);
        assert_eq!(list(&pool, &KeyQuery { state: Some("all".into()), ..KeyQuery::default() }).total, 5);
        assert_eq!(list(&pool, &KeyQuery { state: Some("nonsense".into()), ..KeyQuery::default() }).total, 0);
    }

    #[test]
    fn sorts_filter_and_pages_compose() {
        let pool = pool();
        let by = |sort: &str, descending: bool| {
            let sort = sort.parse().unwrap_or_default();
            ids(&list(&pool, &KeyQuery { sort, descending, ..KeyQuery::default() }))
        };
        assert_eq!(by("balance", false), [4, 1, 2, 3, 5], "unknown balance sorts lowest");
        assert_eq!(by("usage", true), [1, 2, 3, 4, 5]);
        assert_eq!(by("created_at", false), [5, 4, 3, 2, 1]);
        assert_eq!(by("state", false), [1, 4, 5, 2, 3], "active, cooling, free");
        assert!("size".parse::<KeySort>().is_err_and(|e| e.to_string().contains("use id, balance")));

        let page = list(&pool, &KeyQuery { page: 2, size: 2, ..KeyQuery::default() });
        assert_eq!((ids(&page), page.total, page.page, page.size), (vec![3, 4], 5, 2, 2));
        let one = list(&pool, &KeyQuery { text: Some(" 3 ".into()), ..KeyQuery::default() });
        assert_eq!(ids(&one), [3]);
    }
}
