//! The one cloneable application state every handler and job shares.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::config::{Config, RuntimeSettings};
use crate::jobs::writer::Writer;
use crate::keys::RefreshProgress;
use crate::pins::Pins;
use crate::pool::KeyPool;
use crate::store::Store;
use crate::upstream::Upstream;
use crate::usage::meters::Meters;
use crate::usage::recorder::Recorder;

pub struct Inner {
    pub config: Config,
    /// Live settings, swapped whole when the operator saves them.
    pub settings: ArcSwap<RuntimeSettings>,
    pub store: Arc<dyn Store>,
    pub pool: Arc<KeyPool>,
    pub pins: Pins,
    pub catalog: Catalog,
    pub upstream: Upstream,
    pub writer: Writer,
    pub recorder: Recorder,
    pub meters: Arc<Meters>,
    pub refresh: RefreshProgress,
    pub tokens: crate::tokens::ClientTokens,
    pub sessions: crate::admin::session::Sessions,
    /// Failed credentials per client address, for every way in.
    pub logins: crate::admin::limiter::FailedLogins,
    pub admin_auth: crate::admin::password::AdminAuth,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    pub started_at: std::time::Instant,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }

    pub fn settings(&self) -> Arc<RuntimeSettings> {
        self.settings.load_full()
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
