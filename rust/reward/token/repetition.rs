//! Repetition penalty: the share of a row's n-grams that repeat an earlier one.

use std::collections::HashMap;

use crate::alloc::{self, AllocError};
use crate::batch::{check_nonempty, map_rows_with};
use crate::error::{CoreError, CoreResult};
use crate::hashkey::{folded_multiply, seeds};
use crate::ragged::{Ragged, TokenId};
use crate::reward::token::distinct::{Check, DistinctCheck, DISTINCT_CHECK_MAX_LEN};
use foldhash::fast::RandomState as SeededHash;

/// Counts one row's distinct n-grams at a time, reusing its buffers over the rows a
/// worker scores.
///
/// A short row is first tested for distinct tokens ([`DistinctCheck`]): then every
/// n-gram is distinct, whatever `n` is, and the count is `len - n + 1`. Other rows take
/// two passes. The first puts each token in an open-addressing table and
/// flags the positions whose token occurs more than once in the row. An n-gram that
/// starts with a token seen once is distinct without further ado; only the flagged starts
/// go through the second pass, which puts their n-grams in the same table: packed exactly
/// into 128 bits (up to four 32-bit ids, or two 64-bit ones) and compared as keys, or for
/// longer n-grams stored as (hash, start), with equal hashes confirmed by comparing the
/// n-grams themselves. Either way the count is exact. When most of a row's tokens repeat
/// the first pass saves nothing, and the worker counts its next rows in one pass over all
/// their n-grams (trying two passes again every 32 rows); which way
/// a row is counted never changes its count.
///
/// Written by hand rather than on `hashbrown::HashTable`: measured single-threaded,
/// hashbrown was 16-20 % faster on rows of mostly distinct n-grams but 30 % slower on
/// repetitive rows (a 4-token vocabulary), and repetitive rows are what this penalty is for.
#[derive(Default)]
pub struct NgramSet {
    table: Table,
    /// Per position of the row: 1 when its token occurs more than once in the row.
    repeated: Vec<u8>,
    /// Whether the last row measured was repetitive (most of its tokens repeat), so that
    /// the next rows skip the distinct check and go straight to one pass; `rows` counts
    /// them to measure again.
    dense: bool,
    rows: u32,
    doubling: Doubling,
    filter: Filter,
    distinct_check: DistinctCheck,
}

/// Open-addressing table (linear probing) whose slots belong to the current pass when
/// their stamp is the pass's: a new pass bumps the stamp instead of clearing the table.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    /// The current pass's stamp; slots with another stamp are empty.
    stamp: u32,
}

/// One slot: a token and its first position, an n-gram packed as `(lo, hi)`, or a long
/// n-gram's `(hash, start)`.
#[derive(Clone, Copy, Default)]
struct Slot {
    lo: u64,
    hi: u64,
    stamp: u32,
}

/// How the flagged n-grams of a row are keyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Keying {
    /// `n` ids of `bits` bits each, packed exactly into 128 bits (`n * bits <= 128`).
    Packed { bits: u32 },
    /// A hash of the n-gram and its start, confirmed by comparing the tokens.
    Hashed,
}

