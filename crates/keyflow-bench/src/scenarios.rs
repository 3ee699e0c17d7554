//! The measured scenarios: (a) fixed rates, (b) maximum throughput,
//! (c) stream pacing, (d) many concurrent slow streams. Each repeats its
//! measurement, alternating the targets, and keeps the median.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::load::{self, Errors, StreamTrace, Target};
use crate::report::{count, num, signed, times, Row, NONE};
use crate::stats::{median, Percentiles};
use crate::sys;

/// The targets of one phase; `nginx` is absent when not installed or not wanted.
pub struct Targets {
    pub direct: Target,
    pub nginx: Option<Target>,
    pub keyflow: Target,
    /// The processes whose CPU time each column is charged: the mock for
    /// direct, nginx's master and workers, keyflow (not the mock behind them).
    pub pids: [Vec<u32>; 3],
}

/// CPU µs per successful request spent by `pids` while `run` ran.
async fn cpu_per_request<T>(
    pids: &[u32],
    run: impl std::future::Future<Output = anyhow::Result<(T, u64)>>,
) -> anyhow::Result<(T, Option<f64>)> {
    let before = sys::cpu_time(pids);
    let (value, ok) = run.await?;
    let spent = sys::cpu_time(pids).saturating_sub(before);
    let per_request = (ok > 0 && !pids.is_empty()).then(|| spent.as_secs_f64() * 1e6 / ok as f64);
    Ok((value, per_request))
}

