//! The black-box suite: keyflow on port 0 against keyflow-mock on port 0,
//! each test with its own temporary SQLite file.

// Test code states its expectations with unwrap/expect/panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::field_reassign_with_default)]
// Helpers serve many test files; not every file uses every helper.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod access;
mod admin;
mod at_rest;
mod bodies;
mod concurrency;
mod edge;
mod edge_parsers;
mod failover;
mod images;
mod logs;
mod pool;
mod proxy;
mod rehost_guard;
mod resources;
mod sdk;
mod streaming;
mod switch;