/// The keying of `n`-grams (`n < DOUBLING_FROM_N`): packed into 32-bit lanes when every
/// id of the row fits one (`narrow`), into 64-bit lanes for `n <= 2`, else hashed.
fn keying(n: usize, narrow: bool) -> Keying {
    match n {
        1..=4 if narrow => Keying::Packed { bits: 32 },
        1 | 2 => Keying::Packed { bits: 64 },
        _ => Keying::Hashed,
    }
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
        // `row` may be a buffer the caller refills between calls: nothing hashed for an
        // earlier call is reused.
        self.distinct_check.forget_span();
        self.distinct_in(row, 0..row.len(), n)
    }

    /// Number of distinct `n`-grams of the row `tokens[range]` (`range.len() >= n >= 1`)
    /// of a batch whose tokens are `tokens`; a worker that scores the batch's rows in turn
    /// hashes their tokens a span at a time. `tokens` must not change between the calls
    /// on one set (as within one [`repetition_penalty`] call, whose sets live no longer).
    pub(crate) fn distinct_in<T: TokenId>(
        &mut self,
        tokens: &[T],
        range: std::ops::Range<usize>,
        n: usize,
    ) -> Result<usize, AllocError> {
        let row = &tokens[range.clone()];
        if n >= DOUBLING_FROM_N {
            return distinct_by_doubling(row, n, &mut self.doubling);
        }
        self.rows = self.rows.wrapping_add(1);
        let dense_now = self.dense && !self.rows.is_multiple_of(RECHECK_DENSE_EVERY);
        // After a repetitive row the check is skipped, also on the rows that measure again.
        if !self.dense && row.len() <= DISTINCT_CHECK_MAX_LEN {
            match self
                .distinct_check
                .check(tokens, range, &mut self.repeated)?
            {
                // No token repeats, so no n-gram does either.
                Check::Distinct => return Ok(row.len() + 1 - n),
                Check::Repeats { later } => {
                    // `repeated` flags every occurrence of a repeated token already.
                    if n == 1 {
                        self.dense = later * 2 > row.len();
                        return Ok(row.len() - later);
                    }
                    return self.count_flagged(row, n, true);
                }
                Check::Unknown => {}
            }
        }
        if n == 1 {
            let distinct = self.mark_repeated(row)?.0;
            // Most tokens repeat: the next rows skip the distinct check.
            self.dense = distinct * 2 < row.len();
            return Ok(distinct);
        }
        if dense_now {
            return self.count_all(row, n, keying(n, fits_32_bits(row)));
        }
        let (_, narrow) = self.mark_repeated(row)?;
        self.count_flagged(row, n, narrow)
    }

    /// The distinct `n`-grams of `row` (`n >= 2`) once `repeated` flags every position
    /// whose token occurs more than once: an n-gram starting at an unflagged position is
    /// distinct, the flagged starts go through the table. `narrow`: every id fits 32 bits.
    fn count_flagged<T: TokenId>(
        &mut self,
        row: &[T],
        n: usize,
        narrow: bool,
    ) -> Result<usize, AllocError> {
        let starts = row.len() + 1 - n;
        let flags = &self.repeated[..starts];
        let flagged = count_set(flags);
        // When most starts are flagged the first pass saved nothing: count every n-gram
        // in one pass instead, for this row and (as rows of a batch look alike) the next.
        self.dense = flagged * 2 > starts;
        if self.dense {
            return self.count_all(row, n, keying(n, narrow));
        }
        if flagged == 0 {
            return Ok(starts);
        }
        let mut pass = self.table.begin(flagged)?;
        let flagged_starts = flags.iter().enumerate().filter(|(_, &f)| f != 0);
        let mut unique = 0usize;
        let (s0, s1) = seeds();
        match keying(n, narrow) {
            Keying::Packed { bits } => {
                for (start, _) in flagged_starts {
                    let key = pack(&row[start..start + n], bits);
                    let (lo, hi) = (key as u64, (key >> 64) as u64);
                    let h = folded_multiply(lo ^ s0, hi ^ s1);
                    let found = pass.insert(h, lo, hi, |s| s.lo == lo && s.hi == hi);
                    unique += usize::from(found.is_none());
                }
            }
            Keying::Hashed => {
                for (start, _) in flagged_starts {
                    unique += usize::from(insert_hashed(&mut pass, row, start, n, (s0, s1)));
                }
            }
        }
        Ok(starts - flagged + unique)
    }

    /// Every `n`-gram of `row` (`n >= 2`) put in the table in one pass; packed keys roll
    /// along the row, one id in and one out per step.
    fn count_all<T: TokenId>(
        &mut self,
        row: &[T],
        n: usize,
        keying: Keying,
    ) -> Result<usize, AllocError> {
        let starts = row.len() + 1 - n;
        let mut pass = self.table.begin(starts)?;
        let seeds = seeds();
        Ok(match keying {
            Keying::Packed { bits: 32 } => count_rolling::<T, 32>(&mut pass, row, n, seeds),
            Keying::Packed { .. } => count_rolling::<T, 64>(&mut pass, row, n, seeds),
            Keying::Hashed => (0..starts)
                .filter(|&start| insert_hashed(&mut pass, row, start, n, seeds))
                .count(),
        })
    }

    /// The first pass: flags in `repeated` every position whose token occurs more than
    /// once in `row`. Returns the number of distinct tokens, and whether every id fits
    /// 32 bits (always for int32, whose ids are taken as their 32 bits).
    ///
    /// A filter of 2^[`FILTER_BITS`] hashed buckets flags first every position whose bucket
    /// is hit twice (all occurrences of a repeated token share one); only those go through
    /// the exact table, so a row of distinct tokens never touches it.
    fn mark_repeated<T: TokenId>(&mut self, row: &[T]) -> Result<(usize, bool), AllocError> {
        alloc::refill(&mut self.repeated, row.len(), 0)?;
        let (key, _) = seeds();
        let (candidates, wide) = self.filter.flag(row, key, &mut self.repeated)?;
        let narrow = std::mem::size_of::<T>() <= 4 || wide >> 32 == 0;
        if candidates == 0 {
            return Ok((row.len(), narrow));
        }
        let repeated = &mut self.repeated[..];
        let mut pass = self.table.begin(candidates)?;
        let mut distinct = row.len() - candidates;
        for (j, t) in row.iter().enumerate() {
            if repeated[j] == 0 {
                continue;
            }
            let t = t.to_i64() as u64;
            match pass.insert(bucket_hash(t, key), t, j as u64, |s| s.lo == t) {
                None => {
                    // The first occurrence among the candidates: unflagged until another
                    // one turns up.
                    repeated[j] = 0;
                    distinct += 1;
                }
                Some(first) => {
                    // `first` is an earlier position of this row, `j` this one.
                    if let Some(f) = repeated.get_mut(first as usize) {
                        *f = 1;
                    }
                    repeated[j] = 1;
                }
            }
        }
        Ok((distinct, narrow))
    }
}

