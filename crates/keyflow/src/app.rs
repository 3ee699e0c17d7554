//! Building and running the gateway: state from the store, the router,
//! background jobs, and the graceful shutdown order (stop accepting, drain
//! requests, stop jobs, flush writers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::config::{Config, RuntimeSettings};
use crate::jobs::maintenance;
use crate::keys::{self, Keys};
use crate::models::Models;
use crate::pins::Pins;
use crate::pool::KeyPool;
use crate::state::{AppState, Inner};
use crate::store::writer;
use crate::upstream::Upstream;
use crate::usage::ingest;
use crate::usage::meters::Meters;
use crate::usage::recorder::{Recorder, QUEUE_CAPACITY};

/// How long in-flight requests may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the store and loads keys, pins, settings and model facts into a
/// state. The store writer runs on the state's tracker.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = crate::store::open_sized(&config.database_url, config.secret.as_ref(), config.database_pool_size)
        .await
        .with_context(|| format!("opening the database {}", crate::store::redacted_url(&config.database_url)))?;
    let settings = match store.load_settings().await? {
        Some(json) => match serde_json::from_str::<RuntimeSettings>(&json) {
            Ok(stored) => {
                // A setting given by flag, environment or file wins at every start.
                let (settings, changed) = crate::config::apply_explicit(stored, &config);
                if !changed.is_empty() {
                    tracing::info!(settings = %changed.join(", "), "explicit configuration overrides stored settings");
                    store.save_settings(&serde_json::to_string(&settings)?).await?;
                }
                settings
            }
            Err(e) => {
                tracing::warn!(error = %e, "stored settings unreadable; using the configured ones");
                config.runtime.clone()
            }
        },
        None => {
            // First start: the environment and file seed the live settings.
            store.save_settings(&serde_json::to_string(&config.runtime)?).await?;
            config.runtime.clone()
        }
    };
    let pool = Arc::new(KeyPool::new());
    pool.replace_all(&store.load_keys().await?);
    let meters = Arc::new(Meters::default());
    meters.prices.load(store.as_ref()).await?;
    let pins = Pins::default();
    pins.load(store.load_pins().await?);
    let catalog = Arc::new(Catalog::default());
    crate::catalog::load(&catalog, store.as_ref()).await?;
    let upstream = Arc::new(Upstream::new(&config.upstream_url, &settings));
    let settings = Arc::new(ArcSwap::from_pointee(settings));
    let tokens = crate::tokens::ClientTokens::default();
    tokens.load(store.as_ref(), &meters).await?;
    // A user name taken by `keyflow migrate` applies while none is configured.
    let admin_username = crate::access::password::username(store.as_ref(), &config).await?;
    let admin_auth = crate::access::password::AdminAuth::new(&admin_username, config.admin_password.clone());
    admin_auth.load(store.as_ref()).await?;
    let (writer, rx) = writer::Writer::channel();
    let tracker = TaskTracker::new();
    tracker.spawn(writer::run(Arc::clone(&store), rx));
    // Outcomes → ingest (figures, cost) → rows → batch writer.
    let (recorder, outcomes) = Recorder::channel(QUEUE_CAPACITY);
    let (rows_tx, rows_rx) = tokio::sync::mpsc::channel(ingest::ROW_QUEUE);
    let sessions = crate::access::session::Sessions::new(Arc::clone(&store));
    let membership = crate::state::Membership::new(&config.instance());
    let instance = Arc::clone(&membership.instance);
    tracker.spawn(ingest::ingest(outcomes, rows_tx, Arc::clone(&meters), Arc::clone(&pool), instance));
    let journal_path = config.log_journal_path(&membership.instance);
    let journal = match crate::usage::journal::Journal::open(&journal_path, &membership.instance, store.as_ref()).await
    {
        Ok(journal) => {
            if journal.has_rows() {
                tracing::info!(path = %journal_path.display(), "log rows from an earlier run wait in the journal; draining");
            }
            meters.rows_journaled.store(journal.rows, std::sync::atomic::Ordering::Relaxed);
            Some(journal)
        }
        Err(e) => {
            tracing::error!(error = %e, "the log journal cannot be used; rows wait in memory while the database is away");
            None
        }
    };
    tracker.spawn(ingest::write(rows_rx, Arc::clone(&store), Arc::clone(&meters), journal));
    let models = Models {
        catalog: Arc::clone(&catalog),
        pool: Arc::clone(&pool),
        upstream: Arc::clone(&upstream),
        writer: writer.clone(),
        settings: Arc::clone(&settings),
        test_key: config.free_model_test_key.clone(),
    };
    let keys = Keys::new(keys::Handles {
        store: Arc::clone(&store),
        pool: Arc::clone(&pool),
        upstream: Arc::clone(&upstream),
        models: models.clone(),
        tracker: tracker.clone(),
        test_model: config.test_model.clone(),
        purge_invalid: config.purge_invalid,
    });
    Ok(AppState::new(Inner {
        config,
        membership,
        settings,
        store,
        pool,
        pins,
        catalog,
        upstream,
        writer,
        recorder,
        meters,
        keys,
        models,
        tokens,
        sessions,
        logins: Default::default(),
        admin_auth,
        tracker,
        shutdown: CancellationToken::new(),
        started_at: Instant::now(),
    }))
}

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let hosts = crate::edge::HostGuard::new(state.config.bind, &state.config.edge.allowed_hosts);
    Router::new()
        .route(
            "/v1/{*rest}",
            any(crate::proxy::handle).layer(crate::edge::cors::layer(&state.config.edge.cors_origins)),
        )
        .route("/health", get(crate::health::health))
        .route("/metrics", get(crate::health::metrics))
        .merge(crate::admin::router(state.clone()))
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(limit))
        // Outermost: a request for a name keyflow does not serve reaches nothing.
        .layer(axum::middleware::from_fn_with_state(hosts, crate::edge::host::check_host))
        .with_state(state)
}

