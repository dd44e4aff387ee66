//! Row-length statistics of a ragged batch, from its offsets: the shortest and longest
//! row, the rows outside `[min_len, max_len]` (counted, the first ones listed in row
//! order) and length percentiles, all in parallel over chunks of rows above
//! [`crate::batch::PAR_MIN_SCAN`] rows.
//!
//! Percentiles come from a histogram of the lengths when they span at most
//! [`HISTOGRAM_MAX_SPAN`] values (as the rows of a token dataset do), and from
//! selections over a copy of the lengths otherwise. Both give the same order statistics.
//! The selection was serial: at a million rows it was a fifth of `validate_tokens` on two
//! threads, and kept it from scaling.
//!
//! Pure Rust.

use rayon::prelude::*;

use crate::alloc::AllocError;
use crate::batch::PAR_MIN_SCAN;

/// Rows per task of the parallel passes.
const CHUNK_ROWS: usize = 64 * 1024;

/// Lengths spanning fewer values than this are counted in a histogram (a few per thread,
/// 512 KiB of `u64` counts each at most).
pub const HISTOGRAM_MAX_SPAN: i64 = 64 * 1024;

/// A row outside the bounds: its index and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds {
    pub row: usize,
    pub length: i64,
}

/// The bounds pass over the rows' lengths: range, and the rows outside `[lo, hi]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthBounds {
    /// Shortest and longest row (`i64::MAX` and `0` for no rows).
    pub shortest: i64,
    pub longest: i64,
    pub too_short: usize,
    pub too_long: usize,
    /// The first `max_listed` rows outside the bounds, in row order.
    pub listed: Vec<OutOfBounds>,
}

impl LengthBounds {
    fn empty() -> LengthBounds {
        LengthBounds {
            shortest: i64::MAX,
            longest: 0,
            too_short: 0,
            too_long: 0,
            listed: Vec::new(),
        }
    }

    /// `self` (earlier rows) followed by `later`, keeping the first `max_listed`.
    fn then(mut self, later: LengthBounds, max_listed: usize) -> LengthBounds {
        self.shortest = self.shortest.min(later.shortest);
        self.longest = self.longest.max(later.longest);
        self.too_short += later.too_short;
        self.too_long += later.too_long;
        let room = max_listed.saturating_sub(self.listed.len());
        self.listed.extend(later.listed.into_iter().take(room));
        self
    }
}

/// Length of row `i`: `offsets[i + 1] - offsets[i]`.
#[inline(always)]
fn length(offsets: &[i64], i: usize) -> i64 {
    offsets[i + 1] - offsets[i]
}

/// Rows `rows` of the batch with `offsets` (non-decreasing, as `Ragged` guarantees).
fn bounds_of(
    offsets: &[i64],
    rows: std::ops::Range<usize>,
    lo: i64,
    hi: i64,
    max_listed: usize,
) -> LengthBounds {
    let mut out = LengthBounds::empty();
    for row in rows {
        let len = length(offsets, row);
        out.shortest = out.shortest.min(len);
        out.longest = out.longest.max(len);
        let (short, long) = (len < lo, len > hi);
        out.too_short += usize::from(short);
        out.too_long += usize::from(long);
        if (short || long) && out.listed.len() < max_listed {
            out.listed.push(OutOfBounds { row, length: len });
        }
    }
    out
}

/// The chunks of `rows` rows, as ranges, in order.
fn chunks(rows: usize) -> impl IndexedParallelIterator<Item = std::ops::Range<usize>> {
    (0..rows.div_ceil(CHUNK_ROWS))
        .into_par_iter()
        .map(move |c| c * CHUNK_ROWS..((c + 1) * CHUNK_ROWS).min(rows))
}

/// Range of the row lengths and the rows outside `[lo, hi]` of the batch with `offsets`
/// (`rows + 1` non-decreasing offsets), the first `max_listed` of them listed.
pub fn length_bounds(offsets: &[i64], lo: i64, hi: i64, max_listed: usize) -> LengthBounds {
    let rows = offsets.len().saturating_sub(1);
    if rows < PAR_MIN_SCAN {
        return bounds_of(offsets, 0..rows, lo, hi, max_listed);
    }
    let parts: Vec<LengthBounds> = chunks(rows)
        .map(|r| bounds_of(offsets, r, lo, hi, max_listed))
        .collect();
    parts
        .into_iter()
        .fold(LengthBounds::empty(), |acc, p| acc.then(p, max_listed))
}