/// Runs `run` while sampling keyflow's log queue every 250 ms (keyflow
/// column only); returns its result and the deepest queue seen.
async fn watching_queue<T>(
    column: Column,
    target: &Target,
    run: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Option<u64>)> {
    if column != Column::Keyflow {
        return Ok((run.await?, None));
    }
    let stop = AtomicBool::new(false);
    let deepest = AtomicU64::new(0);
    let sampler = async {
        // Bounded: an hour of samples at most.
        for _ in 0..14_400 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(depth) = load::log_queue_depth(target).await {
                deepest.fetch_max(depth, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let measured = async {
        let result = run.await;
        stop.store(true, Ordering::Relaxed);
        result
    };
    let (result, ()) = tokio::join!(measured, sampler);
    Ok((result?, Some(deepest.load(Ordering::Relaxed))))
}

/// A row with keyflow's deepest log queue over the runs.
fn queue_row(scenario: &str, deepest: Option<u64>) -> Row {
    let cell = deepest.map_or_else(|| NONE.to_owned(), count);
    single_row(scenario, "keyflow log queue, deepest (rows not yet written)", None, cell)
}

/// The label of the CPU rows.
const CPU_METRIC: &str = "CPU per request (µs; direct = the mock)";

/// Which column a target fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Direct,
    Nginx,
    Keyflow,
}

impl Targets {
    /// The targets in the order of run `repeat`: rotated each run so no
    /// target always goes first (warmest caches) or last.
    fn order(&self, repeat: usize) -> Vec<(Column, &Target)> {
        let mut all = vec![(Column::Direct, &self.direct)];
        if let Some(nginx) = &self.nginx {
            all.push((Column::Nginx, nginx));
        }
        all.push((Column::Keyflow, &self.keyflow));
        let n = all.len();
        all.rotate_left(repeat % n);
        all
    }
}

/// Per-run values of one figure for the three columns.
#[derive(Debug, Default, Clone)]
struct Series {
    direct: Vec<f64>,
    nginx: Vec<f64>,
    keyflow: Vec<f64>,
}

impl Series {
    fn push(&mut self, column: Column, value: f64) {
        match column {
            Column::Direct => self.direct.push(value),
            Column::Nginx => self.nginx.push(value),
            Column::Keyflow => self.keyflow.push(value),
        }
    }

    /// Median of keyflow minus direct, paired run by run.
    fn added(&self) -> Option<f64> {
        median(self.keyflow.iter().zip(&self.direct).map(|(k, d)| k - d))
    }

    /// Median of keyflow over nginx, paired run by run.
    fn ratio(&self) -> Option<f64> {
        median(self.keyflow.iter().zip(&self.nginx).map(|(k, n)| k / n))
    }

    fn row(&self, scenario: &str, metric: &str, decimals: usize, with_ratio: bool) -> Row {
        let med = |values: &[f64]| median(values.iter().copied());
        Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            direct: num(med(&self.direct), decimals),
            nginx: num(med(&self.nginx), decimals),
            keyflow: num(med(&self.keyflow), decimals),
            added: signed(self.added(), decimals),
            ratio: if with_ratio { times(self.ratio()) } else { NONE.to_owned() },
        }
    }
}

/// Failures per column, summed over runs.
#[derive(Debug, Default)]
struct ErrorsByColumn {
    direct: Errors,
    nginx: Errors,
    keyflow: Errors,
    ok: [u64; 3],
    late_sends: u64,
}

impl ErrorsByColumn {
    fn add(&mut self, column: Column, errors: &Errors, ok: u64) {
        match column {
            Column::Direct => self.direct.merge(errors),
            Column::Nginx => self.nginx.merge(errors),
            Column::Keyflow => self.keyflow.merge(errors),
        }
        self.ok[column as usize] += ok;
    }

    fn row(&self, scenario: &str, has_nginx: bool) -> Row {
        let cell = |errors: &Errors| count(errors.total());
        Row {
            scenario: scenario.to_owned(),
            metric: "failed requests (all runs)".to_owned(),
            direct: cell(&self.direct),
            nginx: if has_nginx { cell(&self.nginx) } else { NONE.to_owned() },
            keyflow: cell(&self.keyflow),
            added: NONE.to_owned(),
            ratio: NONE.to_owned(),
        }
    }

    /// Fails when a target answered nothing at all: the harness, not the
    /// target's speed, is then broken.
    fn ensure_some_success(&self, scenario: &str, has_nginx: bool) -> anyhow::Result<()> {
        let columns = [
            ("direct", &self.direct, self.ok[0]),
            ("nginx", &self.nginx, self.ok[1]),
            ("keyflow", &self.keyflow, self.ok[2]),
        ];
        for (name, errors, ok) in columns {
            if ok == 0 && (name != "nginx" || has_nginx) {
                let first = errors.first.as_deref().unwrap_or("no request was sent");
                bail!("{scenario}: no successful request through {name} ({first})");
            }
        }
        Ok(())
    }

    fn notes(&self, scenario: &str) -> Vec<String> {
        let mut notes = Vec::new();
        for (name, errors) in [("direct", &self.direct), ("nginx", &self.nginx), ("keyflow", &self.keyflow)] {
            if let Some(first) = &errors.first {
                notes.push(format!("{scenario}: {} failures through {name}, first: {first}", errors.total()));
            }
        }
        if self.late_sends > 0 {
            notes.push(format!(
                "{scenario}: the load generator sent {} requests more than 1 ms after their slot (counted from the slot)",
                self.late_sends
            ));
        }
        notes
    }
}

/// Settings shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Plan {
    pub duration: Duration,
    pub repeats: usize,
    pub connections: usize,
    pub request_timeout: Duration,
    pub stream_rate: f64,
    pub stream_chunks: usize,
    pub chunk_interval: Duration,
}

/// The most requests a fixed-rate run keeps outstanding before shedding.
const MAX_IN_FLIGHT: usize = 5_000;

/// What a scenario adds to the report.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// The scenario's headline figure for the targets check.
    pub headline: Option<f64>,
}

