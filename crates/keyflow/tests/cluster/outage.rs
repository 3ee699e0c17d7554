//! A database outage (SPEC §8): two instances on a PostgreSQL server of the
//! test's own, stopped (`postgres-test-cluster pause`) under about 200
//! chat requests a second and started again (`resume`) on the same port.
//! Every request gets its complete answer while the database is away; log
//! rows wait in memory and in each instance's `LOG_JOURNAL` file and drain
//! when it returns, none lost and none twice; the instances reconnect by
//! themselves. `KEYFLOW_CLUSTER_OUTAGE_SECS` (default 60) sets the length.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::harness::*;

const RATE_PER_SEC: u64 = 200;
const DRAIN_BOUND: Duration = Duration::from_secs(60);

fn outage_length() -> Duration {
    let secs = std::env::var("KEYFLOW_CLUSTER_OUTAGE_SECS")
        .ok()
        .map(|v| v.trim().parse::<u64>().expect("KEYFLOW_CLUSTER_OUTAGE_SECS is a number of seconds"))
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// A PostgreSQL server of this test's own, stopped and removed on drop.
struct OwnServer {
    dir: PathBuf,
    url: String,
}

impl OwnServer {
    async fn start(dir: PathBuf) -> OwnServer {
        let d = dir.clone();
        let url = tokio::task::spawn_blocking(move || pg_script("start", &d))
            .await
            .expect("script runner")
            .unwrap_or_else(|e| panic!("the outage test starts a PostgreSQL server of its own: {e}"));
        OwnServer { dir, url }
    }

    async fn run(&self, command: &'static str) {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || pg_script(command, &dir))
            .await
            .expect("script runner")
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = pg_script("stop", &self.dir);
    }
}

/// One chat answer: its number, whether it was a complete 200 (or why
/// not), and how long it took.
type Outcome = (usize, Result<(), String>, Duration);

/// Request `n` through `url`, to run as a task of its own; every fourth streams.
fn one_request(http: &reqwest::Client, url: &str, n: usize) -> impl Future<Output = Outcome> + Send + 'static {
    let (http, url) = (http.clone(), url.to_string());
    async move {
        let started = Instant::now();
        let mut body = json!({"model": PAID, "messages": [{"role": "user", "content": format!("outage request {n}")}]});
        if n % 4 == 1 {
            body["stream"] = json!(true);
        }
        let outcome = match http.post(format!("{url}/v1/chat/completions")).json(&body).send().await {
            Err(e) => Err(format!("send: {e}")),
            Ok(response) => {
                let status = response.status();
                match response.text().await {
                    Err(e) => Err(format!("{status}, body cut: {e}")),
                    Ok(text) if status != 200 => {
                        Err(format!("{status}: {}", text.chars().take(200).collect::<String>()))
                    }
                    Ok(text) if n % 4 == 1 && !text.trim_end().ends_with("data: [DONE]") => {
                        Err(format!("stream without [DONE]: …{}", &text[text.len().saturating_sub(200)..]))
                    }
                    Ok(_) => Ok(()),
                }
            }
        };
        (n, outcome, started.elapsed())
    }
}

/// About `RATE_PER_SEC` requests a second for `length`, alternating over
/// the instances, numbered from `first`; every outcome.
async fn paced_load(c: &Cluster, first: usize, length: Duration) -> Vec<Outcome> {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SEC));
    let started = Instant::now();
    let mut running = JoinSet::new();
    let mut n = first;
    while started.elapsed() < length {
        tick.tick().await;
        running.spawn(one_request(&c.http, c.url(n % c.nodes.len()), n));
        n += 1;
    }
    let mut outcomes = Vec::with_capacity(running.len());
    while let Some(outcome) = running.join_next().await {
        outcomes.push(outcome.expect("request task"));
    }
    outcomes.sort_by_key(|(n, _, _)| *n);
    outcomes
}

