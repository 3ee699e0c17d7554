//! Command-line definitions (clap). Only definitions live here.
//!
//! `keyflow [GLOBAL FLAGS] [COMMAND]`; the global flags mirror the settings
//! (`config::catalog`) and work before or after the subcommand. Values are
//! parsed with `config::parse`, so a flag accepts what its environment
//! variable accepts; `config::resolve` applies the precedence.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{parse, AccessControl, Strategy};
use crate::secret::Secret;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "keyflow",
    version,
    about = "One OpenAI- and Anthropic-compatible endpoint in front of a pool of SiliconFlow API keys",
    after_long_help = crate::config::catalog::help_footer()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The subcommand, `serve` when none was given.
    pub fn command_or_serve(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Run the gateway with a built-in fake SiliconFlow and demo keys.
    Demo(DemoArgs),
    /// Manage the key pool without the console.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Take keys, tokens, settings, login and logs from another tool's storage.
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DemoArgs {
    /// Demo keys to create in the fake upstream. The listen address is the
    /// global `--bind`.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub keys: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysCommand {
    /// Import keys from a file, or from standard input with `-`.
    Import(ImportArgs),
    /// Print the keys, one per line or comma-separated.
    Export(ExportArgs),
    /// List the keys (masked) with their state and balance.
    List(ListArgs),
    /// Re-check validity and balance upstream.
    Refresh(RefreshArgs),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ImportArgs {
    /// Any text holding keys; `-` reads standard input.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
    /// Store the keys without asking upstream whether they work.
    #[arg(long)]
    pub no_validate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportSort::Balance)]
    pub sort: ExportSort,
    /// Default: descending by balance, ascending by key.
    #[arg(long, value_enum)]
    pub order: Option<SortOrder>,
    #[arg(long, value_enum, default_value_t = ExportSep::Newline)]
    pub sep: ExportSep,
    /// Append each key's balance (a format `keys import` reads back).
    #[arg(long)]
    pub with_balance: bool,
    #[arg(long, value_enum, default_value_t = ExportFilter::All)]
    pub filter: ExportFilter,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportSort {
    Balance,
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortOrder {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportSep {
    Newline,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFilter {
    All,
    /// Keys with balance left.
    Funded,
    /// Keys without balance.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ListArgs {
    /// Only keys in this state.
    #[arg(long, value_enum)]
    pub state: Option<KeyStateFilter>,
    /// One JSON object per key instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyStateFilter {
    Active,
    Free,
    Invalid,
    Disabled,
    Cooling,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RefreshArgs {
    /// Only these key ids (default: all keys).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct MigrateArgs {
    /// The tool whose storage is read.
    #[arg(value_enum)]
    pub tool: MigrateTool,
    /// The directory the tool ran in (where its database and config files are).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Do not ask upstream about keys whose balance the tool never stored.
    #[arg(long)]
    pub no_validate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateTool {
    /// silicon-pool: `pool.db` and `config.json`.
    SiliconPool,
    /// The FastAPI proxy: `data/pool.db` (or `pool.db`) and `config.py`.
    #[value(alias = "fastapi")]
    SiliconflowPython,
    /// The Node tool: `database.sqlite` and `.env`.
    #[value(alias = "node")]
    SiliconflowApiManagement,
}

const SERVER: &str = "Server";
const RUNTIME: &str = "Live settings (seed the database on first start)";
const IMAGES: &str = "Images through chat";

/// Flags for every setting. `None` = not given on the command line.
/// Runtime and image flags show only in `--help`, not `-h`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct GlobalFlags {
    /// TOML config file [env: KEYFLOW_CONFIG] [default: ./keyflow.toml if present]
    #[arg(long, global = true, value_name = "PATH", help_heading = SERVER)]
    pub config: Option<PathBuf>,
    /// Listen address [env: KEYFLOW_BIND, or HOST + PORT] [default: 127.0.0.1:7898]
    #[arg(long, global = true, value_name = "ADDR", value_parser = parse::socket_addr, help_heading = SERVER)]
    pub bind: Option<SocketAddr>,
    /// SiliconFlow base URL [env: UPSTREAM_URL, API_BASE_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::upstream_url, help_heading = SERVER)]
    pub upstream_url: Option<String>,
    /// sqlite://PATH or postgres://... [env: DATABASE_URL, DB_PATH]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::database_url, help_heading = SERVER)]
    pub database_url: Option<String>,
    /// Console login name [env: ADMIN_USERNAME] [default: admin]
    #[arg(long, global = true, value_name = "NAME", value_parser = parse::text, help_heading = SERVER)]
    pub admin_username: Option<String>,
    /// Console password [env: ADMIN_PASSWORD] [default: admin]
    #[arg(long, global = true, value_name = "PASSWORD", value_parser = parse::secret, help_heading = SERVER)]
    pub admin_password: Option<Secret>,
    /// Client tokens, comma-separated; "" = open gateway [env: API_KEY, AUTH_API_KEY, AUTHORIZATION_KEY]
    #[arg(long, global = true, value_name = "TOKENS", value_parser = parse_raw_secret, help_heading = SERVER)]
    pub api_key: Option<Secret>,
    /// Tokens limited to free models, comma-separated [env: FREE_API_KEY]
    #[arg(long, global = true, value_name = "TOKENS", value_parser = parse_raw_secret, help_heading = SERVER)]
    pub free_api_key: Option<Secret>,
    /// Keys to import at start, comma/newline separated [env: KEYS, API_KEYS]
    #[arg(long, global = true, value_name = "KEYS", value_parser = parse::secret, help_heading = SERVER)]
    pub startup_keys: Option<Secret>,
    /// Model used to probe keys and models [env: TEST_MODEL]
    #[arg(long, global = true, value_name = "MODEL", value_parser = parse::text, help_heading = SERVER)]
    pub test_model: Option<String>,
    /// Zero-balance key used to probe free models [env: FREE_MODEL_TEST_KEY]
    #[arg(long, global = true, value_name = "KEY", value_parser = parse::secret, help_heading = SERVER)]
    pub free_model_test_key: Option<Secret>,
    /// Delete keys found invalid [env: PURGE_INVALID]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, help_heading = SERVER)]
    pub purge_invalid: Option<bool>,
    /// Request body limit, e.g. 64MiB [env: MAX_BODY_BYTES]
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse::byte_size, help_heading = SERVER)]
    pub max_body_bytes: Option<usize>,
    /// Log filter, e.g. info or keyflow=debug [env: KEYFLOW_LOG, RUST_LOG]
    #[arg(long, global = true, value_name = "FILTER", value_parser = parse::text, help_heading = SERVER)]
    pub log_level: Option<String>,

    /// Key selection strategy [env: KEY_STRATEGY] [default: balance_desc]
    #[arg(long, global = true, value_name = "NAME", value_parser = parse::strategy, hide_short_help = true,
          help_heading = RUNTIME)]
    pub key_strategy: Option<Strategy>,
    /// Same session, same key [env: KEY_STICKY]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = RUNTIME)]
    pub sticky_sessions: Option<bool>,
    /// Requests per minute per key, 0 = no cap [env: KEY_RPM_LIMIT]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = RUNTIME)]
    pub key_rpm_limit: Option<u32>,
    /// Retries after a transient failure [env: MAX_RETRIES] [default: 3]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = RUNTIME)]
    pub max_retries: Option<u32>,
    /// Upstream connect timeout, seconds [env: CONNECT_TIMEOUT] [default: 10]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub connect_timeout: Option<u64>,
    /// Wait for upstream's first byte, seconds [env: FIRST_BYTE_TIMEOUT] [default: 300]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub first_byte_timeout: Option<u64>,
    /// Longest silence inside a response, seconds [env: IDLE_TIMEOUT] [default: 120]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub idle_timeout: Option<u64>,
    /// Balance refresh interval, seconds, 0 = off [env: AUTO_REFRESH_INTERVAL] [default: 3600]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub auto_refresh_interval: Option<u64>,
    /// Banned models: JSON array or comma list [env: BAN_MODELS]
    #[arg(long, global = true, value_name = "LIST", hide_short_help = true, help_heading = RUNTIME)]
    pub ban_models: Option<String>,
    /// Extra free models: JSON array or comma list [env: FREE_MODELS]
    #[arg(long, global = true, value_name = "LIST", hide_short_help = true, help_heading = RUNTIME)]
    pub free_models: Option<String>,
    /// Public dashboard: open, restricted or private [env: ACCESS_CONTROL] [default: private]
    #[arg(long, global = true, value_name = "MODE", value_parser = parse::access_control, hide_short_help = true,
          help_heading = RUNTIME)]
    pub access_control: Option<AccessControl>,
    /// Dashboard password in restricted mode [env: GUEST_PASSWORD]
    #[arg(long, global = true, value_name = "PASSWORD", value_parser = parse::secret, hide_short_help = true,
          help_heading = RUNTIME)]
    pub guest_password: Option<Secret>,
    /// Rows per console page, 1..=1000 [env: PAGE_SIZE] [default: 50]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = RUNTIME)]
    pub page_size: Option<u32>,
    /// Days logs are kept, 0 = forever [env: LOG_RETENTION_DAYS] [default: 30]
    #[arg(long, global = true, value_name = "DAYS", hide_short_help = true, help_heading = RUNTIME)]
    pub log_retention_days: Option<u32>,
    /// Time zone of daily statistics [env: STATS_TZ, TZ] [default: machine local]
    #[arg(long, global = true, value_name = "ZONE", value_parser = parse::time_zone, hide_short_help = true,
          help_heading = RUNTIME)]
    pub stats_tz: Option<String>,

    /// Cap on pic:N [env: MAX_IMAGES_PER_REQUEST] [default: 4]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = IMAGES)]
    pub max_images_per_request: Option<u32>,
    /// Model that expands image prompts [env: IMAGE_PROMPT_MODEL]
    #[arg(long, global = true, value_name = "MODEL", value_parser = parse::text, hide_short_help = true,
          help_heading = IMAGES)]
    pub image_prompt_model: Option<String>,
    /// Expand image prompts first [env: IMAGE_PROMPT_EXPANSION] [default: true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = IMAGES)]
    pub image_prompt_expansion: Option<bool>,
    /// Prompt expansion timeout, seconds [env: IMAGE_PROMPT_TIMEOUT] [default: 20]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = IMAGES)]
    pub image_prompt_timeout: Option<u64>,
    /// Words refused in image prompts, comma list [env: BANNED_KEYWORDS]
    #[arg(long, global = true, value_name = "LIST", hide_short_help = true, help_heading = IMAGES)]
    pub banned_keywords: Option<String>,
    /// Re-host images on Lsky Pro [env: USE_LSKY_PRO]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = IMAGES)]
    pub use_lsky_pro: Option<bool>,
    /// Lsky Pro base URL [env: LSKY_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::http_url, hide_short_help = true,
          help_heading = IMAGES)]
    pub lsky_url: Option<String>,
    /// Lsky Pro API token [env: LSKY_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN", value_parser = parse::secret, hide_short_help = true,
          help_heading = IMAGES)]
    pub lsky_token: Option<Secret>,
    /// Shorten image links [env: USE_SHORTLINK]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = IMAGES)]
    pub use_shortlink: Option<bool>,
    /// Short-link service URL [env: SHORTLINK_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::http_url, hide_short_help = true,
          help_heading = IMAGES)]
    pub shortlink_url: Option<String>,
    /// Sink short-link API key [env: SHORTLINK_API_KEY]
    #[arg(long, global = true, value_name = "KEY", value_parser = parse::secret, hide_short_help = true,
          help_heading = IMAGES)]
    pub shortlink_api_key: Option<Secret>,
}

