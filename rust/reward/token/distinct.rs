//! The all-distinct test of a short row: when no token of a row repeats, no n-gram of it
//! does, and [`super::repetition`] counts `len - n + 1` without building a table.
//!
//! Two exact ways, chosen per row:
//! - int32 rows of at most [`CONFLICT_MAX_LEN`] tokens, on CPUs with a fast AVX-512 CD
//!   (AMD's): the tokens themselves, 16 to a vector, compared by `vpconflictd` (no
//!   hashing, no table);
//! - every other row: hashed buckets with per-row stamps, each bucket hit confirmed
//!   against the row's earlier tokens.

use std::ops::Range;

use crate::alloc::{self, AllocError};
use crate::hashkey::seeds;
use crate::ragged::TokenId;

/// What [`DistinctCheck::check`] found out about a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Every token is distinct.
    Distinct,
    /// Some tokens repeat: `later` positions hold a token seen earlier in the row (so
    /// the row has `len - later` distinct tokens), and every occurrence of a repeated
    /// token is flagged.
    Repeats { later: usize },
    /// Some token may repeat (the stamps cannot tell which).
    Unknown,
}

/// Buckets of [`DistinctCheck`]: 2^14 one-byte stamps (16 KiB, in L1: on this machine a
/// table in L2 costs a nanosecond more per token). One byte wraps around every 255 rows,
/// and emptying 16 KiB then costs less per row than a wider stamp's cache misses.
const DISTINCT_CHECK_BITS: u32 = 14;

/// Rows up to this long try [`DistinctCheck`] first; longer rows go to the exact passes
/// at once.
pub(crate) const DISTINCT_CHECK_MAX_LEN: usize = 256;

/// Tokens hashed at a time by [`DistinctCheck`]: the row asked for and the ones after it
/// in the batch (8 KiB of buckets, in L1 with the stamps).
const DISTINCT_CHECK_SPAN: usize = 4096;

/// A one-pass test that every token of a short row is distinct.
///
/// Per hashed bucket, the stamp of the last row that hit it: a token whose bucket already
/// holds this row's stamp is a candidate, a repeat or a token sharing its bucket with an
/// earlier one. Each candidate is then compared with every earlier token of the row (a
/// vectorised scan), so the answer is exact: a repeated token's second occurrence always
/// finds its bucket stamped. A new row takes a new stamp instead of clearing the buckets.
///
/// The buckets are hashed a span of the batch's tokens at a time, from the row asked for
/// on: the rows a worker scores follow each other in the batch, so most rows find theirs
/// hashed already, and the hash runs as one long vectorised loop (AVX2 where the CPU has
/// it) instead of a short one per row. The stamp loop is left with one load and one store
/// per token.
pub(crate) struct DistinctCheck {
    stamps: Box<[u8; 1 << DISTINCT_CHECK_BITS]>,
    stamp: u8,
    /// Buckets of the tokens `span.start..span.end` of the batch at `span_of`.
    buckets: Box<[u16; DISTINCT_CHECK_SPAN]>,
    span: Range<usize>,
    /// Address and length of the batch's tokens the span belongs to.
    span_of: (usize, usize),
}

impl Default for DistinctCheck {
    fn default() -> Self {
        Self {
            stamps: Box::new([0; 1 << DISTINCT_CHECK_BITS]),
            stamp: 0,
            buckets: Box::new([0; DISTINCT_CHECK_SPAN]),
            span: 0..0,
            span_of: (0, 0),
        }
    }
}

impl DistinctCheck {
    /// Drops the hashed span, so that the next row is hashed anew.
    pub(crate) fn forget_span(&mut self) {
        (self.span, self.span_of) = (0..0, (0, 0));
    }

