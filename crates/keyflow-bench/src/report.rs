//! The result table: printed to the terminal and written, as a dated
//! markdown section (newest first), to `docs/benchmarks.md`.

use std::path::Path;

use anyhow::Context as _;

/// One line of the table; cells already formatted, `—` where a figure does not apply.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub direct: String,
    pub nginx: String,
    pub keyflow: String,
    /// keyflow minus direct.
    pub added: String,
    /// keyflow divided by nginx.
    pub ratio: String,
}

pub const NONE: &str = "—";

/// `value` with `decimals` decimals, or `—`.
pub fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| NONE.to_owned(), |v| format!("{v:.decimals$}"))
}

/// `value` with a sign, for differences.
pub fn signed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| NONE.to_owned(), |v| format!("{v:+.decimals$}"))
}

/// A ratio as `0.93×`.
pub fn times(value: Option<f64>) -> String {
    value.map_or_else(|| NONE.to_owned(), |v| format!("{v:.2}×"))
}

/// A whole number with thousands separators.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A target of SPEC §9 and what this run measured for it.
#[derive(Debug, Clone)]
pub struct Check {
    pub target: String,
    pub measured: String,
    /// `None` when the run could not tell (scenario skipped, nginx missing).
    pub met: Option<bool>,
}

/// Everything a run reports.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub machine: String,
    pub command: String,
    pub setup: Vec<String>,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
}

const HEADER: [&str; 7] = ["Scenario", "Metric", "direct", "nginx", "keyflow", "keyflow − direct", "keyflow ÷ nginx"];

impl Report {
    /// The table as markdown, columns padded so it also reads as plain text.
    pub fn table(&self) -> String {
        let cells: Vec<[&str; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.scenario.as_str(),
                    r.metric.as_str(),
                    r.direct.as_str(),
                    r.nginx.as_str(),
                    r.keyflow.as_str(),
                    r.added.as_str(),
                    r.ratio.as_str(),
                ]
            })
            .collect();
        let mut widths = HEADER.map(|h| h.chars().count());
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |row: &[&str; 7]| {
            let padded: Vec<String> = row
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, width))| {
                    let pad = " ".repeat(width - cell.chars().count());
                    // Text columns to the left, figures to the right.
                    if i < 2 {
                        format!("{cell}{pad}")
                    } else {
                        format!("{pad}{cell}")
                    }
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = line(&HEADER);
        // Each rule cell spans the cell and its two spaces; figures align right.
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i < 2 { "-".repeat(w + 2) } else { format!("{}:", "-".repeat(w + 1)) })
            .collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &cells {
            out.push_str(&line(row));
        }
        out
    }

    fn checks_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let verdict = match check.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            out.push_str(&format!("- {}: {} — **{verdict}**\n", check.target, check.measured));
        }
        out
    }

    /// What the terminal shows.
    pub fn terminal(&self) -> String {
        let mut out = format!("\nkeyflow-bench — {} — commit {}\n{}\n\n", self.date, self.commit, self.machine);
        out.push_str(&self.table());
        out.push_str("\nTargets (SPEC §9):\n");
        out.push_str(&self.checks_text());
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }

    /// The dated markdown section.
    pub fn markdown(&self) -> String {
        let mut out = format!("## {} · commit `{}`\n\n", self.date, self.commit);
        out.push_str(&format!("- Command: `{}`\n", self.command));
        out.push_str(&format!("- Machine: {}\n", self.machine));
        for line in &self.setup {
            out.push_str(&format!("- {line}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("- Note: {note}\n"));
        }
        out.push('\n');
        out.push_str(&self.table());
        out.push_str("\nTargets (SPEC §9):\n\n");
        out.push_str(&self.checks_text());
        out.push('\n');
        out
    }
}

/// The top of a new `docs/benchmarks.md`.
const INTRO: &str = "# Benchmarks

Measured by `crates/keyflow-bench` (`cargo build --release -p keyflow -p keyflow-mock -p keyflow-bench`,
then `cargo run --release -p keyflow-bench`): the same load sent directly to `keyflow-mock --fast`,
through nginx and through keyflow, alternating, in one run, on loopback. Micro-benchmarks of the
hot pure pieces: `cargo bench -p keyflow-bench`. Newest run first.

";

/// Inserts `section` above the newest `## ` section of `path` (creating the
/// file with an introduction if needed), keeping older runs below.
pub fn prepend_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => INTRO.to_owned(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let at = if old.starts_with("## ") { Some(0) } else { old.find("\n## ").map(|i| i + 1) };
    let text = match at {
        Some(at) => format!("{}{section}{}", &old[..at], &old[at..]),
        None => format!("{}{}{section}", old, if old.ends_with("\n\n") || old.is_empty() { "" } else { "\n" }),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str) -> Row {
        Row {
            scenario: scenario.into(),
            metric: "p99 (ms)".into(),
            direct: "0.20".into(),
            nginx: "0.30".into(),
            keyflow: "0.40".into(),
            added: "+0.20".into(),
            ratio: NONE.into(),
        }
    }

    #[test]
    fn numbers_format() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(signed(Some(0.25), 2), "+0.25");
        assert_eq!(num(None, 1), "—");
        assert_eq!(times(Some(1.0)), "1.00×");
    }

    #[test]
    fn table_has_a_row_per_figure() {
        let report = Report { rows: vec![row("a"), row("b")], ..Report::default() };
        let table = report.table();
        assert_eq!(table.lines().count(), 4);
        assert!(table.lines().all(|l| l.starts_with('|') && l.ends_with('|')));
    }

    #[test]
    fn sections_go_newest_first() {
        let dir = std::env::temp_dir().join(format!("keyflow-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("b.md");
        let _ = std::fs::remove_file(&path);
        prepend_section(&path, "## one\n\nfirst\n\n").expect("first");
        prepend_section(&path, "## two\n\nsecond\n\n").expect("second");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# Benchmarks"));
        let (two, one) = (text.find("## two"), text.find("## one"));
        assert!(two.is_some() && one.is_some() && two < one);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
