//! SQuAD-normalised text rewards: exact match, word F1, and whitespace-stripped match.
//!
//! Pure Rust. Every batch function takes `&[&str]` and returns one `f32` per row; rows
//! are scored in parallel from [`crate::batch::PAR_MIN`] rows.
//!
//! SQuAD v1.1's `normalize_answer` is four passes over Python strings (`lower`, a
//! punctuation filter, `re.sub(r"\b(a|an|the)\b", " ", s)`, `" ".join(s.split())`).
//! Here it is one pass writing the normalised text into a buffer that each worker keeps
//! across its rows: ASCII text byte by byte through a class table, other text lowercased
//! into a second reused buffer first (lowercasing can change the length, and `Σ` depends
//! on its neighbours), then classified char by char. Word F1 counts the common words by
//! hashing byte ranges of those buffers; no row allocates once the buffers have grown.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use foldhash::fast::RandomState as SeededHash;
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::alloc::{self, AllocError};
use crate::batch::{check_same_len, map_rows, map_rows_with, score};
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

/// What a character does in `normalize_answer` (after lowercasing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// In `string.punctuation`: deleted before anything else looks at the text.
    Punct,
    /// Python whitespace: ends a word.
    Space,
    /// `\w` (letters, digits; `_` is punctuation, so gone by then): part of a `\w` run
    /// that may be an article.
    Word,
    /// Anything else (control characters, marks, symbols): part of a word, but a `\b`
    /// edge for the article pattern.
    Other,
}

/// [`Kind`] of a (lowercased) character.
#[inline]
fn kind_of(c: char) -> Kind {
    if c.is_ascii() {
        let e = ASCII[c as usize];
        if e & PUNCT != 0 {
            Kind::Punct
        } else if e & SPACE != 0 {
            Kind::Space
        } else if e & EDGE != 0 {
            Kind::Other
        } else {
            Kind::Word
        }
    } else if is_py_space(c) {
        Kind::Space
    } else if is_word_char(c) {
        Kind::Word
    } else {
        Kind::Other
    }
}

// Flags of an [`ASCII`] entry.
const PUNCT: u32 = 1 << 16;
const SPACE: u32 = 1 << 17;
/// Not `\w`: a `\b` edge of the article pattern (spaces and [`Kind::Other`]).
const EDGE: u32 = 1 << 18;

/// Per ASCII byte: bits 0-7 the byte written (lowercased; whitespace as `' '`), bits 8-15
/// the byte the article window sees (a `\w` byte lowercased, any other `' '`), then the
/// flags. One load gives the normaliser everything it needs about a byte.
const ASCII: [u32; 128] = {
    let mut t = [0u32; 128];
    let mut b = 0u8;
    while b < 128 {
        let low = b.to_ascii_lowercase() as u32;
        t[b as usize] = if b.is_ascii_punctuation() {
            PUNCT
        } else if b.is_ascii_alphanumeric() {
            low | (low << 8)
        } else if matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x1c..=0x1f) {
            0x20 | (0x20 << 8) | SPACE | EDGE
        } else {
            b as u32 | (0x20 << 8) | EDGE
        };
        b += 1;
    }
    t
};

/// The article window (the last four bytes kept, `\b` edges as `' '`, the newest in the
/// low byte) at the start of a text: the start is an edge.
const WINDOW_START: u32 = u32::from_be_bytes(*b"    ");
const THE: u32 = u32::from_be_bytes(*b" the");
const AN: u32 = u32::from_be_bytes(*b"\0 an");
const A: u32 = u32::from_be_bytes(*b"\0\0 a");
/// The window byte of a non-ASCII `\w` character: a word byte that is no article letter.
const WIDE_WORD: u32 = 0x80;

/// One pass of `normalize_answer` over a lowercased text, resumable (exact match stops
/// at the first difference).
///
/// Every byte is written at `out[len]` and kept or not by moving `len`, without a branch
/// per byte: punctuation is not kept, a space is kept unless the last byte kept is one
/// (or the text has not started). The window of the last four bytes kept finds an
/// article when an edge follows " a", " an" or " the"; the article is then cut (the rare
/// branch) and counts as the space that `re.sub(..., " ", s)` puts there. The output is
/// never longer than the input, so `out` needs only the input's length.
struct Normalizer {
    /// Next byte of the text to read.
    at: usize,
    /// Bytes written to `out` so far.
    len: usize,
    /// The last byte kept is a separator (or nothing is written yet).
    last_space: bool,
    window: u32,
    done: bool,
}

