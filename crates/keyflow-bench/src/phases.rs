//! The benchmark phases that need processes of their own: (d) many slow
//! streams held open at once, (e) keyflow's memory with a large pool.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::config::Config;
use crate::procs::{self, KeyflowSetup, MockSetup, TempDir};
use crate::report::{count, num, Check, Report};
use crate::run::{ensure_alive, idle_rss};
use crate::scenarios::{self, mib, single_row};
use crate::{load, sys, CLIENT_TOKEN};

/// (d): a fresh mock with slow streams and a fresh keyflow; direct first as
/// the baseline, then keyflow with its memory watched.
pub async fn slow_phase(config: &Config, dir: &TempDir, fd_limit: u64, report: &mut Report) -> anyhow::Result<Check> {
    let interval = config.slow_interval;
    // Frames: role, content pieces, stop, (usage), [DONE], one interval apart.
    let pieces = ((config.slow_hold.as_secs_f64() / interval.as_secs_f64()).round() as usize).saturating_sub(2).max(1);
    let expected_events = pieces + 3;
    let setup = MockSetup {
        n_keys: config.pool_keys,
        latency_ms: 0,
        stream_chunks: pieces,
        chunk_interval_ms: interval.as_millis() as u64,
    };
    let (mut mock, keys) = procs::start_mock(&config.mock_bin, dir.path(), "slow-mock", &setup)?;
    let direct_key = keys.first().context("the mock has no keys")?.clone();
    let database = format!("sqlite://{}", dir.path().join("keyflow-slow.db").display());
    let keyflow_setup =
        KeyflowSetup { bin: &config.keyflow_bin, upstream: &mock.url, database, client_token: CLIENT_TOKEN };
    keyflow_setup.import(&dir.path().join("slow-mock-keys.txt"), dir.path())?;
    let mut keyflow = keyflow_setup.start("keyflow-slow", dir.path())?;

    // keyflow holds two sockets per stream (client and upstream) under the
    // same limit as everything else: stay inside it rather than measure EMFILE.
    let fit = fd_limit.saturating_sub(64) / 2;
    let n_streams = config.slow_streams.min(fit);
    if n_streams < config.slow_streams {
        report.notes.push(format!(
            "(d) {} streams requested, {} run: the hard fd limit here is {fd_limit} and keyflow needs 2 sockets per \
             stream (it cannot be raised without CAP_SYS_RESOURCE)",
            count(config.slow_streams),
            count(n_streams)
        ));
    }
    report.notes.push(format!(
        "(d) loopback ports suffice: each target's connections come from the ephemeral range ({}), \
         up to {} per destination",
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .map_or_else(|_| "?".to_owned(), |s| s.split_whitespace().collect::<Vec<_>>().join("–")),
        count(ephemeral_ports())
    ));
    // Open them over about 4 s (0.5 s when quick) so the accept queues keep up.
    let ramp = if config.quick { 0.5 } else { 4.0 };
    let ramp_rate = (n_streams as f64 / ramp).max(1.0);
    let stream_timeout =
        interval * (expected_events as u32 + 2) + Duration::from_secs_f64(ramp) + Duration::from_secs(30);
    let scenario = format!(
        "(d) {} slow streams, {} ms chunks, ~{:.0} s",
        count(n_streams),
        interval.as_millis(),
        interval.as_secs_f64() * (expected_events - 1) as f64
    );

    let direct = load::Target::new("direct", &mock.url, &direct_key)?;
    let baseline =
        scenarios::slow_streams(&direct, n_streams, ramp_rate, expected_events, stream_timeout, None).await?;
    drop(direct);
    let before = sys::rss_of(keyflow.pid())?;
    let through = load::Target::new("keyflow", &keyflow.url, CLIENT_TOKEN)?;
    let measured =
        scenarios::slow_streams(&through, n_streams, ramp_rate, expected_events, stream_timeout, Some(keyflow.pid()))
            .await?;
    drop(through);
    ensure_alive(&mut mock)?;
    ensure_alive(&mut keyflow)?;
    if measured.ok == 0 {
        bail!(
            "(d): no stream completed through keyflow ({})",
            measured.errors.first.as_deref().unwrap_or("no stream was started")
        );
    }
    for (name, run) in [("direct", &baseline), ("keyflow", &measured)] {
        if let Some(first) = &run.errors.first {
            report.notes.push(format!("(d) {} failed streams through {name}, first: {first}", run.errors.total()));
        }
    }
    report.rows.push(single_row(
        &scenario,
        "streams completed / failed",
        Some(format!("{} / {}", count(baseline.ok), count(baseline.errors.total()))),
        format!("{} / {}", count(measured.ok), count(measured.errors.total())),
    ));
    report.rows.push(single_row(
        &scenario,
        "most streams open at once",
        Some(count(baseline.peak_open as u64)),
        count(measured.peak_open as u64),
    ));
    let peak = measured.rss_hwm_kib.max(measured.rss_sampled_kib);
    report.rows.push(single_row(&scenario, "keyflow peak RSS (MiB)", None, num(Some(mib(peak)), 1)));
    let per_stream = peak.saturating_sub(before.now_kib) as f64 / measured.peak_open.max(1) as f64;
    report.rows.push(single_row(&scenario, "keyflow RSS per open stream (KiB)", None, num(Some(per_stream), 1)));
    let all_ok = measured.errors.total() == 0 && measured.ok == n_streams;
    Ok(Check {
        target: "10,000 concurrent streams".to_owned(),
        measured: format!(
            "{} of {} streams completed, {} open at once, {} failed, peak RSS {:.1} MiB",
            count(measured.ok),
            count(n_streams),
            count(measured.peak_open as u64),
            count(measured.errors.total()),
            mib(peak)
        ),
        met: Some(all_ok && n_streams >= 10_000),
    }
    .with_partial(all_ok && n_streams < 10_000, n_streams))
}

