//! Selection tests over small in-memory pools.

use std::collections::HashSet;

use super::*;

fn record(id: KeyId, state: KeyState, balance: Option<f64>, created_at: i64) -> KeyRecord {
    KeyRecord {
        id,
        secret: format!("sk-{id:0>48}"),
        state,
        enabled: true,
        balance,
        charge_balance: None,
        account_id: None,
        usage_count: 0,
        last_error: None,
        checked_at: None,
        created_at,
        spent: 0.0,
    }
}

fn pick_id(pool: &KeyPool, strategy: Strategy, class: ModelClass, exclude: &[KeyId]) -> Option<KeyId> {
    pool.pick(&Pick { model: "m", class, exclude, session: None, strategy, rpm_limit: None })
        .map(|lease| lease.key().id)
}

fn pool_of(records: &[KeyRecord]) -> KeyPool {
    let pool = KeyPool::new();
    pool.replace_all(records);
    pool
}

#[test]
fn balance_strategies_pick_the_extremes() {
    let pool = pool_of(&[
        record(1, KeyState::Active, Some(5.0), 10),
        record(2, KeyState::Active, Some(9.0), 20),
        record(3, KeyState::Active, Some(1.0), 30),
        record(4, KeyState::Active, None, 40),
    ]);
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[]), Some(2));
    assert_eq!(pick_id(&pool, Strategy::BalanceAsc, ModelClass::Paid, &[]), Some(3));
    assert_eq!(pick_id(&pool, Strategy::Oldest, ModelClass::Paid, &[]), Some(1));
    assert_eq!(pick_id(&pool, Strategy::Newest, ModelClass::Paid, &[]), Some(4));
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[2, 1, 3]), Some(4));
}

#[test]
fn ties_spread_over_keys() {
    let records: Vec<_> = (1..=8).map(|i| record(i, KeyState::Active, Some(14.0), 0)).collect();
    let pool = pool_of(&records);
    for strategy in [Strategy::BalanceDesc, Strategy::BalanceAsc, Strategy::Oldest, Strategy::Newest] {
        let seen: HashSet<_> = (0..64).filter_map(|_| pick_id(&pool, strategy, ModelClass::Paid, &[])).collect();
        assert!(seen.len() >= 6, "{strategy:?} used only {seen:?}");
    }
}

#[test]
fn free_keys_serve_free_models_first_and_never_paid_ones() {
    let pool = pool_of(&[record(1, KeyState::Active, Some(5.0), 0), record(2, KeyState::Free, Some(0.0), 0)]);
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Free, &[]), Some(2));
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[]), Some(1));
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[1]), None);
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Unknown, &[1]), Some(2));
}

#[test]
fn invalid_disabled_cooling_and_blocked_keys_are_skipped() {
    let pool = pool_of(&[
        record(1, KeyState::Invalid, Some(50.0), 0),
        record(2, KeyState::Active, Some(40.0), 0),
        record(3, KeyState::Active, Some(30.0), 0),
        record(4, KeyState::Active, Some(20.0), 0),
        record(5, KeyState::Active, Some(10.0), 0),
    ]);
    let get = |id| pool.get(id).expect("key");
    get(2).set_enabled(false);
    pool.cooldowns().trip(Scope::Key(3), "m", LimitWindow::Minute, None);
    get(4).block_model("m");
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[]), Some(5));
    // Another model is not affected by the cool-down or the block.
    let lease = pool.pick(&Pick {
        model: "other",
        class: ModelClass::Paid,
        exclude: &[],
        session: None,
        strategy: Strategy::BalanceDesc,
        rpm_limit: None,
    });
    assert_eq!(lease.map(|l| l.key().id), Some(3));
}

#[test]
fn keys_of_one_account_cool_down_together() {
    let mut a = record(1, KeyState::Active, Some(9.0), 0);
    let mut b = record(2, KeyState::Active, Some(8.0), 0);
    a.account_id = Some("acct".into());
    b.account_id = Some("acct".into());
    let pool = pool_of(&[a, b, record(3, KeyState::Active, Some(1.0), 0)]);
    let scope = KeyPool::scope_of(&pool.get(1).expect("key"));
    pool.cooldowns().trip(scope, "m", LimitWindow::Minute, None);
    assert_eq!(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[]), Some(3));
}

