//! Bag-of-tokens F1 (SQuAD's F1 over token ids) and the multiset counters behind it.

use super::check_pair;
use crate::alloc::{self, AllocError};
use crate::batch::{map_rows_with, score};
use crate::error::CoreResult;
use crate::ragged::{Ragged, TokenId};

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
    /// Prepares an empty table for up to `items` distinct keys (16 slots of 16 bytes a
    /// key at most: the allocation is fallible).
    fn reset(&mut self, items: usize) -> Result<(), AllocError> {
        let (want, _) = alloc::size_table(&mut self.slots, items, 4)?;
        let used = self.used.len();
        self.used
            .try_reserve_exact(items.saturating_sub(used))
            .map_err(|_| AllocError::of::<u32>(items))?;
        // Only the first `want` slots are used: small rows stay in a small, hot prefix.
        self.shift = 64 - want.trailing_zeros();
        self.mask = want - 1;
        self.key = crate::hashkey::process_key();
        Ok(())
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
    pub fn common<T: TokenId>(&mut self, a: &[T], b: &[T]) -> Result<usize, AllocError> {
        self.reset(b.len())?;
        for &t in b {
            self.add_ref(t.to_i64());
        }
        for &t in a {
            self.hit_resp(t.to_i64());
        }
        Ok(self.common_and_clear())
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
    map_rows_with::<F1Scratch<T>, _, _>("responses", responses.len(), |i, scratch| {
        let (resp, refs) = (responses.row(i), references.row(i));
        if resp.is_empty() || refs.is_empty() {
            return Ok(score(resp.is_empty() && refs.is_empty()));
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
                scratch
                    .table
                    .common(a, b)
                    .map_err(|e| e.named(&format!("references[{i}]"), "a token count table"))?
            };
        Ok(f1(common, resp.len(), refs.len()))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::token::rg;

    #[test]
    fn bag_of_tokens_f1() {
        // responses: [1 2 3], [4], [], [5 6 5 6 7]; references: [1 2 3], [4 4], [], [5 6 7]
        let (rv, ro) = ([1, 2, 3, 4, 5, 6, 5, 6, 7], [0, 3, 4, 4, 9]);
        let (fv, fo) = ([1, 2, 3, 4, 4, 5, 6, 7], [0, 3, 5, 5, 8]);
        let (r, f) = (rg(&rv, &ro), rg(&fv, &fo));
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
            let want = table.common(&a, &b).unwrap();
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
    fn count_table_reuse_and_growth() {
        let mut t = CountTable::default();
        assert_eq!(t.common(&[7i64, 7, 7, 8], &[7, 7, 9]).unwrap(), 2);
        assert_eq!(t.common(&[9i64], &[1, 2]).unwrap(), 0);
        let big: Vec<i64> = (0..1000).map(|k| k * 1_000_003).collect();
        assert_eq!(t.common(&big, &big).unwrap(), 1000);
        assert_eq!(t.common(&big[..10], &big[5..]).unwrap(), 5);
        assert_eq!(
            t.common(&[i64::MIN, 0], &[0, i64::MIN, i64::MIN]).unwrap(),
            2
        );
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
                let want = t.common(&a, &b).unwrap();
                let mut s = F1Scratch::default();
                assert_eq!(pairs(&a, &b, &mut s), want);
                assert_eq!(common_pairs_portable(&a, &b, &mut s), want);
                assert_eq!(t.common(&b, &a).unwrap(), want);
            }
        }
    }
}
