//! SIGKILL in the middle of an import, with chat traffic flowing: the
//! restarted binary opens the same database at once, holds no key twice,
//! holds every key whose import was acknowledged (with its checked state),
//! and serves the first request after `/health`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use keyflow_mock::{Fault, MockConfig, MockServer};
use serde_json::Value;

use crate::common::test_key;
use crate::harness::{all_key_rows, chat, eventually, import, wait_healthy, Gateway};

const N_SEED: usize = 4;
/// Imported in one request that completes before the kill.
const N_ACKED: usize = 2_000;
/// Imported in one request that the kill interrupts.
const N_IN_FLIGHT: usize = 3_000;
/// Imported in chunks, one after another, until the kill.
const N_CHUNKED: usize = 2_000;
const CHUNK: usize = 100;
/// How long upstream takes to check each key of the last two batches, so
/// that their imports are still running when the kill comes.
const CHECK_TIME: Duration = Duration::from_millis(10);
/// Chat clients running during the imports.
const N_CLIENTS: usize = 4;

fn balance_of(i: usize) -> f64 {
    5.0 + (i % 5) as f64
}

/// Keys `first..first + n` of the test key sequence.
fn batch(first: usize, n: usize) -> Vec<String> {
    (first..first + n).map(test_key).collect()
}

/// Chat requests from `N_CLIENTS` clients until `killed`; every answer before
/// the kill must be complete. Returns the number of complete answers.
async fn traffic(http: &reqwest::Client, url: &str, killed: &AtomicBool) -> usize {
    let clients = (0..N_CLIENTS).map(|client| async move {
        let mut n_ok = 0;
        for i in (client..).step_by(N_CLIENTS) {
            if killed.load(Ordering::SeqCst) {
                break;
            }
            match chat(http, url, i).await {
                Ok(_) => n_ok += 1,
                // The kill cut this request; the flag is set before the kill.
                Err(_) if killed.load(Ordering::SeqCst) => break,
                Err(problem) => panic!("chat during the import failed: {problem}"),
            }
        }
        n_ok
    });
    join_all(clients).await.into_iter().sum()
}

