//! The `keyflow` binary: parse flags, resolve configuration, run a command.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = keyflow::cli::Cli::parse();
    let config = match keyflow::config::load(&cli, &keyflow::config::ProcessEnv) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("keyflow: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    match keyflow::commands::run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyflow: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
