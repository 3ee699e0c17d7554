//! Rendering key exports: the text behind `GET /api/keys/export` and `keyflow keys export`.
//!
//! The export is the one place keys leave keyflow unmasked, so it is plain
//! text meant to be pasted elsewhere, including back into the importer:
//! `sk-...----14.00` lines are what `pool::import::parse_keys` reads as a key
//! with its balance.

use std::cmp::Ordering;

use serde::Deserialize;

/// What the export is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportSort {
    Balance,
    Key,
}

/// Direction of the export order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// How keys are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Separator {
    /// One key a line, each line ending in `\n`.
    Newline,
    /// One line `k1,k2,k3` with no trailing newline, ready for `KEYS=`.
    Comma,
}

/// Which keys are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFilter {
    All,
    /// Balance known and above zero.
    Funded,
    /// Balance known and zero or below. A key whose balance is unknown is
    /// neither funded nor empty: exporting it under either would be a guess.
    Empty,
}

/// The query of `GET /api/keys/export`; every field may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ExportOptions {
    pub sort: ExportSort,
    /// `None` picks the natural direction: richest first for balance, A to Z
    /// for key.
    pub order: Option<SortOrder>,
    pub sep: Separator,
    /// Append `----balance` to keys whose balance is known.
    pub with_balance: bool,
    pub filter: ExportFilter,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            sort: ExportSort::Balance,
            order: None,
            sep: Separator::Newline,
            with_balance: false,
            filter: ExportFilter::All,
        }
    }
}

impl ExportOptions {
    /// The direction actually used, defaults applied.
    pub fn effective_order(&self) -> SortOrder {
        self.order.unwrap_or(match self.sort {
            ExportSort::Balance => SortOrder::Desc,
            ExportSort::Key => SortOrder::Asc,
        })
    }
}

/// One key to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub key: String,
    /// `None` when upstream never told us (or no longer tells us) the balance.
    pub balance: Option<f64>,
}

impl ExportRow {
    /// The balance if it is a real number; NaN or infinity count as unknown.
    fn known_balance(&self) -> Option<f64> {
        self.balance.filter(|balance| balance.is_finite())
    }
}

impl ExportFilter {
    fn admits(self, balance: Option<f64>) -> bool {
        match self {
            Self::All => true,
            Self::Funded => balance.is_some_and(|b| b > 0.0),
            Self::Empty => balance.is_some_and(|b| b <= 0.0),
        }
    }
}

/// Filters, sorts and joins `rows` as `opts` says.
///
/// Keys with an unknown balance sort after every known balance in both
/// directions: they are the least useful to whoever reads the list, whatever
/// the direction. Ties are broken by key, A to Z, so the output is the same
/// for the same rows whatever order they came in.
pub fn render_export(mut rows: Vec<ExportRow>, opts: &ExportOptions) -> String {
    rows.retain(|row| opts.filter.admits(row.known_balance()));
    let order = opts.effective_order();
    rows.sort_by(|a, b| compare_rows(a, b, opts.sort, order));

    let mut out = String::with_capacity(rows.len() * 64);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 && opts.sep == Separator::Comma {
            out.push(',');
        }
        out.push_str(&row.key);
        if let Some(balance) = row.known_balance().filter(|_| opts.with_balance) {
            out.push_str("----");
            out.push_str(&format_balance(balance));
        }
        if opts.sep == Separator::Newline {
            out.push('\n');
        }
    }
    out
}