impl Check {
    /// A run that could not reach 10,000 streams (fd limit) but had no failure is "not measured", not "not met".
    fn with_partial(mut self, partial: bool, n_streams: u64) -> Check {
        if partial {
            self.met = None;
            self.measured.push_str(&format!(" (only {} could run here)", count(n_streams)));
        }
        self
    }
}

/// How many local ports the kernel hands out.
fn ephemeral_ports() -> u64 {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let bounds: Vec<u64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    match bounds.as_slice() {
        [low, high] if high >= low => high - low + 1,
        _ => 0,
    }
}

/// (e): keyflow's resident memory with a large pool, no traffic; returns KiB.
pub async fn big_pool_phase(
    config: &Config,
    dir: &TempDir,
    settle: Duration,
    report: &mut Report,
) -> anyhow::Result<u64> {
    let keys_file = dir.path().join("big-pool-keys.txt");
    procs::write_synthetic_keys(&keys_file, config.big_pool_keys)?;
    // keyflow needs an upstream address; nothing is sent to it (no validation, no refresh).
    let (mock, _) = procs::start_mock(
        &config.mock_bin,
        dir.path(),
        "big-mock",
        &MockSetup { n_keys: 1, latency_ms: 0, stream_chunks: 1, chunk_interval_ms: 0 },
    )?;
    let keyflow_setup = KeyflowSetup {
        bin: &config.keyflow_bin,
        upstream: &mock.url,
        database: format!("sqlite://{}", dir.path().join("keyflow-big.db").display()),
        client_token: CLIENT_TOKEN,
    };
    let import_time = keyflow_setup.import(&keys_file, dir.path())?;
    let started = Instant::now();
    let keyflow = keyflow_setup.start("keyflow-big", dir.path())?;
    let start_time = started.elapsed();
    let rss = idle_rss(&keyflow, settle).await?;
    report.notes.push(format!(
        "(e) {} keys: `keys import --no-validate` took {:.1} s; keyflow listened {:.2} s after start",
        count(config.big_pool_keys as u64),
        import_time.as_secs_f64(),
        start_time.as_secs_f64()
    ));
    Ok(rss.now_kib)
}
