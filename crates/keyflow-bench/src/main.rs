//! `keyflow-bench`: the load benchmark of keyflow against a direct connection
//! to the fake upstream and against nginx, in one run, on loopback.
//!
//! Starts `keyflow-mock --fast`, nginx (a minimal config of its own) and
//! keyflow with a pool of keys, drives the same load at the three targets
//! with its own hyper-based generator, and prints one table that it also
//! prepends, dated, to `docs/benchmarks.md`. Every child is killed when the
//! run ends, fails or is interrupted. See `docs/benchmarks.md` for results.

mod load;
mod procs;
mod report;
mod scenarios;
mod stats;
mod sys;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;

use procs::{KeyflowSetup, MockSetup, Proc, TempDir};
use report::{count, num, Check, Report};
use scenarios::{mib, single_row, Plan, Targets};

/// The token the harness's client presents to keyflow.
const CLIENT_TOKEN: &str = "sk-bench-client-token";

/// Load benchmark: direct vs nginx vs keyflow against keyflow-mock, on loopback.
#[derive(Debug, Parser)]
#[command(name = "keyflow-bench", version)]
struct Args {
    /// Smoke version for CI: ~1 s per scenario, few connections, 1 repeat.
    #[arg(long)]
    quick: bool,
    /// Seconds per measurement (default 10, quick 1).
    #[arg(long)]
    duration: Option<f64>,
    /// Runs of each measurement; the table shows medians (default 3, quick 1).
    #[arg(long)]
    repeats: Option<usize>,
    /// Fixed request rates of scenario (a), req/s (default 500,1000,2000; quick 500).
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<u32>>,
    /// Connections of the closed-loop scenario (b) (default 32, quick 8).
    #[arg(long)]
    connections: Option<usize>,
    /// Latency the mock adds to every answer, ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Content chunks per stream in scenario (c) (default 20, quick 5).
    #[arg(long)]
    stream_chunks: Option<usize>,
    /// Pause between chunks in scenario (c), ms.
    #[arg(long, default_value_t = 25)]
    chunk_interval_ms: u64,
    /// Streams started per second in scenario (c) (default 40, quick 20).
    #[arg(long)]
    stream_rate: Option<f64>,
    /// Concurrent slow streams of scenario (d) (default 10000, quick 200).
    #[arg(long)]
    slow_streams: Option<u64>,
    /// Chunk interval of the slow streams, ms (default 1000, quick 200).
    #[arg(long)]
    slow_interval_ms: Option<u64>,
    /// How long each slow stream stays open, s (default 10, quick 1).
    #[arg(long)]
    slow_hold_secs: Option<f64>,
    /// Keys in keyflow's pool during the load (default 1000).
    #[arg(long, default_value_t = 1000)]
    pool_keys: usize,
    /// Keys for the large-pool memory figure (default 100000, quick 10000).
    #[arg(long)]
    big_pool_keys: Option<usize>,
    /// Only these scenarios, e.g. `a,b` (default: a,b,c,d,e).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<char>>,
    /// The keyflow binary (default: target/release/keyflow).
    #[arg(long)]
    keyflow_bin: Option<PathBuf>,
    /// The keyflow-mock binary (default: target/release/keyflow-mock).
    #[arg(long)]
    mock_bin: Option<PathBuf>,
    /// Leave nginx out.
    #[arg(long)]
    no_nginx: bool,
    /// Markdown file to prepend the dated results to (default:
    /// docs/benchmarks.md; quick: target/bench-quick.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Longest wait for other cargo/rustc processes to finish before
    /// measuring, s (default 300, quick 0); past it they are noted.
    #[arg(long)]
    wait_for_builds: Option<u64>,
}

/// The resolved settings of one run.
struct Config {
    quick: bool,
    plan: Plan,
    rates: Vec<u32>,
    latency_ms: u64,
    slow_streams: u64,
    slow_interval: Duration,
    slow_hold: Duration,
    pool_keys: usize,
    big_pool_keys: usize,
    scenarios: Vec<char>,
    keyflow_bin: PathBuf,
    mock_bin: PathBuf,
    nginx: bool,
    out: PathBuf,
    wait_for_builds: Duration,
    root: PathBuf,
}

/// The workspace root: where this crate was built from, else the current directory.
fn workspace_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if built.join("Cargo.toml").is_file() {
        built.canonicalize().unwrap_or(built)
    } else {
        PathBuf::from(".")
    }
}