fn failures(outcomes: &[Outcome]) -> Vec<String> {
    outcomes.iter().filter_map(|(n, r, _)| r.as_ref().err().map(|e| format!("request {n}: {e}"))).collect()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_stops_no_request_and_loses_no_log_row() {
    let turn = exclusive_turn().await;
    let length = outage_length();
    let pg_dir = tempfile::tempdir().expect("tempdir");
    let server = OwnServer::start(pg_dir.path().join("pg")).await;
    let db = TestDb::create_on(&server.url).await;
    let c = &Cluster::start_on(db, 2, &[], turn).await;
    let keys: Vec<(String, f64, &str)> =
        (0..4).map(|i| (test_key(10_000 + i), 5_000.0, ["acct-0", "acct-1", "acct-2", "acct-3"][i])).collect();
    c.add_keys(&keys).await;
    let journals: Vec<PathBuf> = c.nodes.iter().map(|node| node.spec.journal()).collect();

    // Before: the rows of a short burst land.
    let warm = paced_load(c, 0, Duration::from_millis(500)).await;
    assert_eq!(failures(&warm), Vec::<String>::new(), "requests before the outage failed");
    let mut sent = warm.len() as u64;
    eventually("the first rows are written", Duration::from_secs(15), || async {
        (c.log_total(0).await? == sent).then_some(())
    })
    .await;
    let journal_before: Vec<u64> = journals.iter().map(|p| file_len(p)).collect();

    // The outage.
    server.run("pause").await;
    let paused = Instant::now();
    let health_during = async {
        for i in 0..2 {
            let health = c.admin(i, reqwest::Method::GET, "/health").send().await.expect("health");
            assert_ne!(health.status(), 200, "{} reports a healthy database while it is stopped", c.name(i));
        }
    };
    let (during, ()) = tokio::join!(paced_load(c, sent as usize, length), health_during);
    let journal_during: Vec<u64> = journals.iter().map(|p| file_len(p)).collect();
    let outage = paused.elapsed();
    let failed = failures(&during);
    sent += during.len() as u64;
    let mut latencies: Vec<Duration> = during.iter().map(|(_, _, took)| *took).collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    eprintln!(
        "outage: {} requests in {:.1} s with the database stopped, {} failed; latency p50 {:?} p99 {:?} max {:?}; \
         journals {journal_before:?} → {journal_during:?} bytes",
        during.len(),
        outage.as_secs_f64(),
        failed.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed while the database was away, e.g. {:?}",
        failed.len(),
        during.len(),
        &failed[..failed.len().min(5)]
    );
    let min_expected = (length.as_secs() * RATE_PER_SEC * 8 / 10) as usize;
    assert!(during.len() >= min_expected, "the load reached {} requests, not about {RATE_PER_SEC}/s", during.len());
    for (i, (before, now)) in journal_before.iter().zip(&journal_during).enumerate() {
        assert!(
            now > before,
            "{}'s journal {} was not written during the outage ({before} → {now} bytes)",
            c.name(i),
            journals[i].display()
        );
    }

    // The database returns: every row lands, once, and the instances are well.
    server.run("resume").await;
    let resumed = Instant::now();
    let landed = eventually_with(
        "every request's row in the log",
        DRAIN_BOUND,
        || format!(" (sent {sent})"),
        || async {
            let total = c.log_total(0).await?;
            (total >= sent).then_some(total)
        },
    )
    .await;
    let drained = resumed.elapsed();
    assert_eq!(landed, sent, "the log holds {landed} rows for {sent} requests");
    for i in 0..2 {
        let health = c.wait_healthy(i, Duration::from_secs(30)).await;
        assert_eq!(health["database"], "ok", "{health}");
    }
    eprintln!("outage: all {sent} rows in the log {:.1} s after the database returned", drained.as_secs_f64());

    // Traffic after the outage is logged as before, and nothing came twice.
    let after = paced_load(c, sent as usize, Duration::from_millis(250)).await;
    assert_eq!(failures(&after), Vec::<String>::new(), "requests after the outage failed");
    sent += after.len() as u64;
    eventually("the rows after the outage", Duration::from_secs(15), || async {
        (c.log_total(1).await? == sent).then_some(())
    })
    .await;
    assert_eq!(c.log_total(0).await, Some(sent), "rows on a after the outage");
    // Requests alternate over a and b from number 0: each instance's rows.
    for (i, name) in ["a", "b"].iter().enumerate() {
        let want = (sent as i64 + 1 - i as i64) / 2;
        let rows = c.db.scalar(&format!("SELECT COUNT(*) FROM request_logs WHERE instance = '{name}'")).await;
        assert_eq!(rows, want, "rows of instance {name}");
    }
}
