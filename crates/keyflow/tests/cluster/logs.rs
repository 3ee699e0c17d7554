//! Logs (SPEC §8): every log row names the instance that served it, and the
//! instances share one log: each shows every instance's rows, the same rows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_names_its_instance_and_every_instance_shows_all_rows() {
    let c = &Cluster::start(3).await;
    c.add_keys(&[(test_key(9_000), 20.0, "acct-logs")]).await;
    let sent: BTreeMap<String, u64> = [("a", 4), ("b", 3), ("c", 2)].map(|(n, k)| (n.to_string(), k)).into();
    let total: u64 = sent.values().sum();
    for (i, name) in NAMES.iter().enumerate() {
        for _ in 0..sent[*name] {
            let response = c.chat(i, PAID).await;
            assert_eq!(response.status(), 200, "chat through {name}");
        }
    }

    let mut seen: Option<BTreeSet<i64>> = None;
    for i in 0..3 {
        eventually(&format!("{total} rows on {}", c.name(i)), Duration::from_secs(15), || async move {
            (c.log_total(i).await? == total).then_some(())
        })
        .await;
        let rows = c.log_rows(i).await;
        let mut by_instance: BTreeMap<String, u64> = BTreeMap::new();
        for row in &rows {
            let instance = row["instance"].as_str().unwrap_or_else(|| panic!("a row without its instance: {row}"));
            *by_instance.entry(instance.to_string()).or_default() += 1;
        }
        assert_eq!(by_instance, sent, "rows per instance as {} shows them", c.name(i));
        let ids: BTreeSet<i64> = rows.iter().map(|row| row["id"].as_i64().expect("row id")).collect();
        assert_eq!(ids.len() as u64, total, "row ids repeat on {}", c.name(i));
        match &seen {
            None => seen = Some(ids),
            Some(first) => assert_eq!(&ids, first, "{} shows other rows than a: not one table", c.name(i)),
        }
    }
    let stored = c.db.scalar("SELECT COUNT(*) FROM request_logs WHERE instance IS NULL").await;
    assert_eq!(stored, 0, "rows stored without their instance");
}
