//! One contract for every store: each case runs on SQLite (a temporary
//! file) and on PostgreSQL (a fresh database on `KEYFLOW_TEST_POSTGRES_URL`,
//! or on a throwaway cluster this suite starts; see `store_contract/db.rs`).
//!
//! `cargo test -p keyflow --test store_contract` runs both halves;
//! `… store_contract sqlite::` or `postgres::` runs one.

// Test code states its expectations with unwrap/expect/panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "store_contract/app.rs"]
mod app;
#[path = "store_contract/cluster.rs"]
mod cluster;
#[path = "store_contract/copy.rs"]
mod copy;
#[path = "store_contract/db.rs"]
mod db;
#[path = "store_contract/logs.rs"]
mod logs;

use keyflow::store::{ClientTokenRecord, KeyRecord, KeyState, KeyStatusUpdate, ModelFact, NewKey, Pin, StoreError};

use cluster::*;
use copy::*;
use db::TestDb;
use logs::*;

/// Declares every case twice: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                crate::db::run(crate::db::Backend::Sqlite, super::$name).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                crate::db::run(crate::db::Backend::Postgres, super::$name).await
            })*
        }
    };
}

contract!(
    opens_and_pings,
    instances_starting_together_migrate_once,
    keys_collapse_on_their_fingerprint,
    concurrent_imports_collapse,
    key_status_updates_apply_in_order,
    keys_enable_and_delete,
    key_usage_adds_up,
    pins_upsert_and_find,
    settings_and_values,
    client_tokens,
    model_facts,
    secrets_are_sealed_at_rest,
    log_rows_round_trip_and_page,
    log_filters,
    log_totals_and_buckets,
    log_rows_delete,
    prices,
    named_values_are_listed_as_stored,
    log_rows_follow_their_ids_and_land_with_their_mark,
    sessions_are_shared_and_end,
    changes_are_announced,
    one_leader_at_a_time,
);

pub fn new_key(secret: &str, balance_hint: Option<f64>, created_at: i64) -> NewKey {
    // The state is the key service's decision; the store writes it as given.
    NewKey { secret: secret.to_string(), state: keyflow::keys::initial_state(balance_hint), balance_hint, created_at }
}

fn status(id: i64, state: KeyState) -> KeyStatusUpdate {
    KeyStatusUpdate {
        id,
        state,
        balance: None,
        charge_balance: None,
        account_id: None,
        last_error: None,
        checked_at: None,
    }
}

async fn key(store: &dyn keyflow::store::Store, id: i64) -> KeyRecord {
    store.load_keys().await.unwrap().into_iter().find(|k| k.id == id).expect("key present")
}

async fn opens_and_pings(db: TestDb) {
    let store = db.open().await;
    store.ping().await.unwrap();
    assert_eq!(store.keys_version().await.unwrap(), 0);
    assert!(store.load_keys().await.unwrap().is_empty());
    // A second open finds the schema current and changes nothing.
    let again = db.open().await;
    again.ping().await.unwrap();
    assert_eq!(again.keys_version().await.unwrap(), 0);
}

async fn instances_starting_together_migrate_once(db: TestDb) {
    let (a, b, c, d) = tokio::join!(
        db.open_sealed("shared-secret"),
        db.open_sealed("shared-secret"),
        db.open_sealed("shared-secret"),
        db.open_sealed("shared-secret"),
    );
    let stores = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    let versions = db.raw_texts("SELECT CAST(COUNT(*) AS TEXT) FROM schema_version").await;
    let n_migrations = db.raw_texts("SELECT CAST(MAX(version) AS TEXT) FROM schema_version").await;
    assert_eq!(versions, n_migrations, "each migration applied once");
    // However the key derivation race went, all four seal alike.
    stores[0].insert_keys(&[new_key("sk-race", None, 1)]).await.unwrap();
    for store in &stores {
        assert_eq!(store.load_keys().await.unwrap()[0].secret, "sk-race");
    }
    assert_eq!(db.raw_texts("SELECT name FROM settings WHERE name = 'cipher_kdf'").await.len(), 1);
}