/// Whether the article window ends in an article preceded by an edge.
#[inline(always)]
fn ends_in_article(window: u32) -> bool {
    (window == THE) | (window & 0xff_ffff == AN) | (window & 0xffff == A)
}

/// Cuts the article that `window` ends in from `out[..len]`; an edge follows it (a space
/// when `then_space`), so where neither side is a space one is written. Returns the new
/// `(len, last_space)`.
#[cold]
#[inline(never)]
fn cut_article(out: &mut [u8], len: usize, window: u32, then_space: bool) -> (usize, bool) {
    let mut len = len
        - if window == THE {
            3
        } else if window & 0xff_ffff == AN {
            2
        } else {
            1
        };
    let mut last_space = len == 0 || out[len - 1] == b' ';
    if !then_space && !last_space {
        out[len] = b' ';
        len += 1;
        last_space = true;
    }
    (len, last_space)
}

impl Normalizer {
    fn new() -> Self {
        Normalizer {
            at: 0,
            len: 0,
            last_space: true,
            window: WINDOW_START,
            done: false,
        }
    }

    /// A non-ASCII character `c` (UTF-8 `bytes`) of the lowercased text.
    fn wide(&mut self, out: &mut [u8], c: char, bytes: &[u8]) {
        let kind = kind_of(c);
        if matches!(kind, Kind::Space | Kind::Other) && ends_in_article(self.window) {
            (self.len, self.last_space) =
                cut_article(out, self.len, self.window, kind == Kind::Space);
            self.window = WINDOW_START;
        }
        match kind {
            Kind::Space => {
                if !self.last_space {
                    out[self.len] = b' ';
                    self.len += 1;
                }
                self.last_space = true;
                self.window = (self.window << 8) | 0x20;
            }
            Kind::Word | Kind::Other => {
                out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
                self.len += bytes.len();
                self.last_space = false;
                let seen = if kind == Kind::Word { WIDE_WORD } else { 0x20 };
                self.window = (self.window << 8) | seen;
            }
            // string.punctuation is ASCII
            Kind::Punct => {}
        }
    }

    /// Reads `text` up to byte `until` (or the end), writing into `out` (at least
    /// `text.len()` bytes). `ASCII_ONLY` texts skip the per-byte check for a wide char.
    #[inline(always)]
    fn advance<const ASCII_ONLY: bool>(&mut self, text: &str, out: &mut [u8], until: usize) {
        let bytes = text.as_bytes();
        let end = until.min(bytes.len());
        // the state lives in registers through the byte loop
        let (mut at, mut len, mut last_space, mut window) =
            (self.at, self.len, self.last_space, self.window);
        while at < end {
            let b = bytes[at];
            if ASCII_ONLY || b < 0x80 {
                let e = ASCII[usize::from(b & 0x7f)];
                let (punct, space) = (e & PUNCT != 0, e & SPACE != 0);
                if (e & EDGE != 0) & ends_in_article(window) {
                    (len, last_space) = cut_article(out, len, window, space);
                    window = WINDOW_START;
                }
                out[len] = e as u8;
                len += usize::from(!punct & !(space & last_space));
                // a kept byte's class is the new state; punctuation changes nothing
                last_space = if punct { last_space } else { space };
                window = if punct {
                    window
                } else {
                    (window << 8) | ((e >> 8) & 0xff)
                };
                at += 1;
            } else {
                let c = text[at..].chars().next().unwrap_or(' ');
                let width = c.len_utf8();
                (self.len, self.last_space, self.window) = (len, last_space, window);
                self.wide(out, c, &bytes[at..at + width]);
                (len, last_space, window) = (self.len, self.last_space, self.window);
                at += width;
            }
        }
        if at >= bytes.len() && !self.done {
            self.done = true;
            if ends_in_article(window) {
                (len, last_space) = cut_article(out, len, window, true);
                window = WINDOW_START;
            }
            if last_space && len > 0 {
                len -= 1;
            }
        }
        (self.at, self.len, self.last_space, self.window) = (at, len, last_space, window);
    }