/// numpy's default (linear) percentiles `qs` (each in `[0, 1]`) of the row lengths of the
/// batch with `offsets`, whose lengths lie in `[shortest, longest]`:
///
/// `pos = q (n - 1)`, `k = floor(pos)`: `x_(k) + (pos - k) (x_(k+1) - x_(k))`, with `x_(k)`
/// the `k`-th smallest length (0 for no rows).
pub fn length_percentiles(
    offsets: &[i64],
    shortest: i64,
    longest: i64,
    qs: &[f64],
) -> Result<Vec<f64>, AllocError> {
    let rows = offsets.len().saturating_sub(1);
    if rows == 0 {
        return Ok(vec![0.0; qs.len()]);
    }
    let mut order = if longest - shortest < HISTOGRAM_MAX_SPAN {
        let span = (longest - shortest + 1) as usize;
        Order::Histogram(histogram(offsets, shortest, span)?, shortest)
    } else {
        let mut lengths = crate::alloc::reserve::<i64>(rows)?;
        lengths.extend((0..rows).map(|i| length(offsets, i)));
        Order::Lengths(lengths)
    };
    Ok(qs
        .iter()
        .map(|&q| {
            let pos = q * (rows - 1) as f64;
            let k = (pos.floor() as usize).min(rows - 1);
            let frac = pos - k as f64;
            let (lo_v, hi_v) = order.kth_and_next(k, frac > 0.0);
            lo_v as f64 + frac * (hi_v - lo_v) as f64
        })
        .collect())
}

/// Where the order statistics of the lengths come from.
enum Order {
    /// Counts per length from the shortest (see [`histogram`]).
    Histogram(Vec<u64>, i64),
    /// The lengths themselves, reordered by each selection.
    Lengths(Vec<i64>),
}

impl Order {
    /// The `k`-th smallest length, and with `next` the `k + 1`-th (else the `k`-th again).
    fn kth_and_next(&mut self, k: usize, next: bool) -> (i64, i64) {
        match self {
            Order::Histogram(counts, shortest) => {
                let lo = kth_in_histogram(counts, *shortest, k);
                (
                    lo,
                    if next {
                        kth_in_histogram(counts, *shortest, k + 1)
                    } else {
                        lo
                    },
                )
            }
            Order::Lengths(lengths) => {
                let (_, &mut lo, upper) = lengths.select_nth_unstable(k);
                let hi = if next {
                    upper.iter().copied().min().unwrap_or(lo)
                } else {
                    lo
                };
                (lo, hi)
            }
        }
    }
}

/// How many rows have each length `shortest + j`, `j < span` (every length lies there).
fn histogram(offsets: &[i64], shortest: i64, span: usize) -> Result<Vec<u64>, AllocError> {
    let rows = offsets.len() - 1;
    let count = |mut h: Vec<u64>, r: std::ops::Range<usize>| {
        for i in r {
            h[(length(offsets, i) - shortest) as usize] += 1;
        }
        h
    };
    let zeros = || crate::alloc::zeros::<u64>(span);
    if rows < PAR_MIN_SCAN {
        return Ok(count(zeros()?, 0..rows));
    }
    // One histogram per part, a few parts per thread (not one per chunk of rows: a
    // hundred million rows would hold 1,500 of them), each allocated up front so that a
    // failed allocation is an error here and not inside the pool.
    let n_parts = (2 * rayon::current_num_threads()).clamp(1, rows.div_ceil(CHUNK_ROWS));
    let per_part = rows.div_ceil(n_parts);
    let mut parts: Vec<Vec<u64>> = Vec::new();
    for _ in 0..n_parts {
        parts.push(zeros()?);
    }
    let parts: Vec<Vec<u64>> = parts
        .into_par_iter()
        .enumerate()
        .map(|(p, h)| count(h, p * per_part..((p + 1) * per_part).min(rows)))
        .collect();
    let mut total = parts.into_iter();
    let mut sum = total.next().unwrap_or_default();
    for part in total {
        for (s, c) in sum.iter_mut().zip(part) {
            *s += c;
        }
    }
    Ok(sum)
}

