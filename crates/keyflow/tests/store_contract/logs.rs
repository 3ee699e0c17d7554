//! Contract cases of the request log (insert, query, filters, paging,
//! totals, buckets, delete) and the price table.

use keyflow::store::{Bucket, Dimension, LogFilter, LogRow, LogTotals, ModelPrice, StatusFilter};

use crate::db::TestDb;

/// A log row at `ts_ms` for `client` costing `cost`; the rest plain.
pub fn log_row(ts_ms: i64, client: Option<&str>, cost: f64) -> LogRow {
    LogRow {
        ts_ms,
        client: client.map(str::to_string),
        route: "/v1/chat/completions".into(),
        status: 200,
        latency_ms: 10,
        cost,
        ..LogRow::default()
    }
}

/// A row with every field set, so each column round-trips.
fn full_row(i: i64) -> LogRow {
    LogRow {
        id: 0,
        ts_ms: 1_700_000_000_000 + i,
        client: Some(format!("client-{}", i % 3)),
        route: "/v1/chat/completions".into(),
        model: Some(format!("model-{}", i % 4)),
        key_id: Some(i % 5),
        status: if i % 7 == 0 { 429 } else { 200 },
        error: (i % 7 == 0).then(|| "rate limited".to_string()),
        latency_ms: 100 + i as u64,
        ttfb_ms: (i % 2 == 0).then_some(i as u64),
        prompt_tokens: 10,
        completion_tokens: 20,
        total_tokens: 30,
        retries: (i % 3) as u32,
        stream: i % 2 == 1,
        images: (i % 2) as u32,
        cost: 0.125,
        aborted: i % 11 == 0,
        instance: Some(format!("node-{}", i % 2)),
    }
}

