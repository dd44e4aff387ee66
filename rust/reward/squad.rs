//! SQuAD-normalised text rewards: exact match, word F1, and whitespace-stripped match.
//!
//! Pure Rust. Every batch function takes `&[&str]` and returns one `f32` per row; rows
//! are scored in parallel from [`crate::batch::PAR_MIN`] rows.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::batch::{check_same_len, map_rows, score};
use crate::error::CoreResult;

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators 0x1C-0x1F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A character of Python's `\w` for `str` (`c.isalnum() or c == "_"`: the general
/// categories L and N). Rust's `char::is_alphanumeric` is not it: it also counts the
/// Other_Alphabetic characters (combining marks such as U+093E DEVANAGARI VOWEL SIGN AA,
/// circled letters), so an article touching a mark would not be removed. The ranges come
/// from regex-syntax's Unicode tables, built once.
fn is_word_char(c: char) -> bool {
    static WORD: OnceLock<Vec<(char, char)>> = OnceLock::new();
    let ranges = WORD.get_or_init(|| {
        let hir = regex_syntax::parse(r"[\p{L}\p{N}_]").ok();
        match hir.as_ref().map(Hir::kind) {
            Some(HirKind::Class(Class::Unicode(class))) => class
                .ranges()
                .iter()
                .map(|r| (r.start(), r.end()))
                .collect(),
            // Unreachable: the pattern is fixed and valid.
            _ => Vec::new(),
        }
    });
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
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
    map_rows("predictions", predictions.len(), |i| {
        score(squad_equal(predictions[i], references[i]))
    })
}

/// 1.0 where prediction and reference are equal once leading and trailing whitespace
/// (Python's `str.strip()`) is removed from both; no other normalisation.
pub fn exact_text_match(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_same_len(
        ("predictions", predictions.len()),
        ("references", references.len()),
    )?;
    map_rows("predictions", predictions.len(), |i| {
        let same =
            predictions[i].trim_matches(is_py_space) == references[i].trim_matches(is_py_space);
        score(same)
    })
}

/// SQuAD word F1 per row.
pub fn word_f1(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_same_len(
        ("predictions", predictions.len()),
        ("references", references.len()),
    )?;
    map_rows("predictions", predictions.len(), |i| {
        word_f1_one(predictions[i], references[i])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // U+093E is a combining mark, not `\w` for Python: "the" before it is an article.
        assert_eq!(squad_normalize("the\u{93e} x"), "\u{93e} x");
        assert_eq!(squad_normalize("a\u{b2}"), "a\u{b2}");
        assert!(is_word_char('_') && is_word_char('\u{2160}') && !is_word_char('\u{24b6}'));
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
}