/// (a) Non-streamed chat at `rate` requests/s, open loop.
pub async fn fixed_rate(targets: &Targets, plan: &Plan, rate: u32) -> anyhow::Result<Outcome> {
    let scenario = format!("(a) {} req/s", count(u64::from(rate)));
    let n_requests = (f64::from(rate) * plan.duration.as_secs_f64()).round().max(1.0) as u64;
    let (mut p50, mut p99, mut p999) = (Series::default(), Series::default(), Series::default());
    let mut cpu = Series::default();
    let mut deepest: Option<u64> = None;
    let mut errors = ErrorsByColumn::default();
    for repeat in 0..plan.repeats {
        for (column, target) in targets.order(repeat) {
            let timeout = plan.request_timeout;
            let worker = target.clone();
            let timed = async {
                let run = load::timetable(f64::from(rate), n_requests, MAX_IN_FLIGHT, move |slot| {
                    let target = worker.clone();
                    async move { load::chat_once(&target, slot, timeout).await }
                })
                .await?;
                let ok = run.results.iter().filter(|r| r.is_ok()).count() as u64;
                Ok((run, ok))
            };
            let ((run, cpu_us), depth) =
                watching_queue(column, target, cpu_per_request(&targets.pids[column as usize], timed)).await?;
            deepest = deepest.max(depth);
            if let Some(cpu_us) = cpu_us {
                cpu.push(column, cpu_us);
            }
            let mut latencies = Vec::with_capacity(run.results.len());
            let mut run_errors = Errors::default();
            for result in &run.results {
                match result {
                    Ok(latency) => latencies.push(latency.as_micros() as u64),
                    Err(failure) => run_errors.add(failure),
                }
            }
            errors.late_sends += run.late_sends;
            errors.add(column, &run_errors, latencies.len() as u64);
            if let Some(p) = Percentiles::of_micros(&mut latencies) {
                p50.push(column, p.p50);
                p99.push(column, p.p99);
                p999.push(column, p.p999);
            }
        }
    }
    let has_nginx = targets.nginx.is_some();
    errors.ensure_some_success(&scenario, has_nginx)?;
    Ok(Outcome {
        rows: vec![
            p50.row(&scenario, "latency p50 (ms)", 3, true),
            p99.row(&scenario, "latency p99 (ms)", 3, true),
            p999.row(&scenario, "latency p99.9 (ms)", 3, true),
            cpu.row(&scenario, CPU_METRIC, 1, true),
            queue_row(&scenario, deepest),
            errors.row(&scenario, has_nginx),
        ],
        notes: errors.notes(&scenario),
        headline: p99.added(),
    })
}

/// (b) Closed-loop maximum throughput over `plan.connections` connections.
pub async fn max_throughput(targets: &Targets, plan: &Plan) -> anyhow::Result<Outcome> {
    let scenario = format!("(b) closed loop, {} conns", plan.connections);
    let mut rps = Series::default();
    let mut cpu = Series::default();
    let mut deepest: Option<u64> = None;
    let mut errors = ErrorsByColumn::default();
    for repeat in 0..plan.repeats {
        for (column, target) in targets.order(repeat) {
            let timed = async {
                let run = load::closed_loop(target, plan.connections, plan.duration, plan.request_timeout).await?;
                let ok = run.ok;
                Ok((run, ok))
            };
            let ((run, cpu_us), depth) =
                watching_queue(column, target, cpu_per_request(&targets.pids[column as usize], timed)).await?;
            deepest = deepest.max(depth);
            if let Some(cpu_us) = cpu_us {
                cpu.push(column, cpu_us);
            }
            errors.add(column, &run.errors, run.ok);
            rps.push(column, run.per_second());
        }
    }
    let has_nginx = targets.nginx.is_some();
    errors.ensure_some_success(&scenario, has_nginx)?;
    let mut throughput = rps.row(&scenario, "throughput (req/s)", 0, true);
    // For throughput the useful comparison with direct is a ratio too.
    let direct_ratio = median(rps.keyflow.iter().zip(&rps.direct).map(|(k, d)| k / d));
    throughput.added = format!("{} of direct", times(direct_ratio));
    Ok(Outcome {
        rows: vec![
            throughput,
            cpu.row(&scenario, CPU_METRIC, 1, true),
            queue_row(&scenario, deepest),
            errors.row(&scenario, has_nginx),
        ],
        notes: errors.notes(&scenario),
        headline: if has_nginx { rps.ratio() } else { None },
    })
}

