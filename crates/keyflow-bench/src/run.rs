//! One benchmark run: starts the mock, nginx and keyflow, drives the
//! scenarios (a)–(c) against the three targets, then the phases of their own
//! ((d) slow streams, (e) a large pool), and gathers the report with the
//! checks of SPEC §9.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::config::Config;
use crate::phases::{big_pool_phase, slow_phase};
use crate::procs::{self, KeyflowSetup, MockSetup, Proc, TempDir};
use crate::report::{count, num, Check, Report};
use crate::scenarios::{self, mib, single_row, Targets};
use crate::{load, sys, CLIENT_TOKEN};

/// The exact command line, shell-quoted where needed.
fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:".contains(c)) {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits (bounded) for other compilations to finish; returns what still runs.
async fn wait_for_builds(limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut announced = false;
    loop {
        let builds = sys::competing_builds();
        if builds.is_empty() || Instant::now() >= deadline {
            return builds;
        }
        if !announced {
            eprintln!("waiting up to {limit:?} for other builds to finish: {}", builds.join(", "));
            announced = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn check_binary(path: &Path, package: &str) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p {package}` (or pass its path)",
            path.display()
        );
    }
    Ok(())
}

/// Settles, then reads keyflow's resident memory.
pub(crate) async fn idle_rss(keyflow: &Proc, settle: Duration) -> anyhow::Result<sys::Rss> {
    tokio::time::sleep(settle).await;
    sys::rss_of(keyflow.pid())
}

pub(crate) fn ensure_alive(proc: &mut Proc) -> anyhow::Result<()> {
    if !proc.alive() {
        bail!("{} exited during the run; log:\n{}", proc.name, proc.log_tail());
    }
    Ok(())
}

/// Size of keyflow's database with its WAL, in MiB (it holds the request log).
fn database_mib(path: &Path) -> f64 {
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    (size(path.to_path_buf()) + size(wal)) as f64 / (1024.0 * 1024.0)
}

pub async fn run(config: &Config) -> anyhow::Result<Report> {
    check_binary(&config.keyflow_bin, "keyflow")?;
    check_binary(&config.mock_bin, "keyflow-mock")?;
    let machine = sys::Machine::read();
    let fd_limit = sys::raise_fd_limit();
    let mut report = Report {
        date: sys::utc_now(),
        commit: sys::git_commit(&config.root),
        machine: machine.describe(),
        command: command_line(),
        ..Report::default()
    };
    let builds = wait_for_builds(config.wait_for_builds).await;
    if !builds.is_empty() {
        report.notes.push(format!(
            "other compilations were running when measuring began ({}): figures are disturbed",
            builds.join(", ")
        ));
    }
    report.notes.push(format!("load average at start {:.2}", sys::load_average()));

    let dir = TempDir::new()?;
    let settle = if config.quick { Duration::from_millis(500) } else { Duration::from_secs(2) };
    let plan = &config.plan;

    // Phase 1: mock, nginx and keyflow side by side for (a), (b), (c) and idle memory.
    let mock_setup = MockSetup {
        n_keys: config.pool_keys,
        latency_ms: config.latency_ms,
        stream_chunks: plan.stream_chunks,
        chunk_interval_ms: plan.chunk_interval.as_millis() as u64,
    };
    let (mut mock, mock_keys) = procs::start_mock(&config.mock_bin, dir.path(), "mock", &mock_setup)?;
    let direct_key = mock_keys.first().context("the mock has no keys")?.clone();
    let mut nginx = None;
    let mut nginx_version = None;
    if config.nginx {
        match procs::find_nginx() {
            Some(bin) => {
                nginx_version = Some(procs::nginx_version(&bin));
                nginx = Some(procs::start_nginx(&bin, dir.path(), mock.port()?, fd_limit)?);
            }
            None => {
                let text = "nginx is not installed, so the nginx column is skipped; install it with \
                            `apt-get install nginx` (Debian/Ubuntu) and run again";
                eprintln!("warning: {text}");
                report.notes.push(text.to_owned());
            }
        }
    } else {
        report.notes.push("nginx left out (--no-nginx)".to_owned());
    }
    let database = dir.path().join("keyflow.db");
    let database_url = config.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", database.display()));
    let backend = if database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let keyflow_setup = KeyflowSetup {
        bin: &config.keyflow_bin,
        upstream: &mock.url,
        database: database_url,
        client_token: CLIENT_TOKEN,
    };
    let import_time = keyflow_setup.import(&dir.path().join("mock-keys.txt"), dir.path())?;
    let mut keyflow = keyflow_setup.start("keyflow", dir.path())?;
    let idle = idle_rss(&keyflow, settle).await?;

    report.setup.push(format!(
        "Upstream: `keyflow-mock --fast`, {} keys, latency {} ms, streams of {} content chunks every {} ms",
        count(config.pool_keys as u64),
        config.latency_ms,
        plan.stream_chunks,
        plan.chunk_interval.as_millis()
    ));
    report.setup.push(match &nginx_version {
        Some(version) if nginx.is_some() => format!(
            "nginx: {version}, `worker_processes 2`, upstream keepalive, `proxy_http_version 1.1`, \
             `proxy_buffering off`, access log on (a plain reverse proxy)"
        ),
        _ => "nginx: not run".to_owned(),
    });
    report.setup.push(format!(
        "keyflow: {} keys imported with `keys import --no-validate` (took {:.1} s), request logging to {backend} on \
         (the default), `AUTO_REFRESH_INTERVAL=0`, `KEYFLOW_LOG=warn`",
        count(config.pool_keys as u64),
        import_time.as_secs_f64()
    ));
    report.setup.push(format!(
        "Load: the harness's own hyper HTTP/1.1 client (keep-alive pool) on the same machine; fixed rates are \
         open-loop with latency counted from each request's scheduled time (no coordinated omission); \
         medians of {} run(s) per figure, targets alternated; {:.1} s per measurement",
        plan.repeats,
        plan.duration.as_secs_f64()
    ));
    report.setup.push(format!(
        "Caveat: {} cores are shared by the load generator, the proxy and the mock, so absolute figures are \
         pessimistic; compare columns of the same run (added latency, ratios)",
        machine.cores
    ));

    let targets = Targets {
        direct: load::Target::new("direct", &mock.url, &direct_key)?,
        nginx: match &nginx {
            Some(nginx) => Some(load::Target::new("nginx", &nginx.url, &direct_key)?),
            None => None,
        },
        keyflow: load::Target::new("keyflow", &keyflow.url, CLIENT_TOKEN)?,
        pids: [
            vec![mock.pid()],
            nginx.as_ref().map_or_else(Vec::new, |nginx| {
                let mut pids = sys::children_of(nginx.pid());
                pids.push(nginx.pid());
                pids
            }),
            vec![keyflow.pid()],
        ],
    };
    let warm = if config.quick { 100 } else { 2000 };
    for target in [Some(&targets.direct), targets.nginx.as_ref(), Some(&targets.keyflow)].into_iter().flatten() {
        let ok = load::warm_up(target, warm, 8).await?;
        if ok == 0 {
            bail!("warm-up: no successful request through {}", target.name);
        }
    }

    let mut added_p99_at_1000 = None;
    let mut throughput_ratio = None;
    let mut stream_headline = None;
    if config.wants('a') {
        for &rate in &config.rates {
            eprintln!("(a) {rate} req/s ...");
            let outcome = scenarios::fixed_rate(&targets, plan, rate).await?;
            if rate == 1000 {
                added_p99_at_1000 = outcome.headline;
            }
            report.rows.extend(outcome.rows);
            report.notes.extend(outcome.notes);
        }
    }
    if config.wants('b') {
        eprintln!("(b) closed loop ...");
        let outcome = scenarios::max_throughput(&targets, plan).await?;
        throughput_ratio = outcome.headline;
        report.rows.extend(outcome.rows);
        report.notes.extend(outcome.notes);
    }
    if config.wants('c') {
        eprintln!("(c) streaming ...");
        let (outcome, headline) = scenarios::streaming(&targets, plan).await?;
        stream_headline = Some(headline);
        report.rows.extend(outcome.rows);
        report.notes.extend(outcome.notes);
    }
    ensure_alive(&mut mock)?;
    ensure_alive(&mut keyflow)?;
    if let Some(nginx) = nginx.as_mut() {
        ensure_alive(nginx)?;
    }
    let loaded = sys::rss_of(keyflow.pid())?;
    let database_size = database_mib(&database);
    drop(targets);
    drop(keyflow);
    drop(nginx);
    drop(mock);

    let mut streams_check = None;
    if config.wants('d') {
        eprintln!("(d) concurrent slow streams ...");
        streams_check = Some(slow_phase(config, &dir, fd_limit, &mut report).await?);
    }

    let mut big_rss = None;
    if config.wants('e') {
        eprintln!("(e) memory with {} keys ...", config.big_pool_keys);
        big_rss = Some(big_pool_phase(config, &dir, settle, &mut report).await?);
    }

    // Memory rows (e) and the load-phase peak.
    let scenario_e = "(e) memory";
    report.rows.push(single_row(
        scenario_e,
        &format!("keyflow idle RSS, {} keys (MiB)", count(config.pool_keys as u64)),
        None,
        num(Some(mib(idle.now_kib)), 1),
    ));
    if let Some(rss) = big_rss {
        report.rows.push(single_row(
            scenario_e,
            &format!("keyflow RSS, {} keys (MiB)", count(config.big_pool_keys as u64)),
            None,
            num(Some(mib(rss)), 1),
        ));
    }
    if config.wants('a') || config.wants('b') || config.wants('c') {
        report.rows.push(single_row(
            scenario_e,
            "keyflow peak RSS during (a)–(c) (MiB)",
            None,
            num(Some(mib(loaded.peak_kib)), 1),
        ));
        if config.database_url.is_none() {
            report.notes.push(format!(
                "keyflow's database (request log) reached {database_size:.1} MiB during (a)–(c): logging was on"
            ));
        }
    }

    // The targets of SPEC §9.
    report.checks.push(Check {
        target: "added latency p99 < 1 ms at 1,000 req/s".to_owned(),
        measured: added_p99_at_1000.map_or_else(|| "1,000 req/s not run".to_owned(), |v| format!("{v:+.3} ms")),
        met: added_p99_at_1000.map(|v| v < 1.0),
    });
    report.checks.push(Check {
        target: "throughput ≥ nginx's".to_owned(),
        measured: throughput_ratio.map_or_else(|| "not measured".to_owned(), |r| format!("keyflow/nginx = {r:.2}×")),
        met: throughput_ratio.map(|r| r >= 1.0),
    });
    report.checks.push(match stream_headline.and_then(|h| h.added_lag_p99_ms.map(|lag| (lag, h.added_ttfb_p99_ms))) {
        Some((lag, ttfb)) => Check {
            target: "stream chunks forwarded without delay (added p99 chunk lag < 1 ms)".to_owned(),
            measured: format!(
                "added chunk lag p99 {lag:+.3} ms, added first byte p99 {}",
                ttfb.map_or_else(|| "—".to_owned(), |t| format!("{t:+.3} ms"))
            ),
            met: Some(lag < 1.0),
        },
        None => Check {
            target: "stream chunks forwarded without delay".to_owned(),
            measured: "not measured".to_owned(),
            met: None,
        },
    });
    report.checks.push(streams_check.unwrap_or(Check {
        target: "10,000 concurrent streams".to_owned(),
        measured: "not measured".to_owned(),
        met: None,
    }));
    report.checks.push(Check {
        target: "idle memory < 30 MB (28.6 MiB)".to_owned(),
        measured: format!("{:.1} MiB with {} keys", mib(idle.now_kib), count(config.pool_keys as u64)),
        met: Some(idle.now_kib * 1024 < 30_000_000),
    });
    report.checks.push(Check {
        target: "key choice O(1)/O(log n) at 100,000 keys".to_owned(),
        measured: "criterion: `cargo bench -p keyflow-bench --bench pool`".to_owned(),
        met: None,
    });
    let after = sys::competing_builds();
    if !after.is_empty() {
        report.notes.push(format!("compilations were running at the end of the run: {}", after.join(", ")));
    }
    Ok(report)
}
