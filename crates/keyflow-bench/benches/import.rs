//! The import parser per MB of pasted text, in the shapes operators paste:
//! one key a line, `key----balance` dumps, and keys buried in prose/JSON.
//!
//! `cargo bench -p keyflow-bench --bench import` (throughput in bytes/s).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyflow::pool::import::parse_keys;

const MIB: usize = 1 << 20;

/// A distinct, well-formed key (`sk-` + 48 letters) for index `i`.
fn key(i: usize) -> String {
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let body: String = (0..48)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect();
    format!("sk-{body}")
}

/// About one MiB of text made of `line(i)` lines.
fn text_of(line: impl Fn(usize) -> String) -> String {
    let mut text = String::with_capacity(MIB + 256);
    let mut i = 0;
    while text.len() < MIB {
        text.push_str(&line(i));
        text.push('\n');
        i += 1;
    }
    text
}

fn import(c: &mut Criterion) {
    let shapes = [
        ("one_key_a_line", text_of(key)),
        ("key_dash_balance", text_of(|i| format!("{}----{}.{:02}", key(i), i % 50, i % 100))),
        (
            "json_and_prose",
            text_of(|i| format!("  {{\"id\": {i}, \"note\": \"task-force mask-off\", \"key\": \"{}\"}},", key(i))),
        ),
    ];
    let mut group = c.benchmark_group("parse_keys");
    for (name, text) in &shapes {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(*name, |b| b.iter(|| parse_keys(std::hint::black_box(text)).keys.len()));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = import }
criterion_main!(benches);