async fn keys_collapse_on_their_fingerprint(db: TestDb) {
    let store = db.open().await;
    let keys = [
        new_key("sk-a", Some(5.0), 100),
        new_key("sk-b", Some(0.0), 101),
        new_key("sk-a", None, 102),
        new_key("sk-c", None, 103),
    ];
    let ids = store.insert_keys(&keys).await.unwrap();
    assert_eq!(ids.iter().map(|(_, new)| *new).collect::<Vec<_>>(), [true, true, false, true]);
    assert_eq!(ids[2].0, ids[0].0, "the same key, the same row");
    assert!(ids[0].0 < ids[1].0 && ids[1].0 < ids[3].0, "ids follow the input order: {ids:?}");
    let v1 = store.keys_version().await.unwrap();
    assert!(v1 > 0);

    let more = store.insert_keys(&[new_key("sk-b", None, 200), new_key("sk-d", None, 201)]).await.unwrap();
    assert_eq!(more[0], (ids[1].0, false));
    assert!(more[1].1);
    let v2 = store.keys_version().await.unwrap();
    assert!(v2 > v1);
    assert_eq!(store.insert_keys(&[new_key("sk-a", None, 300)]).await.unwrap(), [(ids[0].0, false)]);
    assert_eq!(store.keys_version().await.unwrap(), v2, "nothing new: no reload");
    assert!(store.insert_keys(&[]).await.unwrap().is_empty());

    let loaded = store.load_keys().await.unwrap();
    let secrets: Vec<&str> = loaded.iter().map(|k| k.secret.as_str()).collect();
    assert_eq!(secrets, ["sk-a", "sk-b", "sk-c", "sk-d"], "ordered by id");
    let a = &loaded[0];
    assert_eq!(
        (a.id, a.state, a.enabled, a.balance, a.charge_balance),
        (ids[0].0, KeyState::Active, true, Some(5.0), None)
    );
    assert_eq!((a.account_id.as_deref(), a.usage_count, a.last_error.as_deref()), (None, 0, None));
    assert_eq!((a.checked_at, a.created_at, a.spent), (None, 100, 0.0));
    assert_eq!((loaded[1].state, loaded[1].balance), (KeyState::Free, Some(0.0)), "no balance: free models only");
    assert_eq!((loaded[2].state, loaded[2].balance), (KeyState::Active, None));

    // Past one statement's batch: 2,500 keys with every tenth repeated.
    let many: Vec<NewKey> =
        (0..2500).map(|i| new_key(&format!("sk-many-{}", if i % 10 == 9 { i - 9 } else { i }), None, i)).collect();
    let result = store.insert_keys(&many).await.unwrap();
    assert_eq!(result.len(), many.len());
    let distinct: std::collections::HashSet<&str> = many.iter().map(|k| k.secret.as_str()).collect();
    assert_eq!(result.iter().filter(|(_, new)| *new).count(), distinct.len());
    assert_eq!(store.load_keys().await.unwrap().len(), 4 + distinct.len());
}

async fn concurrent_imports_collapse(db: TestDb) {
    // Two stores on one database: two instances.
    let (a, b) = (db.open().await, db.open().await);
    let keys: Vec<NewKey> = (0..1500).map(|i| new_key(&format!("sk-shared-{i:05}"), None, i)).collect();
    let mut reversed = keys.clone();
    reversed.reverse();
    let (ra, rb, rc) = tokio::join!(a.insert_keys(&keys), b.insert_keys(&reversed), a.insert_keys(&keys));
    let (ra, mut rb, rc) = (ra.unwrap(), rb.unwrap(), rc.unwrap());
    rb.reverse();
    let mut n_new = 0;
    for i in 0..keys.len() {
        assert!(ra[i].0 == rb[i].0 && rb[i].0 == rc[i].0, "key {i}: one id everywhere");
        n_new += [ra[i].1, rb[i].1, rc[i].1].iter().filter(|new| **new).count();
    }
    assert_eq!(n_new, keys.len(), "each key inserted exactly once");
    assert_eq!(b.load_keys().await.unwrap().len(), keys.len());
}

