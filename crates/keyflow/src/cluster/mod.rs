//! Several instances, one gateway (SPEC §8): what each instance hears from
//! the others and tells them, and which of them leads the scheduled work.
//!
//! Shared state lives in the database; every instance keeps its own copy in
//! memory for the request path. PostgreSQL announces each committed change
//! (triggers, `store/migrations/postgres/0004_cluster.sql`), and [`run`]
//! reloads that part: keys, settings, client tokens, sessions, prices,
//! model facts, one pin. What is not in the database travels as messages:
//! 429 cool-downs and failed logins. A reconcile every [`RECONCILE`], and
//! after any lost connection, reads everything again, so a missed
//! announcement costs at most that long.
//!
//! [`run_leadership`] takes the database's leader lock: only the leader
//! runs scheduled refreshes, free-model probes and log retention.
//!
//! On SQLite nothing is announced and this instance always leads; the pool
//! upkeep polls the keys version for changes made by the CLI.

mod messages;

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::state::AppState;
use crate::store::Heard;
use messages::Message;

/// How often everything shared is read again, announcements or not.
pub const RECONCILE: Duration = Duration::from_secs(15);
/// How often the lead is checked or tried for.
pub const LEAD_CHECK: Duration = Duration::from_secs(2);

/// Hears announcements and applies them; tells the others this instance's
/// cool-downs and failed logins. Returns at once on SQLite.
pub async fn run(state: AppState) {
    let Some(mut listener) = listen(&state).await else { return };
    state.membership.set_listening(true);
    let (trips_tx, mut trips) = mpsc::unbounded_channel();
    state.pool.cooldowns().announce_to(trips_tx);
    let (failures_tx, mut failures) = mpsc::unbounded_channel();
    state.logins.announce_to(failures_tx);
    // The listener's `next` is not cancel-safe: it runs in a task of its
    // own and hands over what it hears.
    let (heard_tx, mut heard) = mpsc::channel::<Heard>(1024);
    let shutdown = state.shutdown.clone();
    state.tracker.spawn(async move {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = listener.next() => next,
            };
            if heard_tx.send(next).await.is_err() {
                return;
            }
        }
    });
    let mut reconcile = tokio::time::interval(RECONCILE);
    reconcile.tick().await;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            Some(first) = heard.recv() => {
                // A burst (an import, a refresh) is applied once.
                let mut batch = vec![first];
                while let Ok(more) = heard.try_recv() {
                    batch.push(more);
                }
                apply(&state, batch).await;
            }
            Some(trip) = trips.recv() => tell(&state, Message::cooldown(&state, &trip)).await,
            Some(ip) = failures.recv() => tell(&state, Message::login(&state, ip)).await,
            _ = reconcile.tick() => reconcile_all(&state, false).await,
        }
    }
}

/// The listener, retried until the database answers; `None` on SQLite.
async fn listen(state: &AppState) -> Option<Box<dyn crate::store::Announcements>> {
    loop {
        match state.store.listen().await {
            Ok(listener) => return listener,
            Err(e) => tracing::warn!(error = %e, "listening for other instances' changes failed; retrying"),
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn tell(state: &AppState, message: String) {
    // Cool-downs and failed logins matter for a minute or so: one that
    // cannot be sent now is not worth holding.
    if let Err(e) = state.store.announce(&message).await {
        tracing::debug!(error = %e, "announcing to other instances failed");
    }
}

async fn apply(state: &AppState, batch: Vec<Heard>) {
    let mut topics = BTreeSet::new();
    for heard in batch {
        match heard {
            Heard::Lost => {
                reconcile_all(state, true).await;
                topics.clear();
            }
            Heard::Message(text) => match Message::parse(&text) {
                Some(Message::Topic(topic)) => {
                    topics.insert(topic);
                }
                Some(message) => message.apply(state).await,
                None => tracing::debug!(message = %text, "unknown announcement ignored"),
            },
        }
    }
    for topic in topics {
        reload(state, &topic).await;
    }
}

/// Reads again what `topic` names.
async fn reload(state: &AppState, topic: &str) {
    let store = state.store.as_ref();
    let result = match topic {
        "keys" => state.keys.reload_all().await,
        "settings" => reload_settings(state).await,
        "tokens" => state.tokens.load(store, &state.meters).await,
        "sessions" => {
            state.sessions.forget_cached();
            Ok(())
        }
        "prices" => state.meters.prices.load(store).await,
        "models" => crate::catalog::load(&state.catalog, store).await,
        "pins" => store.load_pins().await.map(|pins| state.pins.load(pins)),
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, topic, "reloading a change made by another instance failed");
    }
}

async fn reload_settings(state: &AppState) -> crate::store::StoreResult<()> {
    if let Some(json) = state.store.load_settings().await? {
        match serde_json::from_str(&json) {
            Ok(settings) => state.live_settings().adopt(settings),
            Err(e) => tracing::warn!(error = %e, "stored settings unreadable; keeping the current ones"),
        }
    }
    state.admin_auth.load(state.store.as_ref()).await
}

/// Reads everything shared again; pins too after a lost connection (a
/// pin is otherwise found on a miss, so only list unions could lag).
async fn reconcile_all(state: &AppState, after_loss: bool) {
    let mut topics = vec!["keys", "settings", "tokens", "sessions", "prices", "models"];
    if after_loss {
        topics.push("pins");
    }
    for topic in topics {
        reload(state, topic).await;
    }
}

/// Takes the lead when nobody holds it and notices losing it. The lead is
/// the leader lock's connection: when the leader dies, the server ends its
/// session and another instance takes the lead within [`LEAD_CHECK`].
pub async fn run_leadership(state: AppState) {
    let mut tick = tokio::time::interval(LEAD_CHECK);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let leads = match state.store.lead().await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::debug!(error = %e, "checking the lead failed");
                false
            }
        };
        if state.membership.set_leader(leads) && state.membership.is_listening() {
            let instance = &*state.membership.instance;
            if leads {
                tracing::info!(instance, "this instance now leads scheduled work");
            } else {
                tracing::info!(instance, "this instance no longer leads scheduled work");
            }
        }
    }
}
