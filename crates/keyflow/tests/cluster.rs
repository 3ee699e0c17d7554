//! The cluster suite (SPEC §8): several real `keyflow` binaries on one
//! PostgreSQL database behave as one gateway. Changes reach every instance
//! within a second, pins are usable everywhere at once, counts merge, one
//! instance leads and another takes over after `kill -9`, every log row
//! names its instance, and a database outage stops neither traffic nor a
//! single log row.
//!
//! Each test has a fresh database on `KEYFLOW_TEST_POSTGRES_URL` (or on a
//! throwaway server this process starts) and its own mock; the outage test
//! runs its own server, which it stops and starts, and runs alone but for
//! the minute-long scheduled-refresh count (`KEYFLOW_CLUSTER_OUTAGE_SECS`,
//! default 60, sets the outage's length).
//!
//! `cargo test -p keyflow --test cluster -- --test-threads=2 --nocapture`
//! shows the measured propagation times.

// Test code states its expectations with unwrap/expect/panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The store contract's way of finding (or starting) the PostgreSQL server.
#[allow(dead_code)]
#[path = "store_contract/db.rs"]
mod db;
#[path = "cluster/harness.rs"]
mod harness;

#[path = "cluster/counters.rs"]
mod counters;
#[path = "cluster/leader.rs"]
mod leader;
#[path = "cluster/logs.rs"]
mod logs;
#[path = "cluster/outage.rs"]
mod outage;
#[path = "cluster/pins.rs"]
mod pins;
#[path = "cluster/propagation.rs"]
mod propagation;