async fn key_status_updates_apply_in_order(db: TestDb) {
    let store = db.open().await;
    let ids = store.insert_keys(&[new_key("sk-0", Some(5.0), 1), new_key("sk-1", None, 2)]).await.unwrap();
    let (k0, k1) = (ids[0].0, ids[1].0);
    store.add_key_usage(&[(k0, 3, 0.5)]).await.unwrap();
    let v0 = store.keys_version().await.unwrap();

    let first = KeyStatusUpdate {
        charge_balance: Some(Some(1.5)),
        account_id: Some("acct-1".into()),
        last_error: Some("low balance".into()),
        checked_at: Some(10),
        ..status(k0, KeyState::Free)
    };
    store.update_key_status(&[first]).await.unwrap();
    let k = key(&*store, k0).await;
    assert_eq!((k.state, k.balance, k.spent, k.charge_balance), (KeyState::Free, Some(5.0), 0.5, Some(1.5)));
    assert_eq!(
        (k.account_id.as_deref(), k.last_error.as_deref(), k.checked_at),
        (Some("acct-1"), Some("low balance"), Some(10))
    );
    let v1 = store.keys_version().await.unwrap();
    assert!(v1 > v0);

    // A balance read resets the spend metered since; `Some(None)` clears.
    let second =
        KeyStatusUpdate { balance: Some(Some(7.0)), charge_balance: Some(None), ..status(k0, KeyState::Active) };
    store.update_key_status(&[second]).await.unwrap();
    let k = key(&*store, k0).await;
    assert_eq!((k.state, k.balance, k.spent, k.charge_balance), (KeyState::Active, Some(7.0), 0.0, None));
    assert_eq!(
        (k.account_id.as_deref(), k.last_error, k.checked_at),
        (Some("acct-1"), None, Some(10)),
        "kept or cleared"
    );

    // One batch naming a key twice: applied in order, as separate updates.
    let twice = [
        KeyStatusUpdate { balance: Some(Some(2.0)), last_error: Some("x".into()), ..status(k1, KeyState::Invalid) },
        status(k0, KeyState::Invalid),
        KeyStatusUpdate { account_id: Some("acct-b".into()), checked_at: Some(20), ..status(k1, KeyState::Active) },
        KeyStatusUpdate { balance: Some(None), ..status(999_999, KeyState::Free) },
    ];
    store.update_key_status(&twice).await.unwrap();
    let k = key(&*store, k1).await;
    assert_eq!((k.state, k.balance, k.account_id.as_deref()), (KeyState::Active, Some(2.0), Some("acct-b")));
    assert_eq!((k.last_error, k.checked_at), (None, Some(20)));
    assert_eq!(key(&*store, k0).await.state, KeyState::Invalid);
    assert!(store.keys_version().await.unwrap() > v1);
}

async fn keys_enable_and_delete(db: TestDb) {
    let store = db.open().await;
    let ids = store.insert_keys(&[new_key("sk-0", None, 1), new_key("sk-1", None, 2)]).await.unwrap();
    let v0 = store.keys_version().await.unwrap();
    assert!(store.set_key_enabled(ids[0].0, false).await.unwrap());
    assert!(!key(&*store, ids[0].0).await.enabled);
    assert!(store.keys_version().await.unwrap() > v0);
    assert!(store.set_key_enabled(ids[0].0, true).await.unwrap());
    assert!(key(&*store, ids[0].0).await.enabled);
    assert!(!store.set_key_enabled(999_999, true).await.unwrap(), "no such key");

    let v1 = store.keys_version().await.unwrap();
    assert_eq!(store.delete_keys(&[ids[0].0, 999_999]).await.unwrap(), 1);
    assert!(store.keys_version().await.unwrap() > v1);
    let left: Vec<i64> = store.load_keys().await.unwrap().iter().map(|k| k.id).collect();
    assert_eq!(left, [ids[1].0]);
    assert_eq!(store.delete_keys(&[]).await.unwrap(), 0);
    // A deleted key imported again is a new row.
    let again = store.insert_keys(&[new_key("sk-0", None, 3)]).await.unwrap();
    assert!(again[0].1 && again[0].0 != ids[0].0);
}

