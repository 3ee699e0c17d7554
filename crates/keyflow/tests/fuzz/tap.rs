//! The SSE usage tap (`usage::SseTap`) on any bytes split into any reads:
//! no panic, and the same bytes forwarded and the same usage found however
//! the stream is split.

use std::time::Instant;

use bytes::Bytes;
use keyflow::usage::{Dialect, SseTap, Usage};
use proptest::prelude::*;

use super::{assert_linear, cases, corpus, grown, timing_cases};

/// Everything a tap reports after a stream.
#[derive(Debug, PartialEq)]
struct Tapped {
    forwarded: Vec<u8>,
    usage: Option<Usage>,
    saw_done: bool,
    n_events: u64,
    stream_error: Option<String>,
}

/// Feeds `input` to a new tap in the reads `cuts` make.
fn tap(input: &[u8], dialect: Dialect, strip: bool, cuts: &[usize]) -> Tapped {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut tap = SseTap::new(dialect, strip);
    let mut forwarded = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        forwarded.extend_from_slice(&tap.feed(Bytes::copy_from_slice(&input[start..cut])));
        start = cut;
    }
    forwarded.extend_from_slice(&tap.finish());
    Tapped {
        forwarded,
        usage: tap.usage(),
        saw_done: tap.saw_done(),
        n_events: tap.n_events(),
        stream_error: tap.stream_error().map(str::to_string),
    }
}

/// No panic, and the same result however the stream is split into reads;
/// without stripping, every byte passes unchanged.
fn check_tap(input: &[u8], cuts: &[usize]) {
    for dialect in [Dialect::OpenAi, Dialect::Anthropic] {
        for strip in [false, true] {
            let whole = tap(input, dialect, strip, &[]);
            let split = tap(input, dialect, strip, cuts);
            assert_eq!(split, whole, "{dialect:?} strip={strip} cuts={cuts:?}: {:?}", String::from_utf8_lossy(input));
            if !strip {
                assert_eq!(whole.forwarded, input);
            }
        }
    }
}

fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static [u8]> = vec![
        b"data: ",
        b"data:",
        b"event: message_start\n",
        b"event: message_delta\n",
        b"event: error\n",
        b"\n",
        b"\n\n",
        b"\r\n",
        b"\r",
        b": keep-alive\n",
        b"id: 1\n",
        br#"{"id":"c","object":"chat.completion.chunk","choices":[{"delta":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        br#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":9,"total_tokens":16}}"#,
        br#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#,
        br#"{"type":"message_delta","usage":{"output_tokens":7}}"#,
        br#"{"type":"message_stop"}"#,
        br#"{"error":{"message":"boom","code":50507}}"#,
        b"[DONE]",
        b"{\"usage\":",
        b"\"",
        "你".as_bytes(),
        b"\xe4",
        b"\xbd\xa0",
        b"\xEF\xBB\xBF",
    ];
    let piece = prop_oneof![
        6 => prop::sample::select(pieces).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn tap_is_split_independent(input in sse_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        check_tap(&input, &cuts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(timing_cases()))]

    #[test]
    fn tap_is_linear(unit in sse_bytes()) {
        let input = grown(&unit);
        let started = Instant::now();
        tap(&input, Dialect::OpenAi, true, &[input.len() / 3, input.len() / 2]);
        assert_linear("sse_tap", input.len(), started.elapsed());
    }
}

#[test]
fn tap_corpus() {
    for (name, seed) in corpus("sse_tap") {
        // Every split in two, then reads of one byte.
        for cut in 0..=seed.len().min(512) {
            check_tap(&seed, &[cut]);
        }
        check_tap(&seed, &(1..seed.len().min(4096)).collect::<Vec<_>>());
        let big = grown(&seed);
        let started = Instant::now();
        tap(&big, Dialect::OpenAi, true, &[big.len() / 2]);
        assert_linear(&format!("sse_tap/{name}"), big.len(), started.elapsed());
    }
}
