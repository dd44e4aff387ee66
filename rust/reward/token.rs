//! Token-level rewards over ragged batches: one float32 score per row.
//!
//! Every kernel checks its batches (same number of rows, not empty), then maps rows to
//! scores; rayon takes over above [`PAR_ROWS`] rows. Per-row scratch buffers (hash
//! tables, index lists) are allocated once per worker and reused.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::hashkey::KeyedMix64;
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

/// Open-addressing table counting token ids of one reference row and how many of the
/// response's tokens hit each. Load factor <= 1/4, so most lookups take one probe;
/// after a row only the slots it used are cleared.
#[derive(Default)]
pub struct CountTable {
    slots: Vec<Slot>,
    used: Vec<u32>,
    shift: u32,
    mask: usize,
    /// [`crate::hashkey::process_key`], mixed into every key before hashing.
    key: u64,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: i64,
    /// Occurrences in the reference; 0 marks an empty slot.
    in_ref: u32,
    /// Response tokens that found this key.
    in_resp: u32,
}

impl CountTable {
    /// Prepares an empty table for up to `items` distinct keys.
    fn reset(&mut self, items: usize) {
        let want = (items.max(4) * 4).next_power_of_two();
        if want > self.slots.len() {
            self.slots = vec![Slot::default(); want];
        }
        // Only the first `want` slots are used: small rows stay in a small, hot prefix.
        self.shift = 64 - want.trailing_zeros();
        self.mask = want - 1;
        self.key = crate::hashkey::process_key();
    }

