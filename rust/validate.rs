//! Dataset validation of token buffers: lengths and id range. (Records: `crate::records`.)
//!
//! The token check is one vectorisable pass over the id buffer (a branch-free count of
//! ids outside `[0, vocab_size)`, rayon over chunks) plus the row-length statistics of
//! `crate::lengths` over the offsets.
//! Only when something is wrong does it go back to find the first bad rows.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::lengths::{length_bounds, length_percentiles, OutOfBounds};
use crate::ragged::{out_of_range, Ragged, TokenId};

/// What is wrong with a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenIssueKind {
    TooShort {
        min_len: i64,
    },
    TooLong {
        max_len: i64,
    },
    /// The first id of the row outside `[0, vocab_size)`: its position in the row and value.
    IdOutOfRange {
        position: usize,
        value: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenIssue {
    pub row: usize,
    pub length: usize,
    pub kind: TokenIssueKind,
}

impl TokenIssue {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            TokenIssueKind::TooShort { .. } => "too_short",
            TokenIssueKind::TooLong { .. } => "too_long",
            TokenIssueKind::IdOutOfRange { .. } => "id_out_of_range",
        }
    }

    /// A one-line description, e.g. "row 7: token 3 = 50257 is outside [0, 50257)".
    pub fn describe(&self, vocab_size: i64) -> String {
        match self.kind {
            TokenIssueKind::TooShort { min_len } => format!(
                "row {}: too short ({} tokens < min_len {min_len})",
                self.row, self.length
            ),
            TokenIssueKind::TooLong { max_len } => format!(
                "row {}: too long ({} tokens > max_len {max_len})",
                self.row, self.length
            ),
            TokenIssueKind::IdOutOfRange { position, value } => format!(
                "row {}: token {position} = {value} is outside [0, {vocab_size})",
                self.row
            ),
        }
    }
}

/// The result of [`validate_tokens`].
#[derive(Clone, Debug, PartialEq)]
pub struct TokenReport {
    pub rows: usize,
    pub tokens: usize,
    pub min_len: usize,
    pub max_len: usize,
    pub mean_len: f64,
    /// Median and 95th percentile of the row lengths (numpy's default "linear" method).
    pub p50_len: f64,
    pub p95_len: f64,
    /// Rows shorter than `min_len` / longer than `max_len`.
    pub too_short: usize,
    pub too_long: usize,
    /// Ids outside `[0, vocab_size)` (all of them, not only the first per row).
    pub bad_ids: usize,
    /// The first `max_errors` issues in row order (length issue before id issue).
    pub errors: Vec<TokenIssue>,
}

impl TokenReport {
    /// True when no row is too short or too long and every id is in range.
    pub fn is_ok(&self) -> bool {
        self.too_short == 0 && self.too_long == 0 && self.bad_ids == 0
    }

    /// "OK: <statistics>", or "FAILED: <statistics>" followed by the counts and the
    /// first problems, one per line.
    pub fn summary(&self, vocab_size: i64) -> String {
        let head = format!(
            "{} rows, {} tokens; length min {}, p50 {}, mean {:.1}, p95 {}, max {}; vocab_size {vocab_size}",
            self.rows,
            self.tokens,
            self.min_len,
            format_g(self.p50_len),
            self.mean_len,
            format_g(self.p95_len),
            self.max_len,
        );
        if self.is_ok() {
            return format!("OK: {head}");
        }
        let mut lines = vec![
            format!("FAILED: {head}"),
            format!(
                "  {} rows too short, {} too long, {} ids out of range; first problems:",
                self.too_short, self.too_long, self.bad_ids
            ),
        ];
        lines.extend(
            self.errors
                .iter()
                .map(|e| format!("  - {}", e.describe(vocab_size))),
        );
        lines.join("\n")
    }
}

