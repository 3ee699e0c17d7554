//! The named modes among the settings: how a key is chosen and who sees
//! the public dashboard. Each parses case-insensitively (`-` for `_`) and
//! a wrong name gets an error listing the right ones.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a key is chosen for each upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Random,
    RoundRobin,
    #[default]
    BalanceDesc,
    BalanceAsc,
    Oldest,
    Newest,
    LeastUsed,
    MostUsed,
    LeastInflight,
}

impl Strategy {
    pub const ALL: [Strategy; 9] = [
        Strategy::Random,
        Strategy::RoundRobin,
        Strategy::BalanceDesc,
        Strategy::BalanceAsc,
        Strategy::Oldest,
        Strategy::Newest,
        Strategy::LeastUsed,
        Strategy::MostUsed,
        Strategy::LeastInflight,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::RoundRobin => "round_robin",
            Strategy::BalanceDesc => "balance_desc",
            Strategy::BalanceAsc => "balance_asc",
            Strategy::Oldest => "oldest",
            Strategy::Newest => "newest",
            Strategy::LeastUsed => "least_used",
            Strategy::MostUsed => "most_used",
            Strategy::LeastInflight => "least_inflight",
        }
    }
}

/// Who may see the public dashboard (`/dashboard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessControl {
    /// Anyone.
    Open,
    /// Whoever knows the guest password.
    Restricted,
    /// The admin only.
    #[default]
    Private,
}

impl AccessControl {
    pub const ALL: [AccessControl; 3] = [AccessControl::Open, AccessControl::Restricted, AccessControl::Private];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessControl::Open => "open",
            AccessControl::Restricted => "restricted",
            AccessControl::Private => "private",
        }
    }
}

/// Matches `text` against `names` case-insensitively, `-` standing for `_`.
fn parse_name<T: Copy>(text: &str, all: &[T], name: fn(T) -> &'static str, what: &str) -> Result<T, String> {
    let wanted = text.trim().to_ascii_lowercase().replace('-', "_");
    all.iter().copied().find(|v| name(*v) == wanted).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        format!("unknown {what} `{}`: expected one of {}", text.trim(), names.join(", "))
    })
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // silicon-pool's names: `high` = most balance first, `low` = least.
        match text.trim().to_ascii_lowercase().as_str() {
            "high" => return Ok(Strategy::BalanceDesc),
            "low" => return Ok(Strategy::BalanceAsc),
            _ => {}
        }
        parse_name(text, &Strategy::ALL, Strategy::as_str, "key strategy")
    }
}

impl FromStr for AccessControl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_name(text, &AccessControl::ALL, AccessControl::as_str, "access control mode")
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AccessControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names_round_trip_and_errors_list_them() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.as_str().parse::<Strategy>(), Ok(strategy));
            assert_eq!(serde_json::to_string(&strategy).ok(), Some(format!("\"{strategy}\"")));
        }
        assert_eq!("Round-Robin".parse::<Strategy>(), Ok(Strategy::RoundRobin));
        assert_eq!("high".parse::<Strategy>(), Ok(Strategy::BalanceDesc));
        assert_eq!("LOW".parse::<Strategy>(), Ok(Strategy::BalanceAsc));
        let err = "fastest".parse::<Strategy>().err().unwrap_or_default();
        assert!(err.contains("`fastest`") && err.contains("least_inflight") && err.contains("random"), "{err}");
        assert_eq!(Strategy::default(), Strategy::BalanceDesc);
        assert_eq!("OPEN".parse::<AccessControl>(), Ok(AccessControl::Open));
        assert!("public".parse::<AccessControl>().is_err_and(|e| e.contains("open, restricted, private")));
    }
}
