//! One leader (SPEC §8): exactly one instance leads the scheduled work at a
//! time; after `kill -9` of the leader another leads within seconds while
//! the survivors keep serving; the killed instance, started again under its
//! name, rejoins (current keys, logged traffic) without taking a second lead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use crate::harness::*;

/// How long a takeover may take: the dead leader's lock goes with its
/// connection, and the others try for it every 2 s.
const TAKEOVER_BOUND: Duration = Duration::from_secs(5);

/// The names of the running instances that say they lead, once every
/// running instance has answered `/health` with its name and a lead flag.
async fn leaders(c: &Cluster) -> Option<Vec<String>> {
    let mut leading = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        if !node.is_running() {
            continue;
        }
        let health: Value = c.health(i).await?;
        assert_eq!(health["instance"], node.name(), "/health names another instance: {health}");
        match health["leader"].as_bool() {
            Some(true) => leading.push(node.name().to_string()),
            Some(false) => {}
            None => panic!("/health has no leader flag: {health}"),
        }
    }
    Some(leading)
}

/// Waits until exactly one running instance leads; its index.
async fn one_leader(c: &Cluster, deadline: Duration) -> usize {
    let name = eventually("exactly one leader", deadline, || async move {
        let leading = leaders(c).await?;
        (leading.len() == 1).then(|| leading[0].clone())
    })
    .await;
    c.nodes.iter().position(|node| node.name() == name).expect("a known instance")
}

/// Samples `/health` of every running instance `n` times, 100 ms apart:
/// never two leaders.
async fn never_two_leaders(c: &Cluster, n: usize) {
    for _ in 0..n {
        if let Some(leading) = leaders(c).await {
            assert!(leading.len() <= 1, "two instances lead at once: {leading:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Chats through the instances in `through` until `stop`; every answer must be 200.
async fn steady_traffic(c: &Cluster, through: &[usize], stop: &AtomicBool) -> usize {
    let clients = through.iter().map(|&i| async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            let response = c.chat(i, PAID).await;
            let status = response.status();
            assert_eq!(
                status,
                200,
                "chat through {} while another instance died: {}",
                c.name(i),
                response.text().await.unwrap_or_default()
            );
            n += 1;
        }
        n
    });
    join_all(clients).await.into_iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_a_new_one_after_kill_9_and_the_killed_instance_rejoins() {
    let mut cluster = Cluster::start(3).await;
    let c = &cluster;
    c.add_keys(&[(test_key(8_000), 20.0, "acct-8a"), (test_key(8_001), 15.0, "acct-8b")]).await;
    let first = one_leader(c, Duration::from_secs(15)).await;
    never_two_leaders(c, 10).await;
    assert_eq!(one_leader(c, Duration::from_secs(1)).await, first, "the lead moved without a reason");

    // kill -9 the leader while the two others serve.
    let survivors: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    let stop = AtomicBool::new(false);
    let killed_name = c.name(first).to_string();
    let (served, (takeover, new_key)) = {
        let traffic = steady_traffic(c, &survivors, &stop);
        let kill_and_wait = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.nodes[first].sigkill();
            let since = Instant::now();
            let new_leader = eventually("a new leader after kill -9", Duration::from_secs(20), || async {
                let mut leading = Vec::new();
                for &i in &survivors {
                    if c.health(i).await?["leader"] == true {
                        leading.push(i);
                    }
                }
                (leading.len() == 1).then(|| leading[0])
            })
            .await;
            let takeover = since.elapsed();
            eprintln!(
                "leader: {killed_name} killed; {} leads {:.0} ms later",
                c.name(new_leader),
                takeover.as_secs_f64() * 1000.0
            );
            // A key imported while the killed instance is down.
            let key = test_key(8_002);
            c.upstream.add_key(&key, 30.0, "acct-8c");
            let report = c.import(survivors[0], std::slice::from_ref(&key)).await;
            assert_eq!(report["added"], 1, "{report}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.store(true, Ordering::SeqCst);
            (takeover, report["details"][0]["id"].as_i64().expect("id"))
        };
        tokio::join!(traffic, kill_and_wait)
    };
    assert!(served > 0, "no request was served while the leader died");
    assert!(takeover < TAKEOVER_BOUND, "the takeover took {takeover:?}, over {TAKEOVER_BOUND:?}");
    eprintln!("leader: {served} chats served by the survivors across the kill, all 200");

    // The killed instance comes back under its name.
    cluster.restart(first).await;
    let c = &cluster;
    let rows = c.key_rows(first).await;
    assert!(rows.iter().any(|row| row["id"] == new_key), "the restarted instance misses the key imported meanwhile");
    let leader = one_leader(c, Duration::from_secs(10)).await;
    assert_ne!(leader, first, "the restarted instance took the lead from a live leader");
    never_two_leaders(c, 10).await;

    // Its traffic is logged under its name, visible on the others.
    for _ in 0..5 {
        let response = c.chat(first, PAID_OTHER).await;
        assert_eq!(response.status(), 200, "chat through the restarted instance");
    }
    let other = survivors[0];
    let path = format!("/api/logs?size=100&model={}", PAID_OTHER.replace('/', "%2F"));
    let rows = eventually("the restarted instance's rows", Duration::from_secs(15), || async {
        let body = c.try_get(other, &path).await?;
        let items = body["items"].as_array()?.clone();
        (items.len() >= 5).then_some(items)
    })
    .await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().all(|row| row["instance"] == c.name(first)), "rows not named {}: {rows:?}", c.name(first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_refresh_runs_once_on_the_new_leader_after_the_old_one_dies() {
    // Every instance is told to refresh every 60 s (the least keyflow takes),
    // counting from its start; only the leader does. The first leader dies
    // before its turn, so the refresh at 60 s is the new leader's alone.
    const INTERVAL: Duration = Duration::from_secs(60);
    // It waits a minute on counts that load cannot change: it runs beside the outage.
    let env = [("AUTO_REFRESH_INTERVAL", "60")];
    let mut cluster = Cluster::start_on(TestDb::create().await, 3, &env, no_turn()).await;
    // The instances' clocks started before this one.
    let started = Instant::now();
    let key = test_key(8_100);
    cluster.add_keys(&[(key.clone(), 20.0, "acct-refresh")]).await;
    let first = one_leader(&cluster, Duration::from_secs(15)).await;
    cluster.nodes[first].kill();
    let second = one_leader(&cluster, Duration::from_secs(10)).await;
    let checks = |c: &Cluster| c.upstream.hits_on(&key, "/v1/user/info");
    let before = checks(&cluster);

    let c = &cluster;
    eventually("a scheduled refresh", INTERVAL + Duration::from_secs(20), || async move {
        (checks(c) > before).then_some(())
    })
    .await;
    eprintln!(
        "leader: the scheduled refresh ran {:.1} s after the start, {} leading since {} died",
        started.elapsed().as_secs_f64(),
        c.name(second),
        c.name(first)
    );
    // Every surviving instance's turn has come by now: only one took it.
    let all_due = started + INTERVAL + Duration::from_secs(8);
    tokio::time::sleep_until(all_due.into()).await;
    let n = checks(c) - before;
    assert_eq!(n, 1, "the key was checked {n} times at the 60 s mark: not by the leader alone");
}
