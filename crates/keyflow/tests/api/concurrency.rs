//! Importing, re-importing, refreshing and deleting thousands of keys at the
//! same time, while upstream rate-limits a third of all calls, loses no key,
//! duplicates none, and drops none because of a 429 (SPEC §4).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use keyflow_mock::{Fault, MockConfig, RateMetric};
use serde_json::{json, Value};

use crate::helpers::*;

const N_KEYS: usize = 3000;
/// Keys `0..FIRST_CHUNK` are imported first, alone; the deleted ones come from it.
const FIRST_CHUNK: usize = 150;
const N_CHUNKS: usize = 9;

fn is_dead(i: usize) -> bool {
    i % 10 == 9
}

fn is_deleted(i: usize) -> bool {
    i < FIRST_CHUNK && i.is_multiple_of(3)
}

fn balance_of(i: usize) -> f64 {
    1.0 + (i % 7) as f64
}

/// Imports `keys[range]` and returns the report with the range's start.
async fn import_range(t: &TestApp, keys: &[String], range: std::ops::Range<usize>) -> (usize, Value) {
    let start = range.start;
    let report = t.import(&keys[range].join("\n")).await;
    (start, report)
}

/// Starts full refreshes back to back, once the pool holds keys, until `done` is set.
async fn keep_refreshing(t: &TestApp, done: &AtomicBool) -> usize {
    let mut started = 0;
    loop {
        let has_keys = eventually(Duration::from_secs(60), || async {
            if done.load(Ordering::Relaxed) {
                return Some(false);
            }
            (t.admin_get("/api/keys?size=1").await["total"].as_u64() > Some(0)).then_some(true)
        })
        .await;
        if !has_keys {
            return started;
        }
        let response = t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 202, "a refresh joins a running one");
        started += usize::from(response.status() == 202);
        t.wait_refresh(Duration::from_secs(60)).await;
    }
}

