//! Key selection: every strategy at 1k, 10k and 100k keys, plus the worst
//! case of the ordered strategies (the best half of the pool cooling down).
//!
//! `cargo bench -p keyflow-bench --bench pool`. Flat times from 1k to 100k
//! mean constant-time choice; growth with the pool size is the thing to look for.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keyflow::config::Strategy;
use keyflow::pool::{KeyPool, LimitWindow, ModelClass, Pick, Scope};
use keyflow::store::{KeyId, KeyRecord, KeyState};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";

/// `n` active keys with distinct balances and ages; `unknown_balance` makes
/// them all tie, as after `keys import --no-validate`.
fn pool_of(n: usize, unknown_balance: bool) -> KeyPool {
    let records: Vec<KeyRecord> = (0..n)
        .map(|i| {
            let id = i as KeyId + 1;
            KeyRecord {
                id,
                secret: format!("sk-{id:0>48}"),
                state: KeyState::Active,
                enabled: true,
                // A spread of balances with some ties, like a real pool.
                balance: (!unknown_balance).then(|| ((i * 7_919) % 5_000) as f64 / 100.0),
                charge_balance: None,
                account_id: None,
                usage_count: 0,
                last_error: None,
                checked_at: None,
                created_at: 1_700_000_000 + (i as i64 % 50_000),
                spent: 0.0,
            }
        })
        .collect();
    let pool = KeyPool::new();
    pool.replace_all(&records);
    pool
}

fn pick<'a>(strategy: Strategy) -> Pick<'a> {
    Pick { model: MODEL, class: ModelClass::Paid, exclude: &[], session: None, strategy, rpm_limit: None }
}

fn strategy_name(strategy: Strategy) -> String {
    format!("{strategy:?}")
}

fn every_strategy(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for n in SIZES {
        let pool = pool_of(n, false);
        for strategy in Strategy::ALL {
            let wish = pick(strategy);
            group.bench_with_input(BenchmarkId::new(strategy_name(strategy), n), &n, |b, _| {
                b.iter(|| pool.pick(std::hint::black_box(&wish)));
            });
        }
    }
    group.finish();
}

fn ties(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick_unknown_balances");
    for n in SIZES {
        let pool = pool_of(n, true);
        for strategy in [Strategy::BalanceDesc, Strategy::BalanceAsc] {
            let wish = pick(strategy);
            group.bench_with_input(BenchmarkId::new(strategy_name(strategy), n), &n, |b, _| {
                b.iter(|| pool.pick(std::hint::black_box(&wish)));
            });
        }
    }
    group.finish();
}

/// The best half of the balance order cools for the model: the walk must
/// step over all of them before it finds a key.
fn half_cooling(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick_half_cooling");
    for n in SIZES {
        let pool = pool_of(n, false);
        let snapshot = pool.snapshot();
        let mut ordered: Vec<(i64, KeyId)> =
            snapshot.entries.iter().map(|e| (e.balance_micros().unwrap_or(i64::MIN), e.id)).collect();
        ordered.sort_by(|a, b| b.cmp(a));
        for (_, id) in ordered.iter().take(n / 2) {
            pool.cooldowns().trip(Scope::Key(*id), MODEL, LimitWindow::Hour, None);
        }
        for strategy in [Strategy::BalanceDesc, Strategy::Random, Strategy::LeastUsed] {
            let wish = pick(strategy);
            group.bench_with_input(BenchmarkId::new(strategy_name(strategy), n), &n, |b, _| {
                b.iter(|| pool.pick(std::hint::black_box(&wish)));
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = every_strategy, ties, half_cooling }
criterion_main!(benches);
