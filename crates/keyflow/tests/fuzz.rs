//! Fuzzing of the parsers that read bytes from clients and upstream (SPEC
//! §10): the key import, the request facts, the SSE usage tap and the image
//! markers. They must never panic, must agree with a reference where one
//! exists, and must stay linear in their input.
//!
//! cargo-fuzz needs a nightly toolchain, so this is proptest at a case count
//! read from `KEYFLOW_FUZZ_CASES` (2,000 by default, so that `cargo test`
//! stays quick; `scripts/test` runs more). Every target also runs each seed
//! in `tests/fuzz/corpus/<target>/`: inputs written to be adversarial (deep
//! nesting, markers by the thousand, escapes, duplicate keys, `NaN`,
//! unterminated strings, byte order marks, CRLF events, split characters).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// One file per target, beside their seeds.
#[path = "fuzz/facts.rs"]
mod facts;
#[path = "fuzz/import.rs"]
mod import;
#[path = "fuzz/markers.rs"]
mod markers;
#[path = "fuzz/tap.rs"]
mod tap;

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

/// Generated cases per target.
fn cases() -> u32 {
    std::env::var("KEYFLOW_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

/// Cases for the timing checks, which run inputs of `LINEAR_BYTES` each.
fn timing_cases() -> u32 {
    (cases() / 200).max(8)
}

/// Inputs of the timing checks are repeated up to this size: big enough that
/// anything quadratic takes seconds, small enough for a debug build.
const LINEAR_BYTES: usize = 256 << 10;

/// Fails when `run` took longer than a loose linear budget for `len` bytes:
/// 4 µs a byte in a debug build on a busy machine is 20 to 100 times what
/// the parsers need, and far below what a quadratic one takes at 256 KiB.
fn assert_linear(target: &str, len: usize, elapsed: Duration) {
    let budget = Duration::from_millis(200) + Duration::from_nanos(4_000 * len as u64);
    assert!(elapsed < budget, "{target}: {len} bytes took {elapsed:?} (budget {budget:?})");
}

/// `unit` repeated to at least `LINEAR_BYTES`.
fn grown(unit: &[u8]) -> Vec<u8> {
    let unit = if unit.is_empty() { b" ".as_slice() } else { unit };
    unit.repeat(LINEAR_BYTES.div_ceil(unit.len()))
}

/// Every seed of a target, by file name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    paths
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Strings made of `pieces` and, now and then, any characters at all.
fn text_of(pieces: Vec<&'static str>, max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![4 => prop::sample::select(pieces).prop_map(str::to_string), 1 => ".{0,3}"];
    prop::collection::vec(piece, 0..max).prop_map(|parts| parts.concat())
}
