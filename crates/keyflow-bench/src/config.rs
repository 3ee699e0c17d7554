//! The command line of `keyflow-bench` and the settings of one run it
//! resolves to (quick-mode defaults, bounds on every figure).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::scenarios::Plan;

/// Load benchmark: direct vs nginx vs keyflow against keyflow-mock, on loopback.
#[derive(Debug, Parser)]
#[command(name = "keyflow-bench", version)]
pub struct Args {
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
    /// The database keyflow logs to during (a)–(c), e.g. a fresh
    /// `postgres://…/bench` database (default: a SQLite file in the scratch
    /// directory). The other phases keep their own SQLite files.
    #[arg(long)]
    database_url: Option<String>,
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
pub struct Config {
    pub quick: bool,
    pub plan: Plan,
    pub rates: Vec<u32>,
    pub latency_ms: u64,
    pub slow_streams: u64,
    pub slow_interval: Duration,
    pub slow_hold: Duration,
    pub pool_keys: usize,
    pub big_pool_keys: usize,
    pub scenarios: Vec<char>,
    pub keyflow_bin: PathBuf,
    pub mock_bin: PathBuf,
    pub nginx: bool,
    pub database_url: Option<String>,
    pub out: PathBuf,
    pub wait_for_builds: Duration,
    pub root: PathBuf,
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
    pub fn resolve(args: Args) -> anyhow::Result<Config> {
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
            database_url: args.database_url,
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

    pub fn wants(&self, scenario: char) -> bool {
        self.scenarios.contains(&scenario)
    }
}
