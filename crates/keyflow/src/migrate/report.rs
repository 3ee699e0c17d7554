//! What a migration took, printed by `keyflow migrate`: counts first, then
//! each key and token masked, settings, login, logs, and what was left
//! behind with the reason.

use std::fmt;

/// Per-key lines shown before the rest is summed up in one line.
pub const KEY_LINES_SHOWN: usize = 20;

/// Counts of the keys read from the old tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyTally {
    pub read: usize,
    pub added: usize,
    pub already_present: usize,
    pub malformed: usize,
    /// Among the added keys.
    pub enabled: usize,
    pub disabled: usize,
    pub zero_balance: usize,
    pub balance_unknown: usize,
    pub balance_total: f64,
}

/// The printed outcome of one `keyflow migrate`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub tool: String,
    pub files: Vec<String>,
    pub keys: KeyTally,
    pub key_lines: Vec<String>,
    /// Validation upstream of keys without a known balance.
    pub validation: Option<String>,
    pub tokens: Vec<String>,
    pub settings: Vec<String>,
    pub login: Vec<String>,
    pub logs: Vec<String>,
    pub not_carried: Vec<String>,
    pub notes: Vec<String>,
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, lines: &[String], empty: &str) -> fmt::Result {
    if lines.is_empty() {
        return writeln!(f, "{title}: {empty}");
    }
    writeln!(f, "{title}:")?;
    for line in lines {
        writeln!(f, "  {line}")?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "migrated from {}: read {}", self.tool, self.files.join(", "))?;
        let k = &self.keys;
        writeln!(
            f,
            "keys: {} read: {} added, {} already present, {} malformed (skipped)",
            k.read, k.added, k.already_present, k.malformed
        )?;
        if k.added > 0 {
            let mut balances = format!("balances {:.2} in total", k.balance_total);
            if k.balance_unknown > 0 {
                balances.push_str(&format!(", {} unknown", k.balance_unknown));
            }
            writeln!(
                f,
                "  added: {} enabled, {} disabled (kept disabled); {} at zero balance (free models only); {balances}",
                k.enabled, k.disabled, k.zero_balance
            )?;
        }
        for line in self.key_lines.iter().take(KEY_LINES_SHOWN) {
            writeln!(f, "  {line}")?;
        }
        if self.key_lines.len() > KEY_LINES_SHOWN {
            writeln!(f, "  … and {} more", self.key_lines.len() - KEY_LINES_SHOWN)?;
        }
        if let Some(validation) = &self.validation {
            writeln!(f, "  {validation}")?;
        }
        section(f, "client tokens", &self.tokens, "none")?;
        section(f, "settings", &self.settings, "none")?;
        section(f, "console login", &self.login, "none stored by the tool")?;
        section(f, "request logs", &self.logs, "none")?;
        section(f, "not carried over", &self.not_carried, "nothing")?;
        if !self.notes.is_empty() {
            section(f, "notes", &self.notes, "")?;
        }
        writeln!(f, "restart keyflow if it is running: tokens, settings and the login are read at start")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_key_lists_are_cut_and_empty_sections_say_so() {
        let report = Report {
            tool: "silicon-pool".into(),
            files: vec!["/old/pool.db".into()],
            keys: KeyTally { read: 30, added: 30, enabled: 30, balance_total: 12.5, ..KeyTally::default() },
            key_lines: (0..30).map(|i| format!("key {i}")).collect(),
            ..Report::default()
        };
        let text = report.to_string();
        assert!(text.contains("keys: 30 read: 30 added, 0 already present"), "{text}");
        assert!(text.contains("balances 12.50 in total"), "{text}");
        assert!(text.contains("key 19\n") && !text.contains("key 20\n") && text.contains("… and 10 more"), "{text}");
        assert!(text.contains("client tokens: none") && text.contains("not carried over: nothing"), "{text}");
        assert!(!text.contains("notes"), "{text}");
    }
}