fn compare_rows(a: &ExportRow, b: &ExportRow, sort: ExportSort, order: SortOrder) -> Ordering {
    let directed = |ordering: Ordering| match order {
        SortOrder::Asc => ordering,
        SortOrder::Desc => ordering.reverse(),
    };
    match sort {
        ExportSort::Key => directed(a.key.cmp(&b.key)),
        ExportSort::Balance => match (a.known_balance(), b.known_balance()) {
            (Some(x), Some(y)) => directed(x.total_cmp(&y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(|| a.key.cmp(&b.key)),
    }
}

/// Two decimals, as the console shows balances; a balance that rounds to zero
/// is written `0.00`, never `-0.00`.
fn format_balance(balance: f64) -> String {
    if balance.abs() < 0.005 {
        "0.00".to_owned()
    } else {
        format!("{balance:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, balance: Option<f64>) -> ExportRow {
        ExportRow { key: key.to_owned(), balance }
    }

    fn sample() -> Vec<ExportRow> {
        vec![
            row("sk-c", Some(1.0)),
            row("sk-a", None),
            row("sk-d", Some(0.0)),
            row("sk-b", Some(14.0)),
            row("sk-e", Some(-2.5)),
            row("sk-f", Some(1.0)),
        ]
    }

    fn opts(sort: ExportSort, order: Option<SortOrder>) -> ExportOptions {
        ExportOptions { sort, order, ..ExportOptions::default() }
    }

    #[test]
    fn default_is_balance_descending_one_per_line() {
        let out = render_export(sample(), &ExportOptions::default());
        assert_eq!(out, "sk-b\nsk-c\nsk-f\nsk-d\nsk-e\nsk-a\n");
    }

    #[test]
    fn balance_ascending_keeps_unknown_last() {
        let out = render_export(sample(), &opts(ExportSort::Balance, Some(SortOrder::Asc)));
        assert_eq!(out, "sk-e\nsk-d\nsk-c\nsk-f\nsk-b\nsk-a\n");
    }

    #[test]
    fn balance_ties_break_by_key_ascending_in_both_directions() {
        let rows = vec![row("sk-z", Some(1.0)), row("sk-y", Some(1.0))];
        for order in [SortOrder::Asc, SortOrder::Desc] {
            let out = render_export(rows.clone(), &opts(ExportSort::Balance, Some(order)));
            assert_eq!(out, "sk-y\nsk-z\n");
        }
    }

    #[test]
    fn key_sort_defaults_to_ascending() {
        let out = render_export(sample(), &opts(ExportSort::Key, None));
        assert_eq!(out, "sk-a\nsk-b\nsk-c\nsk-d\nsk-e\nsk-f\n");
        let out = render_export(sample(), &opts(ExportSort::Key, Some(SortOrder::Desc)));
        assert_eq!(out, "sk-f\nsk-e\nsk-d\nsk-c\nsk-b\nsk-a\n");
    }

    #[test]
    fn comma_separator_is_one_line() {
        let options = ExportOptions { sort: ExportSort::Key, sep: Separator::Comma, ..ExportOptions::default() };
        let out = render_export(sample(), &options);
        assert_eq!(out, "sk-a,sk-b,sk-c,sk-d,sk-e,sk-f");
    }

    #[test]
    fn with_balance_appends_known_balances_only() {
        let options = ExportOptions { with_balance: true, ..ExportOptions::default() };
        let out = render_export(sample(), &options);
        assert_eq!(out, "sk-b----14.00\nsk-c----1.00\nsk-f----1.00\nsk-d----0.00\nsk-e-----2.50\nsk-a\n");
    }

    #[test]
    fn filters_treat_unknown_as_neither_funded_nor_empty() {
        let funded = ExportOptions { filter: ExportFilter::Funded, ..ExportOptions::default() };
        assert_eq!(render_export(sample(), &funded), "sk-b\nsk-c\nsk-f\n");
        let empty = ExportOptions { filter: ExportFilter::Empty, ..ExportOptions::default() };
        assert_eq!(render_export(sample(), &empty), "sk-d\nsk-e\n");
    }

    #[test]
    fn non_finite_balances_count_as_unknown() {
        let rows = vec![row("sk-n", Some(f64::NAN)), row("sk-i", Some(f64::INFINITY)), row("sk-k", Some(2.0))];
        let options = ExportOptions { with_balance: true, ..ExportOptions::default() };
        assert_eq!(render_export(rows.clone(), &options), "sk-k----2.00\nsk-i\nsk-n\n");
        let funded = ExportOptions { filter: ExportFilter::Funded, ..ExportOptions::default() };
        assert_eq!(render_export(rows, &funded), "sk-k\n");
    }

    #[test]
    fn tiny_negative_balance_is_written_as_zero() {
        assert_eq!(format_balance(-0.001), "0.00");
        assert_eq!(format_balance(0.004), "0.00");
        assert_eq!(format_balance(0.006), "0.01");
    }

    #[test]
    fn empty_input_renders_empty_text() {
        assert_eq!(render_export(Vec::new(), &ExportOptions::default()), "");
    }

    fn from_query(query: &str) -> Result<ExportOptions, Box<dyn std::error::Error>> {
        let uri: http::Uri = format!("http://localhost/api/keys/export?{query}").parse()?;
        let axum::extract::Query(options) = axum::extract::Query::try_from_uri(&uri)?;
        Ok(options)
    }

    #[test]
    fn query_with_no_parameters_gives_the_defaults() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(from_query("")?, ExportOptions::default());
        Ok(())
    }

    #[test]
    fn query_accepts_any_subset_of_parameters() -> Result<(), Box<dyn std::error::Error>> {
        let options = from_query("sort=key&with_balance=true")?;
        assert_eq!(options.sort, ExportSort::Key);
        assert_eq!(options.effective_order(), SortOrder::Asc);
        assert!(options.with_balance);
        assert_eq!(options.sep, Separator::Newline);

        let options = from_query("order=asc&sep=comma&filter=funded")?;
        assert_eq!(options.sort, ExportSort::Balance);
        assert_eq!(options.effective_order(), SortOrder::Asc);
        assert_eq!(options.sep, Separator::Comma);
        assert_eq!(options.filter, ExportFilter::Funded);
        assert!(!options.with_balance);

        let options = from_query("filter=empty&with_balance=false&sort=balance&order=desc")?;
        assert_eq!(options.filter, ExportFilter::Empty);
        assert_eq!(options.order, Some(SortOrder::Desc));
        Ok(())
    }

    #[test]
    fn query_rejects_unknown_values() {
        assert!(from_query("sort=size").is_err());
        assert!(from_query("with_balance=maybe").is_err());
    }

    #[test]
    fn balance_default_order_is_descending() {
        assert_eq!(ExportOptions::default().effective_order(), SortOrder::Desc);
    }
}
