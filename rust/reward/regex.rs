//! Regular-expression rewards: 1 where a pattern matches a text.
//!
//! Patterns are compiled once per batch with `regex-automata` (linear time, no
//! backtracking), so a pattern cannot make a batch take exponential time.

use regex_automata::meta::Regex;
use regex_syntax::hir::{Hir, Look};

use crate::batch::{check_nonempty, map_rows, score};
use crate::error::{CoreError, CoreResult};

/// Compiles `pattern` once; `full` anchors it at both ends (Python's `re.fullmatch`).
pub fn compile_pattern(pattern: &str, full: bool) -> CoreResult<Regex> {
    let invalid =
        |e: &dyn std::fmt::Display| CoreError::arg("pattern", format!("invalid regex: {e}"));
    let hir = regex_syntax::parse(pattern).map_err(|e| invalid(&e))?;
    // Anchored on the parsed pattern, not by pasting `\A(?:…)\z` around its text: the
    // pattern can then neither close the group early nor comment the anchor away.
    let hir = if full {
        Hir::concat(vec![Hir::look(Look::Start), hir, Hir::look(Look::End)])
    } else {
        hir
    };
    Regex::builder()
        .build_from_hir(&hir)
        .map_err(|e| invalid(&e))
}

/// 1.0 where `pattern` matches (anywhere, or the whole text with `full`).
pub fn regex_match(texts: &[&str], pattern: &str, full: bool) -> CoreResult<Vec<f32>> {
    check_nonempty("texts", texts.len())?;
    let re = compile_pattern(pattern, full)?;
    Ok(map_rows(texts.len(), |i| score(re.is_match(texts[i]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_match_anchors_the_parsed_pattern() {
        // Pasting the text into \A(?:…)\z would let this close the group and match "xxb".
        assert!(compile_pattern("a)|(?:b", true).is_err());
        let commented = compile_pattern("(?x)abc # the answer", true).unwrap();
        assert!(commented.is_match("abc") && !commented.is_match("abcd"));
        let alternation = compile_pattern("a|ab", true).unwrap();
        assert!(
            alternation.is_match("ab") && alternation.is_match("a") && !alternation.is_match("abc")
        );
        assert!(compile_pattern("b", false).unwrap().is_match("abc"));
    }

    #[test]
    fn regex_search_and_full() {
        assert_eq!(
            regex_match(&["abc", "xbz"], "b.", false).unwrap(),
            vec![1.0, 1.0]
        );
        assert_eq!(
            regex_match(&["abc", "ab"], "a.", true).unwrap(),
            vec![0.0, 1.0]
        );
        assert_eq!(
            regex_match(&["a", "b", "ab"], "a|b", true).unwrap(),
            vec![1.0, 1.0, 0.0]
        );
        let e = regex_match(&["x"], "(", false).unwrap_err();
        assert!(e.message.starts_with("pattern:"), "{}", e.message);
    }
}