async fn key_usage_adds_up(db: TestDb) {
    let store = db.open().await;
    let ids = store.insert_keys(&[new_key("sk-0", None, 1), new_key("sk-1", None, 2)]).await.unwrap();
    let (k0, k1) = (ids[0].0, ids[1].0);
    let v0 = store.keys_version().await.unwrap();
    store.add_key_usage(&[(k0, 2, 0.25), (k1, 1, 0.0), (k0, 3, 0.5), (999_999, 1, 1.0)]).await.unwrap();
    store.add_key_usage(&[]).await.unwrap();
    store.add_key_usage(&[(k1, 4, 0.125)]).await.unwrap();
    let (a, b) = (key(&*store, k0).await, key(&*store, k1).await);
    assert_eq!((a.usage_count, a.spent), (5, 0.75));
    assert_eq!((b.usage_count, b.spent), (5, 0.125));
    assert_eq!(store.keys_version().await.unwrap(), v0, "counts are not a change of keys");
}

async fn pins_upsert_and_find(db: TestDb) {
    let store = db.open().await;
    assert!(store.load_pins().await.unwrap().is_empty());
    assert_eq!(store.find_pin("file", "f1").await.unwrap(), None);
    let file =
        Pin { kind: "file".into(), resource_id: "f1".into(), key_id: 7, created_at: 100, owner: Some("alice".into()) };
    let batch = Pin { kind: "batch".into(), resource_id: "b1".into(), key_id: 8, created_at: 101, owner: None };
    store.insert_pins(&[file.clone(), batch.clone()]).await.unwrap();
    assert_eq!(store.find_pin("file", "f1").await.unwrap(), Some(file.clone()));
    assert_eq!(store.find_pin("batch", "f1").await.unwrap(), None, "the kind is part of the id");
    store.insert_pins(&[]).await.unwrap();

    // A pin written again moves to its new key and owner, keeping its age.
    store.insert_pins(&[Pin { key_id: 9, created_at: 200, owner: None, ..file.clone() }]).await.unwrap();
    let moved = Pin { key_id: 9, owner: None, ..file };
    assert_eq!(store.find_pin("file", "f1").await.unwrap(), Some(moved.clone()));
    let mut all = store.load_pins().await.unwrap();
    all.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(all, [batch, moved]);
}

