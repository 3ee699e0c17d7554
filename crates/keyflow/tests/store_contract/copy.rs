//! Contract cases of what `keyflow db copy` reads and writes beyond the
//! gateway's own calls: every named value, log rows in id order after a
//! high-water mark, and a batch of rows written with its mark.

use keyflow::store::LogRow;

use crate::db::TestDb;
use crate::logs::log_row;

pub async fn named_values_are_listed_as_stored(db: TestDb) {
    let store = db.open().await;
    assert!(store.load_values().await.unwrap().is_empty());
    store.save_settings(r#"{"max_retries":3}"#).await.unwrap();
    store.save_value("admin_password", "pbkdf2$one").await.unwrap();
    store.save_value("admin_username", "ops").await.unwrap();
    let values = store.load_values().await.unwrap();
    let want = [("admin_password", "pbkdf2$one"), ("admin_username", "ops"), ("runtime", r#"{"max_retries":3}"#)];
    let want: Vec<(String, String)> = want.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(values, want, "by name, as stored");
}

pub async fn log_rows_follow_their_ids_and_land_with_their_mark(db: TestDb) {
    let store = db.open().await;
    assert!(store.logs_after(0, 10).await.unwrap().is_empty());
    let rows: Vec<LogRow> = (0..25).map(|i| log_row(1_700_000_000_000 + i, Some("c"), 0.5)).collect();
    store.insert_logs_marked(&rows, ("db_copy:x:last_log_id", "25")).await.unwrap();
    assert_eq!(store.load_value("db_copy:x:last_log_id").await.unwrap().as_deref(), Some("25"));
    let first = store.logs_after(0, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert!(first.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!(LogRow { id: 0, ..first[0].clone() }, rows[0]);
    let last_id = first[9].id;
    let rest = store.logs_after(last_id, 100).await.unwrap();
    assert_eq!(rest.len(), 15);
    assert!(rest.iter().all(|r| r.id > last_id));
    // Deleting old rows keeps the ids of the rest: a mark stays valid.
    store.delete_logs(Some(1_700_000_000_005)).await.unwrap();
    assert_eq!(store.logs_after(0, 100).await.unwrap().first().map(|r| r.id), Some(first[5].id));
    store.insert_logs_marked(&[log_row(1, None, 0.0)], ("db_copy:x:last_log_id", "26")).await.unwrap();
    assert_eq!(store.load_value("db_copy:x:last_log_id").await.unwrap().as_deref(), Some("26"));
    let newest = store.logs_after(rest[14].id, 10).await.unwrap();
    assert_eq!(newest.len(), 1, "a new row gets a higher id than every earlier one");
}