/// What (c) measured: added first-byte time and added per-chunk lag.
#[derive(Debug, Default)]
pub struct StreamHeadline {
    pub added_ttfb_p99_ms: Option<f64>,
    pub added_lag_p99_ms: Option<f64>,
}

/// Lags of a stream's events behind the mock's pacing, in µs: event `k`
/// (after the first) is due `k` intervals after the first; the final
/// `[DONE]` is left out (keyflow strips the usage chunk before it, which
/// moves `[DONE]` one interval later without delaying any content).
fn chunk_lags(trace: &StreamTrace, interval: Duration) -> impl Iterator<Item = u64> + '_ {
    let first = trace.events_us.first().copied().unwrap_or(0);
    let interval_us = interval.as_micros() as u64;
    let content = trace.events_us.len().saturating_sub(1);
    trace.events_us[..content]
        .iter()
        .enumerate()
        .skip(1)
        .map(move |(k, at)| at.saturating_sub(first).saturating_sub(k as u64 * interval_us))
}

/// (c) Streams of `plan.stream_chunks` chunks paced by the mock: added time
/// to first byte, and each chunk's lag behind the pacing, versus direct.
pub async fn streaming(targets: &Targets, plan: &Plan) -> anyhow::Result<(Outcome, StreamHeadline)> {
    let scenario = format!("(c) streams, {} chunks / {} ms", plan.stream_chunks, plan.chunk_interval.as_millis());
    let n_streams = (plan.stream_rate * plan.duration.as_secs_f64()).round().max(1.0) as u64;
    // role chunk + content chunks + stop chunk + [DONE]
    let expected_events = plan.stream_chunks + 3;
    let stream_timeout = plan.chunk_interval * (expected_events as u32 + 1) + plan.request_timeout;
    let (mut ttfb50, mut ttfb99) = (Series::default(), Series::default());
    let (mut lag50, mut lag99, mut lag_max) = (Series::default(), Series::default(), Series::default());
    let mut errors = ErrorsByColumn::default();
    for repeat in 0..plan.repeats {
        for (column, target) in targets.order(repeat) {
            let worker = target.clone();
            let run = load::timetable(plan.stream_rate, n_streams, MAX_IN_FLIGHT, move |slot| {
                let target = worker.clone();
                async move { load::stream_once(&target, slot, stream_timeout, expected_events).await }
            })
            .await?;
            let mut run_errors = Errors::default();
            let (mut ttfbs, mut lags) = (Vec::new(), Vec::new());
            for result in &run.results {
                match result {
                    Ok(trace) => {
                        ttfbs.push(trace.ttfb_us);
                        lags.extend(chunk_lags(trace, plan.chunk_interval));
                    }
                    Err(failure) => run_errors.add(failure),
                }
            }
            errors.late_sends += run.late_sends;
            errors.add(column, &run_errors, ttfbs.len() as u64);
            if let Some(p) = Percentiles::of_micros(&mut ttfbs) {
                ttfb50.push(column, p.p50);
                ttfb99.push(column, p.p99);
            }
            if let Some(p) = Percentiles::of_micros(&mut lags) {
                lag50.push(column, p.p50);
                lag99.push(column, p.p99);
                lag_max.push(column, p.max);
            }
        }
    }
    let has_nginx = targets.nginx.is_some();
    errors.ensure_some_success(&scenario, has_nginx)?;
    let rows = vec![
        ttfb50.row(&scenario, "time to first byte p50 (ms)", 3, false),
        ttfb99.row(&scenario, "time to first byte p99 (ms)", 3, false),
        lag50.row(&scenario, "chunk lag behind pacing p50 (ms)", 3, false),
        lag99.row(&scenario, "chunk lag behind pacing p99 (ms)", 3, false),
        lag_max.row(&scenario, "chunk lag behind pacing max (ms)", 3, false),
        errors.row(&scenario, has_nginx),
    ];
    let headline = StreamHeadline { added_ttfb_p99_ms: ttfb99.added(), added_lag_p99_ms: lag99.added() };
    Ok((Outcome { rows, notes: errors.notes(&scenario), headline: None }, headline))
}

