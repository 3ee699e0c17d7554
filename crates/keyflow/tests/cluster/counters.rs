//! Counts merge (SPEC §8): each instance counts in memory and writes its
//! deltas, so the stored usage counts and spend are the sums over all
//! instances, and every instance shows those sums once it has read them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::harness::*;

const N_KEYS: usize = 3;
const THROUGH_A: usize = 30;
const THROUGH_B: usize = 20;
/// The usage flush every 5 s, then the 15 s reconcile on the other instance.
const MERGED_WITHIN: Duration = Duration::from_secs(30);

/// Sends `n` paid chats through instance `i`, four at a time; the key ids that served.
async fn traffic(c: &Cluster, i: usize, n: usize) -> Vec<i64> {
    let workers = (0..4).map(|w| async move {
        let mut ids = Vec::new();
        for _ in (w..n).step_by(4) {
            let response = c.chat(i, PAID).await;
            assert_eq!(response.status(), 200, "chat through {}", c.name(i));
            ids.push(key_id_of(&response));
        }
        ids
    });
    join_all(workers).await.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counts_and_spend_from_every_instance_add_up() {
    let c = &Cluster::start_with(2, &[("KEY_STRATEGY", "round_robin")]).await;
    let keys: Vec<(String, f64, &str)> =
        (0..N_KEYS).map(|i| (test_key(7_000 + i), 10.0, if i == 0 { "acct-0" } else { "acct-1" })).collect();
    let ids = c.add_keys(&keys).await;

    let (through_a, through_b) = tokio::join!(traffic(c, 0, THROUGH_A), traffic(c, 1, THROUGH_B));
    let sent = Instant::now();
    let mut want: HashMap<i64, u64> = ids.iter().map(|id| (*id, 0)).collect();
    for id in through_a.iter().chain(&through_b) {
        *want.get_mut(id).expect("a known key") += 1;
    }
    assert!(want.values().filter(|n| **n > 0).count() >= 2, "the traffic used one key only: {want:?}");
    let want = &want;

    // Both instances show the sums: neither overwrote the other's counts.
    for i in 0..2 {
        eventually(&format!("usage counts merged on {}", c.name(i)), MERGED_WITHIN, || async move {
            let rows = c.try_key_rows(i).await?;
            let counts: HashMap<i64, u64> =
                rows.iter().map(|row| (row["id"].as_i64().unwrap(), row["usage_count"].as_u64().unwrap())).collect();
            (counts == *want).then_some(())
        })
        .await;
        eprintln!(
            "counters: {} shows the merged usage counts {:.1} s after the traffic",
            c.name(i),
            sent.elapsed().as_secs_f64()
        );
    }
    let total = (THROUGH_A + THROUGH_B) as i64;
    let stored = c.db.scalar("SELECT CAST(COALESCE(SUM(usage_count), 0) AS BIGINT) FROM keys").await;
    assert_eq!(stored, total, "the database holds {stored} requests of {total}");

    // The balance estimates take both instances' spend: each instance shows
    // what upstream really holds (the mock debits what it serves).
    let (keys, ids) = (&keys, &ids);
    for i in 0..2 {
        eventually(&format!("balance estimates merged on {}", c.name(i)), MERGED_WITHIN, || async move {
            let rows = c.try_key_rows(i).await?;
            let all_match = keys.iter().zip(ids.iter()).all(|((key, _, _), id)| {
                let shown = rows.iter().find(|row| row["id"] == *id).and_then(|row| row["balance"].as_f64());
                let real = c.upstream.balance(key).expect("the mock knows the key");
                shown.is_some_and(|shown| (shown - real).abs() < 1e-3)
            });
            all_match.then_some(())
        })
        .await;
    }
}
