//! Tests of the SSE usage tap: split reads, both dialects, the stripped usage chunk, and proptest equivalence with a whole-stream parse.

use super::*;
use proptest::prelude::*;

const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";

/// A SiliconFlow chat chunk: running usage in every chunk.
fn chat_chunk(content: &str, finish: Option<&str>, prompt: u64, completion: u64) -> String {
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    format!(
        r#"{{"id":"019a1b2c3d4e5f","object":"chat.completion.chunk","created":1761900000,"model":"{MODEL}","choices":[{{"index":0,"delta":{{"content":"{content}","reasoning_content":null}},"finish_reason":{finish}}}],"system_fingerprint":"","usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
        prompt + completion
    )
}

/// The OpenAI-style trailing chunk `stream_options.include_usage` asks for.
fn usage_only_chunk(prompt: u64, completion: u64) -> String {
    format!(
        r#"{{"id":"019a1b2c3d4e5f","object":"chat.completion.chunk","created":1761900000,"model":"{MODEL}","choices":[],"usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
        prompt + completion
    )
}

fn usage(prompt: u64, completion: u64) -> Usage {
    Usage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
}

fn siliconflow_stream() -> String {
    [
        format!("data: {}\n\n", chat_chunk("", None, 12, 0)),
        format!("data: {}\n\n", chat_chunk("你好", None, 12, 1)),
        ": keep-alive\n\n".to_owned(),
        format!("data: {}\n\n", chat_chunk("！有什么可以帮你？", None, 12, 3)),
        format!("data: {}\n\n", chat_chunk("", Some("stop"), 12, 3)),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat()
}

/// Feeds `input` cut at `cuts` and returns everything the client got.
fn run(tap: &mut SseTap, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(&input[start..cut])));
        start = cut;
    }
    out.extend_from_slice(&tap.finish());
    out
}

#[test]
fn reads_running_usage_from_siliconflow_chunks() {
    let input = siliconflow_stream();
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    assert_eq!(run(&mut tap, input.as_bytes(), &[]), input.as_bytes());
    assert_eq!(tap.usage(), Some(usage(12, 3)));
    assert!(tap.saw_done());
    assert_eq!(tap.n_events(), 5);
    assert_eq!(tap.stream_error(), None);
}

#[test]
fn returns_the_same_bytes_when_not_stripping() {
    let input = Bytes::from(siliconflow_stream());
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    let first = input.slice(..100);
    let out = tap.feed(first.clone());
    assert_eq!(out.as_ptr(), first.as_ptr());
    assert_eq!(out.len(), first.len());
    assert_eq!(tap.feed(input.slice(100..)).len(), input.len() - 100);
    assert!(tap.finish().is_empty());
}

#[test]
fn any_two_way_split_reads_the_same() {
    let input = siliconflow_stream();
    for cut in 0..=input.len() {
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        assert_eq!(run(&mut tap, input.as_bytes(), &[cut]), input.as_bytes());
        assert_eq!(tap.usage(), Some(usage(12, 3)), "cut at {cut}");
        assert!(tap.saw_done());
        assert_eq!(tap.n_events(), 5);
    }
}

#[test]
fn splits_inside_a_multibyte_character() {
    let input = siliconflow_stream();
    let at = input.find("你").unwrap_or_default() + 1;
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    assert_eq!(run(&mut tap, input.as_bytes(), &[at, at + 1]), input.as_bytes());
    assert_eq!(tap.usage(), Some(usage(12, 3)));
}

#[test]
fn byte_at_a_time_with_crlf_and_no_space_after_data() {
    let input = siliconflow_stream().replace("\n", "\r\n").replace("data: ", "data:");
    let cuts: Vec<usize> = (1..input.len()).collect();
    for strip in [false, true] {
        let mut tap = SseTap::new(Dialect::OpenAi, strip);
        assert_eq!(run(&mut tap, input.as_bytes(), &cuts), input.as_bytes());
        assert_eq!(tap.usage(), Some(usage(12, 3)));
        assert!(tap.saw_done());
        assert_eq!(tap.n_events(), 5);
    }
}

