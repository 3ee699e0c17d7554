//! Command-line definitions (clap). Only definitions live here.
//!
//! `keyflow [GLOBAL FLAGS] [COMMAND]`: the commands are defined here; the
//! global flags are the command-line layer of the settings, so they live
//! with them (`config::GlobalFlags`), and work before or after the
//! subcommand. `config::resolve` applies the precedence.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{parse, GlobalFlags};

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
    /// Work on keyflow's databases.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum DbCommand {
    /// Copy keys, settings, tokens, pins, prices and logs into another
    /// database (SQLite or PostgreSQL, either way); a second run adds nothing.
    Copy(DbCopyArgs),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DbCopyArgs {
    /// The database to read: sqlite://PATH, a file path, or postgres://USER:PASSWORD@HOST/DATABASE.
    #[arg(long, value_name = "URL", value_parser = parse::database_url)]
    pub from: String,
    /// The database to write (created or migrated as keyflow starts one).
    #[arg(long, value_name = "URL", value_parser = parse::database_url)]
    pub to: String,
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use clap::CommandFactory;

    use super::*;
    use crate::config::{AccessControl, Strategy};

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
    fn db_copy_takes_two_urls() -> Result<(), clap::Error> {
        let cli = parse_args(&["db", "copy", "--from", "data/kf.db", "--to", "postgres://kf:pw@db/kf"])?;
        let want = DbCopyArgs { from: "sqlite://data/kf.db".into(), to: "postgres://kf:pw@db/kf".into() };
        assert_eq!(cli.command, Some(Command::Db(DbCommand::Copy(want))));
        assert!(parse_args(&["db", "copy", "--from", "mysql://x/y", "--to", "a.db"]).is_err());
        assert!(parse_args(&["db", "copy", "--from", "a.db"]).is_err(), "--to is required");
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