/// A running gateway.
pub struct App {
    addr: SocketAddr,
    state: AppState,
    server: tokio::task::JoinHandle<()>,
}

impl App {
    /// Binds `config.bind` (port 0 picks a free port) and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<App> {
        let bind = config.bind;
        let keys_at_start = config.keys_at_start.clone();
        let state = build_state(config).await?;
        // The bind check knows the store: a password changed in the console
        // (or taken by `keyflow migrate`) is not the default any more.
        if !state.admin_auth.password_is_stored() {
            state.config.check_bind_safety()?;
        }
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}: is another process using the port? set KEYFLOW_BIND or PORT"))?;
        let addr = listener.local_addr()?;

        if let Some(keys) = keys_at_start {
            let report = state.keys.import(keys.expose(), false).await?;
            if report.added > 0 {
                tracing::info!(added = report.added, "imported keys from KEYS; validating in the background");
                let ids = report.details.iter().filter(|d| d.result == "added").filter_map(|d| d.id).collect();
                state.keys.start_refresh(Some(ids));
            }
        }

        state.tracker.spawn(crate::cluster::run(state.clone()));
        state.tracker.spawn(crate::cluster::run_leadership(state.clone()));
        state.tracker.spawn(maintenance::run_pool_upkeep(state.clone()));
        state.tracker.spawn(maintenance::run_usage_flush(state.clone()));
        state.tracker.spawn(maintenance::run_auto_refresh(state.clone()));
        state.tracker.spawn(maintenance::run_log_retention(state.clone()));

        let app = router(state.clone());
        let token = state.shutdown.clone();
        let limits = crate::edge::ServeLimits::from_config(&state.config.edge);
        // The server task is joined by `shutdown` itself, so it stays off the
        // tracker that it must outlive.
        #[allow(clippy::disallowed_methods)]
        let server = tokio::spawn(crate::edge::serve(listener, app, limits, token));
        tracing::info!(%addr, "keyflow listening");
        Ok(App { addr, state, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, drains in-flight requests (bounded), stops the jobs
    /// and flushes what they hold.
    pub async fn shutdown(self) {
        self.state.shutdown.cancel();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.server).await.is_err() {
            tracing::warn!("in-flight requests did not finish in time; closing them");
        }
        let App { state, .. } = self;
        let tracker = state.tracker.clone();
        tracker.close();
        // The writer ends when the last sender (inside the state) is gone.
        drop(state);
        if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait()).await.is_err() {
            tracing::warn!("background jobs did not stop in time");
        }
    }
}