#[test]
fn bare_cr_line_endings() {
    let input = siliconflow_stream().replace("\n", "\r");
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, input.as_bytes(), &[]);
    assert_eq!(tap.usage(), Some(usage(12, 3)));
    assert_eq!(tap.n_events(), 5);
}

#[test]
fn comments_and_unknown_fields_are_not_events() {
    let input = format!(": keep-alive\n\nid: 7\nretry: 1000\n: note\ndata: {}\n\n:\n\n", chat_chunk("hi", None, 5, 1));
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    assert_eq!(run(&mut tap, input.as_bytes(), &[3]), input.as_bytes());
    assert_eq!(tap.n_events(), 1);
    assert_eq!(tap.usage(), Some(usage(5, 1)));
    assert!(!tap.saw_done());
}

#[test]
fn null_usage_chunks_do_not_hide_the_trailing_usage() {
    // OpenAI's own shape with include_usage: `"usage":null` until the end.
    let content = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"usage"},"finish_reason":null}],"usage":null}"#;
    let input = format!("data: {content}\n\ndata: {}\n\ndata: {content}\n\ndata: [DONE]\n\n", usage_only_chunk(9, 4));
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, input.as_bytes(), &[]);
    assert_eq!(tap.usage(), Some(usage(9, 4)));
}

#[test]
fn no_usage_seen() {
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n", &[]);
    assert_eq!(tap.usage(), None);
    assert!(tap.saw_done());
    assert_eq!(SseTap::new(Dialect::Anthropic, false).usage(), None);
}

#[test]
fn multiline_data_is_joined() {
    let input = "data: {\"choices\":[{\"delta\":{}}],\ndata: \"usage\":{\"prompt_tokens\":2,\ndata: \"completion_tokens\":1}}\n\n";
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, input.as_bytes(), &[]);
    assert_eq!(tap.usage(), Some(usage(2, 1)));
    assert_eq!(tap.n_events(), 1);
}

#[test]
fn strips_the_usage_only_chunk_and_nothing_else() {
    let before =
        format!("data: {}\n\ndata: {}\n\n", chat_chunk("你好", None, 12, 1), chat_chunk("", Some("stop"), 12, 2));
    let usage_event = format!("data: {}\n\n", usage_only_chunk(12, 2));
    let input = format!("{before}{usage_event}data: [DONE]\n\n");
    let expected = format!("{before}data: [DONE]\n\n");

    let mut tap = SseTap::new(Dialect::OpenAi, true);
    assert_eq!(run(&mut tap, input.as_bytes(), &[]), expected.as_bytes());
    assert_eq!(tap.usage(), Some(usage(12, 2)));
    assert!(tap.saw_done());

    // Not asked to strip: the client gets it, as it asked for it itself.
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    assert_eq!(run(&mut tap, input.as_bytes(), &[]), input.as_bytes());

    for cut in 0..=input.len() {
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        let out = run(&mut tap, input.as_bytes(), &[cut]);
        assert_eq!(out, expected.as_bytes(), "cut at {cut}");
        assert_eq!(tap.usage(), Some(usage(12, 2)));
    }
}

#[test]
fn stripping_forwards_complete_events_at_once() {
    let first = format!("data: {}\n\n", chat_chunk("a", None, 3, 1));
    let second = format!("data: {}\n\n", chat_chunk("b", None, 3, 2));
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    let input = Bytes::from(format!("{first}{}", &second[..40]));
    let out = tap.feed(input.clone());
    assert_eq!(out, first.as_bytes());
    // A slice of the read, not a copy.
    assert_eq!(out.as_ptr(), input.as_ptr());
    assert_eq!(tap.feed(Bytes::from(second[40..].to_owned())), second.as_bytes());
    assert!(tap.finish().is_empty());
    assert_eq!(tap.usage(), Some(usage(3, 2)));
}