    /// What is known of the row `tokens[row]` (at most [`DISTINCT_CHECK_MAX_LEN`]
    /// tokens): distinct, or (int32 rows the conflict test takes) which tokens repeat,
    /// flagged in `repeated` (resized to the row), or only that some may.
    pub(crate) fn check<T: TokenId>(
        &mut self,
        tokens: &[T],
        row: Range<usize>,
        repeated: &mut Vec<u8>,
    ) -> Result<Check, AllocError> {
        debug_assert!(row.len() <= DISTINCT_CHECK_MAX_LEN && row.end <= tokens.len());
        #[cfg(target_arch = "x86_64")]
        if row.len() <= CONFLICT_MAX_LEN && conflict_is_fast() {
            if let Some(ids) = T::as_i32s(&tokens[row.clone()]) {
                // SAFETY (both calls): the CPU supports AVX-512 F and CD, checked above.
                if unsafe { conflict::distinct(ids) } {
                    return Ok(Check::Distinct);
                }
                alloc::refill(repeated, ids.len(), 0)?;
                let later = unsafe { conflict::repeats(ids, repeated) };
                return Ok(Check::Repeats { later });
            }
        }
        Ok(if self.holds(tokens, row, repeated)? {
            Check::Distinct
        } else {
            Check::Unknown
        })
    }

    /// Whether every token of the row `tokens[row]` (at most [`DISTINCT_CHECK_MAX_LEN`])
    /// is distinct, by the stamps; `candidates` (resized to the row) gets 1 where a
    /// token's bucket was hit before it.
    fn holds<T: TokenId>(
        &mut self,
        tokens: &[T],
        row: Range<usize>,
        candidates: &mut Vec<u8>,
    ) -> Result<bool, AllocError> {
        let batch = (tokens.as_ptr() as usize, tokens.len());
        if self.span_of != batch || row.start < self.span.start || row.end > self.span.end {
            let end = tokens.len().min(row.start + DISTINCT_CHECK_SPAN);
            hash_buckets(
                &tokens[row.start..end],
                &mut self.buckets[..end - row.start],
            );
            (self.span, self.span_of) = (row.start..end, batch);
        }
        self.stamp = match self.stamp.checked_add(1) {
            Some(s) => s,
            None => {
                // The stamps wrapped around: empty every bucket once.
                self.stamps.fill(0);
                1
            }
        };
        let (stamps, stamp) = (&mut *self.stamps, self.stamp);
        let buckets = &self.buckets[row.start - self.span.start..row.end - self.span.start];
        alloc::refill(candidates, row.len(), 0)?;
        // Flags stored and OR-ed, not appended to a list: an append's index would chain
        // every token's compare to the next one's store.
        let mut any = 0u8;
        for (c, &b) in candidates.iter_mut().zip(buckets) {
            let slot = &mut stamps[usize::from(b) & ((1 << DISTINCT_CHECK_BITS) - 1)];
            let hit = u8::from(*slot == stamp);
            *c = hit;
            any |= hit;
            *slot = stamp;
        }
        let row = &tokens[row];
        Ok(any == 0
            || candidates
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != 0)
                .all(|(j, _)| !row[..j].contains(&row[j])))
    }
}