/// Imports `keys` in chunks, one after another, until an import fails (the
/// kill); returns the keys of the acknowledged chunks.
async fn import_chunks<'k>(http: &reqwest::Client, url: &str, keys: &'k [String]) -> Vec<&'k String> {
    let mut acked = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        match import(http, url, chunk).await {
            Ok(report) => {
                assert_eq!(report["added"], chunk.len(), "{}", report["details"][0]);
                acked.extend(chunk);
            }
            Err(_) => break,
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_import_loses_no_acknowledged_key_and_duplicates_none() {
    let started = Instant::now();
    let mock = MockServer::start(MockConfig::default()).await.expect("mock starts");
    let upstream = mock.state();
    let seed = batch(500_000, N_SEED);
    let acked_batch = batch(510_000, N_ACKED);
    let in_flight = batch(520_000, N_IN_FLIGHT);
    let chunked = batch(530_000, N_CHUNKED);
    let all: Vec<&String> = seed.iter().chain(&acked_batch).chain(&in_flight).chain(&chunked).collect();
    upstream
        .add_keys(all.iter().enumerate().map(|(i, key)| ((*key).clone(), balance_of(i), format!("acct-{}", i % 50))));
    for key in in_flight.iter().chain(&chunked) {
        upstream.set_fault(key, Fault::Slow(CHECK_TIME));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("keyflow.db");
    let http = reqwest::Client::new();
    let mut gateway = Gateway::start(&mock.url(), &db, &seed).await;
    let url = gateway.url.clone();
    eventually("the seed keys serve", Duration::from_secs(20), || async { chat(&http, &url, 0).await.ok() }).await;

    let killed = AtomicBool::new(false);
    let imports = async {
        let import_started = Instant::now();
        let report = import(&http, &url, &acked_batch).await.expect("the first batch is acknowledged");
        let acked_took = import_started.elapsed();
        assert_eq!(report["added"], N_ACKED, "{}", report["details"][0]);
        let big = import(&http, &url, &in_flight);
        let chunks = import_chunks(&http, &url, &chunked);
        let kill = async {
            // A quarter of the big batch checked upstream: the import is mid-way.
            eventually("the big import is under way", Duration::from_secs(60), || async {
                let checked: u64 = in_flight.iter().map(|key| upstream.hits_on(key, "/v1/user/info")).sum();
                (checked >= (N_IN_FLIGHT / 4) as u64).then_some(())
            })
            .await;
            killed.store(true, Ordering::SeqCst);
            gateway.kill();
        };
        let (big, chunks, ()) = tokio::join!(big, chunks, kill);
        (report, acked_took, big, chunks)
    };
    let ((acked_report, acked_took, big, chunks_acked), n_chats) = tokio::join!(imports, traffic(&http, &url, &killed));
    assert!(big.is_err(), "the big import finished before the kill, so nothing was killed mid-import");
    assert!(n_chats > 0, "no chat succeeded during the imports");
    let killed_at = started.elapsed();

    // The same database, a new process.
    let gateway = Gateway::start(&mock.url(), &db, &seed).await;
    let url = gateway.url.clone();
    let restarted = Instant::now();
    wait_healthy(&http, &url, Duration::from_secs(20)).await;
    let healthy_after = restarted.elapsed();
    chat(&http, &url, 0).await.expect("the first chat after /health");

    let export = http
        .get(format!("{url}/api/keys/export"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("export text");
    let lines: Vec<&str> = export.lines().filter(|line| !line.is_empty()).collect();
    let exported: HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), exported.len(), "the export lists a key twice");
    let known: HashSet<&str> = all.iter().map(|key| key.as_str()).collect();
    let strangers = exported.difference(&known).count();
    assert_eq!(strangers, 0, "the export holds keys nobody imported");
    let must_have: Vec<&String> = seed.iter().chain(&acked_batch).chain(chunks_acked.iter().copied()).collect();
    let lost: Vec<&&String> = must_have.iter().filter(|key| !exported.contains(key.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged keys lost, e.g. {:?}", lost.len(), lost.first());

    // The list agrees, and acknowledged imports kept what their check found.
    let rows = all_key_rows(&http, &url).await;
    let ids: HashSet<i64> = rows.iter().map(|row| row["id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), rows.len(), "a key is listed twice");
    assert_eq!(rows.len(), exported.len(), "list and export disagree");
    let acked_ids: Vec<i64> =
        (0..N_ACKED).map(|i| acked_report["details"][i]["id"].as_i64().expect("id in the import report")).collect();
    let unchecked: Vec<&Value> = rows
        .iter()
        .filter(|row| acked_ids.contains(&row["id"].as_i64().unwrap_or(-1)))
        .filter(|row| row["state"] != "active" || row["balance"].as_f64().is_none() || row["checked_at"].is_null())
        .collect();
    assert_eq!(rows.iter().filter(|row| acked_ids.contains(&row["id"].as_i64().unwrap_or(-1))).count(), N_ACKED);
    assert!(unchecked.is_empty(), "{} acknowledged keys lost their check, e.g. {}", unchecked.len(), unchecked[0]);
    let n_in_flight = in_flight.iter().filter(|key| exported.contains(key.as_str())).count();
    eprintln!(
        "kill -9: {N_ACKED} keys acknowledged in {acked_took:?}, then {} in chunks; killed after {killed_at:?} \
         with {n_chats} chats served; healthy {healthy_after:?} after the restart, with {} keys \
         ({n_in_flight} of the interrupted batch of {N_IN_FLIGHT})",
        chunks_acked.len(),
        exported.len()
    );

    // The database itself, after a clean stop: each key stored once.
    gateway.terminate().await;
    let store = keyflow::store::open(&format!("sqlite://{}", db.display())).await.expect("open the store");
    let records = store.load_keys().await.expect("load keys");
    let stored: HashSet<&str> = records.iter().map(|record| record.secret.as_str()).collect();
    assert_eq!(stored.len(), records.len(), "a key is stored twice");
    assert_eq!(stored, exported, "the store and the export disagree");
    mock.shutdown().await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(90), "took {elapsed:?}");
}
