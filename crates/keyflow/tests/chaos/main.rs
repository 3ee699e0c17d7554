//! The chaos suite: keyflow under mixed upstream faults, killed with SIGKILL
//! in the middle of an import, and cut off from upstream altogether. Each
//! test is bounded in requests and time, so the binary runs in CI.

// Test code states its expectations with unwrap/expect/panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::field_reassign_with_default)]
// `common` serves several test binaries; this one uses part of it.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod kill;
mod mixed;
mod outage;