/// `out[j] = ((lo ^ hi ^ k) * 0x9E3779B9) >> (32 - DISTINCT_CHECK_BITS)` in 32-bit
/// arithmetic, where `lo` and `hi` are the halves of `tokens[j]` as 64 bits and `k` the
/// low half of the n-gram table's first seed: Fibonacci hashing.
#[inline(always)]
fn hash_buckets_body<T: TokenId>(tokens: &[T], out: &mut [u16]) {
    let key = seeds().0 as u32;
    for (o, t) in out.iter_mut().zip(tokens) {
        let t = t.to_i64();
        let word = (t as u32) ^ ((t >> 32) as u32) ^ key;
        *o = (word.wrapping_mul(0x9E37_79B9) >> (32 - DISTINCT_CHECK_BITS)) as u16;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hash_buckets_avx2<T: TokenId>(tokens: &[T], out: &mut [u16]) {
    hash_buckets_body(tokens, out);
}

/// [`hash_buckets_body`] with AVX2 where the CPU has it (the wheel targets plain x86-64,
/// whose SSE2 has no 32-bit lane multiply).
fn hash_buckets<T: TokenId>(tokens: &[T], out: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { hash_buckets_avx2(tokens, out) };
    }
    hash_buckets_body(tokens, out);
}

/// Rows up to this long take the AVX-512 conflict test when the CPU has it. It compares
/// every pair of 16-token vectors, so its cost grows with `len^2 / 256`, where the stamps'
/// grows with `len`: 128 is an estimate of where they cross (4 conflicts per pair of
/// vectors at about 2 cycles each, against about 3 cycles a token), measured only on the
/// bench's rows of 32 to 96 tokens, on an AMD EPYC (Zen 4).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CONFLICT_MAX_LEN: usize = 128;

#[cfg(target_arch = "x86_64")]
fn has_avx512cd() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512cd")
}

/// Whether rows take the conflict test: the CPU has AVX-512 CD and runs `vpconflictd`
/// fast, which AMD's Zen 4 and later do (a few cycles per vector). Intel's cores
/// microcode it (tens of micro-ops per vector): on the 2-core Xeon VM the bench's
/// `repetition_penalty` took 15 ms with it and 7.4 ms with the stamps. Read once: CPUID
/// traps to the hypervisor in a VM.
#[cfg(target_arch = "x86_64")]
fn conflict_is_fast() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(|| has_avx512cd() && cpu_vendor_is_amd())
}

