//! Statistics over the request log: overview, and sums per hour, day or
//! month, per model, key and client token, in a chosen time zone.
//!
//! The store sums rows per 15-minute UTC bucket (every real time zone's
//! offset is a multiple of 15 minutes); buckets are then folded into local
//! periods here, so no SQL needs to know about time zones. The sums of the
//! whole window are folded here too, from the same sums (averages weighted
//! by what they average), so the console shows these figures instead of
//! adding up rounded rows itself.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::Serialize;

use crate::store::{Bucket, Dimension, LogFilter, LogTotals, Store, StoreResult};

const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
    Month,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown time zone `{name}`: {reason}")]
pub struct UnknownTimeZone {
    pub name: String,
    pub reason: String,
}

/// Resolves the statistics time zone: an IANA name, or the machine's.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, UnknownTimeZone> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => {
            TimeZone::get(name).map_err(|e| UnknownTimeZone { name: name.to_string(), reason: e.to_string() })
        }
        None => Ok(TimeZone::system()),
    }
}

pub fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("UTC").to_string()
}

/// Figures of one period (and one model, key or client).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Row {
    pub period: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub requests: u64,
    pub success: u64,
    pub errors: u64,
    pub success_rate: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub images: u64,
    pub cost: f64,
    pub avg_latency_ms: f64,
    pub avg_ttfb_ms: f64,
}

