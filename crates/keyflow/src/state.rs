//! The one cloneable application state every handler and job shares: the
//! handles of the floors below (settings, store, pool, pins, catalogue,
//! upstream, recording) and the services built on them (keys, models,
//! tokens, access). Surfaces read it; nothing below it knows it.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::limiter::FailedLogins;
use crate::access::password::AdminAuth;
use crate::access::session::Sessions;
use crate::catalog::Catalog;
use crate::config::{Config, RuntimeSettings};
use crate::keys::Keys;
use crate::models::Models;
use crate::pins::Pins;
use crate::pool::KeyPool;
use crate::store::writer::Writer;
use crate::store::Store;
use crate::tokens::ClientTokens;
use crate::upstream::failover::Failover;
use crate::upstream::Upstream;
use crate::usage::meters::Meters;
use crate::usage::recorder::Recorder;

/// This instance among those sharing the database (SPEC §8).
pub struct Membership {
    /// `INSTANCE_NAME`, on every log row and in `/health`.
    pub instance: Arc<str>,
    /// Holds the lead of scheduled work (always, on a database of its own).
    leader: AtomicBool,
    /// Hears the other instances' announcements (PostgreSQL).
    listening: AtomicBool,
}

impl Membership {
    pub fn new(instance: &str) -> Membership {
        Membership { instance: Arc::from(instance), leader: AtomicBool::new(false), listening: AtomicBool::new(false) }
    }

    /// Whether scheduled work (refresh, probes, retention) is this instance's to do.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Sets the lead; returns whether it changed.
    pub fn set_leader(&self, leader: bool) -> bool {
        self.leader.swap(leader, Ordering::Relaxed) != leader
    }

    /// Whether changes made elsewhere arrive as announcements; when not,
    /// the pool upkeep polls the keys version instead.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Relaxed);
    }
}

pub struct Inner {
    pub config: Config,
    pub membership: Membership,
    /// Live settings, swapped whole when the operator saves them.
    pub settings: Arc<ArcSwap<RuntimeSettings>>,
    pub store: Arc<dyn Store>,
    pub pool: Arc<KeyPool>,
    pub pins: Pins,
    pub catalog: Arc<Catalog>,
    pub upstream: Arc<Upstream>,
    pub writer: Writer,
    pub recorder: Recorder,
    pub meters: Arc<Meters>,
    pub keys: Keys,
    pub models: Models,
    pub tokens: ClientTokens,
    pub sessions: Sessions,
    /// Failed credentials per client address, for every way in.
    pub logins: FailedLogins,
    pub admin_auth: AdminAuth,
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

    /// The settings service over this state's handles.
    pub fn live_settings(&self) -> crate::settings::Live<'_> {
        crate::settings::Live {
            current: &self.settings,
            store: self.store.as_ref(),
            upstream: &self.upstream,
            sessions: &self.sessions,
        }
    }

    /// What the failover loop reads and acts on, for one call.
    pub fn failover(&self) -> Failover<'_> {
        Failover {
            settings: self.settings(),
            pool: &self.pool,
            catalog: &self.catalog,
            upstream: &self.upstream,
            writer: &self.writer,
            purge_invalid: self.config.purge_invalid,
            recheck: &self.keys,
        }
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
