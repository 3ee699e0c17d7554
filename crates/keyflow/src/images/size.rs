//! The image size a prompt asks for (`1024x576`, `16:9`, `横向`...) and
//! the nearest size the chosen model accepts.
//!
//! Upstream rejects an `image_size` outside a model family's list (see the
//! size table in `shared/siliconflow-api.md` §9.1), so a wish is never sent
//! as is: it is mapped to the family's size of nearest aspect ratio, then
//! nearest pixel count.

use super::marker::{find_ci, remove_span, tidy};

/// What the prompt asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeWish {
    /// `1024x576`, `1024×576`, `768*1024`.
    Exact(u32, u32),
    /// `16:9`, `16：9`, or a keyword's ratio.
    Ratio(u32, u32),
}

/// The ratios recognised; any other `a:b` (a time, a score) is left alone.
pub const RATIOS: &[(u32, u32)] = &[(1, 1), (1, 2), (2, 1), (3, 2), (2, 3), (3, 4), (4, 3), (16, 9), (9, 16)];

/// Orientation words and the ratio each stands for. Longer words first so
/// `正方形` wins over `方形` at the same place.
const KEYWORDS: &[(&str, (u32, u32))] = &[
    ("landscape", (16, 9)),
    ("portrait", (9, 16)),
    ("square", (1, 1)),
    ("wide", (2, 1)),
    ("正方形", (1, 1)),
    ("方形", (1, 1)),
    ("横向", (16, 9)),
    ("横屏", (16, 9)),
    ("横版", (16, 9)),
    ("纵向", (9, 16)),
    ("竖向", (9, 16)),
    ("竖屏", (9, 16)),
    ("竖版", (9, 16)),
    ("宽屏", (2, 1)),
];

/// Words that introduce or follow a size (`比例16:9`, `9:16比例`); they go with it.
const PREFIX_WORDS: &[&str] = &["比例", "尺寸", "分辨率", "画幅"];
const SUFFIX_WORDS: &[&str] = &["的比例", "比例", "尺寸", "分辨率", "画幅"];

/// Separators between width and height.
const TIMES: &[char] = &['x', 'X', '×', '*', '＊'];

/// The size asked for and the text without its marker. An explicit size
/// wins over a ratio, a ratio over a keyword; only the winner is removed.
pub fn take_size(text: &str) -> (Option<SizeWish>, String) {
    let found = find_exact(text)
        .map(|(s, e, w, h)| (s, e, SizeWish::Exact(w, h)))
        .or_else(|| find_ratio(text).map(|(s, e, w, h)| (s, e, SizeWish::Ratio(w, h))))
        .or_else(|| find_keyword(text).map(|(s, e, (w, h))| (s, e, SizeWish::Ratio(w, h))));
    match found {
        Some((start, end, wish)) => {
            let (start, end) = widen(text, start, end);
            (Some(wish), tidy(&remove_span(text, start, end)))
        }
        None => (None, text.to_string()),
    }
}

/// A run of ASCII digits starting at `i`: its end and value.
fn digits_at(text: &str, i: usize) -> Option<(usize, u32)> {
    let n = text.as_bytes()[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 5 {
        return None;
    }
    Some((i + n, text[i..i + n].parse().ok()?))
}

/// Starts of digit runs: a digit not preceded by a digit.
fn run_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    (0..bytes.len()).filter(move |&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
}

/// The first `WxH` with both sides between 64 and 4096.
fn find_exact(text: &str) -> Option<(usize, usize, u32, u32)> {
    for start in run_starts(text) {
        let Some((w_end, w)) = digits_at(text, start) else { continue };
        let rest = text[w_end..].trim_start_matches(' ');
        let Some(times) = rest.chars().next().filter(|c| TIMES.contains(c)) else { continue };
        let rest = rest[times.len_utf8()..].trim_start_matches(' ');
        let h_start = text.len() - rest.len();
        let Some((end, h)) = digits_at(text, h_start) else { continue };
        if (64..=4096).contains(&w) && (64..=4096).contains(&h) {
            return Some((start, end, w, h));
        }
    }
    None
}

/// The first listed ratio written tight (`16:9`, `16：9`). Spaces are not
/// allowed around the colon, so `Step 1: 2 dogs` is no ratio.
fn find_ratio(text: &str) -> Option<(usize, usize, u32, u32)> {
    for start in run_starts(text) {
        // `12:16:9` and `v1.16:9` are something else; `比例：16:9` is fine.
        let mut before = text[..start].chars().rev();
        let (prev, prev2) = (before.next(), before.next());
        let after_number = matches!(prev, Some(':' | '：')) && prev2.is_some_and(|c| c.is_ascii_digit());
        if prev == Some('.') || after_number {
            continue;
        }
        let Some((a_end, a)) = digits_at(text, start) else { continue };
        let rest = &text[a_end..];
        let Some(colon) = rest.chars().next().filter(|c| *c == ':' || *c == '：') else { continue };
        let b_start = a_end + colon.len_utf8();
        let Some((end, b)) = digits_at(text, b_start) else { continue };
        // A third part (`1:2:3`, a time with seconds) is no ratio either.
        let tail = &text[end..];
        let third = tail.strip_prefix(':').or_else(|| tail.strip_prefix('：'));
        if third.is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit())) {
            continue;
        }
        if RATIOS.contains(&(a, b)) {
            return Some((start, end, a, b));
        }
    }
    None
}