#[test]
fn usage_and_inflight_strategies() {
    let records: Vec<_> = (1..=4).map(|i| record(i, KeyState::Active, Some(1.0), 0)).collect();
    let pool = pool_of(&records);
    // Least used spreads one request per key before reusing any.
    let first: HashSet<_> = (0..4).filter_map(|_| pick_id(&pool, Strategy::LeastUsed, ModelClass::Paid, &[])).collect();
    assert_eq!(first.len(), 4);
    // Most used keeps returning to the busiest key.
    let busiest = pick_id(&pool, Strategy::MostUsed, ModelClass::Paid, &[]).expect("key");
    assert_eq!(pick_id(&pool, Strategy::MostUsed, ModelClass::Paid, &[]), Some(busiest));
    // Least in flight avoids keys held by open leases.
    let held: Vec<_> = (0..3)
        .map(|_| {
            pool.pick(&Pick {
                model: "m",
                class: ModelClass::Paid,
                exclude: &[],
                session: None,
                strategy: Strategy::LeastInflight,
                rpm_limit: None,
            })
            .expect("lease")
        })
        .collect();
    let held_ids: HashSet<_> = held.iter().map(|l| l.key().id).collect();
    assert_eq!(held_ids.len(), 3);
    let free_one = pick_id(&pool, Strategy::LeastInflight, ModelClass::Paid, &[]).expect("key");
    assert!(!held_ids.contains(&free_one));
}

#[test]
fn round_robin_and_random_cover_the_pool() {
    let records: Vec<_> = (1..=5).map(|i| record(i, KeyState::Active, Some(1.0), i)).collect();
    let pool = pool_of(&records);
    let rr: Vec<_> = (0..5).filter_map(|_| pick_id(&pool, Strategy::RoundRobin, ModelClass::Paid, &[])).collect();
    assert_eq!(rr.iter().collect::<HashSet<_>>().len(), 5);
    let random: HashSet<_> = (0..100).filter_map(|_| pick_id(&pool, Strategy::Random, ModelClass::Paid, &[])).collect();
    assert_eq!(random.len(), 5);
}

#[test]
fn rpm_cap_moves_on_to_other_keys() {
    let pool = pool_of(&[record(1, KeyState::Active, Some(9.0), 0), record(2, KeyState::Active, Some(1.0), 0)]);
    let pick = |limit| {
        pool.pick(&Pick {
            model: "m",
            class: ModelClass::Paid,
            exclude: &[],
            session: None,
            strategy: Strategy::BalanceDesc,
            rpm_limit: Some(limit),
        })
        .map(|l| l.key().id)
    };
    assert_eq!(pick(2), Some(1));
    assert_eq!(pick(2), Some(1));
    assert_eq!(pick(2), Some(2));
    assert_eq!(pick(2), Some(2));
    assert_eq!(pick(2), None);
}

#[test]
fn sticky_sessions_return_to_their_key() {
    let records: Vec<_> = (1..=6).map(|i| record(i, KeyState::Active, Some(1.0), 0)).collect();
    let pool = pool_of(&records);
    let pick = |session| {
        pool.pick(&Pick {
            model: "m",
            class: ModelClass::Paid,
            exclude: &[],
            session: Some(session),
            strategy: Strategy::RoundRobin,
            rpm_limit: None,
        })
        .map(|l| l.key().id)
    };
    let first = pick("alice");
    for _ in 0..10 {
        assert_eq!(pick("alice"), first);
    }
    pool.get(first.expect("id")).expect("key").set_state(KeyState::Invalid);
    assert_ne!(pick("alice"), first);
}

#[test]
fn large_pools_stay_correct() {
    let records: Vec<_> = (1..=20_000).map(|i| record(i, KeyState::Active, Some((i % 100) as f64), i)).collect();
    let pool = pool_of(&records);
    let top = pool.get(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[]).expect("id")).expect("key");
    assert_eq!(top.balance(), Some(99.0));
    for strategy in [Strategy::LeastUsed, Strategy::MostUsed, Strategy::LeastInflight, Strategy::Random] {
        assert!(pick_id(&pool, strategy, ModelClass::Paid, &[]).is_some());
    }
}

#[test]
fn a_mostly_cooling_pool_still_finds_the_usable_keys() {
    let records: Vec<_> = (1..=20_000).map(|i| record(i, KeyState::Active, Some((i % 1000) as f64), i)).collect();
    let pool = pool_of(&records);
    // Every key but three cools down for the model.
    for id in 1..=20_000 {
        if ![7, 12_345, 19_999].contains(&id) {
            pool.cooldowns().trip(Scope::Key(id), "m", LimitWindow::Minute, None);
        }
    }
    for strategy in Strategy::ALL {
        let id = pick_id(&pool, strategy, ModelClass::Paid, &[]);
        assert!(matches!(id, Some(7 | 12_345 | 19_999)), "{strategy:?} picked {id:?}");
    }
    // Half the pool cooling: the pick stays near the top of the balance order.
    let pool = pool_of(&records);
    for id in (1..=20_000).filter(|id| id % 2 == 0) {
        pool.cooldowns().trip(Scope::Key(id), "m", LimitWindow::Minute, None);
    }
    let top = pool.get(pick_id(&pool, Strategy::BalanceDesc, ModelClass::Paid, &[]).unwrap()).unwrap();
    assert!(top.balance().unwrap() >= 990.0, "{:?}", top.balance());
}