/// Fibonacci hashing of a token id under the process key: the top bits of the product are
/// well mixed.
#[inline(always)]
fn bucket_hash(t: u64, key: u64) -> u64 {
    (t ^ key).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Buckets of the first pass's filter: 2^13 (32 KiB of stamps, in L1).
const FILTER_BITS: u32 = 13;

/// The first pass's filter: per bucket, the stamp of the last row that hit it, times two,
/// plus one when that row hit it twice or more. A new row takes a new stamp instead of
/// clearing the buckets.
#[derive(Default)]
struct Filter {
    buckets: Vec<u32>,
    stamp: u32,
}

impl Filter {
    /// Sets `flags[j] = 1` for every position of `row` whose bucket holds two or more of
    /// the row's tokens (a superset of the repeated tokens' positions; `flags` is all 0
    /// on entry). Returns how many were flagged and the OR of all ids.
    fn flag<T: TokenId>(
        &mut self,
        row: &[T],
        key: u64,
        flags: &mut [u8],
    ) -> Result<(usize, u64), AllocError> {
        let size = 1usize << FILTER_BITS;
        if self.buckets.len() != size || self.stamp >= u32::MAX / 2 - 1 {
            alloc::refill(&mut self.buckets, size, 0)?;
            self.stamp = 0;
        }
        self.stamp += 1;
        let (once, twice) = (self.stamp * 2, self.stamp * 2 + 1);
        let buckets = &mut self.buckets[..size];
        let at = |t: &T| (bucket_hash(t.to_i64() as u64, key) >> (64 - FILTER_BITS)) as usize;
        let mut wide = 0u64;
        for t in row {
            wide |= t.to_i64() as u64;
            let b = &mut buckets[at(t)];
            *b = if *b >> 1 == once >> 1 { twice } else { once };
        }
        let mut flagged = 0usize;
        for (f, t) in flags.iter_mut().zip(row) {
            let hit = u8::from(buckets[at(t)] == twice);
            *f = hit;
            flagged += usize::from(hit);
        }
        Ok((flagged, wide))
    }
}

/// How often (in rows) a worker that went to one pass per row for repetitive rows
/// tries the two passes again, in case its rows changed.
const RECHECK_DENSE_EVERY: u32 = 32;

/// Whether every id of `row` fits 32 bits (int32 ids always do, taken as their bits).
fn fits_32_bits<T: TokenId>(row: &[T]) -> bool {
    std::mem::size_of::<T>() <= 4
        || row.iter().fold(0u64, |acc, t| acc | t.to_i64() as u64) >> 32 == 0
}

/// `gram` packed into `bits`-bit lanes (`gram.len() * bits <= 128`), oldest id highest.
#[inline(always)]
fn pack<T: TokenId>(gram: &[T], bits: u32) -> u128 {
    let lane = u64::MAX >> (64 - bits);
    gram.iter().fold(0u128, |key, t| {
        (key << bits) | u128::from(t.to_i64() as u64 & lane)
    })
}

/// Counts the distinct `n`-grams of `row` packed into `BITS`-bit lanes, the key rolling
/// along the row.
fn count_rolling<T: TokenId, const BITS: u32>(
    pass: &mut Pass<'_>,
    row: &[T],
    n: usize,
    (s0, s1): (u64, u64),
) -> usize {
    let width = n as u32 * BITS;
    let keep = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let lane = u64::MAX >> (64 - BITS);
    let mut key = pack(&row[..n - 1], BITS);
    let mut unique = 0usize;
    for t in &row[n - 1..] {
        key = ((key << BITS) | u128::from(t.to_i64() as u64 & lane)) & keep;
        let (lo, hi) = (key as u64, (key >> 64) as u64);
        let h = folded_multiply(lo ^ s0, hi ^ s1);
        let found = pass.insert(h, lo, hi, |s| s.lo == lo && s.hi == hi);
        unique += usize::from(found.is_none());
    }
    unique
}

/// Inserts the `n`-gram at `start` by its hash and start; equal hashes are confirmed
/// by comparing the tokens. `true` when it was not there yet.
#[inline]
fn insert_hashed<T: TokenId>(
    pass: &mut Pass<'_>,
    row: &[T],
    start: usize,
    n: usize,
    (s0, s1): (u64, u64),
) -> bool {
    let gram = &row[start..start + n];
    let h = gram
        .iter()
        .fold(s0, |h, t| folded_multiply(h ^ t.to_i64() as u64, s1));
    let same = |s: &Slot| {
        let other = s.hi as usize;
        s.lo == h && row.get(other..other + n) == Some(gram)
    };
    pass.insert(h, h, start as u64, same).is_none()
}

/// One pass over a [`Table`]: its first `2^k` slots, of which those with the pass's
/// stamp are full.
struct Pass<'a> {
    slots: &'a mut [Slot],
    shift: u32,
    stamp: u32,
}