    /// Bytes of `out` that are final: an article cut takes back at most the last three,
    /// and the end may then drop the separator before them.
    #[inline]
    fn settled(&self) -> usize {
        if self.done {
            self.len
        } else {
            self.len.saturating_sub(4)
        }
    }
}

/// Python's `str.lower()` of `text` into `lowered`. Every character lowercases on its
/// own except `Σ` (σ, or ς at the end of a word), which `str::to_lowercase` handles for
/// the whole text; only texts with a `Σ` take that allocating path.
fn lowercase_into(text: &str, lowered: &mut String) -> Result<(), AllocError> {
    lowered.clear();
    if text.contains('Σ') {
        lowered.push_str(&text.to_lowercase());
        return Ok(());
    }
    // Lowercasing grows a character by half its length at most (İ, 2 bytes -> i̇, 3).
    let most = text.len() + text.len() / 2;
    lowered
        .try_reserve(most)
        .map_err(|_| AllocError::of::<u8>(most))?;
    for c in text.chars() {
        lowered.extend(c.to_lowercase());
    }
    Ok(())
}

/// A text being normalised: the text itself when ASCII, else its lowercase in `lowered`.
fn lowered<'t>(text: &'t str, lowered: &'t mut String) -> Result<&'t str, AllocError> {
    if text.is_ascii() {
        Ok(text)
    } else {
        lowercase_into(text, lowered)?;
        Ok(lowered.as_str())
    }
}

/// Grows `out` (never shrinks it) to at least `n` bytes, fallibly.
fn room(out: &mut Vec<u8>, n: usize) -> Result<(), AllocError> {
    if out.len() < n {
        out.try_reserve(n - out.len())
            .map_err(|_| AllocError::of::<u8>(n))?;
        out.resize(n, 0);
    }
    Ok(())
}

