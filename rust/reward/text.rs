//! Rewards over text: SQuAD-normalised exact match and word F1, and regex match.
//! (Answer extraction lives with `math_equal` in `reward::math::extract`.)
//!
//! Pure Rust. Every batch function takes `&[&str]` and returns one `f32` per row; rows
//! are scored in parallel (rayon) above [`PAR_THRESHOLD`] rows.

use rayon::prelude::*;
use regex_automata::meta::Regex;
use regex_syntax::hir::{Hir, Look};

use crate::error::{CoreError, CoreResult};

/// Batches with at least this many rows are scored on the rayon pool.
pub const PAR_THRESHOLD: usize = 16_384;

/// Maps `f` over `0..n` into a freshly allocated vector, in parallel for large `n`.
pub fn map_rows<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    if n >= PAR_THRESHOLD {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}

/// Errors on an empty batch, as the token rewards and advantages do.
fn check_nonempty(name: &str, rows: usize) -> CoreResult<()> {
    if rows == 0 {
        return Err(CoreError::arg(name, "empty batch (0 rows)"));
    }
    Ok(())
}

/// Checks that two text arguments are non-empty and have the same number of rows.
pub fn check_same_len(a: (&str, usize), b: (&str, usize)) -> CoreResult<()> {
    check_nonempty(a.0, a.1)?;
    if a.1 != b.1 {
        return Err(CoreError::arg(
            b.0,
            format!("has {} rows but {} has {}", b.1, a.0, a.1),
        ));
    }
    Ok(())
}

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators 0x1C-0x1F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A character of a regex `\w` run (Unicode alphanumeric or underscore).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// SQuAD's `normalize_answer` up to its final whitespace split: lowercase, drop ASCII
/// punctuation, replace the articles "a", "an", "the" (whole `\w` runs, exactly what
/// `re.sub(r"\b(a|an|the)\b", " ", s)` matches) by a space.
pub fn squad_clean(text: &str) -> String {
    if text.is_ascii() {
        return squad_clean_ascii(text.as_bytes());
    }
    let lowered = text.to_lowercase();
    let mut out = String::with_capacity(lowered.len());
    let mut run_start: Option<usize> = None;
    let end_run = |out: &mut String, run_start: &mut Option<usize>| {
        if let Some(start) = run_start.take() {
            if matches!(&out[start..], "a" | "an" | "the") {
                out.truncate(start);
                out.push(' ');
            }
        }
    };
    for c in lowered.chars() {
        if c.is_ascii_punctuation() {
            continue;
        }
        if is_word_char(c) {
            if run_start.is_none() {
                run_start = Some(out.len());
            }
        } else {
            end_run(&mut out, &mut run_start);
        }
        out.push(c);
    }
    end_run(&mut out, &mut run_start);
    out
}

/// [`squad_clean`] for ASCII text, byte by byte.
fn squad_clean_ascii(text: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut run_start: Option<usize> = None;
    let end_run = |out: &mut Vec<u8>, run_start: &mut Option<usize>| {
        if let Some(start) = run_start.take() {
            if matches!(&out[start..], b"a" | b"an" | b"the") {
                out.truncate(start);
                out.push(b' ');
            }
        }
    };
    for &b in text {
        if b.is_ascii_punctuation() {
            continue;
        }
        let b = b.to_ascii_lowercase();
        if b.is_ascii_alphanumeric() {
            if run_start.is_none() {
                run_start = Some(out.len());
            }
        } else {
            end_run(&mut out, &mut run_start);
        }
        out.push(b);
    }
    end_run(&mut out, &mut run_start);
    // only ASCII bytes were pushed
    String::from_utf8(out).unwrap_or_default()
}

/// The words of a [`squad_clean`]ed text (Python's `str.split()`).
fn words(clean: &str) -> impl Iterator<Item = &str> {
    clean.split(is_py_space).filter(|w| !w.is_empty())
}

/// SQuAD normalisation: the words of [`squad_clean`] joined by single spaces.
pub fn squad_normalize(text: &str) -> String {
    words(&squad_clean(text)).collect::<Vec<_>>().join(" ")
}

/// Whether two texts are equal after SQuAD normalisation.
pub fn squad_equal(prediction: &str, reference: &str) -> bool {
    words(&squad_clean(prediction)).eq(words(&squad_clean(reference)))
}