/// `x` as Python's `format(x, "g")` writes it: 6 significant digits, trailing zeros
/// dropped, scientific notation (`1e+06`) when the exponent is below -4 or at least 6.
pub fn format_g(x: f64) -> String {
    const DIGITS: i32 = 6;
    if !x.is_finite() {
        return if x.is_nan() {
            "nan"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_string();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    // The exponent after rounding to DIGITS significant digits decides the notation.
    let sci = format!("{:.*e}", (DIGITS - 1) as usize, x);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..DIGITS).contains(&exponent) {
        trim(format!("{:.*}", (DIGITS - 1 - exponent) as usize, x))
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exponent.abs())
    }
}

/// Chunk of ids per rayon task in the range pass.
const CHUNK: usize = 1 << 16;

/// Validates a ragged token batch: every row's length within `[min_len, max_len]` and
/// every id within `[0, vocab_size)`. Errors only on bad arguments (`vocab_size <= 0`,
/// `min_len < 0`, `max_len < min_len`, an empty dataset); problems with the data go
/// into the report.
pub fn validate_tokens<T: TokenId>(
    tokens: &Ragged<'_, T>,
    vocab_size: i64,
    min_len: i64,
    max_len: Option<i64>,
    max_errors: usize,
) -> CoreResult<TokenReport> {
    if vocab_size <= 0 {
        return Err(CoreError::arg(
            "vocab_size",
            format!("must be > 0, got {vocab_size}"),
        ));
    }
    if min_len < 0 {
        return Err(CoreError::arg(
            "min_len",
            format!("must be >= 0, got {min_len}"),
        ));
    }
    if let Some(m) = max_len {
        if m < min_len {
            return Err(CoreError::arg(
                "max_len",
                format!("must be >= min_len ({min_len}), got {m}"),
            ));
        }
    }
    let rows = tokens.len();
    if rows == 0 {
        return Err(CoreError::arg("tokens", "empty dataset (0 rows)"));
    }
    let values = tokens.values();

    // Pass 1: ids out of range, counted branch-free.
    let bad_ids: usize = if values.len() >= crate::batch::PAR_MIN_SCAN {
        values
            .par_chunks(CHUNK)
            .map(|c| T::count_out_of_range(c, vocab_size))
            .sum()
    } else {
        T::count_out_of_range(values, vocab_size)
    };

    // Pass 2: lengths.
    let hi = max_len.unwrap_or(i64::MAX);
    let bounds = length_bounds(tokens.offsets(), min_len, hi, max_errors);
    let mut errors: Vec<TokenIssue> = bounds
        .listed
        .iter()
        .map(|&OutOfBounds { row, length }| TokenIssue {
            row,
            length: length as usize,
            kind: if length < min_len {
                TokenIssueKind::TooShort { min_len }
            } else {
                TokenIssueKind::TooLong { max_len: hi }
            },
        })
        .collect();
    let (too_short, too_long) = (bounds.too_short, bounds.too_long);
    let (lo_len, hi_len) = (bounds.shortest, bounds.longest);

    // Pass 3 (only with bad ids): the first bad id of the first rows that have one.
    if bad_ids > 0 && max_errors > 0 {
        let mut id_errors: Vec<TokenIssue> = Vec::new();
        let offsets = tokens.offsets();
        let mut pos = 0usize;
        while pos < values.len() && id_errors.len() < max_errors {
            let Some(skip) = values[pos..]
                .iter()
                .position(|&v| out_of_range(v, vocab_size))
            else {
                break;
            };
            let at = pos + skip;
            // Row holding `at`: the last offset <= at among rows that are non-empty.
            let row = offsets.partition_point(|&o| o <= at as i64) - 1;
            let start = offsets[row] as usize;
            let end = offsets[row + 1] as usize;
            id_errors.push(TokenIssue {
                row,
                length: end - start,
                kind: TokenIssueKind::IdOutOfRange {
                    position: at - start,
                    value: values[at].to_i64(),
                },
            });
            pos = end;
        }
        errors.extend(id_errors);
        // Stable: a row's length issue stays before its id issue.
        errors.sort_by_key(|e| e.row);
        errors.truncate(max_errors);
    }

    let tokens_total = values.len();
    let percentiles = length_percentiles(tokens.offsets(), lo_len, hi_len, &[0.5, 0.95])
        .map_err(|e| e.named("tokens", "a copy of the row lengths"))?;
    let (p50, p95) = (percentiles[0], percentiles[1]);
    Ok(TokenReport {
        rows,
        tokens: tokens_total,
        min_len: lo_len as usize,
        max_len: hi_len as usize,
        mean_len: tokens_total as f64 / rows as f64,
        p50_len: p50,
        p95_len: p95,
        too_short,
        too_long,
        bad_ids,
        errors,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn format_g_matches_pythons_g() {
        // Expected strings are Python's own: format(x, "g").
        let cases = [
            (0.0, "0"),
            (12.0, "12"),
            (12.5, "12.5"),
            (2.349999, "2.35"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (999999.5, "1e+06"),
            (-3.25, "-3.25"),
            (f64::INFINITY, "inf"),
        ];
        for (x, want) in cases {
            assert_eq!(format_g(x), want, "{x}");
        }
    }
    use super::*;

    fn report(
        values: &[i32],
        offsets: &[i64],
        vocab: i64,
        lo: i64,
        hi: Option<i64>,
    ) -> TokenReport {
        let r = Ragged::new(values, offsets, "offsets").unwrap();
        validate_tokens(&r, vocab, lo, hi, 20).unwrap()
    }

    #[test]
    fn clean_batch_statistics() {
        let r = report(&[1, 2, 3, 4, 5, 6], &[0, 1, 3, 6], 10, 1, None);
        assert_eq!((r.rows, r.tokens, r.min_len, r.max_len), (3, 6, 1, 3));
        assert_eq!(r.mean_len, 2.0);
        assert_eq!(r.p50_len, 2.0);
        assert!((r.p95_len - 2.9).abs() < 1e-12);
        assert!(r.errors.is_empty() && r.bad_ids == 0);
    }

    #[test]
    fn issues_in_row_order() {
        // rows: [] (short), [11, -1] (two bad ids), [1, 2, 3] (long), [9]
        let r = report(&[11, -1, 1, 2, 3, 9], &[0, 0, 2, 5, 6], 10, 1, Some(2));
        assert_eq!((r.too_short, r.too_long, r.bad_ids), (1, 1, 2));
        let rows: Vec<_> = r.errors.iter().map(|e| (e.row, e.kind_name())).collect();
        assert_eq!(
            rows,
            vec![(0, "too_short"), (1, "id_out_of_range"), (2, "too_long")]
        );
        assert_eq!(
            r.errors[1].kind,
            TokenIssueKind::IdOutOfRange {
                position: 0,
                value: 11
            }
        );
        assert!(r.errors[1].describe(10).contains("token 0 = 11"));
    }

    #[test]
    fn max_errors_caps_the_list() {
        let vals: Vec<i32> = (0..100).map(|i| if i % 2 == 0 { -5 } else { 1 }).collect();
        let offs: Vec<i64> = (0..=100).collect();
        let rg = Ragged::new(&vals, &offs, "offsets").unwrap();
        let r = validate_tokens(&rg, 10, 1, None, 3).unwrap();
        assert_eq!(r.bad_ids, 50);
        assert_eq!(
            r.errors.iter().map(|e| e.row).collect::<Vec<_>>(),
            vec![0, 2, 4]
        );
        let r = validate_tokens(&rg, 10, 1, None, 0).unwrap();
        assert!(r.errors.is_empty() && r.bad_ids == 50);
    }

    #[test]
    fn bad_arguments() {
        let v = [1i32];
        let rg = Ragged::new(&v, &[0, 1], "offsets").unwrap();
        for (vocab, lo, hi, arg) in [
            (0, 1, None, "vocab_size"),
            (-3, 1, None, "vocab_size"),
            (5, -1, None, "min_len"),
            (5, 3, Some(2), "max_len"),
        ] {
            let e = validate_tokens(&rg, vocab, lo, hi, 20).unwrap_err();
            assert!(e.message.starts_with(arg), "{e}");
        }
        let empty = Ragged::<i32>::new(&[], &[0], "offsets").unwrap();
        assert!(validate_tokens(&empty, 5, 1, None, 20).is_err());
    }
}
