//! `keyflow-mock`: runs the fake SiliconFlow upstream as a standalone server.
//!
//! Prints `listening on http://ADDR` as its first stdout line (scripts and the
//! benchmark read it), then serves until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use keyflow_mock::{MockConfig, MockServer, MockState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A fake SiliconFlow API for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "keyflow-mock", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Number of keys to generate (ignored with --keys-file).
    #[arg(long, default_value_t = 10)]
    keys: usize,
    /// Seed of the generated keys, so runs are reproducible.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Balance of each generated key, in CNY.
    #[arg(long, default_value_t = 14.0)]
    balance: f64,
    /// Generated keys per account (accounts share rate limits).
    #[arg(long, default_value_t = 1)]
    keys_per_account: usize,
    /// Read keys from this file instead: one per line, `key [balance [account]]`.
    #[arg(long)]
    keys_file: Option<PathBuf>,
    /// Write the keys, one per line, to this file.
    #[arg(long)]
    write_keys: Option<PathBuf>,
    /// Latency added before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Content chunks per streamed answer.
    #[arg(long, default_value_t = 5)]
    stream_chunks: usize,
    /// Pause between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_interval_ms: u64,
    /// Benchmark mode: canned answers, minimal bookkeeping.
    #[arg(long)]
    fast: bool,
}

/// `n` keys shaped like SiliconFlow's (`sk-` + 48 lowercase letters), derived from `seed`.
fn generate_keys(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let letters: String = (0..48).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect();
            format!("sk-{letters}")
        })
        .collect()
}

/// Parses a keys file: `key [balance [account]]` per line, `#` comments.
fn read_keys_file(text: &str, balance: f64) -> anyhow::Result<Vec<(String, f64, String)>> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty());
        let Some(key) = parts.next() else { continue };
        let balance = match parts.next() {
            Some(text) => text.parse().with_context(|| format!("line {}: balance {text:?} is not a number", n + 1))?,
            None => balance,
        };
        let account = parts.next().map_or_else(|| format!("acct-{n:06}"), str::to_owned);
        keys.push((key.to_owned(), balance, account));
    }
    Ok(keys)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.keys_per_account == 0 {
        bail!("--keys-per-account must be at least 1");
    }
    let config = MockConfig {
        latency: Duration::from_millis(args.latency_ms),
        stream_chunks: args.stream_chunks,
        chunk_interval: Duration::from_millis(args.chunk_interval_ms),
        fast: args.fast,
        ..MockConfig::default()
    };
    let keys = match &args.keys_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            read_keys_file(&text, args.balance)?
        }
        None => generate_keys(args.keys, args.seed)
            .into_iter()
            .enumerate()
            .map(|(i, key)| (key, args.balance, format!("acct-{:06}", i / args.keys_per_account)))
            .collect(),
    };
    if let Some(path) = &args.write_keys {
        let text: String = keys.iter().map(|(key, _, _)| format!("{key}\n")).collect();
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let state = MockState::new(config);
    state.add_keys(keys);
    let server = MockServer::start_with_state(args.bind, state).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", server.url())?;
    stdout.flush()?;
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    server.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_seeded_and_shaped() {
        let a = generate_keys(3, 7);
        assert_eq!(a, generate_keys(3, 7));
        assert_ne!(a, generate_keys(3, 8));
        assert!(a.iter().all(|key| key.len() == 51 && key[3..].chars().all(|c| c.is_ascii_lowercase())));
    }

    #[test]
    fn keys_file_lines() {
        let keys = read_keys_file("# c\nsk-a\nsk-b 2.5\nsk-c,1,shared\n", 14.0);
        let keys = keys.unwrap_or_default();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[1].1, 2.5);
        assert_eq!(keys[2].2, "shared");
    }
}