/// The first orientation keyword; English ones only as whole words.
fn find_keyword(text: &str) -> Option<(usize, usize, (u32, u32))> {
    let bytes = text.as_bytes();
    let mut best: Option<(usize, usize, (u32, u32))> = None;
    for (word, ratio) in KEYWORDS {
        let mut from = 0;
        while let Some(offset) = find_word(&text[from..], word) {
            let start = from + offset;
            let end = start + word.len();
            from = end;
            let latin = word.is_ascii();
            let bounded = !latin
                || ((start == 0 || !bytes[start - 1].is_ascii_alphanumeric())
                    && bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric()));
            if bounded {
                if best.is_none_or(|(s, e, _)| start < s || (start == s && end > e)) {
                    best = Some((start, end, *ratio));
                }
                break;
            }
        }
    }
    best
}

/// Finds `word`: ASCII words regardless of case, others exactly.
fn find_word(text: &str, word: &str) -> Option<usize> {
    if word.is_ascii() {
        find_ci(text, word)
    } else {
        text.find(word)
    }
}

/// Grows a marker's span over the words that belong to it: `比例` before
/// (with a colon), `比例`/`的比例` after, and a trailing `的` (`横向的猫` → `猫`).
fn widen(text: &str, start: usize, end: usize) -> (usize, usize) {
    let before = text[..start].trim_end_matches([' ', ':', '：']);
    let start = PREFIX_WORDS.iter().find(|w| before.ends_with(**w)).map_or(start, |w| before.len() - w.len());
    let mut rest = &text[end..];
    if let Some(word) = SUFFIX_WORDS.iter().find(|w| rest.starts_with(**w)) {
        rest = &rest[word.len()..];
    }
    if let Some(r) = rest.strip_prefix('的') {
        rest = r;
    }
    (start, text.len() - rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> (Option<SizeWish>, String) {
        take_size(text)
    }

    #[test]
    fn ratios_next_to_chinese_text() {
        assert_eq!(size("画一只可爱的猫咪，9:16比例"), (Some(SizeWish::Ratio(9, 16)), "画一只可爱的猫咪".into()));
        assert_eq!(size("16：9的海边日落"), (Some(SizeWish::Ratio(16, 9)), "海边日落".into()));
        assert_eq!(size("比例：3:4 一只狗"), (Some(SizeWish::Ratio(3, 4)), "一只狗".into()));
        assert_eq!(size("a cat 16:9 in snow"), (Some(SizeWish::Ratio(16, 9)), "a cat in snow".into()));
        for (a, b) in RATIOS {
            assert_eq!(size(&format!("猫{a}:{b}")).0, Some(SizeWish::Ratio(*a, *b)), "{a}:{b}");
        }
    }

    #[test]
    fn exact_sizes_with_every_separator() {
        assert_eq!(size("一只猫 1024×576"), (Some(SizeWish::Exact(1024, 576)), "一只猫".into()));
        assert_eq!(size("768*1024的猫"), (Some(SizeWish::Exact(768, 1024)), "猫".into()));
        assert_eq!(size("a cat, 1024x1024"), (Some(SizeWish::Exact(1024, 1024)), "a cat".into()));
        assert_eq!(size("a cat 512 X 512 please"), (Some(SizeWish::Exact(512, 512)), "a cat please".into()));
        assert_eq!(size("分辨率1328x1328的风景").0, Some(SizeWish::Exact(1328, 1328)));
        // An exact size wins over a ratio elsewhere in the prompt.
        assert_eq!(size("16:9 1024x576").0, Some(SizeWish::Exact(1024, 576)));
    }

    #[test]
    fn keywords_in_both_languages() {
        assert_eq!(size("横向的猫"), (Some(SizeWish::Ratio(16, 9)), "猫".into()));
        assert_eq!(size("一只正方形的猫"), (Some(SizeWish::Ratio(1, 1)), "一只猫".into()));
        assert_eq!(size("方形头像"), (Some(SizeWish::Ratio(1, 1)), "头像".into()));
        for word in ["横屏", "横版"] {
            assert_eq!(size(&format!("{word}风景")).0, Some(SizeWish::Ratio(16, 9)), "{word}");
        }
        for word in ["纵向", "竖向", "竖屏", "竖版"] {
            assert_eq!(size(&format!("{word}人像")).0, Some(SizeWish::Ratio(9, 16)), "{word}");
        }
        assert_eq!(size("宽屏海报").0, Some(SizeWish::Ratio(2, 1)));
        assert_eq!(size("a Landscape shot of hills"), (Some(SizeWish::Ratio(16, 9)), "a shot of hills".into()));
        assert_eq!(size("PORTRAIT, a knight").0, Some(SizeWish::Ratio(9, 16)));
        assert_eq!(size("square cat").0, Some(SizeWish::Ratio(1, 1)));
        assert_eq!(size("wide river").0, Some(SizeWish::Ratio(2, 1)));
    }

    #[test]
    fn no_false_sizes() {
        // `pic:3`, times, scores with unlisted ratios, list numbering, words inside words.
        for text in ["画猫pic:3", "meet at 10:30", "12:00 noon", "Step 1: 2 dogs", "1:2:3", "widely known", "squared"]
        {
            assert_eq!(size(text), (None, text.to_string()), "{text}");
        }
        assert_eq!(size("3x3 grid").0, None);
        assert_eq!(size("v1.16:9").0, None);
    }
}