impl Row {
    fn from_totals(period: String, t: &LogTotals) -> Row {
        let rate = |num: u64, den: u64| if den == 0 { 0.0 } else { num as f64 / den as f64 };
        Row {
            period,
            requests: t.requests,
            success: t.success,
            errors: t.requests - t.success.min(t.requests),
            success_rate: rate(t.success, t.requests),
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            total_tokens: t.prompt_tokens + t.completion_tokens,
            images: t.images,
            cost: (t.cost * 1e6).round() / 1e6,
            avg_latency_ms: rate(t.latency_ms_sum, t.requests),
            avg_ttfb_ms: rate(t.ttfb_ms_sum, t.ttfb_n),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub time_zone: String,
    pub period: &'static str,
    /// One row per period, oldest first, including empty periods.
    pub totals: Vec<Row>,
    pub by_model: Vec<Row>,
    pub by_key: Vec<Row>,
    pub by_client: Vec<Row>,
    /// The whole window in one row; its `period` is `FIRST/LAST`.
    pub summary: Row,
    /// One row per model over the whole window, most tokens first (then
    /// most requests); `period` as in `summary`.
    pub model_summary: Vec<Row>,
    pub key_summary: Vec<Row>,
    pub client_summary: Vec<Row>,
}

fn add(into: &mut LogTotals, t: &LogTotals) {
    into.requests += t.requests;
    into.success += t.success;
    into.prompt_tokens += t.prompt_tokens;
    into.completion_tokens += t.completion_tokens;
    into.images += t.images;
    into.cost += t.cost;
    into.latency_ms_sum += t.latency_ms_sum;
    into.ttfb_ms_sum += t.ttfb_ms_sum;
    into.ttfb_n += t.ttfb_n;
}

/// The label of the local period containing `ms`.
fn label(ms: i64, tz: &TimeZone, period: Period) -> String {
    let Ok(ts) = Timestamp::from_millisecond(ms) else { return String::new() };
    let local = ts.to_zoned(tz.clone());
    match period {
        Period::Hour => local.strftime("%Y-%m-%d %H:00").to_string(),
        Period::Day => local.strftime("%Y-%m-%d").to_string(),
        Period::Month => local.strftime("%Y-%m").to_string(),
    }
}

/// Start (Unix ms) of the local period `n - 1` periods before the current one.
fn window_start(now: &Zoned, period: Period, n: i64) -> i64 {
    let back = n.saturating_sub(1).max(0);
    let start = match period {
        Period::Hour => now.start_of_day().ok().and_then(|_| {
            let hour = now.with().minute(0).second(0).subsec_nanosecond(0).build().ok()?;
            hour.checked_sub(back.hours()).ok()
        }),
        Period::Day => now.start_of_day().ok().and_then(|d| d.checked_sub(back.days()).ok()),
        Period::Month => now
            .first_of_month()
            .ok()
            .and_then(|d| d.start_of_day().ok())
            .and_then(|d| d.checked_sub(back.months()).ok()),
    };
    start.map(|z| z.timestamp().as_millisecond()).unwrap_or(0)
}

/// Every label of the window, oldest first, so empty periods show as zero.
fn labels(from_ms: i64, now_ms: i64, tz: &TimeZone, period: Period) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let step = match period {
        Period::Hour => QUARTER_HOUR_MS,
        _ => 4 * QUARTER_HOUR_MS,
    };
    let mut ms = from_ms;
    while ms <= now_ms {
        let l = label(ms, tz, period);
        if out.last() != Some(&l) {
            out.push(l);
        }
        ms += step;
    }
    let last = label(now_ms, tz, period);
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Names the row after the dimension value it sums.
fn with_dimension(mut row: Row, dim: Dimension, value: Option<String>) -> Row {
    match dim {
        Dimension::Model => row.model = value,
        Dimension::Key => row.key_id = value.and_then(|v| v.parse().ok()),
        Dimension::Client => row.client = value,
        Dimension::None => {}
    }
    row
}

/// One row per dimension value over every bucket, most tokens first, then
/// most requests (the order the console's breakdowns show).
fn summarize(buckets: &[Bucket], dim: Dimension, window: &str) -> Vec<Row> {
    let mut sums: BTreeMap<Option<String>, LogTotals> = BTreeMap::new();
    for b in buckets {
        add(sums.entry(b.dim.clone()).or_default(), &b.totals);
    }
    let mut rows: Vec<Row> = sums
        .into_iter()
        .map(|(value, t)| with_dimension(Row::from_totals(window.to_string(), &t), dim, value))
        .collect();
    rows.sort_by(|a, b| b.total_tokens.cmp(&a.total_tokens).then(b.requests.cmp(&a.requests)));
    rows
}

fn fold(buckets: &[Bucket], tz: &TimeZone, period: Period) -> BTreeMap<(String, Option<String>), LogTotals> {
    let mut out: BTreeMap<(String, Option<String>), LogTotals> = BTreeMap::new();
    for b in buckets {
        add(out.entry((label(b.start_ms, tz, period), b.dim.clone())).or_default(), &b.totals);
    }
    out
}

/// Sums of the last `n` periods (the current one included).
pub async fn report(
    store: &dyn Store,
    tz: &TimeZone,
    period: Period,
    n: i64,
    mut filter: LogFilter,
) -> StoreResult<Report> {
    let now = Zoned::now().with_time_zone(tz.clone());
    let now_ms = now.timestamp().as_millisecond();
    let from_ms = window_start(&now, period, n);
    filter.from_ms = Some(filter.from_ms.map_or(from_ms, |f| f.max(from_ms)));
    let bucket = QUARTER_HOUR_MS;

    let all_buckets = store.log_buckets(&filter, bucket, Dimension::None).await?;
    let totals_map = fold(&all_buckets, tz, period);
    let periods = labels(from_ms, now_ms, tz, period);
    let window =
        format!("{}/{}", periods.first().map_or("", String::as_str), periods.last().map_or("", String::as_str));
    let totals = periods
        .into_iter()
        .map(|l| {
            let t = totals_map.get(&(l.clone(), None)).copied().unwrap_or_default();
            Row::from_totals(l, &t)
        })
        .collect();
    let summary = summarize(&all_buckets, Dimension::None, &window)
        .pop()
        .unwrap_or_else(|| Row::from_totals(window.clone(), &LogTotals::default()));
    // Per period and over the whole window, from the same buckets.
    let split = |dim: Dimension, buckets: Vec<Bucket>| -> (Vec<Row>, Vec<Row>) {
        let per_period = fold(&buckets, tz, period)
            .into_iter()
            .map(|((l, value), t)| with_dimension(Row::from_totals(l, &t), dim, value))
            .collect();
        (per_period, summarize(&buckets, dim, &window))
    };
    let (by_model, model_summary) =
        split(Dimension::Model, store.log_buckets(&filter, bucket, Dimension::Model).await?);
    let (by_key, key_summary) = split(Dimension::Key, store.log_buckets(&filter, bucket, Dimension::Key).await?);
    let (by_client, client_summary) =
        split(Dimension::Client, store.log_buckets(&filter, bucket, Dimension::Client).await?);
    Ok(Report {
        time_zone: zone_name(tz),
        period: match period {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        },
        totals,
        by_model,
        by_key,
        by_client,
        summary,
        model_summary,
        key_summary,
        client_summary,
    })
}

/// Start of today in `tz`, Unix ms.
pub fn today_start_ms(tz: &TimeZone) -> i64 {
    let now = Zoned::now().with_time_zone(tz.clone());
    window_start(&now, Period::Day, 1)
}

pub fn totals_row(t: &LogTotals) -> Row {
    Row::from_totals(String::new(), t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_time_zone() {
        let shanghai = TimeZone::get("Asia/Shanghai").expect("tz");
        // 2026-11-21 20:30 UTC is 2026-11-22 04:30 in Shanghai.
        let ms = 1_795_293_000_000;
        assert_eq!(label(ms, &TimeZone::UTC, Period::Day), "2026-11-21");
        assert_eq!(label(ms, &shanghai, Period::Day), "2026-11-22");
        assert_eq!(label(ms, &shanghai, Period::Month), "2026-11");
        assert_eq!(label(ms, &shanghai, Period::Hour), "2026-11-22 04:00");
    }

    fn bucket(start_ms: i64, dim: &str, requests: u64, ttfb: (u64, u64)) -> Bucket {
        Bucket {
            start_ms,
            dim: Some(dim.to_string()),
            totals: LogTotals {
                requests,
                success: requests,
                prompt_tokens: 10 * requests,
                latency_ms_sum: 100 * requests,
                ttfb_ms_sum: ttfb.0,
                ttfb_n: ttfb.1,
                ..LogTotals::default()
            },
        }
    }

    #[test]
    fn window_sums_weight_each_average_by_what_it_averages() {
        // `a` in two periods: 3 requests of which 1 streamed (first byte at
        // 300 ms), then 1 request streamed at 100 ms. The time to first byte
        // averages over the 2 streams (200 ms), not over 4 requests.
        let buckets =
            [bucket(0, "a", 3, (300, 1)), bucket(QUARTER_HOUR_MS * 96, "a", 1, (100, 1)), bucket(0, "b", 5, (0, 0))];
        let rows = summarize(&buckets, Dimension::Model, "w");
        let seen: Vec<_> = rows.iter().map(|r| (r.model.as_deref(), r.requests, r.avg_ttfb_ms)).collect();
        assert_eq!(seen, [(Some("b"), 5, 0.0), (Some("a"), 4, 200.0)], "most tokens first");
        assert_eq!((rows[1].period.as_str(), rows[1].avg_latency_ms, rows[1].success_rate), ("w", 100.0, 1.0));
    }

    #[test]
    fn windows_cover_n_periods() {
        let tz = TimeZone::UTC;
        let now = Timestamp::from_millisecond(1_795_293_000_000).expect("ts").to_zoned(tz.clone());
        let from = window_start(&now, Period::Day, 3);
        let l = labels(from, now.timestamp().as_millisecond(), &tz, Period::Day);
        assert_eq!(l, vec!["2026-11-19", "2026-11-20", "2026-11-21"]);
        let from = window_start(&now, Period::Month, 2);
        let l = labels(from, now.timestamp().as_millisecond(), &tz, Period::Month);
        assert_eq!(l, vec!["2026-10", "2026-11"]);
    }
}