/// `path` made absolute: the children run in the scratch directory, where a
/// relative path would not resolve.
fn absolute(path: PathBuf) -> PathBuf {
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// The quick-mode value or the full one.
fn choose<T>(quick: bool, quick_value: T, full_value: T) -> T {
    if quick {
        quick_value
    } else {
        full_value
    }
}

impl Config {
    fn resolve(args: Args) -> anyhow::Result<Config> {
        let quick = args.quick;
        let root = workspace_root();
        let duration = args.duration.unwrap_or(choose(quick, 1.0, 10.0));
        if !(0.1..=3600.0).contains(&duration) {
            bail!("--duration must be between 0.1 and 3600 seconds");
        }
        let repeats = args.repeats.unwrap_or(choose(quick, 1, 3));
        if !(1..=20).contains(&repeats) {
            bail!("--repeats must be between 1 and 20");
        }
        let rates = args.rates.unwrap_or_else(|| if quick { vec![500] } else { vec![500, 1000, 2000] });
        if rates.iter().any(|r| !(1..=100_000).contains(r)) {
            bail!("--rates must be between 1 and 100000 req/s");
        }
        let stream_rate = args.stream_rate.unwrap_or(choose(quick, 20.0, 40.0));
        if !(0.1..=10_000.0).contains(&stream_rate) {
            bail!("--stream-rate must be between 0.1 and 10000 streams/s");
        }
        let chunk_interval = Duration::from_millis(args.chunk_interval_ms.clamp(1, 10_000));
        let slow_hold = args.slow_hold_secs.unwrap_or(choose(quick, 1.0, 10.0));
        if !(0.1..=600.0).contains(&slow_hold) {
            bail!("--slow-hold-secs must be between 0.1 and 600");
        }
        let scenarios = args.only.unwrap_or_else(|| vec!['a', 'b', 'c', 'd', 'e']);
        if let Some(bad) = scenarios.iter().find(|s| !"abcde".contains(**s)) {
            bail!("unknown scenario {bad:?} in --only (a, b, c, d or e)");
        }
        let release = root.join("target/release");
        Ok(Config {
            quick,
            plan: Plan {
                duration: Duration::from_secs_f64(duration),
                repeats,
                connections: args.connections.unwrap_or(choose(quick, 8, 32)).clamp(1, 4096),
                request_timeout: Duration::from_secs(10) + Duration::from_millis(args.latency_ms),
                stream_rate,
                stream_chunks: args.stream_chunks.unwrap_or(choose(quick, 5, 20)).clamp(1, 1000),
                chunk_interval,
            },
            rates,
            latency_ms: args.latency_ms.min(60_000),
            slow_streams: args.slow_streams.unwrap_or(choose(quick, 200, 10_000)).min(100_000),
            slow_interval: Duration::from_millis(
                args.slow_interval_ms.unwrap_or(choose(quick, 200, 1000)).clamp(1, 60_000),
            ),
            slow_hold: Duration::from_secs_f64(slow_hold),
            pool_keys: args.pool_keys.clamp(1, 1_000_000),
            big_pool_keys: args.big_pool_keys.unwrap_or(choose(quick, 10_000, 100_000)).clamp(1, 1_000_000),
            scenarios,
            keyflow_bin: absolute(args.keyflow_bin.unwrap_or_else(|| release.join("keyflow"))),
            mock_bin: absolute(args.mock_bin.unwrap_or_else(|| release.join("keyflow-mock"))),
            nginx: !args.no_nginx,
            out: args.out.unwrap_or_else(|| {
                if quick {
                    root.join("target/bench-quick.md")
                } else {
                    root.join("docs/benchmarks.md")
                }
            }),
            wait_for_builds: Duration::from_secs(args.wait_for_builds.unwrap_or(choose(quick, 0, 300)).min(3600)),
            root,
        })
    }

    fn wants(&self, scenario: char) -> bool {
        self.scenarios.contains(&scenario)
    }
}

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
async fn idle_rss(keyflow: &Proc, settle: Duration) -> anyhow::Result<sys::Rss> {
    tokio::time::sleep(settle).await;
    sys::rss_of(keyflow.pid())
}

fn ensure_alive(proc: &mut Proc) -> anyhow::Result<()> {
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

async fn run(config: &Config) -> anyhow::Result<Report> {
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
    let keyflow_setup = KeyflowSetup {
        bin: &config.keyflow_bin,
        upstream: &mock.url,
        database: database.clone(),
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
        "keyflow: {} keys imported with `keys import --no-validate` (took {:.1} s), request logging to SQLite on \
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
        report.notes.push(format!(
            "keyflow's database (request log) reached {database_size:.1} MiB during (a)–(c): logging was on"
        ));
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

/// (d): a fresh mock with slow streams and a fresh keyflow; direct first as
/// the baseline, then keyflow with its memory watched.
async fn slow_phase(config: &Config, dir: &TempDir, fd_limit: u64, report: &mut Report) -> anyhow::Result<Check> {
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
    let database = dir.path().join("keyflow-slow.db");
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
async fn big_pool_phase(config: &Config, dir: &TempDir, settle: Duration, report: &mut Report) -> anyhow::Result<u64> {
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
        database: dir.path().join("keyflow-big.db"),
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

fn main() -> ExitCode {
    let config = match Config::resolve(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("keyflow-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keyflow-bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // Dropping `run` on Ctrl-C drops the process guards, which kill the children.
        tokio::select! {
            result = run(&config) => result,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // Do not wait for a request scheduler still sleeping on its timetable.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            eprintln!("keyflow-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.terminal());
    if let Err(e) = report::prepend_section(&config.out, &report.markdown()) {
        eprintln!("keyflow-bench: {e:#}");
        return ExitCode::FAILURE;
    }
    println!("written to {}", config.out.display());
    ExitCode::SUCCESS
}