#[test]
fn stripping_across_a_split_crlf_boundary() {
    let usage_event = format!("data: {}\r\n\r\n", usage_only_chunk(4, 4));
    let input = format!("{usage_event}data: [DONE]\r\n\r\n");
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    let cut = usage_event.len() - 1;
    // The empty read in between must not lose track of the split `\r\n`.
    assert_eq!(run(&mut tap, input.as_bytes(), &[cut, cut]), b"data: [DONE]\r\n\r\n");
    assert_eq!(tap.usage(), Some(usage(4, 4)));
    assert!(tap.saw_done());
}

#[test]
fn an_unterminated_last_event_still_counts() {
    let input = format!("data: {}\n\ndata: [DONE]", chat_chunk("x", None, 1, 1));
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    assert_eq!(run(&mut tap, input.as_bytes(), &[]), input.as_bytes());
    assert!(tap.saw_done());

    let input = format!("data: {}", usage_only_chunk(3, 3));
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    assert!(run(&mut tap, input.as_bytes(), &[]).is_empty());
    assert_eq!(tap.usage(), Some(usage(3, 3)));
}

#[test]
fn anthropic_event_sequence() {
    let input = concat!(
        "event: message_start\n",
        r#"data: {"type":"message_start","message":{"id":"msg_019a","type":"message","role":"assistant","content":[],"model":"deepseek-ai/DeepSeek-V3.2","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        "\n\n",
        "event: content_block_start\n",
        r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        "\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"你好，\"usage\":{"}}"#,
        "\n\n",
        "event: content_block_stop\n",
        r#"data: {"type":"content_block_stop","index":0}"#,
        "\n\n",
        "event: message_delta\n",
        r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        "\n\n",
        "event: message_stop\n",
        r#"data: {"type":"message_stop"}"#,
        "\n\n",
    );
    for cut in 0..=input.len() {
        let mut tap = SseTap::new(Dialect::Anthropic, true);
        assert_eq!(run(&mut tap, input.as_bytes(), &[cut]), input.as_bytes());
        assert_eq!(tap.usage(), Some(usage(25, 15)), "cut at {cut}");
        assert!(tap.saw_done());
        assert_eq!(tap.n_events(), 7);
        assert_eq!(tap.stream_error(), None);
    }
}

#[test]
fn anthropic_without_event_lines_uses_the_type_field() {
    let input = concat!(
        r#"data: {"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}}"#,
        "\n\n",
        r#"data: {"type":"message_delta","delta":{},"usage":{"output_tokens":3}}"#,
        "\n\n",
        r#"data: {"type":"message_stop"}"#,
        "\n\n",
    );
    let mut tap = SseTap::new(Dialect::Anthropic, false);
    run(&mut tap, input.as_bytes(), &[]);
    assert_eq!(tap.usage(), Some(usage(7, 3)));
    assert!(tap.saw_done());
}

#[test]
fn reports_the_first_stream_error() {
    let input = format!(
        "data: {}\n\ndata: {}\n\ndata: {}\n\n",
        chat_chunk("a", None, 1, 1),
        r#"{"error":{"message":"upstream overloaded","type":"server_error","code":50505}}"#,
        r#"{"code":50505,"message":"Model service overloaded. Please try again later.","data":null}"#,
    );
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, input.as_bytes(), &[]);
    assert_eq!(tap.stream_error(), Some("upstream overloaded"));
    assert_eq!(tap.usage(), Some(usage(1, 1)));

    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, input.as_bytes().split_at(input.find("data: {\"error").unwrap_or(0)).0, &[]);
    assert_eq!(tap.stream_error(), None);

    let siliconflow = "data: {\"code\":50505,\"message\":\"Model service overloaded.\",\"data\":null}\n\n";
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, siliconflow.as_bytes(), &[]);
    assert_eq!(tap.stream_error(), Some("Model service overloaded."));

    let anthropic = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let mut tap = SseTap::new(Dialect::Anthropic, false);
    run(&mut tap, anthropic.as_bytes(), &[]);
    assert_eq!(tap.stream_error(), Some("Overloaded"));

    let long = format!("event: error\ndata: {}\n\n", "x".repeat(1000));
    let mut tap = SseTap::new(Dialect::OpenAi, false);
    run(&mut tap, long.as_bytes(), &[]);
    assert_eq!(tap.stream_error().map(|e| e.chars().count()), Some(MAX_ERROR_CHARS + 1));
}