/// The `k`-th smallest (from 0) length counted in `counts` (lengths from `shortest`).
fn kth_in_histogram(counts: &[u64], shortest: i64, k: usize) -> i64 {
    let mut seen = 0u64;
    for (j, &c) in counts.iter().enumerate() {
        seen += c;
        if seen > k as u64 {
            return shortest + j as i64;
        }
    }
    shortest + counts.len() as i64 - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::xorshift;

    /// numpy's linear percentile by sorting: the reference.
    fn sorted_percentile(lengths: &[i64], q: f64) -> f64 {
        let mut v = lengths.to_vec();
        v.sort_unstable();
        let n = v.len();
        let pos = q * (n - 1) as f64;
        let k = pos.floor() as usize;
        let frac = pos - k as f64;
        let hi = if frac > 0.0 { v[k + 1] } else { v[k] };
        v[k] as f64 + frac * (hi - v[k]) as f64
    }

    fn offsets_of(lengths: &[i64]) -> Vec<i64> {
        let mut o = vec![0i64];
        for &l in lengths {
            o.push(o.last().unwrap() + l);
        }
        o
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([5, 1, 3, 2, 4], [50, 95]) == [3.0, 4.8]; of [7]: 7.0.
        let offsets = offsets_of(&[5, 1, 3, 2, 4]);
        let p = length_percentiles(&offsets, 1, 5, &[0.5, 0.95]).unwrap();
        assert_eq!(p[0], 3.0);
        assert!((p[1] - 4.8).abs() < 1e-12);
        assert_eq!(length_percentiles(&[0, 7], 7, 7, &[0.95]).unwrap(), [7.0]);
    }

    #[test]
    fn percentiles_agree_with_sorting_on_both_paths() {
        let mut next = xorshift(11);
        // Small spans (histogram), a span past the histogram's limit (selection), sizes
        // on both sides of the parallel threshold.
        for (rows, span) in [
            (1, 1),
            (2, 5),
            (7, 3),
            (1000, 97),
            (300_000, 2000),
            (3000, 1 << 20),
        ] {
            let lengths: Vec<i64> = (0..rows).map(|_| next(span) as i64 + 3).collect();
            let offsets = offsets_of(&lengths);
            let b = length_bounds(&offsets, 0, i64::MAX, 0);
            let qs = [0.0, 0.05, 0.5, 0.95, 1.0];
            let got = length_percentiles(&offsets, b.shortest, b.longest, &qs).unwrap();
            for (&q, &g) in qs.iter().zip(&got) {
                assert_eq!(
                    g,
                    sorted_percentile(&lengths, q),
                    "rows {rows} span {span} q {q}"
                );
            }
        }
    }

    #[test]
    fn bounds_list_the_first_rows_in_order_across_chunks() {
        const { assert!(5 * CHUNK_ROWS > PAR_MIN_SCAN) };
        let rows = 5 * CHUNK_ROWS + 17; // past PAR_MIN_SCAN: the parallel path
        let lengths: Vec<i64> = (0..rows)
            .map(|i| {
                if i % 50_000 == 7 {
                    0
                } else if i % 70_001 == 3 {
                    900
                } else {
                    10
                }
            })
            .collect();
        let offsets = offsets_of(&lengths);
        for max_listed in [0, 1, 3, 100] {
            let b = length_bounds(&offsets, 1, 500, max_listed);
            let want: Vec<OutOfBounds> = lengths
                .iter()
                .enumerate()
                .filter(|&(_, &l)| !(1..=500).contains(&l))
                .map(|(row, &length)| OutOfBounds { row, length })
                .collect();
            assert_eq!(b.too_short, lengths.iter().filter(|&&l| l < 1).count());
            assert_eq!(b.too_long, lengths.iter().filter(|&&l| l > 500).count());
            assert_eq!(b.listed, want[..want.len().min(max_listed)]);
            assert_eq!((b.shortest, b.longest), (0, 900));
        }
    }
}
