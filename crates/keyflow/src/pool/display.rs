//! The one answer to "what state does this key show?", shared by the keys
//! list (console, CLI, public dashboard) and the counts of the overview,
//! `/health`, `/metrics` and `/v1/user/info`, so a key counted as cooling is
//! also listed as cooling.

use std::time::Instant;

use serde::Serialize;

use super::{KeyEntry, KeyPool, StateCounts};
use crate::store::KeyState;

/// The state a key displays. Unlike the stored [`KeyState`] it folds in
/// the operator's switch and the account's cool-downs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayState {
    Active,
    Free,
    Invalid,
    Disabled,
    Cooling,
}

impl DisplayState {
    /// The precedence every view shares: the operator's choice (disabled)
    /// first, then upstream's verdict on the key (invalid), then the
    /// temporary cool-down of its account, then the stored state.
    pub fn of(enabled: bool, state: KeyState, cooling: bool) -> DisplayState {
        if !enabled {
            DisplayState::Disabled
        } else if state == KeyState::Invalid {
            DisplayState::Invalid
        } else if cooling {
            DisplayState::Cooling
        } else if state == KeyState::Free {
            DisplayState::Free
        } else {
            DisplayState::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DisplayState::Active => "active",
            DisplayState::Free => "free",
            DisplayState::Invalid => "invalid",
            DisplayState::Disabled => "disabled",
            DisplayState::Cooling => "cooling",
        }
    }
}

impl std::fmt::Display for DisplayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StateCounts {
    fn add(&mut self, state: DisplayState) {
        self.total += 1;
        match state {
            DisplayState::Active => self.active += 1,
            DisplayState::Free => self.free += 1,
            DisplayState::Invalid => self.invalid += 1,
            DisplayState::Disabled => self.disabled += 1,
            DisplayState::Cooling => self.cooling += 1,
        }
    }
}

impl KeyPool {
    /// When the key's account (or the key, when its account is unknown) may
    /// be used again, if any model of it is cooling now.
    pub fn cooling_until(&self, entry: &KeyEntry) -> Option<Instant> {
        self.cooldowns().scope_until(&KeyPool::scope_of(entry))
    }

    /// The state `entry` displays, with the end of its cool-down if any.
    pub fn display_state(&self, entry: &KeyEntry) -> (DisplayState, Option<Instant>) {
        let until = self.cooling_until(entry);
        (DisplayState::of(entry.enabled(), entry.state(), until.is_some()), until)
    }

    /// Keys per displayed state: each key counts once, so the states add up
    /// to `total`.
    pub fn counts(&self) -> StateCounts {
        let snapshot = self.snapshot();
        let mut counts = StateCounts::default();
        for entry in &snapshot.entries {
            counts.add(self.display_state(entry).0);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{LimitWindow, Scope};
    use crate::store::KeyRecord;

    #[test]
    fn precedence_is_disabled_then_invalid_then_cooling() {
        use DisplayState::*;
        let table = [
            (false, KeyState::Invalid, true, Disabled),
            (false, KeyState::Active, false, Disabled),
            (true, KeyState::Invalid, true, Invalid),
            (true, KeyState::Active, true, Cooling),
            (true, KeyState::Free, true, Cooling),
            (true, KeyState::Free, false, Free),
            (true, KeyState::Active, false, Active),
        ];
        for (enabled, state, cooling, shown) in table {
            assert_eq!(DisplayState::of(enabled, state, cooling), shown, "{enabled} {state:?} {cooling}");
        }
    }

    fn record(id: i64, state: KeyState) -> KeyRecord {
        KeyRecord {
            id,
            secret: format!("sk-{id:0>48}"),
            state,
            enabled: true,
            balance: None,
            charge_balance: None,
            account_id: None,
            usage_count: 0,
            last_error: None,
            checked_at: None,
            created_at: 0,
            spent: 0.0,
        }
    }

    #[test]
    fn counts_agree_with_each_key_and_add_up() {
        let pool = KeyPool::new();
        let states = [KeyState::Active, KeyState::Active, KeyState::Free, KeyState::Invalid, KeyState::Active];
        let records: Vec<_> = states.iter().enumerate().map(|(i, s)| record(i as i64 + 1, *s)).collect();
        pool.replace_all(&records);
        if let Some(entry) = pool.get(2) {
            entry.set_enabled(false);
        }
        // A cooling key and a cooling invalid key: only the first shows as cooling.
        pool.cooldowns().trip(Scope::Key(5), "m", LimitWindow::Minute, None);
        pool.cooldowns().trip(Scope::Key(4), "m", LimitWindow::Minute, None);

        let counts = pool.counts();
        let expected = StateCounts { total: 5, active: 1, free: 1, invalid: 1, disabled: 1, cooling: 1 };
        assert_eq!(counts, expected);
        let mut from_keys = StateCounts::default();
        for entry in &pool.snapshot().entries {
            from_keys.add(pool.display_state(entry).0);
        }
        assert_eq!(from_keys, counts);
        let cooling = pool.get(5).map(|e| pool.display_state(&e));
        assert!(matches!(cooling, Some((DisplayState::Cooling, Some(_)))), "{cooling:?}");
    }
}