#[test]
fn an_endless_event_is_passed_on_not_held() {
    let mut tap = SseTap::new(Dialect::OpenAi, true);
    let piece = Bytes::from(vec![b'x'; MAX_HELD_EVENT / 2]);
    let mut out = tap.feed(Bytes::from_static(b"data: ")).len();
    for _ in 0..4 {
        out += tap.feed(piece.clone()).len();
    }
    assert!(tap.partial.capacity() <= MAX_HELD_EVENT * 2);
    out += tap.feed(Bytes::from_static(b"\n\ndata: [DONE]\n\n")).len();
    out += tap.finish().len();
    assert_eq!(out, 6 + 4 * piece.len() + 16);
    assert!(tap.saw_done());
    assert_eq!(tap.n_events(), 2);
}

/// Builds a realistic stream; returns it, the usage-only event (if any) and the last usage.
fn build_stream(
    contents: &[&str],
    crlf: bool,
    space: bool,
    keep_alive: bool,
    usage_event: bool,
) -> (String, Option<String>, Usage) {
    let nl = if crlf { "\r\n" } else { "\n" };
    let data = if space { "data: " } else { "data:" };
    let mut stream = String::new();
    let mut completion = 0;
    for (i, content) in contents.iter().enumerate() {
        completion += 1;
        let finish = (i + 1 == contents.len()).then_some("stop");
        stream += &format!("{data}{}{nl}{nl}", chat_chunk(content, finish, 20, completion));
        if keep_alive && i % 2 == 0 {
            stream += &format!(": keep-alive{nl}{nl}");
        }
    }
    let mut last = usage(20, completion);
    let usage_only = usage_event.then(|| {
        last = usage(20, completion + 1);
        format!("{data}{}{nl}{nl}", usage_only_chunk(20, completion + 1))
    });
    stream += usage_only.as_deref().unwrap_or_default();
    stream += &format!("{data}[DONE]{nl}{nl}");
    (stream, usage_only, last)
}

proptest! {
    #[test]
    fn arbitrary_splits(
        contents in prop::collection::vec(
            prop::sample::select(vec!["", "你好", "！", "hello", "naïve 😀", "\\\"usage\\\":{}", "a\\nb"]),
            1..6,
        ),
        crlf in any::<bool>(),
        space in any::<bool>(),
        keep_alive in any::<bool>(),
        usage_event in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let (input, usage_only, last) = build_stream(&contents, crlf, space, keep_alive, usage_event);

        let mut tap = SseTap::new(Dialect::OpenAi, false);
        prop_assert_eq!(run(&mut tap, input.as_bytes(), &cuts), input.as_bytes());
        prop_assert_eq!(tap.usage(), Some(last));
        prop_assert!(tap.saw_done());

        let mut tap = SseTap::new(Dialect::OpenAi, true);
        let expected = match &usage_only {
            Some(event) => input.replacen(event.as_str(), "", 1),
            None => input.clone(),
        };
        prop_assert_eq!(run(&mut tap, input.as_bytes(), &cuts), expected.as_bytes());
        prop_assert_eq!(tap.usage(), Some(last));
        prop_assert!(tap.saw_done());
    }
}