async fn delete_keys(t: &TestApp, ids: &[i64]) {
    let (by_one, by_list) = ids.split_at(ids.len() / 2);
    let singles = join_all(by_one.iter().map(|id| async move {
        let response = t.admin(reqwest::Method::DELETE, &format!("/api/keys/{id}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "DELETE /api/keys/{id}");
    }));
    let list = async {
        let response =
            t.admin(reqwest::Method::POST, "/api/keys/delete").json(&json!({"ids": by_list})).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["deleted"].as_u64(), Some(by_list.len() as u64));
    };
    tokio::join!(singles, list);
}

/// What the pool shows wrongly: export and the paged list against the expected keys.
async fn pool_problems(
    t: &TestApp,
    keys: &[String],
    id_of: &HashMap<&str, i64>,
    alive: &HashSet<&str>,
    deleted: &HashSet<i64>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let text = t.admin(reqwest::Method::GET, "/api/keys/export?sort=key").send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let exported: HashSet<&str> = lines.iter().copied().collect();
    if lines.len() != exported.len() {
        problems.push(format!("export lists {} lines for {} keys", lines.len(), exported.len()));
    }
    if exported != *alive {
        let missing = alive.difference(&exported).count();
        let extra = exported.difference(alive).count();
        problems.push(format!("export: {missing} keys missing, {extra} extra"));
    }
    let rows = t.all_key_rows().await;
    let mut by_id: HashMap<i64, &Value> = HashMap::new();
    for row in &rows {
        if by_id.insert(row["id"].as_i64().unwrap(), row).is_some() {
            problems.push(format!("key listed twice: {row}"));
        }
    }
    for (i, key) in keys.iter().enumerate() {
        let id = id_of[key.as_str()];
        match by_id.get(&id) {
            None if !deleted.contains(&id) => problems.push(format!("key {i} (id {id}) lost")),
            None => {}
            Some(_) if deleted.contains(&id) => problems.push(format!("deleted key {i} (id {id}) still listed")),
            Some(row) if is_dead(i) && row["state"] != "invalid" => problems.push(format!("dead key {i}: {row}")),
            Some(row)
                if !is_dead(i) && (row["state"] != "active" || row["balance"].as_f64() != Some(balance_of(i))) =>
            {
                problems.push(format!("valid key {i}: {row}"))
            }
            Some(_) => {}
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_import_refresh_and_delete_lose_and_duplicate_nothing() {
    let started = Instant::now();
    let mut t = spawn_app().await;
    let keys: Vec<String> = (0..N_KEYS).map(|i| test_key(100_000 + i)).collect();
    t.mock.state().add_keys(
        (0..N_KEYS).filter(|i| !is_dead(*i)).map(|i| (keys[i].clone(), balance_of(i), format!("acct-{}", i % 40))),
    );
    t.mock.state().set_global_fault_ratio(Fault::RateLimited(RateMetric::Rpm), 0.3);

    let chunk = (N_KEYS - FIRST_CHUNK).div_ceil(N_CHUNKS);
    let chunks: Vec<std::ops::Range<usize>> =
        (0..N_CHUNKS).map(|c| FIRST_CHUNK + c * chunk..(FIRST_CHUNK + (c + 1) * chunk).min(N_KEYS)).collect();
    // Overlapping subsets of the later chunks, imported again at the same time.
    let overlaps = [FIRST_CHUNK..1_600, 1_000..2_400, 2_000..N_KEYS];

    let done = AtomicBool::new(false);
    let work = async {
        let imports = chunks.iter().chain(&overlaps).map(|range| import_range(&t, &keys, range.clone()));
        let first_then_delete = async {
            // The first chunk, then deletes of part of it while the rest imports.
            let first = import_range(&t, &keys, 0..FIRST_CHUNK).await;
            let ids: Vec<i64> = (0..FIRST_CHUNK)
                .filter(|i| is_deleted(*i))
                .map(|i| first.1["details"][i]["id"].as_i64().expect("id in import detail"))
                .collect();
            delete_keys(&t, &ids).await;
            (first, ids)
        };
        let (reports, (first, ids)) = tokio::join!(join_all(imports), first_then_delete);
        // Upstream healthy again, so the refresh still running ends soon.
        done.store(true, Ordering::Relaxed);
        t.mock.state().clear_faults();
        (reports, first, ids)
    };
    let ((reports, first, deleted_ids), n_refreshes) = tokio::join!(work, keep_refreshing(&t, &done));
    assert!(n_refreshes >= 1, "no refresh ran during the imports");
    t.wait_refresh(Duration::from_secs(60)).await;
    let response = t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
    assert_eq!(response.status(), 202);
    let progress = t.wait_refresh(Duration::from_secs(60)).await;
    assert_eq!(progress["failed"], 0, "{progress}");

    // Every import report: each key was added (or found dead) exactly once overall.
    let mut id_of: HashMap<&str, i64> = HashMap::new();
    let mut first_counted: HashMap<&str, usize> = HashMap::new();
    for (start, report) in reports.iter().chain(std::iter::once(&first)) {
        let details = report["details"].as_array().unwrap();
        for (offset, detail) in details.iter().enumerate() {
            let i = start + offset;
            let key = keys[i].as_str();
            let id = detail["id"].as_i64().expect("detail id");
            assert_eq!(*id_of.entry(key).or_insert(id), id, "key {i} got two ids");
            match detail["result"].as_str().unwrap() {
                "added" => assert!(!is_dead(i), "dead key {i} reported added: {detail}"),
                "invalid" => assert!(is_dead(i), "valid key {i} reported invalid: {detail}"),
                "already_present" => continue,
                other => panic!("key {i}: result {other}"),
            }
            *first_counted.entry(key).or_default() += 1;
        }
    }
    assert_eq!(id_of.len(), N_KEYS);
    assert_eq!(first_counted.len(), N_KEYS, "some keys were never added by any import");
    assert!(first_counted.values().all(|n| *n == 1), "a key was added by two imports");

    let alive: HashSet<&str> = (0..N_KEYS).filter(|i| !is_deleted(*i)).map(|i| keys[i].as_str()).collect();
    let deleted: HashSet<i64> = deleted_ids.iter().copied().collect();

    // The pool converges after reloads: export (unmasked) and the paged list
    // show every key once, deleted ones gone, dead ones invalid.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let problems = pool_problems(&t, &keys, &id_of, &alive, &deleted).await;
        if problems.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} problems, e.g. {:?}",
            problems.len(),
            &problems[..problems.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The database itself, read after a clean shutdown.
    t.stop().await;
    let url = format!("sqlite://{}", t.dir.path().join("keyflow.db").display());
    let store = keyflow::store::open(&url).await.expect("open the store");
    let records = store.load_keys().await.expect("load keys");
    let stored: HashMap<&str, &keyflow::store::KeyRecord> = records.iter().map(|r| (r.secret.as_str(), r)).collect();
    assert_eq!(stored.len(), records.len(), "a key is stored twice");
    assert_eq!(stored.keys().copied().collect::<HashSet<_>>(), alive, "stored keys differ from the expected set");
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| !is_deleted(*i)) {
        let record = stored[key.as_str()];
        let expected = if is_dead(i) { "invalid" } else { "active" };
        assert_eq!(record.state.as_str(), expected, "stored key {i}");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_reload_during_validation_keeps_the_results() {
    // Upstream answers slowly, so validating the import takes a while.
    let mock = MockConfig { latency: Duration::from_millis(50), ..Default::default() };
    let t = spawn_app_with(mock, |_| {}).await;
    let n = 480;
    let keys: Vec<String> = (0..n).map(|i| test_key(200_000 + i)).collect();
    let balance = |i: usize| 2.0 + (i % 5) as f64;
    t.mock.state().add_keys((0..n).filter(|i| !is_dead(*i)).map(|i| (keys[i].clone(), balance(i), "acct".to_string())));
    t.add_keys(n, 1, 1.0, "acct").await;
    let report = async { t.import(&keys.join("\n")).await };
    let bump = async {
        // A third of the keys checked: change the stored key set, so the
        // pool reloads from the store while the rest are still being checked.
        eventually(Duration::from_secs(10), || async { (t.mock.state().total_hits() >= 160).then_some(()) }).await;
        t.set_enabled(1, true).await;
    };
    let (report, ()) = tokio::join!(report, bump);
    assert_eq!(report["invalid"].as_u64(), Some(n as u64 / 10), "{}", report["invalid"]);
    let ids: Vec<i64> = (0..n).map(|i| report["details"][i]["id"].as_i64().unwrap()).collect();
    // The report shows what the check found, whatever the pool did meanwhile.
    let wrong: Vec<String> = (0..n)
        .filter_map(|i| {
            let detail = &report["details"][i];
            let (state, amount) = if is_dead(i) { ("invalid", None) } else { ("active", Some(balance(i))) };
            let ok = detail["state"] == state && (amount.is_none() || detail["balance"].as_f64() == amount);
            (!ok).then(|| format!("key {i}: {} {}", detail["state"], detail["balance"]))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} keys reported without their check result, e.g. {:?}",
        wrong.len(),
        &wrong[..3.min(wrong.len())]
    );
    eventually(Duration::from_secs(3), || async {
        let rows: HashMap<i64, Value> =
            t.all_key_rows().await.into_iter().map(|row| (row["id"].as_i64().unwrap(), row)).collect();
        let wrong: Vec<String> = (0..n)
            .filter_map(|i| {
                let row = &rows[&ids[i]];
                let (state, amount) = if is_dead(i) { ("invalid", None) } else { ("active", Some(balance(i))) };
                let ok = row["state"] == state && (amount.is_none() || row["balance"].as_f64() == amount);
                (!ok).then(|| format!("key {i}: {} {}", row["state"], row["balance"]))
            })
            .collect();
        wrong.is_empty().then_some(())
    })
    .await;
}