    #[inline]
    fn home(&self, key: i64) -> usize {
        // Fibonacci hashing: the top bits of the product are well mixed.
        (((key as u64) ^ self.key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    fn add_ref(&mut self, key: i64) {
        let mask = self.mask;
        let mut s = self.home(key);
        loop {
            let slot = &mut self.slots[s];
            if slot.in_ref == 0 {
                *slot = Slot {
                    key,
                    in_ref: 1,
                    in_resp: 0,
                };
                self.used.push(s as u32);
                return;
            }
            if slot.key == key {
                slot.in_ref += 1;
                return;
            }
            s = (s + 1) & mask;
        }
    }

    #[inline]
    fn hit_resp(&mut self, key: i64) {
        let mask = self.mask;
        let mut s = self.home(key);
        loop {
            let slot = &mut self.slots[s];
            if slot.in_ref == 0 {
                return;
            }
            if slot.key == key {
                slot.in_resp += 1;
                return;
            }
            s = (s + 1) & mask;
        }
    }

    /// `Σ min(in_ref, in_resp)` over the used slots, clearing them.
    fn common_and_clear(&mut self) -> usize {
        let mut common = 0usize;
        for &s in &self.used {
            if let Some(slot) = self.slots.get_mut(s as usize) {
                common += slot.in_ref.min(slot.in_resp) as usize;
                slot.in_ref = 0;
            }
        }
        self.used.clear();
        common
    }

    /// Multiset intersection size of `a` and `b`.
    pub fn common<T: TokenId>(&mut self, a: &[T], b: &[T]) -> usize {
        self.reset(b.len());
        for &t in b {
            self.add_ref(t.to_i64());
        }
        for &t in a {
            self.hit_resp(t.to_i64());
        }
        self.common_and_clear()
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
    let pairs = pick_common_pairs::<T>();
    Ok(map_rows::<F1Scratch<T>, _>(
        responses.len(),
        |i, scratch| {
            let (resp, refs) = (responses.row(i), references.row(i));
            if resp.is_empty() || refs.is_empty() {
                return score(resp.is_empty() && refs.is_empty());
            }
            // A shared prefix and suffix are common tokens on their own: with A = P X S
            // and B = P Y S, min(cA(t), cB(t)) = cP(t) + cS(t) + min(cX(t), cY(t)).
            let (shared, a, b) = trim_shared_ends(resp, refs);
            let common = shared
                + if a.is_empty() || b.is_empty() {
                    0
                } else if a.len() <= PAIRS_MAX_LEN && b.len() <= PAIRS_MAX_LEN {
                    pairs(a, b, scratch)
                } else {
                    scratch.table.common(a, b)
                };
            f1(common, resp.len(), refs.len())
        },
    ))
}

/// Length of the longest common prefix, compared [`LANES`] tokens at a time.
fn common_prefix_len<T: TokenId>(a: &[T], b: &[T]) -> usize {
    let whole = a
        .chunks_exact(LANES)
        .zip(b.chunks_exact(LANES))
        .take_while(|(x, y)| x == y)
        .count()
        * LANES;
    whole
        + a[whole..]
            .iter()
            .zip(&b[whole..])
            .take_while(|(x, y)| x == y)
            .count()
}

/// `(len(P) + len(S), X, Y)` for `a = P X S` and `b = P Y S` with the longest shared
/// prefix `P` and then the longest shared suffix `S` of what is left.
fn trim_shared_ends<'a, T: TokenId>(a: &'a [T], b: &'a [T]) -> (usize, &'a [T], &'a [T]) {
    let prefix = common_prefix_len(a, b);
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (
        prefix + suffix,
        &a[..a.len() - suffix],
        &b[..b.len() - suffix],
    )
}

/// Row pairs with both sides at most this long are counted with all-pairs comparisons
/// (vectorised); longer ones with the hash table. Both sides: the pairs count scans the
/// response once per position, so a 16384-token response against a 1-token reference
/// would be quadratic.
const PAIRS_MAX_LEN: usize = 128;
/// Lanes of the all-pairs loops: rows are padded to a multiple of this so that the
/// loops have no scalar tail.
const LANES: usize = 16;

/// Per-worker buffers of [`token_f1`].
#[derive(Default)]
pub struct F1Scratch<T> {
    table: CountTable,
    a: Vec<T>,
    b: Vec<T>,
    index: Vec<u32>,
    in_a: Vec<bool>,
    in_b: Vec<bool>,
}

/// `(count of t in chunks, over exact LANES-wide chunks)`, vectorised.
#[inline(always)]
fn count_eq<T: TokenId>(hay: &[T], t: T) -> u32 {
    let mut acc = [0u32; LANES];
    for c in hay.chunks_exact(LANES) {
        for k in 0..LANES {
            acc[k] += u32::from(c[k] == t);
        }
    }
    acc.iter().sum()
}

/// Count of `t` among `hay[q]` with `index[q] < p`.
#[inline(always)]
fn count_eq_before<T: TokenId>(hay: &[T], index: &[u32], t: T, p: u32) -> u32 {
    let mut acc = [0u32; LANES];
    for (c, ix) in hay.chunks_exact(LANES).zip(index.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += u32::from(c[k] == t) & u32::from(ix[k] < p);
        }
    }
    acc.iter().sum()
}

/// Buckets of the per-row prefilter (a power of two).
const BUCKETS: usize = 4096;

#[inline(always)]
fn bucket<T: TokenId>(t: T) -> usize {
    ((t.to_i64() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize
}

/// Multiset intersection size by comparing pairs: response token `p` counts when
/// fewer earlier response tokens equal it than reference tokens do; summed over `p`
/// that is `Σ_t min(count_a(t), count_b(t))`.
///
/// Bucket flags (4096 buckets) skip the scans that cannot match: a token whose bucket
/// is empty in `b` is not in `b`, and one whose bucket holds no earlier `a` token has
/// no earlier equal in `a`. The scans run over copies padded to a multiple of
/// [`LANES`] (made on first need), so they vectorise without a scalar tail: `b` is
/// padded with `b[0]` (the surplus is subtracted), `a`'s padding is masked out by its
/// index.
#[inline(always)]
fn common_pairs_body<T: TokenId>(a: &[T], b: &[T], s: &mut F1Scratch<T>) -> usize {
    let (Some(&a0), Some(&b0)) = (a.first(), b.first()) else {
        return 0;
    };
    if s.in_a.len() != BUCKETS {
        s.in_a = vec![false; BUCKETS];
        s.in_b = vec![false; BUCKETS];
    }
    for &t in b {
        s.in_b[bucket(t)] = true;
    }
    let pad_b = (b.len().next_multiple_of(LANES) - b.len()) as u32;
    let (mut b_ready, mut a_ready) = (false, false);
    let mut common = 0usize;
    for (p, &t) in a.iter().enumerate() {
        let k = bucket(t);
        let seen_before = std::mem::replace(&mut s.in_a[k], true);
        if !s.in_b[k] {
            continue;
        }
        if !b_ready {
            s.b.clear();
            s.b.extend_from_slice(b);
            s.b.resize(b.len() + pad_b as usize, b0);
            b_ready = true;
        }
        let in_b = count_eq(&s.b, t) - if t == b0 { pad_b } else { 0 };
        if in_b == 0 {
            continue;
        }
        let before = if seen_before {
            if !a_ready {
                s.a.clear();
                s.a.extend_from_slice(a);
                s.a.resize(a.len().next_multiple_of(LANES), a0);
                if s.index.len() < s.a.len() {
                    s.index = (0..s.a.len() as u32).collect();
                }
                a_ready = true;
            }
            let upto = (p + 1).next_multiple_of(LANES).min(s.a.len());
            count_eq_before(&s.a[..upto], &s.index[..upto], t, p as u32)
        } else {
            0
        };
        common += usize::from(before < in_b);
    }
    for &t in b {
        s.in_b[bucket(t)] = false;
    }
    for &t in a {
        s.in_a[bucket(t)] = false;
    }
    common
}

fn common_pairs_portable<T: TokenId>(a: &[T], b: &[T], s: &mut F1Scratch<T>) -> usize {
    common_pairs_body(a, b, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn common_pairs_avx2<T: TokenId>(a: &[T], b: &[T], s: &mut F1Scratch<T>) -> usize {
    common_pairs_body(a, b, s)
}

type PairsFn<T> = fn(&[T], &[T], &mut F1Scratch<T>) -> usize;

/// The all-pairs counter for this CPU: AVX2 where available (the wheel targets plain
/// x86-64, so it is chosen at run time), portable code otherwise.
fn pick_common_pairs<T: TokenId>() -> PairsFn<T> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return |a, b, s| {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { common_pairs_avx2(a, b, s) }
        };
    }
    common_pairs_portable
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

/// Open-addressing set of one row's n-grams, stored as (hash, start); equal hashes are
/// confirmed by comparing the n-grams themselves, so the count is exact.
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
fn distinct_by_doubling<T: TokenId>(row: &[T], n: usize, scratch: &mut Doubling) -> usize {
    let len = row.len();
    let Doubling { names, rank, next } = scratch;
    names.clear();
    rank.clear();
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
    names.len()
}

/// Buffers of [`distinct_by_doubling`], kept across the rows of a batch.
#[derive(Default)]
pub struct Doubling {
    names: HashMap<u64, u32, KeyedMix64>,
    rank: Vec<u32>,
    next: Vec<u32>,
}

/// The dense name of `key`: its index in order of first appearance.
fn name(key: u64, names: &mut HashMap<u64, u32, KeyedMix64>) -> u32 {
    let next = names.len() as u32;
    *names.entry(key).or_insert(next)
}

fn pair(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl NgramSet {
    /// Number of distinct `n`-grams of `row` (`row.len() >= n >= 1`).
    pub fn distinct<T: TokenId>(&mut self, row: &[T], n: usize) -> usize {
        if n >= DOUBLING_FROM_N {
            return distinct_by_doubling(row, n, &mut self.doubling);
        }
        let total = row.len() + 1 - n;
        let want = (total.max(4) * 2).next_power_of_two();
        if want > self.slots.len() {
            self.slots = vec![(0, 0); want];
        }
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
        unique
    }
}

/// `max_penalty * (1 - unique / total)` over the row's n-grams (`total = len - n + 1`);
/// 0 for rows shorter than `n`. N-grams are compared exactly.
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
    if responses.max_len() >= u32::MAX as usize {
        return Err(CoreError::arg(
            "responses",
            "rows of 2^32 tokens or more are not supported",
        ));
    }
    Ok(map_rows::<NgramSet, _>(responses.len(), |i, set| {
        let row = responses.row(i);
        if row.len() < n {
            return 0.0;
        }
        let total = row.len() - n + 1;
        let unique = set.distinct(row, n);
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
    fn shared_ends_are_counted_exactly() {
        // Pseudo-random rows from a small vocabulary (many repeats), with and without a
        // shared prefix and suffix: the F1 equals the plain multiset count's.
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % m) as i32
        };
        let mut table = CountTable::default();
        for case in 0..400 {
            let core_a: Vec<i32> = (0..next(20)).map(|_| next(6)).collect();
            let core_b: Vec<i32> = (0..next(20)).map(|_| next(6)).collect();
            let pre: Vec<i32> = (0..next(40)).map(|_| next(6)).collect();
            let suf: Vec<i32> = (0..(case % 3) * next(30) as usize)
                .map(|_| next(6))
                .collect();
            let a: Vec<i32> = [&pre[..], &core_a, &suf].concat();
            let b: Vec<i32> = [&pre[..], &core_b, &suf].concat();
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let want = table.common(&a, &b);
            let (oa, ob) = ([0, a.len() as i64], [0, b.len() as i64]);
            let got = token_f1(&rg(&a, &oa), &rg(&b, &ob)).unwrap()[0];
            assert_eq!(
                got,
                f1(want, a.len(), b.len()),
                "case {case}: {a:?} vs {b:?}"
            );
            let (shared, x, y) = trim_shared_ends(&a, &b);
            assert_eq!(shared + x.len(), a.len());
            assert_eq!(shared + y.len(), b.len());
        }
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
        assert_eq!(t.common(&[7i64, 7, 7, 8], &[7, 7, 9]), 2);
        assert_eq!(t.common(&[9i64], &[1, 2]), 0);
        let big: Vec<i64> = (0..1000).map(|k| k * 1_000_003).collect();
        assert_eq!(t.common(&big, &big), 1000);
        assert_eq!(t.common(&big[..10], &big[5..]), 5);
        assert_eq!(t.common(&[i64::MIN, 0], &[0, i64::MIN, i64::MIN]), 2);
    }

    #[test]
    fn pairs_and_table_agree() {
        let mut t = CountTable::default();
        let pairs = pick_common_pairs::<i64>();
        let mut x = 7u64;
        for len_a in [1usize, 3, 17, 64, 130] {
            for len_b in [1usize, 5, 64, 200] {
                let mut rnd = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 9) as i64
                };
                let a: Vec<i64> = (0..len_a).map(|_| rnd()).collect();
                let b: Vec<i64> = (0..len_b).map(|_| rnd()).collect();
                let want = t.common(&a, &b);
                let mut s = F1Scratch::default();
                assert_eq!(pairs(&a, &b, &mut s), want);
                assert_eq!(common_pairs_portable(&a, &b, &mut s), want);
                assert_eq!(t.common(&b, &a), want);
            }
        }
    }

    #[test]
    fn ngram_set_counts_exactly() {
        let mut set = NgramSet::default();
        assert_eq!(set.distinct(&[1i32, 1, 1, 1], 2), 1);
        let row: Vec<i64> = (0..1000).collect();
        assert_eq!(set.distinct(&row, 3), 998);
        let twice: Vec<i64> = row.iter().chain(row.iter()).copied().collect();
        assert_eq!(set.distinct(&twice, 1), 1000);
        assert_eq!(set.distinct(&[5i32], 1), 1);
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
            let doubled = distinct_by_doubling(&row, n, &mut scratch);
            assert_eq!(doubled, naive.len(), "{row:?} n={n}");
            assert_eq!(set.distinct(&row, n), naive.len());
        }
        // one token repeated: a single n-gram however long, in O(len log n)
        let same = vec![7i64; 200_000];
        assert_eq!(set.distinct(&same, 50_000), 1);
        let ramp: Vec<i64> = (0..200_000).collect();
        assert_eq!(set.distinct(&ramp, 50_000), 150_001);
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
