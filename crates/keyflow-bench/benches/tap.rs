//! The SSE usage tap per chunk, on SiliconFlow-shaped chat chunks (usage in
//! every chunk, reasoning fields, CJK text), whole, split across reads, and
//! with the usage-only chunk stripped.
//!
//! `cargo bench -p keyflow-bench --bench tap`; the time per element is the
//! cost added to each forwarded chunk.

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyflow::usage::{Dialect, SseTap};

const CHUNKS: usize = 200;

/// One `data: {chunk}\n\n` event as SiliconFlow sends it.
fn chunk(i: usize, content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or_else(|| "null".to_owned(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"0196f0c3a1b27d3e8f4a5b6c7d8e9f01\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,\
         \"model\":\"deepseek-ai/DeepSeek-V3\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\",\
         \"reasoning_content\":null,\"role\":\"assistant\"}},\"finish_reason\":{finish}}}],\"system_fingerprint\":\"\",\
         \"usage\":{{\"prompt_tokens\":25,\"completion_tokens\":{i},\"total_tokens\":{},\
         \"completion_tokens_details\":{{\"reasoning_tokens\":0}}}}}}\n\n",
        25 + i
    )
}

/// A whole answer: content chunks, the stop chunk, the usage-only chunk
/// (`choices: []`, present when `include_usage` was asked) and `[DONE]`.
fn events() -> Vec<Bytes> {
    let mut events: Vec<Bytes> = (1..=CHUNKS).map(|i| Bytes::from(chunk(i, "你好，世界 hello", None))).collect();
    events.push(Bytes::from(chunk(CHUNKS, "", Some("stop"))));
    events.push(Bytes::from(format!(
        "data: {{\"id\":\"0196f0c3a1b27d3e8f4a5b6c7d8e9f01\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,\
         \"model\":\"deepseek-ai/DeepSeek-V3\",\"choices\":[],\"system_fingerprint\":\"\",\"usage\":{{\"prompt_tokens\":25,\
         \"completion_tokens\":{CHUNKS},\"total_tokens\":{}}}}}\n\n",
        25 + CHUNKS
    )));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// Every event cut in two reads, the cut inside a multi-byte character.
fn split(events: &[Bytes]) -> Vec<Bytes> {
    events
        .iter()
        .flat_map(|event| {
            let text = std::str::from_utf8(event).unwrap_or_default();
            let at = text.char_indices().find(|(_, c)| c.len_utf8() > 1).map_or(event.len() / 2, |(i, _)| i + 1);
            [event.slice(..at), event.slice(at..)]
        })
        .collect()
}

fn run(reads: &[Bytes], strip: bool) -> usize {
    let mut tap = SseTap::new(Dialect::OpenAi, strip);
    let mut forwarded = 0;
    for read in reads {
        forwarded += tap.feed(read.clone()).len();
    }
    forwarded += tap.finish().len();
    std::hint::black_box(tap.usage());
    forwarded
}

fn tap(c: &mut Criterion) {
    let whole = events();
    let halves = split(&whole);
    let mut group = c.benchmark_group("sse_tap");
    // Per event: the time per element is the tap's cost per chunk.
    group.throughput(Throughput::Elements(whole.len() as u64));
    group.bench_function("whole_events", |b| b.iter(|| run(std::hint::black_box(&whole), false)));
    group.bench_function("whole_events_strip_usage", |b| b.iter(|| run(std::hint::black_box(&whole), true)));
    group.bench_function("split_events", |b| b.iter(|| run(std::hint::black_box(&halves), false)));
    group.bench_function("split_events_strip_usage", |b| b.iter(|| run(std::hint::black_box(&halves), true)));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = tap }
criterion_main!(benches);