/// Whether CPUID's vendor string is "AuthenticAMD".
#[cfg(target_arch = "x86_64")]
fn cpu_vendor_is_amd() -> bool {
    // SAFETY: CPUID leaf 0 exists on every x86_64 CPU (newer Rust declares the intrinsic
    // safe, older Rust back to the MSRV unsafe: hence the allow).
    #[allow(unused_unsafe)]
    let id = unsafe { std::arch::x86_64::__cpuid(0) };
    let mut vendor = [0u8; 12];
    for (k, word) in [id.ebx, id.edx, id.ecx].into_iter().enumerate() {
        vendor[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
    }
    &vendor == b"AuthenticAMD"
}

#[cfg(target_arch = "x86_64")]
mod conflict {
    use std::arch::x86_64::*;

    use super::CONFLICT_MAX_LEN;

    /// 16-id blocks of a row.
    const BLOCKS: usize = CONFLICT_MAX_LEN / 16;

    /// `ids` (at most [`CONFLICT_MAX_LEN`]) as 16-lane blocks, lanes past the end 0; the
    /// live lanes of each block; the number of blocks.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_blocks(ids: &[i32]) -> ([__m512i; BLOCKS], [u16; BLOCKS], usize) {
        let mut v = [_mm512_setzero_si512(); BLOCKS];
        let mut live = [0u16; BLOCKS];
        for (c, chunk) in ids.chunks(16).enumerate() {
            let lanes = (u32::MAX >> (32 - chunk.len())) as u16;
            // SAFETY: the masked load reads `chunk.len()` ids from `chunk`, no further.
            v[c] = unsafe { _mm512_maskz_loadu_epi32(lanes, chunk.as_ptr()) };
            live[c] = lanes;
        }
        (v, live, ids.len().div_ceil(16))
    }

    /// Whether the `ids` (at most [`CONFLICT_MAX_LEN`]) are pairwise distinct.
    ///
    /// `vpconflictd` gives each lane of a 16-lane vector the bits of the lower lanes
    /// equal to it. Each 16-token block is tested on its own; a pair of blocks `a < b` is
    /// tested as four 16-lane vectors, each half of `a` against each half of `b`, of which
    /// only the lanes of `b` are kept. Lanes past the row's end are loaded as 0 and masked
    /// out of every result: they are the highest lanes, and a kept lane only reports
    /// lower ones.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and CD.
    #[target_feature(enable = "avx512f,avx512cd")]
    pub(super) unsafe fn distinct(ids: &[i32]) -> bool {
        debug_assert!(ids.len() <= CONFLICT_MAX_LEN);
        let (v, live, blocks) = load_blocks(ids);
        let mut seen = _mm512_setzero_si512();
        for a in 0..blocks {
            seen = _mm512_or_si512(seen, _mm512_maskz_conflict_epi32(live[a], v[a]));
            // `a`'s high half moved down: lanes 0..8 of each vector are the half used.
            let a_halves = [v[a], _mm512_shuffle_i64x2::<0b11_10_11_10>(v[a], v[a])];
            for b in a + 1..blocks {
                let b_halves = [v[b], _mm512_shuffle_i64x2::<0b11_10_11_10>(v[b], v[b])];
                // Lanes 8..16 of the joined vector are `b`'s half: the kept ones.
                let b_live = [(live[b] & 0xFF) << 8, live[b] & 0xFF00];
                for x in a_halves {
                    for (y, keep) in b_halves.into_iter().zip(b_live) {
                        let joined = _mm512_shuffle_i64x2::<0b01_00_01_00>(x, y);
                        let found = _mm512_maskz_conflict_epi32(keep, joined);
                        seen = _mm512_or_si512(seen, found);
                    }
                }
            }
        }
        _mm512_test_epi32_mask(seen, seen) == 0
    }

    /// Sets `flags[j] = 1` for every position of `ids` (at most [`CONFLICT_MAX_LEN`]) whose
    /// id occurs more than once, 0 elsewhere (`flags.len() == ids.len()`), and returns how
    /// many positions hold an id seen at an earlier one.
    ///
    /// The vectors are those of [`distinct`]: a kept lane with a conflict is a later
    /// occurrence, and the lanes its bits name are earlier ones.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and CD.
    #[target_feature(enable = "avx512f,avx512cd")]
    pub(super) unsafe fn repeats(ids: &[i32], flags: &mut [u8]) -> usize {
        debug_assert!(ids.len() <= CONFLICT_MAX_LEN && flags.len() == ids.len());
        let (v, live, blocks) = load_blocks(ids);
        // Per block, bit per lane: an id seen at a lower position / at a higher one.
        let (mut later, mut earlier) = ([0u16; BLOCKS], [0u16; BLOCKS]);
        for a in 0..blocks {
            let found = _mm512_maskz_conflict_epi32(live[a], v[a]);
            later[a] |= _mm512_test_epi32_mask(found, found);
            earlier[a] |= _mm512_reduce_or_epi32(found) as u16;
            let a_halves = [v[a], _mm512_shuffle_i64x2::<0b11_10_11_10>(v[a], v[a])];
            for b in a + 1..blocks {
                let b_halves = [v[b], _mm512_shuffle_i64x2::<0b11_10_11_10>(v[b], v[b])];
                let b_live = [(live[b] & 0xFF) << 8, live[b] & 0xFF00];
                for (hx, x) in a_halves.into_iter().enumerate() {
                    for (hy, (y, keep)) in b_halves.into_iter().zip(b_live).enumerate() {
                        let joined = _mm512_shuffle_i64x2::<0b01_00_01_00>(x, y);
                        let found = _mm512_maskz_conflict_epi32(keep, joined);
                        // Lanes 8..16 are `b`'s half `hy`; bits 0..8 name `a`'s half `hx`.
                        let lanes = _mm512_test_epi32_mask(found, found) >> 8;
                        later[b] |= lanes << (8 * hy);
                        let named = _mm512_reduce_or_epi32(found) as u16;
                        earlier[a] |= (named & 0xFF) << (8 * hx);
                        earlier[b] |= (named >> 8) << (8 * hy);
                    }
                }
            }
        }
        for (j, f) in flags.iter_mut().enumerate() {
            let (c, lane) = (j / 16, j % 16);
            *f = (((later[c] | earlier[c]) >> lane) & 1) as u8;
        }
        later[..blocks]
            .iter()
            .map(|l| l.count_ones() as usize)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ragged::Ragged;
    use crate::reward::token::NgramSet;

    /// Distinct i64 ids in groups that share one bucket of the distinct check.
    fn colliding_ids(groups: usize, per_group: usize) -> Vec<Vec<i64>> {
        let key = seeds().0 as u32;
        let bucket = |t: i64| {
            let word = (t as u32) ^ ((t >> 32) as u32) ^ key;
            word.wrapping_mul(0x9E37_79B9) >> (32 - DISTINCT_CHECK_BITS)
        };
        let mut by_bucket: HashMap<u32, Vec<i64>> = HashMap::new();
        let mut t = 0i64;
        loop {
            // ids on both sides of 2^32 and negative ones, so both halves are hashed
            for id in [t, t + (1 << 32), -t - 1] {
                by_bucket.entry(bucket(id)).or_default().push(id);
            }
            t += 1;
            let full: Vec<Vec<i64>> = by_bucket
                .values()
                .filter(|v| v.len() >= per_group)
                .map(|v| v[..per_group].to_vec())
                .take(groups)
                .collect();
            if full.len() == groups {
                return full;
            }
        }
    }

    #[test]
    fn distinct_check_is_exact_under_bucket_collisions() {
        let mut next = crate::testing::xorshift(0x0DD5_EED5_1234_5678u64);
        let groups = colliding_ids(40, 4);
        let mut check = DistinctCheck::default();
        for round in 0..400 {
            // Distinct ids, most of them sharing a bucket with another.
            let mut row: Vec<i64> = groups
                .iter()
                .take(1 + round % 40)
                .flatten()
                .copied()
                .collect();
            row.extend((0..next(60)).map(|i| (1 << 40) + i as i64));
            for i in (1..row.len()).rev() {
                row.swap(i, next(i as u64 + 1) as usize);
            }
            let row = &row[..row.len().min(DISTINCT_CHECK_MAX_LEN)];
            let mut flags = Vec::new();
            let mut holds = |check: &mut DistinctCheck, row: &[i64]| {
                check.holds(row, 0..row.len(), &mut flags).unwrap()
            };
            assert!(holds(&mut check, row), "round {round}: {row:?}");
            // One repeat anywhere, of a colliding id or not, is always found.
            let mut repeated = row.to_vec();
            let (from, to) = (
                next(row.len() as u64) as usize,
                next(row.len() as u64) as usize,
            );
            if from != to && row.len() < DISTINCT_CHECK_MAX_LEN {
                repeated.insert(to, row[from]);
                assert!(!holds(&mut check, &repeated), "round {round}: {repeated:?}");
            }
        }
    }

    #[test]
    fn distinct_check_spans_follow_the_batch() {
        // Rows scored in batch order, in random order and twice over, by one set: every
        // row's count is its own, whether its tokens were hashed with an earlier row's
        // span, start a span, or run past one.
        let mut next = crate::testing::xorshift(0xC0FF_EE00_D15E_A5E5u64);
        for (alphabet, max_len) in [(1u64 << 20, 300u64), (50, 40), (3000, 120)] {
            let mut offsets = vec![0i64];
            for _ in 0..600 {
                offsets.push(offsets.last().unwrap() + next(max_len) as i64);
            }
            let tokens: Vec<i64> = (0..*offsets.last().unwrap())
                .map(|_| next(alphabet) as i64)
                .collect();
            let batch = Ragged::new(&tokens, &offsets, "responses").unwrap();
            let mut order: Vec<usize> = (0..batch.len()).collect();
            order.extend((0..batch.len()).map(|_| next(batch.len() as u64) as usize));
            let mut set = NgramSet::default();
            for &i in &order {
                let range = batch.row_range(i);
                for n in [1, 3] {
                    if range.len() < n {
                        continue;
                    }
                    let naive: std::collections::HashSet<&[i64]> =
                        tokens[range.clone()].windows(n).collect();
                    let got = set.distinct_in(&tokens, range.clone(), n).unwrap();
                    assert_eq!(got, naive.len(), "row {i} n={n}");
                }
            }
        }
    }

    #[test]
    fn both_bucket_hashes_agree() {
        let mut next = crate::testing::xorshift(0x1234_5678_9ABC_DEF1u64);
        let tokens: Vec<i64> = (0..1000).map(|_| next(u64::MAX) as i64).collect();
        let (mut portable, mut dispatched) = (vec![0u16; 1000], vec![0u16; 1000]);
        hash_buckets_body(&tokens, &mut portable);
        hash_buckets(&tokens, &mut dispatched);
        assert_eq!(portable, dispatched);
        let narrow: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        hash_buckets_body(&narrow, &mut portable);
        hash_buckets(&narrow, &mut dispatched);
        assert_eq!(portable, dispatched);
    }

    #[test]
    fn distinct_check_stamps_wrap_around() {
        let mut check = DistinctCheck::default();
        let pair = colliding_ids(1, 2).remove(0);
        check.stamp = u8::MAX - 3;
        let mut flags = Vec::new();
        let mut holds = |check: &mut DistinctCheck, row: &[i64], range| {
            check.holds(row, range, &mut flags).unwrap()
        };
        for _ in 0..8 {
            // A stamp left by an earlier row must never count for this one.
            assert!(holds(&mut check, &pair, 0..2));
            assert!(holds(&mut check, &pair, 1..2));
            assert!(!holds(&mut check, &[pair[0], pair[1], pair[0]], 0..3));
        }
        assert!(check.stamp < 24, "the stamps wrapped around");
    }

    #[test]
    fn conflict_test_agrees_with_a_set_at_every_length() {
        #[cfg(target_arch = "x86_64")]
        if has_avx512cd() {
            let mut next = crate::testing::xorshift(0xA5A5_5A5A_0F0F_F0F0u64);
            let mut repeats = 0;
            for round in 0..20_000 {
                let len = round % (CONFLICT_MAX_LEN + 1);
                let alphabet = [1u64 << 31, 4 * len as u64 + 1, 1 << 20][round % 3];
                let mut row: Vec<i32> = (0..len).map(|_| next(alphabet) as i32).collect();
                // Negative ids, and a repeat placed at block edges (lanes 0, 7, 8, 15).
                if round % 5 == 0 {
                    row.iter_mut().for_each(|t| *t = -*t - 1);
                }
                if round % 7 == 0 && len >= 2 {
                    let edges = [0, 7, 8, 15, 16, 31, 112, 127];
                    let at = |k: usize| edges[k % edges.len()] % len;
                    let (i, j) = (at(round / 7), at(round / 7 + 3));
                    row[j] = row[i];
                }
                let naive = row.iter().collect::<std::collections::HashSet<_>>().len() == len;
                repeats += usize::from(!naive);
                // SAFETY: the CPU supports AVX-512 F and CD, checked above.
                assert_eq!(unsafe { conflict::distinct(&row) }, naive, "{row:?}");
                let mut counts: HashMap<i32, usize> = HashMap::new();
                row.iter().for_each(|&t| *counts.entry(t).or_default() += 1);
                let want: Vec<u8> = row.iter().map(|t| u8::from(counts[t] > 1)).collect();
                let mut flags = vec![7u8; len];
                // SAFETY: as above.
                let later = unsafe { conflict::repeats(&row, &mut flags) };
                assert_eq!(flags, want, "{row:?}");
                assert_eq!(later, len - counts.len(), "{row:?}");
            }
            assert!(repeats > 1000, "the rows must exercise both answers");
        }
    }
}