/// What (d) measured for one target.
#[derive(Debug, Default)]
pub struct SlowStreams {
    pub ok: u64,
    pub errors: Errors,
    pub peak_open: usize,
    /// Highest `VmRSS` sampled, and `VmHWM` at the end (KiB); keyflow only.
    pub rss_sampled_kib: u64,
    pub rss_hwm_kib: u64,
}

/// (d) `n_streams` slow streams opened at `ramp_rate` per second, all open
/// at once for most of their life; samples `watch_pid`'s memory meanwhile.
pub async fn slow_streams(
    target: &Target,
    n_streams: u64,
    ramp_rate: f64,
    expected_events: usize,
    stream_timeout: Duration,
    watch_pid: Option<u32>,
) -> anyhow::Result<SlowStreams> {
    let stop = Arc::new(AtomicBool::new(false));
    let sampled = Arc::new(AtomicU64::new(0));
    let sampler = watch_pid.map(|pid| {
        let (stop, sampled) = (Arc::clone(&stop), Arc::clone(&sampled));
        // Bounded: at most one sample per 100 ms for the stream timeout plus the ramp.
        let max_samples = (stream_timeout.as_secs_f64() * 10.0 + n_streams as f64 / ramp_rate * 10.0) as u64 + 100;
        async move {
            for _ in 0..max_samples {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(rss) = sys::rss_of(pid) {
                    sampled.fetch_max(rss.now_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let worker = target.clone();
    let run = load::timetable(ramp_rate, n_streams, usize::MAX, move |slot| {
        let target = worker.clone();
        async move { load::stream_once(&target, slot, stream_timeout, expected_events).await }
    });
    let run = match sampler {
        Some(sampler) => {
            let stop_after = async {
                let run = run.await;
                stop.store(true, Ordering::Relaxed);
                run
            };
            tokio::join!(stop_after, sampler).0?
        }
        None => run.await?,
    };
    let mut result = SlowStreams { peak_open: run.peak_in_flight, ..SlowStreams::default() };
    for outcome in &run.results {
        match outcome {
            Ok(_) => result.ok += 1,
            Err(failure) => result.errors.add(failure),
        }
    }
    result.rss_sampled_kib = sampled.load(Ordering::Relaxed);
    if let Some(pid) = watch_pid {
        result.rss_hwm_kib = sys::rss_of(pid).map(|rss| rss.peak_kib).unwrap_or(0);
    }
    Ok(result)
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A row with a figure in one or two columns only.
pub fn single_row(scenario: &str, metric: &str, direct: Option<String>, keyflow: String) -> Row {
    Row {
        scenario: scenario.to_owned(),
        metric: metric.to_owned(),
        direct: direct.unwrap_or_else(|| NONE.to_owned()),
        nginx: NONE.to_owned(),
        keyflow,
        added: NONE.to_owned(),
        ratio: NONE.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_leave_out_done_and_subtract_pacing() {
        let trace = StreamTrace { ttfb_us: 900, events_us: vec![1_000, 21_500, 41_000, 61_000, 90_000] };
        let lags: Vec<u64> = chunk_lags(&trace, Duration::from_millis(20)).collect();
        assert_eq!(lags, vec![500, 0, 0]);
    }

    #[test]
    fn paired_differences_and_ratios() {
        let series =
            Series { direct: vec![1.0, 2.0, 3.0], nginx: vec![10.0, 10.0, 10.0], keyflow: vec![1.5, 2.5, 3.1] };
        let added = series.added().expect("added");
        assert!((added - 0.5).abs() < 1e-9);
        assert!((series.ratio().expect("ratio") - 0.25).abs() < 1e-9);
    }
}
