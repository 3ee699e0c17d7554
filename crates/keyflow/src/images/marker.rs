//! `pic:N` in a prompt (how many images), and the text surgery shared by
//! the marker parsers: finding ASCII words regardless of case, cutting a
//! marker out, and tidying what is left.
//!
//! Markers sit inside Chinese text without spaces (`画猫pic:3`, `pic:2张`),
//! so nothing here splits on whitespace: the scanners walk bytes and only
//! ever cut at ASCII bytes or whole characters. Every scanner here is linear
//! in the prompt (SPEC §10): prompts come from clients and may be megabytes.

use crate::usage::find_either;

/// Punctuation a removed marker may leave dangling at either end of a prompt.
fn is_separator(c: char) -> bool {
    matches!(c, ',' | '，' | '、' | ';' | '；' | ':' | '：' | '.' | '。' | '!' | '！')
}

/// Measure words that may follow the count (`pic:2张` = two pictures).
const COUNT_WORDS: &[&str] = &["张", "幅", "个"];

/// A `pic` that the text read so far may still complete into a marker:
/// `pic` and spaces, or (`colon`) `pic`, spaces, a colon and spaces. `at` is
/// its byte offset in the text as the cuts so far have left it.
#[derive(Debug, Clone, Copy)]
struct Open {
    at: usize,
    colon: bool,
}

/// What the character under the scan does to the open marker.
enum Step {
    /// A colon after `pic`: the marker now wants its digits.
    Colon,
    /// A digit after `pic:`: a marker, cut it.
    Marker,
    /// Anything else: no marker is open any more.
    Close,
}

/// The image count a `pic:N` marker asks for (`pic:0` means one) and the text
/// with every such marker removed. `None` when there is no marker.
///
/// The result is that of cutting the first marker, then searching the text
/// that is left again from its start, until no marker is left (see the test
/// oracle). A cut can make a marker that was not there before: it trims the
/// space around the marker and may join `pic:` before it with digits after
/// it, or give `pic` a word start it did not have (`pic:1pic:2`). Searching
/// again from the start costs a pass per marker, which made a prompt full of
/// markers quadratic, so this reads the text once instead: the text before
/// the scan is kept as cut (`out`), and the only part of it a later cut can
/// still complete is an open `pic` at its end, kept with the open `pic` of
/// the text before it (`open`, innermost last) for when that one is cut too.
pub fn take_count(text: &str) -> (Option<u32>, String) {
    let bytes = text.as_bytes();
    let mut count = None;
    let mut out = String::new();
    // `text[pos..]` is the text after `out`, untouched by any cut.
    let mut pos = 0;
    let mut open: Vec<Open> = Vec::new();
    // Only spaces since the last other character: the open marker, if any,
    // is still open (other whitespace breaks it, but a cut trims it away).
    let mut spaced = true;
    let mut i = 0;
    while i < bytes.len() {
        if open.is_empty() && !matches!(bytes[i], b'p' | b'P') {
            // Nothing is open: only a `p` can start something.
            match find_either(&bytes[i..], b'p', b'P') {
                Some(skip) => i += skip,
                None => break,
            }
        }
        let prev = if i == pos { out.as_bytes().last() } else { bytes.get(i - 1) };
        // `epic:3` is not a marker: the word must start here.
        let word_start = prev.is_none_or(|b| !b.is_ascii_alphanumeric());
        if word_start && bytes[i..].get(..3).is_some_and(|w| w.eq_ignore_ascii_case(b"pic")) {
            open.push(Open { at: out.len() + i - pos, colon: false });
            spaced = true;
            i += 3;
            continue;
        }
        if open.is_empty() {
            // A `p` that starts nothing, with nothing open: it changes nothing.
            i += 1;
            continue;
        }
        let c = match bytes[i] {
            b if b.is_ascii() => char::from(b),
            _ => match text.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) => c,
                None => break,
            },
        };
        if c.is_whitespace() {
            spaced &= c == ' ';
            i += c.len_utf8();
            continue;
        }
        let step = match (c, open.last().filter(|_| spaced)) {
            (':' | '：', Some(o)) if !o.colon => Step::Colon,
            ('0'..='9', Some(o)) if o.colon => Step::Marker,
            _ => Step::Close,
        };
        match step {
            Step::Colon => {
                if let Some(o) = open.last_mut() {
                    o.colon = true;
                }
            }
            Step::Close => open.clear(),
            Step::Marker => {
                let Some(marker) = open.pop() else { break };
                let (n, end) = read_count(text, i);
                // The first marker wins; later ones are only removed.
                count.get_or_insert(n.max(1));
                // The text before the marker, trimmed as `remove_span` does;
                // the open marker below this one is that text's own.
                if marker.at >= out.len() {
                    out.push_str(&text[pos..pos + (marker.at - out.len())]);
                } else {
                    out.truncate(marker.at);
                }
                trim_end(&mut out);
                pos = skip_cut_tail(text, end, &mut out);
                spaced = true;
                i = pos;
                continue;
            }
        }
        spaced = true;
        i += c.len_utf8();
    }
    if count.is_none() {
        return (None, text.to_string());
    }
    out.push_str(&text[pos..]);
    (count, tidy(&out))
}