/// Token lists may be empty (`--api-key ""` opens the gateway), so they
/// skip the non-blank check of [`parse::secret`].
fn parse_raw_secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse_args(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keyflow").chain(args.iter().copied()))
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve() -> Result<(), clap::Error> {
        let cli = parse_args(&[])?;
        assert_eq!(cli.command, None);
        assert_eq!(cli.command_or_serve(), Command::Serve);
        assert_eq!(cli.global, GlobalFlags::default());
        Ok(())
    }

    #[test]
    fn global_flags_work_before_and_after_the_subcommand() -> Result<(), clap::Error> {
        let before = parse_args(&["--bind", "0.0.0.0:80", "--max-retries", "5", "keys", "list", "--json"])?;
        let after = parse_args(&["keys", "list", "--json", "--bind", "0.0.0.0:80", "--max-retries=5"])?;
        assert_eq!(before.global, after.global);
        assert_eq!(before.global.bind, Some(SocketAddr::from(([0, 0, 0, 0], 80))));
        assert_eq!(before.global.max_retries, Some(5));
        assert_eq!(before.command, Some(Command::Keys(KeysCommand::List(ListArgs { state: None, json: true }))));
        Ok(())
    }

    #[test]
    fn subcommands_and_their_defaults() -> Result<(), clap::Error> {
        assert_eq!(parse_args(&["demo"])?.command, Some(Command::Demo(DemoArgs { keys: 5 })));
        let demo = parse_args(&["demo", "--keys", "3", "--bind", "127.0.0.1:0"])?;
        assert_eq!(demo.command, Some(Command::Demo(DemoArgs { keys: 3 })));
        assert_eq!(demo.global.bind, Some(SocketAddr::from(([127, 0, 0, 1], 0))));

        let import = parse_args(&["keys", "import", "-", "--no-validate"])?;
        let want = ImportArgs { input: PathBuf::from("-"), no_validate: true };
        assert_eq!(import.command, Some(Command::Keys(KeysCommand::Import(want))));

        let export = parse_args(&["keys", "export"])?;
        let want = ExportArgs {
            sort: ExportSort::Balance,
            order: None,
            sep: ExportSep::Newline,
            with_balance: false,
            filter: ExportFilter::All,
            output: None,
        };
        assert_eq!(export.command, Some(Command::Keys(KeysCommand::Export(want))));
        let export = parse_args(&[
            "keys",
            "export",
            "--sort",
            "key",
            "--order",
            "desc",
            "--sep",
            "comma",
            "--with-balance",
            "--filter",
            "funded",
            "--output",
            "out.txt",
        ])?;
        let want = ExportArgs {
            sort: ExportSort::Key,
            order: Some(SortOrder::Desc),
            sep: ExportSep::Comma,
            with_balance: true,
            filter: ExportFilter::Funded,
            output: Some(PathBuf::from("out.txt")),
        };
        assert_eq!(export.command, Some(Command::Keys(KeysCommand::Export(want))));

        let refresh = parse_args(&["keys", "refresh", "--ids", "1,2,3"])?;
        assert_eq!(refresh.command, Some(Command::Keys(KeysCommand::Refresh(RefreshArgs { ids: vec![1, 2, 3] }))));
        let list = parse_args(&["keys", "list", "--state", "free"])?;
        let want = ListArgs { state: Some(KeyStateFilter::Free), json: false };
        assert_eq!(list.command, Some(Command::Keys(KeysCommand::List(want))));
        Ok(())
    }

    #[test]
    fn migrate_takes_a_tool_and_a_path() -> Result<(), clap::Error> {
        let cli = parse_args(&["migrate", "silicon-pool", "/srv/old", "--no-validate"])?;
        let want = MigrateArgs { tool: MigrateTool::SiliconPool, path: PathBuf::from("/srv/old"), no_validate: true };
        assert_eq!(cli.command, Some(Command::Migrate(want)));
        let cli = parse_args(&["migrate", "node", "."])?;
        let tool = cli.command.and_then(|c| if let Command::Migrate(a) = c { Some(a.tool) } else { None });
        assert_eq!(tool, Some(MigrateTool::SiliconflowApiManagement));
        assert!(parse_args(&["migrate", "one-api", "."]).is_err());
        Ok(())
    }

    #[test]
    fn typed_flags_share_the_env_parsers() -> Result<(), clap::Error> {
        let cli = parse_args(&[
            "--purge-invalid",
            "--sticky-sessions=off",
            "--key-strategy",
            "least-inflight",
            "--access-control",
            "open",
            "--max-body-bytes",
            "10MB",
            "--upstream-url",
            "https://x.example/v1/",
            "serve",
        ])?;
        assert_eq!(cli.global.purge_invalid, Some(true));
        assert_eq!(cli.global.sticky_sessions, Some(false));
        assert_eq!(cli.global.key_strategy, Some(Strategy::LeastInflight));
        assert_eq!(cli.global.access_control, Some(AccessControl::Open));
        assert_eq!(cli.global.max_body_bytes, Some(10_000_000));
        assert_eq!(cli.global.upstream_url.as_deref(), Some("https://x.example"));
        assert_eq!(cli.command, Some(Command::Serve));
        Ok(())
    }

    #[test]
    fn bad_flag_values_name_the_flag_and_what_is_accepted() {
        let err = parse_args(&["--key-strategy", "fastest"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--key-strategy") && err.contains("round_robin"), "{err}");
        let err = parse_args(&["--bind", "nowhere"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--bind") && err.contains("IP:PORT"), "{err}");
        let err = parse_args(&["--max-retries", "many"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--max-retries"), "{err}");
        assert!(parse_args(&["demo", "--keys", "0"]).is_err());
    }

    #[test]
    fn every_catalogued_flag_exists() {
        let command = Cli::command();
        let longs: Vec<String> =
            command.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        for info in crate::config::catalog::SETTINGS {
            if let Some(flag) = info.flag {
                assert!(longs.iter().any(|l| l == flag), "{flag} ({}) is not a flag", info.key);
            }
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() -> Result<(), clap::Error> {
        let cli = parse_args(&["--admin-password", "hunter2-hunter2-x", "--api-key", "client-token-0123456789"])?;
        let debug = format!("{cli:?}");
        assert!(!debug.contains("hunter2-hunter2-x") && !debug.contains("client-token-0123456789"), "{debug}");
        Ok(())
    }
}
