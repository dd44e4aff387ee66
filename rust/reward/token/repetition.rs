//! Repetition penalty: the share of a row's n-grams that repeat an earlier one.

use std::collections::HashMap;

use crate::alloc::{self, AllocError};
use crate::batch::{check_nonempty, map_rows_with};
use crate::error::{CoreError, CoreResult};
use crate::ragged::{Ragged, TokenId};
use foldhash::fast::RandomState as SeededHash;

/// Open-addressing set of one row's n-grams, stored as (hash, start); equal hashes are
/// confirmed by comparing the n-grams themselves, so the count is exact.
///
/// Written by hand rather than on `hashbrown::HashTable`: measured single-threaded,
/// hashbrown was 16-20 % faster on rows of mostly distinct n-grams but 30 % slower on
/// repetitive rows (a 4-token vocabulary), and repetitive rows are what this penalty is for.
#[derive(Default)]
pub struct NgramSet {
    /// `(hash, start + 1)`; start 0 marks an empty slot.
    slots: Vec<(u64, u32)>,
    used: Vec<u32>,
    doubling: Doubling,
}

/// From this `n` on, n-grams are counted by rank doubling ([`distinct_by_doubling`]):
/// hashing and comparing whole windows costs O(n) each, doubling O(log n) map lookups,
/// which on this machine overtake the windows between n = 32 (1k-token rows) and 64.
const DOUBLING_FROM_N: usize = 32;

/// Number of distinct `n`-grams of `row` (`row.len() >= n >= 1`) by rank doubling, in
/// O(len log n) expected time whatever `n` is; `scratch` is reused across rows.
///
/// Level 0 names each token by a dense rank; level k names each window of 2^k tokens by
/// the pair of ranks of its two halves. An `n`-gram with `2^k <= n < 2^(k+1)` is named by
/// the ranks of its first and last 2^k-token blocks, which overlap and cover it, so two
/// `n`-grams are equal exactly when their names are (the maps compare keys exactly).
fn distinct_by_doubling<T: TokenId>(
    row: &[T],
    n: usize,
    scratch: &mut Doubling,
) -> Result<usize, AllocError> {
    let len = row.len();
    let Doubling { names, rank, next } = scratch;
    names.clear();
    // Every buffer holds at most one entry per token: reserved up front, fallibly.
    names
        .try_reserve(len)
        .map_err(|_| AllocError::of::<(u64, u32)>(len))?;
    alloc::refill(rank, 0, 0)?;
    alloc::refill(next, 0, 0)?;
    rank.try_reserve_exact(len)
        .and_then(|()| next.try_reserve_exact(len))
        .map_err(|_| AllocError::of::<u32>(len))?;
    rank.extend(row.iter().map(|t| name(t.to_i64() as u64, names)));
    let mut width = 1;
    while width * 2 <= n {
        names.clear();
        next.clear();
        next.extend((0..=len - 2 * width).map(|i| name(pair(rank[i], rank[i + width]), names)));
        std::mem::swap(rank, next);
        width *= 2;
    }
    names.clear();
    for i in 0..=len - n {
        name(pair(rank[i], rank[i + n - width]), names);
    }
    Ok(names.len())
}

/// Buffers of [`distinct_by_doubling`], kept across the rows of a batch.
#[derive(Default)]
pub struct Doubling {
    names: HashMap<u64, u32, SeededHash>,
    rank: Vec<u32>,
    next: Vec<u32>,
}

/// The dense name of `key`: its index in order of first appearance.
fn name(key: u64, names: &mut HashMap<u64, u32, SeededHash>) -> u32 {
    let next = names.len() as u32;
    *names.entry(key).or_insert(next)
}