/// Writes SQuAD's `normalize_answer(text)` (UTF-8) at the start of `out` and returns its
/// length, using `lowered` as scratch for non-ASCII text.
fn normalize_into(
    text: &str,
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> Result<usize, AllocError> {
    let ascii = text.is_ascii();
    let text = lowered(text, scratch)?;
    room(out, text.len())?;
    let mut n = Normalizer::new();
    if ascii {
        n.advance::<true>(text, out, usize::MAX);
    } else {
        n.advance::<false>(text, out, usize::MAX);
    }
    Ok(n.len)
}

/// SQuAD normalisation: lowercase, drop ASCII punctuation, drop the articles "a", "an",
/// "the" (whole `\w` runs), and join the words (Python's `str.split()`) by single spaces.
pub fn squad_normalize(text: &str) -> String {
    let (mut out, mut lowered) = (Vec::new(), String::new());
    match normalize_into(text, &mut out, &mut lowered) {
        Ok(n) => {
            out.truncate(n);
            // only whole UTF-8 characters and ASCII separators are written
            String::from_utf8(out).unwrap_or_default()
        }
        Err(_) => String::new(),
    }
}

/// Open-addressing table of one row's prediction words (byte ranges of the normalised
/// prediction, keyed by their hash, compared exactly) with how many of the reference's
/// words each one matched. Load factor <= 1/4; after a row only its slots are cleared.
#[derive(Default)]
struct WordCounts {
    slots: Vec<WordSlot>,
    used: Vec<u32>,
    shift: u32,
    mask: usize,
    hasher: SeededHash,
}

#[derive(Clone, Copy, Default)]
struct WordSlot {
    hash: u64,
    start: usize,
    end: usize,
    /// Occurrences in the prediction; 0 marks an empty slot.
    in_pred: u32,
    /// Reference words that matched this one, at most `in_pred`.
    matched: u32,
}

impl WordCounts {
    /// Prepares an empty table for up to `words` distinct words (fallibly).
    fn reset(&mut self, words: usize) -> Result<(), AllocError> {
        let (want, _) = alloc::size_table(&mut self.slots, words, 4)?;
        let used = self.used.len();
        self.used
            .try_reserve_exact(words.saturating_sub(used))
            .map_err(|_| AllocError::of::<u32>(words))?;
        // Only the first `want` slots are used: small rows stay in a small, hot prefix.
        self.shift = 64 - want.trailing_zeros();
        self.mask = want - 1;
        Ok(())
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Counts the prediction word `pred[start..end]`.
    #[inline]
    fn add(&mut self, pred: &[u8], start: usize, end: usize) {
        let word = &pred[start..end];
        let hash = self.hasher.hash_one(word);
        let mut s = self.home(hash);
        loop {
            let slot = &mut self.slots[s];
            if slot.in_pred == 0 {
                *slot = WordSlot {
                    hash,
                    start,
                    end,
                    in_pred: 1,
                    matched: 0,
                };
                self.used.push(s as u32);
                return;
            }
            if slot.hash == hash && &pred[slot.start..slot.end] == word {
                slot.in_pred += 1;
                return;
            }
            s = (s + 1) & self.mask;
        }
    }

    /// Whether the reference word `word` takes one not yet matched prediction word.
    #[inline]
    fn take(&mut self, pred: &[u8], word: &[u8]) -> bool {
        let hash = self.hasher.hash_one(word);
        let mut s = self.home(hash);
        loop {
            let slot = &mut self.slots[s];
            if slot.in_pred == 0 {
                return false;
            }
            if slot.hash == hash && &pred[slot.start..slot.end] == word {
                let free = slot.matched < slot.in_pred;
                slot.matched += u32::from(free);
                return free;
            }
            s = (s + 1) & self.mask;
        }
    }

    fn clear(&mut self) {
        for &s in &self.used {
            if let Some(slot) = self.slots.get_mut(s as usize) {
                slot.in_pred = 0;
            }
        }
        self.used.clear();
    }

    /// `(|P ∩ G|, |P|, |G|)`: the multiset intersection and sizes of the word lists of
    /// two normalised texts (words separated by single spaces, none at either end).
    fn common(&mut self, pred: &[u8], gold: &[u8]) -> Result<(usize, usize, usize), AllocError> {
        let n_pred = word_count(pred);
        let n_gold = word_count(gold);
        if n_pred == 0 || n_gold == 0 {
            return Ok((0, n_pred, n_gold));
        }
        if pred == gold {
            return Ok((n_pred, n_pred, n_gold));
        }
        self.reset(n_pred)?;
        let mut start = 0;
        for end in memchr::memchr_iter(b' ', pred).chain([pred.len()]) {
            self.add(pred, start, end);
            start = end + 1;
        }
        let same = gold
            .split(|&b| b == b' ')
            .filter(|w| self.take(pred, w))
            .count();
        self.clear();
        Ok((same, n_pred, n_gold))
    }
}

/// Words of a normalised text: its separators plus one, none when it is empty.
fn word_count(normalised: &[u8]) -> usize {
    if normalised.is_empty() {
        0
    } else {
        memchr::memchr_iter(b' ', normalised).count() + 1
    }
}

/// SQuAD's F1 from the common word count and the two word counts, as its script computes
/// it: `P = same/|P|`, `R = same/|G|`, `2PR/(P+R)` in f64; both empty: 1.0 (SQuAD v2).
fn f1_of(same: usize, n_pred: usize, n_gold: usize) -> f32 {
    if n_pred == 0 || n_gold == 0 {
        return score(n_pred == 0 && n_gold == 0);
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / n_pred as f64;
    let recall = same as f64 / n_gold as f64;
    (2.0 * precision * recall / (precision + recall)) as f32
}

/// Per-worker buffers of the SQuAD kernels, grown to the longest row seen and reused.
#[derive(Default)]
pub struct SquadScratch {
    pred: Vec<u8>,
    gold: Vec<u8>,
    lowered_pred: String,
    lowered_gold: String,
    counts: WordCounts,
}

/// Input bytes normalised per side before exact match first compares (then doubling).
const FIRST_STEP: usize = 16;

impl SquadScratch {
    /// Whether two texts are equal after SQuAD normalisation. Both sides are normalised
    /// a step at a time and their settled bytes compared, so that texts differing early
    /// (most wrong answers) stop early.
    pub fn equal(&mut self, i: usize, prediction: &str, reference: &str) -> CoreResult<bool> {
        if prediction == reference {
            return Ok(true);
        }
        let named = |arg: &str, e: AllocError| e.named(&format!("{arg}[{i}]"), "a text buffer");
        let both_ascii = prediction.is_ascii() & reference.is_ascii();
        let SquadScratch {
            pred,
            gold,
            lowered_pred,
            lowered_gold,
            ..
        } = self;
        let p = lowered(prediction, lowered_pred).map_err(|e| named("predictions", e))?;
        let g = lowered(reference, lowered_gold).map_err(|e| named("references", e))?;
        room(pred, p.len()).map_err(|e| named("predictions", e))?;
        room(gold, g.len()).map_err(|e| named("references", e))?;
        Ok(if both_ascii {
            equal_stepwise::<true>(p, g, pred, gold)
        } else {
            equal_stepwise::<false>(p, g, pred, gold)
        })
    }

    /// SQuAD word F1 of two texts (see [`word_f1`]).
    pub fn f1(&mut self, i: usize, prediction: &str, reference: &str) -> CoreResult<f32> {
        let n_pred = normalize_into(prediction, &mut self.pred, &mut self.lowered_pred)
            .map_err(|e| e.named(&format!("predictions[{i}]"), "a text buffer"))?;
        let n_gold = normalize_into(reference, &mut self.gold, &mut self.lowered_gold)
            .map_err(|e| e.named(&format!("references[{i}]"), "a text buffer"))?;
        let (same, n_pred, n_gold) = self
            .counts
            .common(&self.pred[..n_pred], &self.gold[..n_gold])
            .map_err(|e| e.named(&format!("predictions[{i}]"), "a word count table"))?;
        Ok(f1_of(same, n_pred, n_gold))
    }
}

/// Normalises two lowercased texts in alternating, doubling steps, comparing the bytes
/// both have settled: `norm(p) == norm(g)`, stopping at the first settled difference.
fn equal_stepwise<const ASCII_ONLY: bool>(
    p: &str,
    g: &str,
    out_p: &mut [u8],
    out_g: &mut [u8],
) -> bool {
    let (mut a, mut b) = (Normalizer::new(), Normalizer::new());
    let (mut checked, mut step) = (0usize, FIRST_STEP);
    loop {
        a.advance::<ASCII_ONLY>(p, out_p, a.at.saturating_add(step));
        b.advance::<ASCII_ONLY>(g, out_g, b.at.saturating_add(step));
        step = step.saturating_mul(2);
        let (sa, sb) = (a.settled(), b.settled());
        // a cut article can move `settled` back below what was already compared
        let upto = sa.min(sb);
        if upto > checked {
            if out_p[checked..upto] != out_g[checked..upto] {
                return false;
            }
            checked = upto;
        }
        // a finished side shorter than what the other has settled cannot be equal
        if (a.done && sb > sa) || (b.done && sa > sb) {
            return false;
        }
        if a.done && b.done {
            return sa == sb;
        }
    }
}

fn check_pairs(predictions: &[&str], references: &[&str]) -> CoreResult<()> {
    check_same_len(
        ("predictions", predictions.len()),
        ("references", references.len()),
    )
}

/// 1.0 where the SQuAD-normalised prediction equals the normalised reference.
pub fn normalized_exact_match(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_pairs(predictions, references)?;
    map_rows_with::<SquadScratch, _, _>("predictions", predictions.len(), |i, s| {
        s.equal(i, predictions[i], references[i]).map(score)
    })
}

/// 1.0 where prediction and reference are equal once leading and trailing whitespace
/// (Python's `str.strip()`) is removed from both; no other normalisation.
pub fn exact_text_match(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_pairs(predictions, references)?;
    map_rows("predictions", predictions.len(), |i| {
        let same =
            predictions[i].trim_matches(is_py_space) == references[i].trim_matches(is_py_space);
        score(same)
    })
}

/// SQuAD word F1 per row: with `P`, `G` the word lists of the normalised prediction and
/// reference and `same = |P ∩ G|` (multiset intersection), `2PR/(P+R)` for
/// `P = same/|P|`, `R = same/|G|`; 0 when `same == 0`; 1 when both lists are empty, 0
/// when only one is.
pub fn word_f1(predictions: &[&str], references: &[&str]) -> CoreResult<Vec<f32>> {
    check_pairs(predictions, references)?;
    map_rows_with::<SquadScratch, _, _>("predictions", predictions.len(), |i, s| {
        s.f1(i, predictions[i], references[i])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The previous implementation, kept as the plain reference: lowercase the whole
    /// text, drop punctuation, replace article runs by a space, split and join.
    fn reference_normalize(text: &str) -> String {
        let lowered = text.to_lowercase();
        let mut out = String::new();
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
        out.split(is_py_space)
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// SQuAD's F1 with sorted word lists (the previous implementation).
    fn reference_f1(prediction: &str, reference: &str) -> f32 {
        let (p, g) = (
            reference_normalize(prediction),
            reference_normalize(reference),
        );
        let mut pred: Vec<&str> = p.split(' ').filter(|w| !w.is_empty()).collect();
        let mut gold: Vec<&str> = g.split(' ').filter(|w| !w.is_empty()).collect();
        pred.sort_unstable();
        gold.sort_unstable();
        let (mut i, mut j, mut same) = (0, 0, 0);
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
        f1_of(same, pred.len(), gold.len())
    }

    /// Deterministic texts from pieces that hit every branch: articles at word edges,
    /// punctuation runs, control characters, Python-only and Unicode whitespace,
    /// characters whose lowercase is longer (İ) or context-dependent (Σ), marks.
    fn random_texts(seed: u64, count: usize, ascii_only: bool) -> Vec<String> {
        const ASCII: &[&str] = &[
            "a", "an", "the", "The", "A", "AN", "tHe", "x", "Cat", "the.", "t.he", "a-n", " ",
            "  ", "\t", "\n", "\x1c", "\x1f", "\x0b", "\x01", "\x7f", "_", "...", "'", "-", "--",
            "!?", "9", "a1", "theatre", "",
        ];
        const UNICODE: &[&str] = &[
            "\u{a0}", "\u{85}", "\u{2028}", "\u{3000}", "\u{1680}", "\u{200b}", "İ", "Σ", "ΣΑΣ",
            "ß", "ẞ", "\u{212a}", "\u{093e}", "\u{0301}", "\u{b2}", "\u{2160}", "\u{24b6}", "é",
            "É", "日本", "ǅ",
        ];
        let mut state = seed;
        let mut next = |m: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % m
        };
        (0..count)
            .map(|_| {
                let n = next(14);
                (0..n)
                    .map(|_| {
                        if !ascii_only && next(3) == 0 {
                            UNICODE[next(UNICODE.len())]
                        } else {
                            ASCII[next(ASCII.len())]
                        }
                    })
                    .collect()
            })
            .collect()
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
        // an article between non-word characters splits the word it sits in
        assert_eq!(squad_normalize("x\x01the\x01y"), "x\x01 \x01y");
        assert_eq!(squad_normalize("\x01a"), "\x01");
        assert_eq!(squad_normalize("ΣΑΣ İ"), "σας i\u{307}");
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
    fn the_one_pass_normalisation_equals_the_reference() {
        let (mut out, mut lowered) = (Vec::new(), String::new());
        for (seed, ascii) in [(1, true), (2, false), (3, false)] {
            for t in random_texts(seed, 4000, ascii) {
                let want = reference_normalize(&t);
                assert_eq!(squad_normalize(&t), want, "{t:?}");
                // the reused buffers give what fresh ones give
                let n = normalize_into(&t, &mut out, &mut lowered).unwrap();
                assert_eq!(&out[..n], want.as_bytes(), "{t:?}");
            }
        }
    }

    #[test]
    fn the_ascii_path_equals_the_unicode_path() {
        // Unicode spaces normalise as ASCII ones do, and a leading non-ASCII word is one
        // more word: the texts take the non-ASCII path and give the ASCII path's words.
        for t in random_texts(4, 4000, true) {
            let ascii = squad_normalize(&t);
            assert_eq!(squad_normalize(&t.replace(' ', "\u{3000}")), ascii, "{t:?}");
            let want = if ascii.is_empty() {
                "é".to_string()
            } else {
                format!("é {ascii}")
            };
            assert_eq!(squad_normalize(&format!("É\u{a0}{t}")), want, "{t:?}");
        }
    }

    #[test]
    fn stepwise_exact_match_equals_comparing_whole_normalisations() {
        // long texts (several steps), pairs that agree for a long prefix and then differ
        // by a letter, an article, a space, punctuation, case or a trailing word
        let texts: Vec<String> = random_texts(9, 3000, false)
            .chunks(4)
            .map(|c| c.concat())
            .collect();
        let edits: [fn(&str) -> String; 7] = [
            |t| t.to_uppercase(),
            |t| format!("{t} the"),
            |t| format!("{t} x"),
            |t| format!("{t}."),
            |t| format!("{t}\u{2028}"),
            |t| t.replacen(' ', "  ", 3),
            |t| t.replacen("a", "b", 1),
        ];
        let mut s = SquadScratch::default();
        for (k, t) in texts.iter().enumerate() {
            let other = edits[k % edits.len()](t);
            let want = reference_normalize(t) == reference_normalize(&other);
            assert_eq!(s.equal(k, t, &other).unwrap(), want, "{t:?} vs {other:?}");
            assert_eq!(s.equal(k, &other, t).unwrap(), want, "{other:?} vs {t:?}");
        }
    }

    #[test]
    fn lowercasing_into_the_buffer_is_str_lower() {
        let mut lowered = String::new();
        for t in random_texts(5, 2000, false) {
            lowercase_into(&t, &mut lowered).unwrap();
            assert_eq!(lowered, t.to_lowercase(), "{t:?}");
        }
    }

    #[test]
    fn f1_counts_bag_of_words() {
        let f1 = |p: &str, r: &str| word_f1(&[p], &[r]).unwrap()[0];
        assert!((f1("the cat sat", "cat sat down") - 0.8).abs() < 1e-6);
        assert_eq!(f1("cat cat", "cat"), (2.0 * 0.5 / 1.5) as f32);
        assert_eq!(f1("", "the"), 1.0);
        assert_eq!(f1("x", ""), 0.0);
        assert_eq!(f1("dog", "cat"), 0.0);
        assert_eq!(f1("Cat, the cat", "CAT cat cat"), 0.8);
    }

    #[test]
    fn the_word_table_equals_sorted_counting() {
        let preds = random_texts(6, 3000, false);
        let refs = random_texts(7, 3000, false);
        let p: Vec<&str> = preds.iter().map(String::as_str).collect();
        let r: Vec<&str> = refs.iter().map(String::as_str).collect();
        // also texts sharing many words, and long ones that grow the table
        let long_p = "cat dog x ".repeat(500) + "y";
        let long_r = "dog y ".repeat(700);
        let got = word_f1(&p, &r).unwrap();
        for i in 0..p.len() {
            assert_eq!(got[i], reference_f1(p[i], r[i]), "{:?} {:?}", p[i], r[i]);
            let swapped = word_f1(&[r[i]], &[p[i]]).unwrap()[0];
            assert_eq!(swapped, reference_f1(r[i], p[i]));
        }
        let (lp, lr) = (long_p.as_str(), long_r.as_str());
        let got = word_f1(&[lp, "a b c", lp], &[lr, "c b a", lp]).unwrap();
        assert_eq!(got, vec![reference_f1(lp, lr), 1.0, 1.0]);
    }

    #[test]
    fn exact_match_and_lengths() {
        let r = normalized_exact_match(&["The Cat.", "dog"], &["cat", "cat"]).unwrap();
        assert_eq!(r, vec![1.0, 0.0]);
        let e = normalized_exact_match(&["a"], &[]).unwrap_err();
        assert!(e.message.starts_with("references"), "{}", e.message);
        let e = normalized_exact_match(&[], &[]).unwrap_err();
        assert_eq!(e.message, "predictions: empty batch (0 rows)");
        let e = word_f1(&[], &[]).unwrap_err();
        assert_eq!(e.message, "predictions: empty batch (0 rows)");
    }

    #[test]
    fn batches_agree_with_the_reference_on_both_sides_of_the_threshold() {
        for n in [3, crate::batch::PAR_MIN + 5] {
            let preds = random_texts(8, n, false);
            let refs: Vec<String> = preds
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if i % 3 == 0 {
                        t.to_uppercase()
                    } else {
                        format!("{t} the")
                    }
                })
                .collect();
            let p: Vec<&str> = preds.iter().map(String::as_str).collect();
            let r: Vec<&str> = refs.iter().map(String::as_str).collect();
            let em = normalized_exact_match(&p, &r).unwrap();
            let f1 = word_f1(&p, &r).unwrap();
            for i in 0..n {
                let same = reference_normalize(p[i]) == reference_normalize(r[i]);
                assert_eq!(em[i], score(same), "{:?} {:?}", p[i], r[i]);
                assert_eq!(f1[i], reference_f1(p[i], r[i]));
            }
        }
    }
}
