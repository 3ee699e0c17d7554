//! `keyflow-bench`: the load benchmark of keyflow against a direct connection
//! to the fake upstream and against nginx, in one run, on loopback.
//!
//! Starts `keyflow-mock --fast`, nginx (a minimal config of its own) and
//! keyflow with a pool of keys, drives the same load at the three targets
//! with its own hyper-based generator, and prints one table that it also
//! prepends, dated, to `docs/benchmarks.md`. Every child is killed when the
//! run ends, fails or is interrupted. See `docs/benchmarks.md` for results.

mod config;
mod load;
mod phases;
mod procs;
mod report;
mod run;
mod scenarios;
mod stats;
mod sys;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use config::{Args, Config};

/// The token the harness's client presents to keyflow.
const CLIENT_TOKEN: &str = "sk-bench-client-token";

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
            result = run::run(&config) => result,
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