impl Table {
    /// Starts a pass over `items` keys: at least twice as many slots (a power of two, so
    /// most probes take one step) under a fresh stamp. Only the table's first slots are
    /// used, so that small rows stay in a small, hot prefix.
    fn begin(&mut self, items: usize) -> Result<Pass<'_>, AllocError> {
        let (want, grew) = alloc::size_table(&mut self.slots, items, 2)?;
        if grew {
            self.stamp = 0;
        }
        if self.stamp == u32::MAX {
            // The stamps wrapped around: empty every slot once.
            self.slots.fill(Slot::default());
            self.stamp = 0;
        }
        self.stamp += 1;
        Ok(Pass {
            slots: &mut self.slots[..want],
            shift: 64 - want.trailing_zeros(),
            stamp: self.stamp,
        })
    }
}

impl Pass<'_> {
    /// Inserts the key whose hash is `h`, stored as `(lo, hi)`, where `same` tells
    /// whether a full slot holds it: `None` when it was not there yet, else the `hi` of
    /// the slot that holds it.
    #[inline(always)]
    fn insert(&mut self, h: u64, lo: u64, hi: u64, same: impl Fn(&Slot) -> bool) -> Option<u64> {
        let mask = self.slots.len() - 1;
        let mut s = (h >> self.shift) as usize;
        loop {
            let slot = &mut self.slots[s & mask];
            if slot.stamp != self.stamp {
                *slot = Slot {
                    lo,
                    hi,
                    stamp: self.stamp,
                };
                return None;
            }
            if same(slot) {
                return Some(slot.hi);
            }
            s += 1;
        }
    }
}

