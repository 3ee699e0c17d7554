//! The image markers (`images::marker::take_count`, `images::size::take_size`)
//! on prompts of any text: no panic, nothing grows, time linear in the text.

use std::time::Instant;

use keyflow::images::marker::take_count;
use keyflow::images::size::{take_size, SizeWish, RATIOS};
use proptest::prelude::*;

use super::{assert_linear, cases, corpus, grown, text_of, timing_cases, LINEAR_BYTES};

/// No panic; each cut leaves the prompt no longer; no marker, no change;
/// a size wish the model families can map.
fn check_markers(text: &str) {
    let (count, rest) = take_count(text);
    assert!(rest.len() <= text.len(), "{text:?} grew to {rest:?}");
    if count.is_none() {
        assert_eq!(rest, text);
    }
    assert!(count.is_none_or(|n| n >= 1));
    let (size, prompt) = take_size(&rest);
    assert!(prompt.len() <= rest.len(), "{rest:?} grew to {prompt:?}");
    match size {
        None => assert_eq!(prompt, rest),
        Some(SizeWish::Exact(w, h)) => assert!((64..=4096).contains(&w) && (64..=4096).contains(&h)),
        Some(SizeWish::Ratio(a, b)) => assert!(RATIOS.contains(&(a, b)), "{a}:{b}"),
    }
}

fn marker_text() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "pic",
            "PIC",
            "Pic",
            ":",
            "：",
            "1",
            "23",
            "0",
            " ",
            "\t",
            "\u{3000}",
            "张",
            "幅",
            "猫",
            ",",
            "，",
            "。",
            "a",
            "e",
            "x",
            "×",
            "*",
            "1024",
            "576",
            "16",
            "9",
            "横向",
            "的",
            "比例",
            "landscape",
            "square",
            "epic",
        ],
        32,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn markers_never_panic_or_grow(text in marker_text()) {
        check_markers(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(timing_cases()))]

    #[test]
    fn markers_are_linear(unit in marker_text()) {
        let text = unit.repeat(LINEAR_BYTES.div_ceil(unit.len().max(1)));
        let started = Instant::now();
        let (_, rest) = take_count(&text);
        take_size(&rest);
        assert_linear("image_markers", text.len(), started.elapsed());
    }
}

#[test]
fn markers_corpus() {
    for (name, seed) in corpus("image_markers") {
        let text = String::from_utf8_lossy(&seed);
        check_markers(&text);
        let big = String::from_utf8_lossy(&grown(&seed)).into_owned();
        let started = Instant::now();
        let (_, rest) = take_count(&big);
        take_size(&rest);
        assert_linear(&format!("image_markers/{name}"), big.len(), started.elapsed());
    }
}
