//! What instances sharing a database need of the store: sessions any of
//! them can read, announcements of every change (PostgreSQL), and one
//! leader at a time.

use std::time::Duration;

use keyflow::store::{Heard, SessionRecord};

use crate::db::{Backend, TestDb};
use crate::new_key;

fn session(hash: &str, role: &str, expires_at_ms: i64) -> SessionRecord {
    SessionRecord {
        token_hash: hash.into(),
        role: role.into(),
        username: "admin".into(),
        csrf: format!("csrf-{hash}"),
        expires_at_ms,
    }
}

pub async fn sessions_are_shared_and_end(db: TestDb) {
    let (one, other) = (db.open().await, db.open().await);
    let later = keyflow::clock::now_ms() + 3_600_000;
    one.insert_session(&session("a", "admin", later)).await.unwrap();
    one.insert_session(&session("g", "guest", later)).await.unwrap();
    assert_eq!(other.find_session("a").await.unwrap(), Some(session("a", "admin", later)));
    // A new session sweeps out the expired ones.
    one.insert_session(&session("old", "admin", 1)).await.unwrap();
    one.insert_session(&session("b", "admin", later)).await.unwrap();
    assert_eq!(other.find_session("old").await.unwrap(), None);
    other.delete_session("a").await.unwrap();
    assert_eq!(one.find_session("a").await.unwrap(), None);
    assert_eq!(one.delete_sessions("admin").await.unwrap(), 1);
    assert_eq!(one.find_session("b").await.unwrap(), None);
    assert!(one.find_session("g").await.unwrap().is_some(), "only admin sessions ended");
}

/// The next announcement, within a deadline.
async fn heard(listener: &mut Box<dyn keyflow::store::Announcements>) -> Heard {
    tokio::time::timeout(Duration::from_secs(5), listener.next()).await.expect("an announcement within 5 s")
}

pub async fn changes_are_announced(db: TestDb) {
    let (one, other) = (db.open().await, db.open().await);
    let Some(mut listener) = other.listen().await.unwrap() else {
        assert_eq!(db.backend, Backend::Sqlite, "PostgreSQL announces");
        return;
    };
    assert_eq!(db.backend, Backend::Postgres, "SQLite cannot announce");
    one.insert_keys(&[new_key("sk-announced", None, 1)]).await.unwrap();
    assert_eq!(heard(&mut listener).await, Heard::Message("keys".into()));
    one.save_settings("{}").await.unwrap();
    assert_eq!(heard(&mut listener).await, Heard::Message("settings".into()));
    let pin = keyflow::store::Pin {
        kind: "file".into(),
        resource_id: "file-1".into(),
        key_id: 1,
        created_at: 1,
        owner: None,
    };
    one.insert_pins(&[pin]).await.unwrap();
    assert_eq!(heard(&mut listener).await, Heard::Message("pin file file-1".into()));
    one.announce("cooldown {}").await.unwrap();
    assert_eq!(heard(&mut listener).await, Heard::Message("cooldown {}".into()));
    // Usage counts change often and announce nothing.
    one.add_key_usage(&[(1, 5, 0.5)]).await.unwrap();
    one.delete_sessions("admin").await.unwrap();
    assert_eq!(heard(&mut listener).await, Heard::Message("sessions".into()));
}

pub async fn one_leader_at_a_time(db: TestDb) {
    let (one, other) = (db.open().await, db.open().await);
    assert!(one.lead().await.unwrap(), "the first to ask leads");
    if db.backend == Backend::Sqlite {
        assert!(other.lead().await.unwrap(), "a database of its own: always the leader");
        return;
    }
    assert!(!other.lead().await.unwrap(), "a second instance waits");
    assert!(one.lead().await.unwrap(), "the leader keeps the lead");
    drop(one);
    // The leader's connection closes with it; the lead passes on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !other.lead().await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "the lead passed on within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