async fn settings_and_values(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.load_settings().await.unwrap(), None);
    store.save_settings(r#"{"max_retries":3}"#).await.unwrap();
    assert_eq!(store.load_settings().await.unwrap().as_deref(), Some(r#"{"max_retries":3}"#));
    store.save_settings(r#"{"max_retries":5}"#).await.unwrap();
    assert_eq!(store.load_settings().await.unwrap().as_deref(), Some(r#"{"max_retries":5}"#));
    assert_eq!(store.load_value("admin_password").await.unwrap(), None);
    store.save_value("admin_password", "pbkdf2$one").await.unwrap();
    store.save_value("admin_password", "pbkdf2$two").await.unwrap();
    store.save_value("other", "x").await.unwrap();
    assert_eq!(store.load_value("admin_password").await.unwrap().as_deref(), Some("pbkdf2$two"));
    assert_eq!(store.load_value("runtime").await.unwrap().as_deref(), Some(r#"{"max_retries":5}"#));
    // Seen by another instance at once.
    assert_eq!(db.open().await.load_value("other").await.unwrap().as_deref(), Some("x"));
}

async fn client_tokens(db: TestDb) {
    let store = db.open().await;
    assert!(store.load_client_tokens().await.unwrap().is_empty());
    let token = |name: &str, hash: &str| ClientTokenRecord {
        id: 0,
        name: name.into(),
        token_hash: hash.into(),
        masked: "kf-abcd…wxyz".into(),
        scope: "all".into(),
        rpm_limit: None,
        spend_quota: None,
        created_at: 1_700_000_000,
    };
    let alice =
        ClientTokenRecord { rpm_limit: Some(60), spend_quota: Some(2.5), scope: "free".into(), ..token("alice", "h1") };
    let bob = token("bob", "h2");
    let alice_id = store.insert_client_token(&alice).await.unwrap();
    let bob_id = store.insert_client_token(&bob).await.unwrap();
    assert!(bob_id > alice_id);
    let loaded = store.load_client_tokens().await.unwrap();
    assert_eq!(loaded, [ClientTokenRecord { id: alice_id, ..alice }, ClientTokenRecord { id: bob_id, ..bob }]);
    for taken in [token("alice", "h3"), token("carol", "h2")] {
        let error = store.insert_client_token(&taken).await.expect_err("name and hash are unique");
        assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    }
    assert!(store.delete_client_token(alice_id).await.unwrap());
    assert!(!store.delete_client_token(alice_id).await.unwrap());
    assert_eq!(store.load_client_tokens().await.unwrap().len(), 1);

    let rows = [("alice", 0.5), ("bob", 1.0), ("alice", 0.25)];
    let mut logs: Vec<_> = rows.iter().map(|(c, cost)| log_row(1, Some(c), *cost)).collect();
    logs.push(log_row(2, None, 2.0));
    store.insert_logs(&logs).await.unwrap();
    let mut spend = store.spend_by_client().await.unwrap();
    spend.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(spend, [("alice".to_string(), 0.75), ("bob".to_string(), 1.0)]);
}

async fn model_facts(db: TestDb) {
    let store = db.open().await;
    assert!(store.load_model_facts().await.unwrap().is_empty());
    let fact = |model: &str, free, updated_at| ModelFact { model: model.into(), free, updated_at };
    store.save_model_facts(&[fact("m1", Some(true), 10), fact("m2", None, 11)]).await.unwrap();
    store.save_model_facts(&[fact("m1", Some(false), 12)]).await.unwrap();
    let mut facts = store.load_model_facts().await.unwrap();
    facts.sort_by(|a, b| a.model.cmp(&b.model));
    assert_eq!(facts, [fact("m1", Some(false), 12), fact("m2", None, 11)]);
}

async fn secrets_are_sealed_at_rest(db: TestDb) {
    const SECRET: &str = "contract-secret";
    // Stored plain first, then sealed when a secret arrives.
    let plain = db.open().await;
    plain.insert_keys(&[new_key("sk-plain-one", None, 1)]).await.unwrap();
    plain.save_settings(r#"{"guest_password":"guest-pass-123","page_size":20}"#).await.unwrap();
    drop(plain);
    let sealed = db.open_sealed(SECRET).await.unwrap();
    sealed.insert_keys(&[new_key("sk-sealed-two", None, 2)]).await.unwrap();
    let raw_keys = db.raw_texts("SELECT secret FROM keys").await;
    assert_eq!(raw_keys.len(), 2);
    assert!(raw_keys.iter().all(|s| s.starts_with("enc:v2:") && !s.contains("sk-")), "{raw_keys:?}");
    let raw_settings = db.raw_texts("SELECT value FROM settings WHERE name = 'runtime'").await;
    assert!(!raw_settings[0].contains("guest-pass-123") && raw_settings[0].contains("page_size"), "{raw_settings:?}");
    let kdf = sealed.load_value("cipher_kdf").await.unwrap().expect("the salt record lives in settings");
    assert!(kdf.starts_with("pbkdf2-sha256$"), "{kdf}");

    let secrets: Vec<String> = sealed.load_keys().await.unwrap().into_iter().map(|k| k.secret).collect();
    assert_eq!(secrets, ["sk-plain-one", "sk-sealed-two"]);
    assert!(sealed.load_settings().await.unwrap().unwrap().contains("guest-pass-123"));
    sealed.save_settings(r#"{"guest_password":"new-guest-pass"}"#).await.unwrap();
    assert!(!db.raw_texts("SELECT value FROM settings WHERE name = 'runtime'").await[0].contains("new-guest-pass"));
    drop(sealed);

    let none = db.open_with_no_secret().await.err().expect("sealed values need the secret");
    assert!(matches!(none, StoreError::Secret(_)), "{none}");
    let wrong = db.open_sealed("not-the-secret").await.err().expect("a wrong secret is refused");
    assert!(wrong.to_string().contains("does not match"), "{wrong}");
    let again = db.open_sealed(SECRET).await.unwrap();
    assert_eq!(again.load_keys().await.unwrap()[1].secret, "sk-sealed-two");
    assert!(again.load_settings().await.unwrap().unwrap().contains("new-guest-pass"));
    assert_eq!(db.raw_texts("SELECT value FROM settings WHERE name = 'cipher_kdf'").await, [kdf], "one salt, kept");
}

impl TestDb {
    async fn open_with_no_secret(&self) -> keyflow::store::StoreResult<std::sync::Arc<dyn keyflow::store::Store>> {
        keyflow::store::open(&self.url).await
    }
}