/// The count whose first digit is at `digits_at` and the end of its marker:
/// the digits, spaces and a measure word.
fn read_count(text: &str, digits_at: usize) -> (u32, usize) {
    let bytes = text.as_bytes();
    let mut end = digits_at;
    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    // Absurd counts saturate; the caller caps them anyway.
    let n = text[digits_at..end].parse::<u32>().unwrap_or(u32::MAX);
    while bytes.get(end) == Some(&b' ') {
        end += 1;
    }
    // The measure words are Chinese: no need to look after an ASCII byte.
    if bytes.get(end).is_some_and(|b| !b.is_ascii()) {
        if let Some(word) = COUNT_WORDS.iter().find(|w| text[end..].starts_with(**w)) {
            end += word.len();
        }
    }
    (n, end)
}

/// Drops the whitespace at the end of `out`, as `str::trim_end` does.
fn trim_end(out: &mut String) {
    loop {
        // ASCII without decoding: this runs once per cut.
        match out.as_bytes().last() {
            Some(b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ') => {}
            Some(b) if b.is_ascii() => return,
            None => return,
            Some(_) if out.chars().next_back().is_some_and(char::is_whitespace) => {}
            Some(_) => return,
        }
        out.pop();
    }
}

/// The second half of `remove_span` for a cut ending at `end`, with the
/// trimmed text before the cut in `out`: skips the whitespace (and a
/// doubled separator) after the cut, puts a space between two words the cut
/// brings together, and returns where the untouched text resumes.
fn skip_cut_tail(text: &str, end: usize, out: &mut String) -> usize {
    let trimmed = |at: usize| match text.as_bytes().get(at) {
        // Most cuts end before a plain character: skip the general trim then.
        Some(b) if b.is_ascii_graphic() => at,
        _ => text.len() - text[at..].trim_start().len(),
    };
    let mut pos = trimmed(end);
    let last = out.chars().next_back();
    if last.is_some_and(is_separator) {
        if let Some(c) = text[pos..].chars().next().filter(|c| is_separator(*c)) {
            pos = trimmed(pos + c.len_utf8());
        }
    }
    if let (Some(a), Some(b)) = (last, text[pos..].chars().next()) {
        if !is_separator(b) && (a.is_ascii_graphic() || b.is_ascii_graphic()) {
            out.push(' ');
        }
    }
    pos
}

/// The byte offset of the first case-insensitive match of the ASCII `needle`.
/// Matches of an ASCII needle always start on a character boundary.
pub(crate) fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (bytes, needle) = (haystack.as_bytes(), needle.as_bytes());
    let (&first, rest) = needle.split_first()?;
    let last_start = bytes.len().checked_sub(needle.len())?;
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    while from <= last_start {
        // Jump to the next first letter eight bytes at a time, then compare.
        let at = match bytes[from] {
            b if b == lower || b == upper => from,
            _ => from + find_either(&bytes[from..=last_start], lower, upper)?,
        };
        if bytes[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether `haystack` contains the ASCII `needle`, ignoring case.
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    find_ci(haystack, needle).is_some()
}

/// `text` without the bytes `start..end`. Two words the cut brings together
/// keep a space between them, and a separator doubled by the cut
/// (`猫，16:9，雪` → `猫，雪`) appears once.
pub(crate) fn remove_span(text: &str, start: usize, end: usize) -> String {
    let before = text[..start].trim_end();
    let mut after = text[end..].trim_start();
    let ends_with_separator = before.chars().next_back().is_some_and(is_separator);
    if ends_with_separator {
        if let Some(c) = after.chars().next().filter(|c| is_separator(*c)) {
            after = after[c.len_utf8()..].trim_start();
        }
    }
    // Latin text needs its space back; Chinese runs straight on, and no
    // space goes before a separator.
    let space = match (before.chars().next_back(), after.chars().next()) {
        (Some(a), Some(b)) => !is_separator(b) && (a.is_ascii_graphic() || b.is_ascii_graphic()),
        _ => false,
    };
    let mut out = String::with_capacity(before.len() + after.len() + 1);
    out.push_str(before);
    if space {
        out.push(' ');
    }
    out.push_str(after);
    out
}

/// Collapses whitespace runs and trims whitespace and dangling separators.
pub(crate) fn tidy(text: &str) -> String {
    // One string, no list of words: a prompt may hold a million of them.
    let mut collapsed = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed.trim_matches(|c: char| c.is_whitespace() || is_separator(c)).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    /// The definition `take_count` keeps: cut the first marker, search the
    /// whole text again, repeat. Quadratic; small inputs only.
    fn take_count_oracle(text: &str) -> (Option<u32>, String) {
        let mut count = None;
        let mut rest = text.to_string();
        while let Some((start, end, n)) = find_pic(&rest) {
            count.get_or_insert(n.max(1));
            rest = remove_span(&rest, start, end);
        }
        let prompt = if count.is_some() { tidy(&rest) } else { rest };
        (count, prompt)
    }

    /// The first `pic:N` (also `PIC：N`, `pic: N`): its byte span and `N`.
    fn find_pic(text: &str) -> Option<(usize, usize, u32)> {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(offset) = find_ci(&text[from..], "pic") {
            let start = from + offset;
            from = start + 3;
            if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let after = text[start + 3..].trim_start_matches(' ');
            let Some(after) = after.strip_prefix(':').or_else(|| after.strip_prefix('：')) else { continue };
            let after = after.trim_start_matches(' ');
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                continue;
            }
            let n = after[..digits].parse::<u32>().unwrap_or(u32::MAX);
            let mut tail = after[digits..].trim_start_matches(' ');
            if let Some(word) = COUNT_WORDS.iter().find(|w| tail.starts_with(**w)) {
                tail = &tail[word.len()..];
            }
            return Some((start, text.len() - tail.len(), n));
        }
        None
    }

    #[test]
    fn counts_next_to_chinese_text() {
        assert_eq!(take_count("画猫pic:3"), (Some(3), "画猫".to_string()));
        assert_eq!(take_count("pic:2张 画一只狗"), (Some(2), "画一只狗".to_string()));
        assert_eq!(take_count("画一只可爱的猫咪，9:16比例 pic:3"), (Some(3), "画一只可爱的猫咪，9:16比例".to_string()));
        assert_eq!(take_count("一只狗pic：4幅"), (Some(4), "一只狗".to_string()));
    }

    #[test]
    fn case_spacing_and_zero() {
        assert_eq!(take_count("a cat PIC:3"), (Some(3), "a cat".to_string()));
        assert_eq!(take_count("a cat Pic: 2 in snow"), (Some(2), "a cat in snow".to_string()));
        assert_eq!(take_count("a cat pic:0"), (Some(1), "a cat".to_string()));
        assert_eq!(take_count("pic:99999999999 x").0, Some(u32::MAX));
    }

    #[test]
    fn no_marker_leaves_text_alone() {
        assert_eq!(take_count("an epic:3 battle"), (None, "an epic:3 battle".to_string()));
        assert_eq!(take_count("a picture: of a cat"), (None, "a picture: of a cat".to_string()));
        assert_eq!(take_count("pic: none"), (None, "pic: none".to_string()));
        assert_eq!(take_count("  spaced  "), (None, "  spaced  ".to_string()));
    }

    #[test]
    fn first_marker_counts_and_all_are_removed() {
        assert_eq!(take_count("pic:2 猫 pic:5"), (Some(2), "猫".to_string()));
    }

    #[test]
    fn cuts_that_make_new_markers_are_followed() {
        // After `pic:1` goes, `pic:2` starts a word.
        assert_eq!(take_count("pic:1pic:2"), (Some(1), String::new()));
        assert_eq!(take_count("x pic:1pic:2 y"), (Some(1), "x y".to_string()));
        // The cut joins `pic` before it with `:3` after it.
        assert_eq!(take_count("pic pic:2:3"), (Some(2), String::new()));
        // ... and `pic:` before it with `4` after it (a space goes between).
        assert_eq!(take_count("pic: pic:3 4 cat"), (Some(3), "cat".to_string()));
        // Trailing whitespace other than spaces breaks a marker, but the cut trims it.
        assert_eq!(take_count("pic:\tpic:1 2"), (Some(1), String::new()));
        for text in ["pic pic:2:3", "pic: pic:3 4 cat", "pic:\tpic:1 2", "a pic pic: pic:1 2 3 b"] {
            assert_eq!(take_count(text), take_count_oracle(text), "{text}");
        }
    }

    #[test]
    fn cuts_keep_words_apart_and_separators_single() {
        assert_eq!(remove_span("a cat 16:9 in snow", 6, 10), "a cat in snow");
        assert_eq!(remove_span("猫，16:9，雪", 6, 10), "猫，雪");
        assert_eq!(tidy("  ，猫咪，  "), "猫咪");
        assert_eq!(tidy("a \t b\n\nc"), "a b c");
        assert!(contains_ci("Black-Forest-Labs/FLUX.1-dev", "flux"));
        assert_eq!(find_ci("ab", "abc"), None);
    }

    /// One prompt of 4 MiB in sections of the patterns that cost most:
    /// dense markers, markers each cut turns into new ones, a long open
    /// marker every cut re-opens, size markers, and near-misses.
    fn adversarial_prompt() -> String {
        const SECTION: usize = (4 << 20) / 8;
        let units = [
            ("", "pic:1 "),
            ("猫", "pic:2pic:3"),
            ("", "pic "),
            ("", "pic: "),
            ("", "PIC：4张"),
            (&*format!("pic{}:", " ".repeat(SECTION / 2)), "pic:pic:1 2 "),
            ("", "1024x576 16:9 横向 pic:1 "),
            ("", "p"),
        ];
        let mut text = String::with_capacity((4 << 20) + 64);
        for (head, unit) in units {
            text.push_str(" 。 ");
            text.push_str(head);
            let end = text.len() + SECTION;
            while text.len() < end {
                text.push_str(unit);
            }
        }
        text
    }

    #[test]
    fn four_megabytes_of_markers_parse_in_linear_time() {
        let text = adversarial_prompt();
        assert!(text.len() >= 4 << 20);
        let started = Instant::now();
        let (count, prompt) = take_count(&text);
        let (size, prompt) = crate::images::size::take_size(&prompt);
        let elapsed = started.elapsed();
        assert_eq!((count, size), (Some(1), Some(crate::images::size::SizeWish::Exact(1024, 576))));
        assert!(prompt.len() < text.len() / 2, "the markers are gone");
        // Debug build; the quadratic parser took minutes on this.
        assert!(elapsed < Duration::from_secs(2), "{} bytes took {elapsed:?}", text.len());
    }

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "pic", "PiC", ":", "：", "1", "23", "0", " ", "  ", "\t", "\u{3000}", "张", "猫", ",", "，", "。", "a", "e",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn one_pass_matches_the_oracle(pieces in prop::collection::vec(piece(), 0..24)) {
            let text = pieces.concat();
            prop_assert_eq!(take_count(&text), take_count_oracle(&text), "{:?}", text);
        }
    }
}
