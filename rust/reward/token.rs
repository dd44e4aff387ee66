//! Token-level rewards over ragged batches: one float32 score per row.
//!
//! Every kernel checks its batches (same number of rows, not empty), then maps rows to
//! scores; rayon takes over above [`PAR_ROWS`] rows. Per-row scratch buffers (hash
//! tables, index lists) are allocated once per worker and reused.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::ragged::{Ragged, TokenId};

/// Batches of at least this many rows are scored with rayon.
pub const PAR_ROWS: usize = 16 * 1024;

fn check_pair<T: TokenId>(responses: &Ragged<'_, T>, references: &Ragged<'_, T>) -> CoreResult<()> {
    check_batch(responses, "responses")?;
    if references.len() != responses.len() {
        return Err(CoreError::arg(
            "references",
            format!(
                "has {} rows, responses has {}",
                references.len(),
                responses.len()
            ),
        ));
    }
    Ok(())
}

fn check_batch<T: TokenId>(tokens: &Ragged<'_, T>, name: &str) -> CoreResult<()> {
    if tokens.is_empty() {
        return Err(CoreError::arg(name, "empty batch (0 rows)"));
    }
    Ok(())
}

/// Scores rows `0..n` with `f(row, scratch)`, in parallel above [`PAR_ROWS`].
fn map_rows<S: Default + Send, F>(n: usize, f: F) -> Vec<f32>
where
    F: Fn(usize, &mut S) -> f32 + Sync + Send,
{
    let mut out = vec![0f32; n];
    if n >= PAR_ROWS {
        out.par_iter_mut()
            .enumerate()
            .with_min_len(1024)
            .for_each_init(S::default, |s, (i, o)| *o = f(i, s));
    } else {
        let mut s = S::default();
        for (i, o) in out.iter_mut().enumerate() {
            *o = f(i, &mut s);
        }
    }
    out
}

#[inline]
fn score(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// 1 where the response equals the reference token for token, else 0.
pub fn exact_match<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    Ok(map_rows::<(), _>(responses.len(), |i, _| {
        // Lengths first (cheap), then a memcmp of the rows.
        score(
            responses.row_len(i) == references.row_len(i) && responses.row(i) == references.row(i),
        )
    }))
}

/// 1 where the response starts with the reference (an empty reference always matches).
pub fn prefix_match<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    Ok(map_rows::<(), _>(responses.len(), |i, _| {
        score(responses.row(i).starts_with(references.row(i)))
    }))
}

/// 1 where the reference occurs as a contiguous run in the response (an empty
/// reference always does). Knuth–Morris–Pratt: O(len(response) + len(reference)).
pub fn contains<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    Ok(map_rows::<Vec<usize>, _>(responses.len(), |i, fail| {
        score(kmp_contains(responses.row(i), references.row(i), fail))
    }))
}

fn kmp_contains<T: PartialEq>(hay: &[T], needle: &[T], fail: &mut Vec<usize>) -> bool {
    let m = needle.len();
    if m == 0 {
        return true;
    }
    if m > hay.len() {
        return false;
    }
    if m == 1 {
        return hay.contains(&needle[0]);
    }
    // fail[j]: length of the longest proper border of needle[..=j].
    fail.clear();
    fail.resize(m, 0);
    let mut k = 0usize;
    for j in 1..m {
        while k > 0 && needle[j] != needle[k] {
            k = fail[k - 1];
        }
        if needle[j] == needle[k] {
            k += 1;
        }
        fail[j] = k;
    }
    let mut k = 0usize;
    for x in hay {
        while k > 0 && *x != needle[k] {
            k = fail[k - 1];
        }
        if *x == needle[k] {
            k += 1;
            if k == m {
                return true;
            }
        }
    }
    false
}

/// Open-addressing multiset of token ids for one row at a time. Slots carry the
/// generation that wrote them, so starting a new row is O(1) instead of a clear.
#[derive(Default)]
pub struct CountTable {
    keys: Vec<i64>,
    counts: Vec<u32>,
    stamps: Vec<u32>,
    generation: u32,
    mask: usize,
}