fn pair(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl NgramSet {
    /// Number of distinct `n`-grams of `row` (`row.len() >= n >= 1`).
    pub fn distinct<T: TokenId>(&mut self, row: &[T], n: usize) -> Result<usize, AllocError> {
        if n >= DOUBLING_FROM_N {
            return distinct_by_doubling(row, n, &mut self.doubling);
        }
        let total = row.len() + 1 - n;
        let want = (total.max(4) * 2).next_power_of_two();
        if want > self.slots.len() {
            self.slots = alloc::filled(want, (0, 0))?;
        }
        let used = self.used.len();
        self.used
            .try_reserve_exact(total.saturating_sub(used))
            .map_err(|_| AllocError::of::<u32>(total))?;
        let (mask, shift) = (want - 1, 64 - want.trailing_zeros());
        let mut unique = 0usize;
        let seed = 0x243F_6A88_85A3_08D3u64 ^ crate::hashkey::process_key();
        for (start, gram) in row.windows(n).enumerate() {
            let h = gram.iter().fold(seed, |h, t| {
                (h ^ t.to_i64() as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(29)
            });
            let mut s = (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
            loop {
                let (sh, st) = self.slots[s];
                if st == 0 {
                    self.slots[s] = (h, start as u32 + 1);
                    self.used.push(s as u32);
                    unique += 1;
                    break;
                }
                let other = st as usize - 1;
                if sh == h && row.get(other..other + n) == Some(gram) {
                    break;
                }
                s = (s + 1) & mask;
            }
        }
        for &s in &self.used {
            if let Some(slot) = self.slots.get_mut(s as usize) {
                slot.1 = 0;
            }
        }
        self.used.clear();
        Ok(unique)
    }
}

/// `max_penalty * (1 - unique / total)` over the row's n-grams (`total = len - n + 1`);
/// 0 for rows shorter than `n`. N-grams are compared exactly.
pub fn repetition_penalty<T: TokenId>(
    responses: &Ragged<'_, T>,
    n: usize,
    max_penalty: f64,
) -> CoreResult<Vec<f32>> {
    check_nonempty("responses", responses.len())?;
    if n == 0 {
        return Err(CoreError::arg("n", "must be >= 1, got 0"));
    }
    if !max_penalty.is_finite() {
        return Err(CoreError::arg(
            "max_penalty",
            format!("must be finite, got {max_penalty}"),
        ));
    }
    if responses.max_len() >= u32::MAX as usize {
        return Err(CoreError::arg(
            "responses",
            "rows of 2^32 tokens or more are not supported",
        ));
    }
    map_rows_with::<NgramSet, _, _>("responses", responses.len(), |i, set| {
        let row = responses.row(i);
        if row.len() < n {
            return Ok(0.0);
        }
        let total = row.len() - n + 1;
        let unique = set
            .distinct(row, n)
            .map_err(|e| e.named(&format!("responses[{i}]"), "an n-gram table"))?;
        Ok((max_penalty * (1.0 - unique as f64 / total as f64)) as f32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_set_counts_exactly() {
        let mut set = NgramSet::default();
        assert_eq!(set.distinct(&[1i32, 1, 1, 1], 2).unwrap(), 1);
        let row: Vec<i64> = (0..1000).collect();
        assert_eq!(set.distinct(&row, 3).unwrap(), 998);
        let twice: Vec<i64> = row.iter().chain(row.iter()).copied().collect();
        assert_eq!(set.distinct(&twice, 1).unwrap(), 1000);
        assert_eq!(set.distinct(&[5i32], 1).unwrap(), 1);
    }

    #[test]
    fn doubling_counts_the_same_ngrams_as_whole_windows() {
        // rows over small alphabets (many repeats) and n on both sides of the threshold
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        let mut set = NgramSet::default();
        for _ in 0..300 {
            let alphabet = 1 + next(4);
            let len = 1 + next(160) as usize;
            let row: Vec<i32> = (0..len).map(|_| next(alphabet) as i32).collect();
            let n = 1 + next(len as u64) as usize;
            let naive: std::collections::HashSet<&[i32]> = row.windows(n).collect();
            let mut scratch = Doubling::default();
            let doubled = distinct_by_doubling(&row, n, &mut scratch).unwrap();
            assert_eq!(doubled, naive.len(), "{row:?} n={n}");
            assert_eq!(set.distinct(&row, n).unwrap(), naive.len());
        }
        // one token repeated: a single n-gram however long, in O(len log n)
        let same = vec![7i64; 200_000];
        assert_eq!(set.distinct(&same, 50_000).unwrap(), 1);
        let ramp: Vec<i64> = (0..200_000).collect();
        assert_eq!(set.distinct(&ramp, 50_000).unwrap(), 150_001);
    }

    #[test]
    fn penalty_per_row() {
        let v: Vec<i32> = vec![1, 2, 1, 2, 3, 1, 2, 3, 9];
        let r = Ragged::new(&v, &[0, 0, 2, 9], "offsets").unwrap();
        // row 2 (len 7) has trigrams 123 231 312 123 239: 4 unique of 5.
        let rep = repetition_penalty(&r, 3, 1.0).unwrap();
        assert_eq!(rep[0], 0.0);
        assert_eq!(rep[1], 0.0);
        assert!((rep[2] - 0.2).abs() < 1e-6);
        assert!(repetition_penalty(&r, 0, 1.0).is_err());
    }
}
