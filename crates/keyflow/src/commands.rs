//! What each command-line command does: serve, demo, and `keys …`,
//! `migrate` and `db copy` run directly against the database (a running gateway picks the changes up
//! within a second through the store's keys version).

use std::io::Read as _;

use anyhow::Context as _;

use crate::app::App;
use crate::cli::{Cli, Command, DemoArgs, ExportArgs, ImportArgs, KeysCommand, ListArgs, MigrateArgs, RefreshArgs};
use crate::config::Config;
use crate::pool::export::{render_export, ExportFilter, ExportOptions, ExportRow, ExportSort, Separator, SortOrder};

pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command_or_serve() {
        Command::Serve => serve(config).await,
        Command::Demo(args) => demo(config, args).await,
        Command::Keys(KeysCommand::Import(args)) => keys_import(config, args).await,
        Command::Keys(KeysCommand::Export(args)) => keys_export(config, args).await,
        Command::Keys(KeysCommand::List(args)) => keys_list(config, args).await,
        Command::Keys(KeysCommand::Refresh(args)) => keys_refresh(config, args).await,
        Command::Migrate(args) => migrate(config, args).await,
        Command::Db(crate::cli::DbCommand::Copy(args)) => db_copy(config, args).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    println!("keyflow listening on {}  (API: {}/v1)", app.url(), app.url());
    wait_for_signal().await;
    tracing::info!("shutting down: draining requests and flushing writes");
    app.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The gateway plus an in-process fake SiliconFlow and demo keys.
async fn demo(mut config: Config, args: DemoArgs) -> anyhow::Result<()> {
    let mock = keyflow_mock::MockServer::start(keyflow_mock::MockConfig::default()).await?;
    let mut keys = Vec::new();
    for i in 0..args.keys {
        let key = demo_key(i);
        // Two demo accounts; the last key is empty so free-only routing shows.
        let balance = if i + 1 == args.keys && args.keys > 1 { 0.0 } else { 14.0 + f64::from(i) };
        mock.state().add_key(&key, balance, &format!("demo-account-{}", i % 2));
        keys.push(key);
    }
    let dir = std::env::temp_dir().join(format!("keyflow-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    config.upstream_url = mock.url();
    config.database_url = format!("sqlite://{}", dir.join("demo.db").display());
    config.keys_at_start = Some(crate::secret::Secret::new(keys.join("\n")));
    config.check_bind_safety()?;
    let app = App::start(config).await?;
    let url = app.url();
    println!("keyflow demo: gateway on {url}, fake SiliconFlow on {}", mock.url());
    println!("{} demo keys imported; admin login admin/admin (HTTP Basic on /api)", keys.len());
    println!();
    println!("Try:");
    println!(
        "  curl {url}/v1/chat/completions -H 'Content-Type: application/json' \\\n    -d '{{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"messages\":[{{\"role\":\"user\",\"content\":\"你好\"}}]}}'"
    );
    println!("  curl -u admin:admin {url}/api/keys");
    println!();
    println!("Ctrl-C stops the demo.");
    wait_for_signal().await;
    app.shutdown().await;
    mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A deterministic, well-formed demo key.
fn demo_key(i: u32) -> String {
    let letters: String = (0..48).map(|j| (b'a' + ((i * 7 + j * 13) % 26) as u8) as char).collect();
    format!("sk-{letters}")
}

async fn keys_import(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    let text = if args.input.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading keys from standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?
    };
    let state = crate::app::build_state(config).await?;
    let report = state.keys.import(&text, !args.no_validate).await?;
    println!(
        "added {}, already present {}, malformed {}, invalid {}",
        report.added, report.already_present, report.malformed, report.invalid
    );
    finish(state).await;
    Ok(())
}

async fn keys_export(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    let state = crate::app::build_state(config).await?;
    let rows = state
        .pool
        .snapshot()
        .entries
        .iter()
        .map(|e| ExportRow { key: e.secret.expose().to_string(), balance: e.balance() })
        .collect();
    let options = ExportOptions {
        sort: match args.sort {
            crate::cli::ExportSort::Balance => ExportSort::Balance,
            crate::cli::ExportSort::Key => ExportSort::Key,
        },
        order: args.order.map(|o| match o {
            crate::cli::SortOrder::Asc => SortOrder::Asc,
            crate::cli::SortOrder::Desc => SortOrder::Desc,
        }),
        sep: match args.sep {
            crate::cli::ExportSep::Newline => Separator::Newline,
            crate::cli::ExportSep::Comma => Separator::Comma,
        },
        with_balance: args.with_balance,
        filter: match args.filter {
            crate::cli::ExportFilter::All => ExportFilter::All,
            crate::cli::ExportFilter::Funded => ExportFilter::Funded,
            crate::cli::ExportFilter::Empty => ExportFilter::Empty,
        },
    };
    let text = render_export(rows, &options);
    match args.output {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    finish(state).await;
    Ok(())
}

async fn keys_list(config: Config, args: ListArgs) -> anyhow::Result<()> {
    let state = crate::app::build_state(config).await?;
    let wanted = args.state.map(|s| format!("{s:?}").to_ascii_lowercase());
    let views = crate::keys::list(&state.pool, &crate::keys::KeyQuery { state: wanted, ..Default::default() }).items;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
    } else {
        println!("{:>6}  {:<16}  {:<9}  {:>10}  {:>8}  last error", "id", "key", "state", "balance", "used");
        for v in &views {
            let balance = v.balance.map(|b| format!("{b:.2}")).unwrap_or_else(|| "unknown".into());
            println!(
                "{:>6}  {:<16}  {:<9}  {:>10}  {:>8}  {}",
                v.id,
                v.key,
                v.state.as_str(),
                balance,
                v.usage_count,
                v.last_error.as_deref().unwrap_or("")
            );
        }
        println!("{} keys", views.len());
    }
    finish(state).await;
    Ok(())
}

async fn keys_refresh(config: Config, args: RefreshArgs) -> anyhow::Result<()> {
    let state = crate::app::build_state(config).await?;
    let ids = (!args.ids.is_empty()).then_some(args.ids);
    let summary = state.keys.refresh(ids).await?;
    println!(
        "checked {}, valid {}, invalid {}, unverified (retry later) {}",
        summary.checked,
        summary.valid,
        summary.invalid_ids.len(),
        summary.unverified
    );
    finish(state).await;
    Ok(())
}

/// Reads another tool's storage into this database and prints what was
/// taken (keys masked, passwords never).
async fn migrate(config: Config, args: MigrateArgs) -> anyhow::Result<()> {
    // Read the old tool first: a wrong path fails before keyflow's database is created.
    let tool = match args.tool {
        crate::cli::MigrateTool::SiliconPool => crate::migrate::Tool::SiliconPool,
        crate::cli::MigrateTool::SiliconflowPython => crate::migrate::Tool::SiliconflowPython,
        crate::cli::MigrateTool::SiliconflowApiManagement => crate::migrate::Tool::SiliconflowApiManagement,
    };
    let source = crate::migrate::read(tool, &args.path).await?;
    let state = crate::app::build_state(config).await?;
    let report = crate::migrate::apply(&state, source, !args.no_validate).await;
    finish(state).await;
    print!("{}", report?);
    Ok(())
}

/// Copies one database into another through the store API (sealing with
/// `KEYFLOW_SECRET` when set) and prints the counts; no gateway starts.
async fn db_copy(config: Config, args: crate::cli::DbCopyArgs) -> anyhow::Result<()> {
    let secret = config.secret.as_ref();
    let report = crate::dbcopy::copy(&args.from, &args.to, secret, config.database_pool_size).await?;
    print!("{report}");
    Ok(())
}

/// Lets the store writer finish before a command exits.
async fn finish(state: crate::state::AppState) {
    let tracker = state.tracker.clone();
    tracker.close();
    drop(state);
    tracker.wait().await;
}