/// SQuAD token F1 of two texts. Both empty after normalisation: 1.0 (SQuAD v2).
pub fn word_f1_one(prediction: &str, reference: &str) -> f32 {
    let (pc, rc) = (squad_clean(prediction), squad_clean(reference));
    let mut pred: Vec<&str> = words(&pc).collect();
    let mut gold: Vec<&str> = words(&rc).collect();
    if pred.is_empty() || gold.is_empty() {
        return if pred.is_empty() && gold.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    // size of the multiset intersection, by merging the sorted word lists
    pred.sort_unstable();
    gold.sort_unstable();
    let (mut i, mut j, mut same) = (0usize, 0usize, 0usize);
    while i < pred.len() && j < gold.len() {
        match pred[i].cmp(gold[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                same += 1;
                i += 1;
                j += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / pred.len() as f64;
    let recall = same as f64 / gold.len() as f64;
    (2.0 * precision * recall / (precision + recall)) as f32
}

/// 1.0 where the SQuAD-normalised prediction equals the normalised reference.
pub fn normalized_exact_match(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_same_len(
        ("predictions", predictions.len()),
        ("references", references.len()),
    )?;
    Ok(map_rows(predictions.len(), |i| {
        f32::from(u8::from(squad_equal(predictions[i], references[i])))
    }))
}

/// 1.0 where prediction and reference are equal once leading and trailing whitespace
/// (Python's `str.strip()`) is removed from both; no other normalisation.
pub fn exact_text_match(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_same_len(
        ("predictions", predictions.len()),
        ("references", references.len()),
    )?;
    Ok(map_rows(predictions.len(), |i| {
        let same =
            predictions[i].trim_matches(is_py_space) == references[i].trim_matches(is_py_space);
        f32::from(u8::from(same))
    }))
}

/// SQuAD word F1 per row.
pub fn word_f1(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_same_len(
        ("predictions", predictions.len()),
        ("references", references.len()),
    )?;
    Ok(map_rows(predictions.len(), |i| {
        word_f1_one(predictions[i], references[i])
    }))
}

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
    Ok(map_rows(texts.len(), |i| {
        f32::from(u8::from(re.is_match(texts[i])))
    }))
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
    fn exact_text_match_strips_only_surrounding_whitespace() {
        let got = exact_text_match(
            &[" 42\n", "Paris", "a b", "\u{1f}x", ""],
            &["42", "paris", "a  b", "x ", "  "],
        )
        .unwrap();
        assert_eq!(got, vec![1.0, 0.0, 0.0, 1.0, 1.0]);
        let err = exact_text_match(&["a"], &[]).unwrap_err();
        assert!(err.to_string().contains("references"), "{err}");
    }

    #[test]
    fn squad_normalisation() {
        assert_eq!(squad_normalize("The  Cat, sat!"), "cat sat");
        assert_eq!(squad_normalize("an apple a day"), "apple day");
        assert_eq!(squad_normalize("theatre"), "theatre");
        assert_eq!(squad_normalize("A-n"), "");
        assert_eq!(squad_normalize("x_the y"), "xthe y");
        assert_eq!(squad_normalize("  "), "");
        // the ASCII fast path and the Unicode path agree
        for t in [
            "The Cat, sat!",
            "an apple a day",
            "x_the y",
            "A-n b\tthe\x1c c",
        ] {
            let unicode = format!("{t} é");
            assert_eq!(
                squad_normalize(&unicode),
                format!("{} é", squad_normalize(t))
            );
        }
    }

    #[test]
    fn f1_counts_bag_of_words() {
        assert!((word_f1_one("the cat sat", "cat sat down") - 0.8).abs() < 1e-6);
        assert_eq!(word_f1_one("cat cat", "cat"), 2.0 * 0.5 / 1.5);
        assert_eq!(word_f1_one("", "the"), 1.0);
        assert_eq!(word_f1_one("x", ""), 0.0);
        assert_eq!(word_f1_one("dog", "cat"), 0.0);
    }

    #[test]
    fn exact_match_and_lengths() {
        let r = normalized_exact_match(&["The Cat.", "dog"], &["cat", "cat"]).unwrap();
        assert_eq!(r, vec![1.0, 0.0]);
        let e = normalized_exact_match(&["a"], &[]).unwrap_err();
        assert!(e.message.starts_with("references"), "{}", e.message);
        let e = normalized_exact_match(&[], &[]).unwrap_err();
        assert_eq!(e.message, "predictions: empty batch (0 rows)");
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
