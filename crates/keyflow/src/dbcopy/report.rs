//! What a copy moved, per kind, as counts: it never names a key, a
//! password or a database password (URLs are shown redacted).

use std::fmt;

/// Rows of one kind: new in the target, brought to the source's values, or
/// equal already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Tally {
    /// Counts one row that was added (`existed` false) or, existing, changed or not.
    pub fn count(&mut self, existed: bool, changed: bool) {
        match (existed, changed) {
            (false, _) => self.added += 1,
            (true, true) => self.updated += 1,
            (true, false) => self.unchanged += 1,
        }
    }

    fn moved(&self) -> u64 {
        self.added + self.updated
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} added, {} updated, {} unchanged", self.added, self.updated, self.unchanged)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The source URL without its password.
    pub from: String,
    /// The target URL without its password.
    pub to: String,
    pub keys: Tally,
    /// Source keys that are disabled (and so are in the target).
    pub n_disabled: u64,
    /// Keys the target holds that the source does not (kept: a copy never deletes).
    pub n_target_only: u64,
    /// The runtime settings JSON (one row at most).
    pub settings: Tally,
    /// Named values: the admin password hash, a migrated user name, marks.
    pub values: Tally,
    pub tokens: Tally,
    pub pins: Tally,
    pub facts: Tally,
    pub prices: Tally,
    /// Log rows added by this run.
    pub logs_added: u64,
    /// The last source log row id the target holds now (the high-water mark).
    pub logs_through: i64,
    /// What was left behind or changed on the way, and why.
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(from: String, to: String) -> Report {
        Report { from, to, ..Report::default() }
    }

    /// Rows added or changed in the target by this run, of every kind.
    pub fn n_moved(&self) -> u64 {
        [self.keys, self.settings, self.values, self.tokens, self.pins, self.facts, self.prices]
            .iter()
            .map(Tally::moved)
            .sum::<u64>()
            + self.logs_added
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "copied {} -> {}", self.from, self.to)?;
        writeln!(
            f,
            "  keys            {} ({} disabled; {} only in the target, kept)",
            self.keys, self.n_disabled, self.n_target_only
        )?;
        writeln!(f, "  settings        {}", self.settings)?;
        writeln!(f, "  stored values   {}", self.values)?;
        writeln!(f, "  client tokens   {}", self.tokens)?;
        writeln!(f, "  pins            {}", self.pins)?;
        writeln!(f, "  model facts     {}", self.facts)?;
        writeln!(f, "  prices          {}", self.prices)?;
        writeln!(f, "  log rows        {} added (through source row {})", self.logs_added, self.logs_through)?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        if self.n_moved() == 0 {
            writeln!(f, "nothing new: the target held everything already")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_moved_nothing_says_so() {
        let mut report = Report::new("sqlite:///a.db".into(), "postgres://kf:…@db/kf".into());
        report.keys.count(true, false);
        assert_eq!(report.n_moved(), 0);
        let text = report.to_string();
        assert!(text.contains("nothing new") && text.contains("0 added, 0 updated, 1 unchanged"), "{text}");
        report.prices.count(false, true);
        report.logs_added = 3;
        assert_eq!(report.n_moved(), 4);
        assert!(!report.to_string().contains("nothing new"));
    }
}