pub async fn log_rows_round_trip_and_page(db: TestDb) {
    let store = db.open().await;
    store.insert_logs(&[]).await.unwrap();
    // More rows than one statement of either backend takes.
    let rows: Vec<LogRow> = (0..4500).map(full_row).collect();
    store.insert_logs(&rows).await.unwrap();
    let all = LogFilter::default();
    let (page, total) = store.query_logs(&all, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (10, 4500));
    assert!(page.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    for (got, want) in page.iter().zip(rows.iter().rev()) {
        assert!(got.id > 0);
        assert_eq!(LogRow { id: 0, ..got.clone() }, *want, "every column round-trips");
    }
    let (tail, total) = store.query_logs(&all, 4495, 10).await.unwrap();
    assert_eq!((tail.len(), total), (5, 4500));
    assert_eq!(LogRow { id: 0, ..tail[4].clone() }, rows[0], "the oldest row last");
    let (beyond, total) = store.query_logs(&all, 5000, 10).await.unwrap();
    assert_eq!((beyond.len(), total), (0, 4500));

    // A bare row: every optional column empty.
    let bare = LogRow { route: "/v1/models".into(), status: 401, ..LogRow::default() };
    store.insert_logs(std::slice::from_ref(&bare)).await.unwrap();
    let (newest, _) = store.query_logs(&all, 0, 1).await.unwrap();
    assert_eq!(LogRow { id: 0, ..newest[0].clone() }, bare);
}

/// Four rows the filter, totals and bucket cases share.
fn four_rows() -> Vec<LogRow> {
    vec![
        LogRow {
            model: Some("m1".into()),
            key_id: Some(1),
            prompt_tokens: 1,
            completion_tokens: 2,
            ttfb_ms: Some(5),
            ..log_row(1000, Some("alice"), 0.5)
        },
        LogRow {
            model: Some("m2".into()),
            key_id: Some(2),
            status: 429,
            error: Some("rate".into()),
            prompt_tokens: 10,
            images: 2,
            ..log_row(2000, Some("bob"), 0.25)
        },
        LogRow {
            model: Some("m1".into()),
            key_id: Some(2),
            error: Some("stream broke".into()),
            completion_tokens: 20,
            ttfb_ms: Some(7),
            ..log_row(3000, None, 0.125)
        },
        LogRow { status: 500, latency_ms: 30, ..log_row(4000, Some("alice"), 0.0) },
    ]
}

pub async fn log_filters(db: TestDb) {
    let store = db.open().await;
    store.insert_logs(&four_rows()).await.unwrap();
    let ts = |filter: LogFilter| {
        let store = store.clone();
        async move {
            let (rows, total) = store.query_logs(&filter, 0, 100).await.unwrap();
            assert_eq!(rows.len() as u64, total);
            let mut ts: Vec<i64> = rows.iter().map(|r| r.ts_ms).collect();
            ts.sort_unstable();
            ts
        }
    };
    let f = LogFilter::default;
    assert_eq!(ts(f()).await, [1000, 2000, 3000, 4000]);
    assert_eq!(ts(LogFilter { model: Some("m1".into()), ..f() }).await, [1000, 3000]);
    assert_eq!(ts(LogFilter { key_id: Some(2), ..f() }).await, [2000, 3000]);
    assert_eq!(ts(LogFilter { client: Some("alice".into()), ..f() }).await, [1000, 4000]);
    assert_eq!(ts(LogFilter { status: Some(StatusFilter::Code(429)), ..f() }).await, [2000]);
    assert_eq!(ts(LogFilter { status: Some(StatusFilter::Success), ..f() }).await, [1000]);
    assert_eq!(ts(LogFilter { status: Some(StatusFilter::Error), ..f() }).await, [2000, 3000, 4000]);
    assert_eq!(ts(LogFilter { from_ms: Some(2000), ..f() }).await, [2000, 3000, 4000]);
    assert_eq!(ts(LogFilter { to_ms: Some(3000), ..f() }).await, [1000, 2000], "the end is exclusive");
    assert_eq!(ts(LogFilter { from_ms: Some(2000), to_ms: Some(4000), ..f() }).await, [2000, 3000]);
    let both = LogFilter { model: Some("m1".into()), status: Some(StatusFilter::Success), ..f() };
    assert_eq!(ts(both).await, [1000]);
    assert_eq!(ts(LogFilter { model: Some("none".into()), ..f() }).await, Vec::<i64>::new());
}

pub async fn log_totals_and_buckets(db: TestDb) {
    let store = db.open().await;
    let empty = store.log_totals(&LogFilter::default()).await.unwrap();
    assert_eq!(empty, LogTotals::default(), "no rows: zeros, not an error");
    store.insert_logs(&four_rows()).await.unwrap();
    let totals = store.log_totals(&LogFilter::default()).await.unwrap();
    let want = LogTotals {
        requests: 4,
        success: 1,
        prompt_tokens: 11,
        completion_tokens: 22,
        images: 2,
        cost: 0.875,
        latency_ms_sum: 60,
        ttfb_ms_sum: 12,
        ttfb_n: 2,
    };
    assert_eq!(totals, want);
    let alice = store.log_totals(&LogFilter { client: Some("alice".into()), ..Default::default() }).await.unwrap();
    assert_eq!((alice.requests, alice.cost, alice.latency_ms_sum), (2, 0.5, 40));

    let buckets = |dim| {
        let store = store.clone();
        async move {
            let mut buckets = store.log_buckets(&LogFilter::default(), 2000, dim).await.unwrap();
            buckets.sort_by(|a, b| (a.start_ms, &a.dim).cmp(&(b.start_ms, &b.dim)));
            buckets.iter().map(|b| (b.start_ms, b.dim.clone(), b.totals.requests)).collect::<Vec<_>>()
        }
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(buckets(Dimension::None).await, [(0, None, 1), (2000, None, 2), (4000, None, 1)]);
    assert_eq!(
        buckets(Dimension::Model).await,
        [(0, s("m1"), 1), (2000, s("m1"), 1), (2000, s("m2"), 1), (4000, None, 1)]
    );
    assert_eq!(buckets(Dimension::Key).await, [(0, s("1"), 1), (2000, s("2"), 2), (4000, None, 1)]);
    assert_eq!(
        buckets(Dimension::Client).await,
        [(0, s("alice"), 1), (2000, None, 1), (2000, s("bob"), 1), (4000, s("alice"), 1)]
    );
    let all: Vec<Bucket> = store.log_buckets(&LogFilter::default(), 10_000, Dimension::None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].start_ms, all[0].totals), (0, want), "a bucket sums like the totals");
    let narrow = store.log_buckets(&LogFilter::default(), 0, Dimension::None).await.unwrap();
    assert_eq!(narrow.len(), 4, "a zero width is one millisecond");
}

pub async fn log_rows_delete(db: TestDb) {
    let store = db.open().await;
    store.insert_logs(&four_rows()).await.unwrap();
    assert_eq!(store.delete_logs(Some(2500)).await.unwrap(), 2);
    let (rows, total) = store.query_logs(&LogFilter::default(), 0, 10).await.unwrap();
    assert_eq!(total, 2);
    assert!(rows.iter().all(|r| r.ts_ms >= 2500));
    assert_eq!(store.delete_logs(Some(0)).await.unwrap(), 0);
    assert_eq!(store.delete_logs(None).await.unwrap(), 2);
    assert_eq!(store.query_logs(&LogFilter::default(), 0, 10).await.unwrap().1, 0);
}

pub async fn prices(db: TestDb) {
    let store = db.open().await;
    assert!(store.load_prices().await.unwrap().is_empty());
    let price = |model: &str, input_per_m| ModelPrice {
        model: model.into(),
        input_per_m,
        output_per_m: 8.0,
        per_image: 0.25,
        per_m_chars: 50.0,
    };
    store.save_price(&price("m1", 1.0), 1).await.unwrap();
    store.save_price(&price("m2", 2.0), 2).await.unwrap();
    store.save_price(&price("m1", 1.5), 3).await.unwrap();
    let mut prices = store.load_prices().await.unwrap();
    prices.sort_by(|a, b| a.model.cmp(&b.model));
    assert_eq!(prices, [price("m1", 1.5), price("m2", 2.0)]);
    assert!(store.delete_price("m1").await.unwrap());
    assert!(!store.delete_price("m1").await.unwrap());
    assert_eq!(store.load_prices().await.unwrap(), [price("m2", 2.0)]);
}