impl CountTable {
    /// Starts a new, empty multiset with room for `items` ids.
    fn reset(&mut self, items: usize) {
        let want = (items.max(4) * 2).next_power_of_two();
        if want > self.keys.len() || self.generation == u32::MAX {
            let size = want.max(self.keys.len());
            self.keys = vec![0; size];
            self.counts = vec![0; size];
            self.stamps = vec![0; size];
            self.generation = 0;
        }
        // Use only `want` slots: a small row stays in a small, cache-resident prefix.
        self.mask = want - 1;
        self.generation += 1;
    }

    #[inline]
    fn slot(&self, key: i64) -> usize {
        // Fibonacci hashing; the high bits are the well-mixed ones.
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    #[inline]
    fn add(&mut self, key: i64) {
        let mut s = self.slot(key);
        loop {
            if self.stamps[s] != self.generation {
                self.stamps[s] = self.generation;
                self.keys[s] = key;
                self.counts[s] = 1;
                return;
            }
            if self.keys[s] == key {
                self.counts[s] += 1;
                return;
            }
            s = (s + 1) & self.mask;
        }
    }

    /// Takes one `key` out if present; `true` if it was.
    #[inline]
    fn take(&mut self, key: i64) -> bool {
        let mut s = self.slot(key);
        loop {
            if self.stamps[s] != self.generation {
                return false;
            }
            if self.keys[s] == key {
                let c = self.counts[s];
                self.counts[s] = c.saturating_sub(1);
                return c > 0;
            }
            s = (s + 1) & self.mask;
        }
    }
}

/// Bag-of-tokens F1 with counts (SQuAD's F1 over ids):
/// `common = Σ_t min(count_resp(t), count_ref(t))`, `P = common / |resp|`,
/// `R = common / |ref|`, `F1 = 2PR / (P + R)` (0 when `common == 0`); when either side is
/// empty, 1 if both are, else 0.
pub fn token_f1<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    Ok(map_rows::<CountTable, _>(responses.len(), |i, table| {
        let (resp, refs) = (responses.row(i), references.row(i));
        if resp.is_empty() || refs.is_empty() {
            return score(resp.is_empty() && refs.is_empty());
        }
        if resp == refs {
            return 1.0;
        }
        table.reset(refs.len());
        for &t in refs {
            table.add(t.to_i64());
        }
        let common = resp.iter().filter(|&&t| table.take(t.to_i64())).count();
        f1(common, resp.len(), refs.len())
    }))
}

#[inline]
fn f1(common: usize, n_resp: usize, n_ref: usize) -> f32 {
    if common == 0 {
        return 0.0;
    }
    // 2PR/(P+R) with P = c/a, R = c/b simplifies to 2c/(a+b).
    (2.0 * common as f64 / (n_resp + n_ref) as f64) as f32
}

/// Kinds of length penalty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LengthPenalty {
    /// `-|len - target| / scale`.
    Linear { target: f64, scale: f64 },
    /// DAPO's overlong soft penalty, times `factor`:
    /// 0 if `len <= max_len - cache_len`; `(max_len - cache_len - len) / cache_len` if
    /// `len <= max_len`; -1 beyond `max_len`.
    Dapo {
        max_len: i64,
        cache_len: i64,
        factor: f64,
    },
}

impl LengthPenalty {
    pub fn linear(target: f64, scale: f64) -> CoreResult<Self> {
        if !target.is_finite() || target < 0.0 {
            return Err(CoreError::arg(
                "target",
                format!("must be finite and >= 0, got {target}"),
            ));
        }
        if !scale.is_finite() || scale <= 0.0 {
            return Err(CoreError::arg(
                "scale",
                format!("must be finite and > 0, got {scale}"),
            ));
        }
        Ok(LengthPenalty::Linear { target, scale })
    }

    pub fn dapo(max_len: i64, cache_len: i64, factor: f64) -> CoreResult<Self> {
        if max_len <= 0 {
            return Err(CoreError::arg(
                "max_len",
                format!("must be > 0, got {max_len}"),
            ));
        }
        if cache_len <= 0 || cache_len > max_len {
            return Err(CoreError::arg(
                "cache_len",
                format!("must be in [1, max_len = {max_len}], got {cache_len}"),
            ));
        }
        if !factor.is_finite() || factor < 0.0 {
            return Err(CoreError::arg(
                "penalty_factor",
                format!("must be finite and >= 0, got {factor}"),
            ));
        }
        Ok(LengthPenalty::Dapo {
            max_len,
            cache_len,
            factor,
        })
    }

