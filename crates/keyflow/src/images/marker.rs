//! `pic:N` in a prompt (how many images), and the text surgery shared by
//! the marker parsers: finding ASCII words regardless of case, cutting a
//! marker out, and tidying what is left.
//!
//! Markers sit inside Chinese text without spaces (`画猫pic:3`, `pic:2张`),
//! so nothing here splits on whitespace: the scanners walk bytes and only
//! ever cut at ASCII bytes or whole characters.

/// Punctuation a removed marker may leave dangling at either end of a prompt.
const SEPARATORS: &[char] = &[',', '，', '、', ';', '；', ':', '：', '.', '。', '!', '！'];

/// Measure words that may follow the count (`pic:2张` = two pictures).
const COUNT_WORDS: &[&str] = &["张", "幅", "个"];

/// The image count a `pic:N` marker asks for (`pic:0` means one) and the text
/// with every such marker removed. `None` when there is no marker.
pub fn take_count(text: &str) -> (Option<u32>, String) {
    let mut count = None;
    let mut rest = text.to_string();
    while let Some((start, end, n)) = find_pic(&rest) {
        // The first marker wins; later ones are only removed.
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
        // `epic:3` is not a marker: the word must start here.
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
        // Absurd counts saturate; the caller caps them anyway.
        let n = after[..digits].parse::<u32>().unwrap_or(u32::MAX);
        let mut tail = after[digits..].trim_start_matches(' ');
        if let Some(word) = COUNT_WORDS.iter().find(|w| tail.starts_with(**w)) {
            tail = &tail[word.len()..];
        }
        return Some((start, text.len() - tail.len(), n));
    }
    None
}

/// The byte offset of the first case-insensitive match of the ASCII `needle`.
/// Matches of an ASCII needle always start on a character boundary.
pub(crate) fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
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
    let ends_with_separator = before.chars().next_back().is_some_and(|c| SEPARATORS.contains(&c));
    if ends_with_separator {
        if let Some(c) = after.chars().next().filter(|c| SEPARATORS.contains(c)) {
            after = after[c.len_utf8()..].trim_start();
        }
    }
    // Latin text needs its space back; Chinese runs straight on, and no
    // space goes before a separator.
    let space = match (before.chars().next_back(), after.chars().next()) {
        (Some(a), Some(b)) => !SEPARATORS.contains(&b) && (a.is_ascii_graphic() || b.is_ascii_graphic()),
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
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.trim_matches(|c: char| c.is_whitespace() || SEPARATORS.contains(&c)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cuts_keep_words_apart_and_separators_single() {
        assert_eq!(remove_span("a cat 16:9 in snow", 6, 10), "a cat in snow");
        assert_eq!(remove_span("猫，16:9，雪", 6, 10), "猫，雪");
        assert_eq!(tidy("  ，猫咪，  "), "猫咪");
        assert!(contains_ci("Black-Forest-Labs/FLUX.1-dev", "flux"));
        assert_eq!(find_ci("ab", "abc"), None);
    }
}