/// How many bytes of `flags` are non-zero, counted in byte lanes 255 at a time so that
/// it vectorises.
fn count_set(flags: &[u8]) -> usize {
    flags
        .chunks(u8::MAX as usize)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &f| n + u8::from(f != 0))))
        .sum()
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
        let range = responses.row_range(i);
        if range.len() < n {
            return Ok(0.0);
        }
        let total = range.len() - n + 1;
        let unique = set
            .distinct_in(responses.values(), range, n)
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
    fn filter_collisions_fall_back_to_exact_counts() {
        // 30k-token rows over 2^13 buckets: thousands of buckets hold two distinct ids,
        // which the filter flags and the exact table must clear again. Mostly distinct
        // ids with some repeats, so that every keying takes the two-pass path.
        let mut next = crate::testing::xorshift(0x51_7CC1_B727_220Au64);
        let mut set = NgramSet::default();
        for round in 0..6 {
            let len = 30_000usize;
            let row: Vec<i64> = (0..len)
                .map(|i| {
                    if next(10) == 0 {
                        (i as i64) / 2
                    } else {
                        next(1 << 40) as i64
                    }
                })
                .collect();
            for n in [1usize, 2, 3, 4, 6] {
                let naive: std::collections::HashSet<&[i64]> = row.windows(n).collect();
                assert_eq!(
                    set.distinct(&row, n).unwrap(),
                    naive.len(),
                    "round {round} n={n}"
                );
                let narrow: Vec<i32> = row.iter().map(|&t| t as i32).collect();
                let naive: std::collections::HashSet<&[i32]> = narrow.windows(n).collect();
                assert_eq!(set.distinct(&narrow, n).unwrap(), naive.len(), "i32 n={n}");
            }
        }
    }

    #[test]
    fn distinct_forgets_a_refilled_buffer() {
        // The same buffer, refilled with a row of one repeated token: no bucket hashed
        // for the distinct row before may be reused.
        let mut set = NgramSet::default();
        let mut buf: Vec<i32> = (0..64).collect();
        assert_eq!(set.distinct(&buf, 1).unwrap(), 64);
        buf.fill(9);
        assert_eq!(set.distinct(&buf, 1).unwrap(), 1);
        buf.iter_mut().enumerate().for_each(|(i, t)| *t = i as i32);
        assert_eq!(set.distinct(&buf, 2).unwrap(), 63);
    }

    #[test]
    fn doubling_counts_the_same_ngrams_as_whole_windows() {
        // rows over small alphabets (many repeats) and n on both sides of the threshold
        let mut next = crate::testing::xorshift(0x2545_F491_4F6C_DD1Du64);
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
    fn every_keying_counts_the_distinct_ngrams() {
        let mut next = crate::testing::xorshift(0x9E37_79B9_7F4A_7C15u64);
        // One set over rows of changing lengths and keyings: a slot left by a longer row
        // must never count for a later one.
        let mut set = NgramSet::default();
        let mut seen = std::collections::HashSet::new();
        for round in 0..600 {
            let len = 1 + next(if round % 7 == 0 { 400 } else { 40 }) as usize;
            let alphabet = [2, 5, 64, 1 << 40][round % 4];
            // int64 ids: small, beyond 32 bits, or negative (both leave the 32-bit lanes).
            let offset = [0i64, 0, 1 << 33, -3][(round / 4) % 4];
            let row: Vec<i64> = (0..len).map(|_| next(alphabet) as i64 + offset).collect();
            let narrow: Vec<i32> = row.iter().map(|&t| t as i32).collect();
            // Only int64 rows with an id outside [0, 2^32) leave the 32-bit lanes.
            let fits = row.iter().all(|&t| (0..1 << 32).contains(&t));
            assert_eq!(set.mark_repeated(&row).unwrap().1, fits);
            assert_eq!(fits_32_bits(&row), fits);
            assert!(set.mark_repeated(&narrow).unwrap().1 && fits_32_bits(&narrow));
            for n in 1..=9.min(len) {
                seen.insert(keying(n, fits));
                let naive: std::collections::HashSet<&[i64]> = row.windows(n).collect();
                let naive_narrow: std::collections::HashSet<&[i32]> = narrow.windows(n).collect();
                // Both ways of counting: two passes (which may turn to one), and one pass
                // straight away, as after a repetitive row.
                for dense in [false, true] {
                    (set.dense, set.rows) = (dense, 0);
                    assert_eq!(set.distinct(&row, n).unwrap(), naive.len(), "n={n} {row:?}");
                    (set.dense, set.rows) = (dense, 0);
                    assert_eq!(set.distinct(&narrow, n).unwrap(), naive_narrow.len());
                }
                if n >= 2 {
                    let all = set.count_all(&row, n, keying(n, fits)).unwrap();
                    assert_eq!(all, naive.len(), "n={n}");
                }
            }
        }
        assert_eq!(seen.len(), 3);
        // 64-bit lanes keep ids that differ only above bit 32 apart, and the 32-bit lanes
        // of int32 keep negative ids apart from large positive ones.
        assert_eq!(
            set.distinct(&[1i64, 1 + (1 << 32), 1, 1 + (1 << 32)], 2)
                .unwrap(),
            2
        );
        assert_eq!(
            set.distinct(&[-1i32, i32::MAX, -1, i32::MIN], 1).unwrap(),
            3
        );
    }

    #[test]
    fn equal_hashes_of_different_keys_are_both_kept() {
        let mut table = Table::default();
        let mut pass = table.begin(8).unwrap();
        let same = |lo: u64, hi: u64| move |s: &Slot| s.lo == lo && s.hi == hi;
        // One hash for every key: each probe walks past the others (wrapping around the
        // end of the table), and only an equal key is found.
        for k in 0..8 {
            assert_eq!(pass.insert(u64::MAX, k, k + 1, same(k, k + 1)), None);
        }
        for k in 0..8 {
            assert_eq!(pass.insert(u64::MAX, k, k + 1, same(k, k + 1)), Some(k + 1));
        }
        assert_eq!(pass.insert(u64::MAX, 0, 0, same(0, 0)), None);
    }

    #[test]
    fn stamps_wrapping_around_empty_the_table() {
        let mut set = NgramSet::default();
        let row = [1i32, 2, 3, 4, 5, 6];
        assert_eq!(set.distinct(&row, 2).unwrap(), 5);
        set.table.stamp = u32::MAX - 2;
        for _ in 0..4 {
            // Every slot written under the old stamps must read as empty after the wrap.
            assert_eq!(set.distinct(&row, 2).unwrap(), 5);
            assert_eq!(set.distinct(&[7i32, 7, 7], 2).unwrap(), 1);
        }
        assert!(set.table.stamp < 16);
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