    #[inline]
    pub fn score(&self, len: usize) -> f32 {
        let len = len as f64;
        let r = match *self {
            LengthPenalty::Linear { target, scale } => -(len - target).abs() / scale,
            LengthPenalty::Dapo {
                max_len,
                cache_len,
                factor,
            } => {
                let (max_len, cache_len) = (max_len as f64, cache_len as f64);
                let expected = max_len - cache_len;
                if len <= expected {
                    0.0
                } else if len <= max_len {
                    factor * (expected - len) / cache_len
                } else {
                    -factor
                }
            }
        };
        r as f32
    }
}

/// A length penalty per row (see [`LengthPenalty`]).
pub fn length_penalty<T: TokenId>(
    responses: &Ragged<'_, T>,
    kind: LengthPenalty,
) -> CoreResult<Vec<f32>> {
    check_batch(responses, "responses")?;
    Ok(map_rows::<(), _>(responses.len(), |i, _| {
        kind.score(responses.row_len(i))
    }))
}

/// `max_penalty * (1 - unique / total)` over the row's n-grams (`total = len - n + 1`);
/// 0 for rows shorter than `n`. N-grams are compared exactly (sorted window starts).
pub fn repetition_penalty<T: TokenId>(
    responses: &Ragged<'_, T>,
    n: usize,
    max_penalty: f64,
) -> CoreResult<Vec<f32>> {
    check_batch(responses, "responses")?;
    if n == 0 {
        return Err(CoreError::arg("n", "must be >= 1, got 0"));
    }
    if !max_penalty.is_finite() {
        return Err(CoreError::arg(
            "max_penalty",
            format!("must be finite, got {max_penalty}"),
        ));
    }
    Ok(map_rows::<Vec<usize>, _>(responses.len(), |i, starts| {
        let row = responses.row(i);
        if row.len() < n {
            return 0.0;
        }
        let total = row.len() - n + 1;
        starts.clear();
        starts.extend(0..total);
        let gram = |s: usize| &row[s..s + n];
        starts.sort_unstable_by(|&a, &b| gram(a).cmp(gram(b)));
        let unique = 1 + starts
            .windows(2)
            .filter(|w| gram(w[0]) != gram(w[1]))
            .count();
        (max_penalty * (1.0 - unique as f64 / total as f64)) as f32
    }))
}

