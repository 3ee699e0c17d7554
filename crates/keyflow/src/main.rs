//! The `keyflow` binary: parse flags, resolve configuration, run a command.

use clap::Parser;

/// mimalloc instead of glibc malloc: every request allocates (headers, bodies,
/// log rows) on two threads, and glibc's arenas cost ~15% of the CPU under
/// load; see docs/benchmarks.md for the before/after figures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = keyflow::cli::Cli::parse();
    let config = match keyflow::config::load(&cli.global, &keyflow::config::ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("keyflow: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    if config.dotenv_vars > 0 {
        tracing::info!(variables = config.dotenv_vars, "read .env (the environment wins over it)");
    }
    for notice in &config.notices {
        tracing::warn!("{notice}");
    }
    match keyflow::commands::run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyflow: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