/// 1 where the row's last token is one of `stop_ids`, else 0 (empty rows score 0).
pub fn stop_token_check<T: TokenId>(
    responses: &Ragged<'_, T>,
    stop_ids: &[i64],
) -> CoreResult<Vec<f32>> {
    check_batch(responses, "responses")?;
    if stop_ids.is_empty() {
        return Err(CoreError::arg(
            "stop_ids",
            "empty: give at least one stop id",
        ));
    }
    Ok(map_rows::<(), _>(responses.len(), |i, _| {
        score(
            responses
                .row(i)
                .last()
                .is_some_and(|t| stop_ids.contains(&t.to_i64())),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rg<'a>(v: &'a [i32], o: &'a [i64]) -> Ragged<'a, i32> {
        Ragged::new(v, o, "offsets").unwrap()
    }

    #[test]
    fn match_family() {
        // responses: [1 2 3], [4], [], [5 6 5 6 7]
        let rv = [1, 2, 3, 4, 5, 6, 5, 6, 7];
        let ro = [0, 3, 4, 4, 9];
        // references: [1 2 3], [4 4], [], [5 6 7]
        let fv = [1, 2, 3, 4, 4, 5, 6, 7];
        let fo = [0, 3, 5, 5, 8];
        let (r, f) = (rg(&rv, &ro), rg(&fv, &fo));
        assert_eq!(exact_match(&r, &f).unwrap(), vec![1.0, 0.0, 1.0, 0.0]);
        assert_eq!(prefix_match(&r, &f).unwrap(), vec![1.0, 0.0, 1.0, 0.0]);
        assert_eq!(contains(&r, &f).unwrap(), vec![1.0, 0.0, 1.0, 1.0]);
        let f1s = token_f1(&r, &f).unwrap();
        assert_eq!(f1s[0], 1.0);
        assert!((f1s[1] - 2.0 / 3.0).abs() < 1e-6); // common 1, P=1, R=1/2
        assert_eq!(f1s[2], 1.0);
        assert!((f1s[3] - 0.75).abs() < 1e-6); // common 3, 2*3/(5+3)
    }

    #[test]
    fn pair_checks() {
        let v = [1, 2];
        let a = rg(&v, &[0, 1, 2]);
        let b = rg(&v, &[0, 2]);
        let e = exact_match(&a, &b).unwrap_err();
        assert!(e.message.starts_with("references: has 1 rows"), "{e}");
        let empty = rg(&[], &[0]);
        assert!(token_f1(&empty, &empty)
            .unwrap_err()
            .message
            .starts_with("responses"));
    }

    #[test]
    fn kmp_handles_borders() {
        let mut f = Vec::new();
        assert!(kmp_contains(&[1, 1, 1, 2], &[1, 1, 2], &mut f));
        assert!(kmp_contains(&[1, 2, 1, 2, 1, 3], &[1, 2, 1, 3], &mut f));
        assert!(!kmp_contains(&[1, 2, 1, 2, 1], &[1, 2, 1, 3], &mut f));
        assert!(kmp_contains::<i32>(&[], &[], &mut f));
        assert!(!kmp_contains(&[1], &[1, 1], &mut f));
    }

    #[test]
    fn count_table_reuse_and_growth() {
        let mut t = CountTable::default();
        t.reset(2);
        t.add(7);
        t.add(7);
        assert!(t.take(7) && t.take(7) && !t.take(7) && !t.take(8));
        t.reset(1000);
        assert!(!t.take(7));
        for k in 0..1000 {
            t.add(k * 1_000_003);
        }
        assert!((0..1000).all(|k| t.take(k * 1_000_003)));
    }

    #[test]
    fn lengths_and_repetition() {
        let v: Vec<i32> = vec![1, 2, 1, 2, 3, 1, 2, 3, 9];
        let r = rg(&v, &[0, 0, 2, 9]);
        let lin = LengthPenalty::linear(2.0, 2.0).unwrap();
        assert_eq!(length_penalty(&r, lin).unwrap(), vec![-1.0, 0.0, -2.5]);
        let d = LengthPenalty::dapo(4, 2, 1.0).unwrap();
        assert_eq!(
            [d.score(2), d.score(3), d.score(4), d.score(5)],
            [0.0, -0.5, -1.0, -1.0]
        );
        assert!(LengthPenalty::dapo(4, 5, 1.0).is_err());
        assert!(LengthPenalty::dapo(0, 1, 1.0).is_err());
        assert!(LengthPenalty::linear(1.0, 0.0).is_err());
        // row 2 (len 7) has trigrams 123 231 312 123 239: 4 unique of 5.
        let rep = repetition_penalty(&r, 3, 1.0).unwrap();
        assert_eq!(rep[0], 0.0);
        assert_eq!(rep[1], 0.0);
        assert!((rep[2] - 0.2).abs() < 1e-6);
        assert!(repetition_penalty(&r, 0, 1.0).is_err());
        assert_eq!(stop_token_check(&r, &[9, 2]).unwrap(), vec![0.0, 1.0, 1.0]);
        assert!(stop_token_check(&r, &[]).is_err());
    }

    #[test]
    fn parallel_path_agrees() {
        let n = PAR_ROWS + 10;
        let v: Vec<i64> = (0..n as i64 * 3).map(|x| x % 7).collect();
        let o: Vec<i64> = (0..=n as i64).map(|i| i * 3).collect();
        let r = Ragged::new(&v, &o, "offsets").unwrap();
        let f = token_f1(&r, &r).unwrap();
        assert!(f.iter().all(|&x| x == 1.0));
        let c = contains(&r, &r).unwrap();
        assert!(c.iter().all(|&x| x == 1.0));
    }
}
