//! Eight rows' backward recursions at once, one row per lane of an AVX vector (x86_64
//! CPUs with AVX2, detected at run time; `lanes` is the SSE2 path for the others and for
//! a block's last rows).
//!
//! For each line of 16 columns, the eight rows' lines of every input are loaded and
//! transposed (8 x 8 in registers) into column buffers on the stack, one time step per
//! vector; the recursion then runs down those buffers, so its loop holds only the chains
//! and the constants in registers. The results are transposed back into rows of a
//! per-thread scratch buffer, where the block's moments are taken while it is in cache,
//! and streamed to the caller's outputs front to back.
//!
//! Memory, not arithmetic, bounds these kernels: a backward scan over forty row streams
//! (eight rows of five arrays, 4 KiB apart for T = 1024) defeats the hardware
//! prefetcher, so the next group's inputs are prefetched front to back during the scan.
//! On the 2-core EPYC VM, single-threaded GAE on (4096, 1024) went from 18 ms (the SSE2
//! lanes) to 12 ms.
//!
//! Every lane performs exactly the scalar recursion's float32 operations in the same
//! order (no fused multiply-add), so the results are bit-identical to
//! `temporal::gae_row` / `temporal::returns_row`.

use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_and_ps, _mm256_blendv_ps, _mm256_cmp_ps, _mm256_loadu_ps,
    _mm256_movemask_ps, _mm256_mul_ps, _mm256_or_ps, _mm256_permute2f128_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_sub_ps, _mm256_unpackhi_ps,
    _mm256_unpacklo_ps, _CMP_NEQ_UQ,
};

use std::mem::MaybeUninit;

use super::blocks::{block_moments_onto, write_streaming, write_streaming_unfenced, BlockOut};
use crate::mask::Mask;

/// Rows per call: the lanes of one AVX vector.
pub(super) const LANES: usize = 8;

/// Columns per line: one 64-byte cache line of float32.
const LINE: usize = 16;

/// The longest rows these kernels take: their scratch (two outputs of eight rows) is then
/// at most 4 MiB per thread, kept for the thread's next call. Longer rows would not fit
/// in cache anyway and go to the SSE2 lanes, which write the outputs directly.
const MAX_COLS: usize = 64 * 1024;

/// Whether this module's kernels run rows of `cols` columns on this CPU.
pub(super) fn available(cols: usize) -> bool {
    cols <= MAX_COLS && std::is_x86_feature_detected!("avx2")
}

/// The transpose of an 8 x 8 tile held as eight vectors (rows in, columns out, or back).
#[inline(always)]
unsafe fn transpose(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]); // a0 b0 a1 b1 | a4 b4 a5 b5
    let t1 = _mm256_unpackhi_ps(r[0], r[1]); // a2 b2 a3 b3 | a6 b6 a7 b7
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2); // a0 b0 c0 d0 | a4 b4 c4 d4
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2); // a1 b1 c1 d1 | a5 b5 c5 d5
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

/// Columns `j..j + 16` of the eight rows of `x` (row stride `stride`) into `cols`, one
/// column per vector.
#[inline(always)]
unsafe fn load_line(x: &[f32], stride: usize, j: usize, cols: &mut [__m256; LINE]) {
    for half in 0..2 {
        let mut rows = [_mm256_setzero_ps(); 8];
        for (k, row) in rows.iter_mut().enumerate() {
            *row = _mm256_loadu_ps(x[k * stride + j + 8 * half..][..8].as_ptr());
        }
        let t = transpose(rows);
        cols[8 * half..8 * half + 8].copy_from_slice(&t);
    }
}

/// The columns in `cols` stored as columns `j..j + 16` of the eight rows of `out`.
#[inline(always)]
unsafe fn store_line(out: &mut [f32], stride: usize, j: usize, cols: &[__m256; LINE]) {
    for half in 0..2 {
        let mut t = [cols[0]; 8];
        t.copy_from_slice(&cols[8 * half..8 * half + 8]);
        for (k, row) in transpose(t).into_iter().enumerate() {
            let s = &mut out[k * stride + j + 8 * half..][..8];
            _mm256_storeu_ps(s.as_mut_ptr(), row);
        }
    }
}

/// Lanes where `x` is NaN or infinite (`x - x` is NaN exactly there).
#[inline(always)]
unsafe fn nonfinite(x: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_NEQ_UQ>(_mm256_sub_ps(x, x), _mm256_setzero_ps())
}

/// Lane masks (all bits set where the element is set) from a mask line made 0.0 / 1.0.
#[inline(always)]
unsafe fn is_on(x: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_NEQ_UQ>(x, _mm256_setzero_ps())
}

/// Runs `step(r, v, on) -> (a, b)` over the columns of eight rows from the end: first the
/// `cols % 16` end columns one at a time, then a line of 16 columns at a time. With
/// `VALUES`, `v` is read and `b` stored into `out_b`; without, `v` stands for `r` and
/// `out_b` is not touched. Every slot of the eight rows of `out_a` (and `out_b`) is
/// written. Returns whether every element read from `r` (and `v`) was finite.
///
/// While it runs, the next eight rows of `r`, `v` and `m` (the next group, which the same
/// thread usually scans next) are prefetched front to back, a share per line: read from
/// the end in place, the forty row streams each missed on their own, and the scan waited
/// on memory half of its time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn scan8<M: Mask, const VALUES: bool>(
    r: &[f32],
    v: &[f32],
    m: &[M],
    cols: usize,
    out_a: &mut [f32],
    out_b: &mut [f32],
    mut step: impl FnMut(__m256, __m256, __m256) -> (__m256, __m256),
) -> bool {
    let n = LANES * cols;
    let (r, m, out_a) = (&r[..n], &m[..n], &mut out_a[..n]);
    let (v, out_b) = if VALUES {
        (&v[..n], &mut out_b[..n])
    } else {
        (r, &mut out_b[..0])
    };
    let mut bad = _mm256_setzero_ps();
    let lines = cols - cols % LINE;
    for j in (lines..cols).rev() {
        let (mut rc, mut vc, mut mc) = ([0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES]);
        for k in 0..LANES {
            rc[k] = r[k * cols + j];
            vc[k] = v[k * cols + j];
            mc[k] = f32::from(u8::from(m[k * cols + j].is_set()));
        }
        let rc = _mm256_loadu_ps(rc.as_ptr());
        let vc = _mm256_loadu_ps(vc.as_ptr());
        bad = _mm256_or_ps(bad, _mm256_or_ps(nonfinite(rc), nonfinite(vc)));
        let (a, b) = step(rc, vc, is_on(_mm256_loadu_ps(mc.as_ptr())));
        let mut c = [0.0f32; LANES];
        _mm256_storeu_ps(c.as_mut_ptr(), a);
        for (k, x) in c.into_iter().enumerate() {
            out_a[k * cols + j] = x;
        }
        if VALUES {
            _mm256_storeu_ps(c.as_mut_ptr(), b);
            for (k, x) in c.into_iter().enumerate() {
                out_b[k * cols + j] = x;
            }
        }
    }
    let next = Prefetch::new(lines / LINE, n * 4);
    let next_m = Prefetch::new(lines / LINE, n * std::mem::size_of::<M>());
    let zero = _mm256_setzero_ps();
    let (mut rl, mut vl, mut ml) = ([zero; LINE], [zero; LINE], [zero; LINE]);
    let (mut al, mut bl) = ([zero; LINE], [zero; LINE]);
    let mut mb = [0.0f32; LANES * LINE];
    for (i, j) in (0..lines).step_by(LINE).rev().enumerate() {
        next.fetch(r.as_ptr().wrapping_add(n).cast(), i);
        if VALUES {
            next.fetch(v.as_ptr().wrapping_add(n).cast(), i);
        }
        next_m.fetch(m.as_ptr().wrapping_add(n).cast(), i);
        load_line(r, cols, j, &mut rl);
        if VALUES {
            load_line(v, cols, j, &mut vl);
        }
        for k in 0..LANES {
            let src = &m[k * cols + j..][..LINE];
            for (u, x) in mb[k * LINE..][..LINE].iter_mut().zip(src) {
                *u = f32::from(u8::from(x.is_set()));
            }
        }
        load_line(&mb, LINE, 0, &mut ml);
        for t in (0..LINE).rev() {
            let (rc, vc) = (rl[t], if VALUES { vl[t] } else { rl[t] });
            bad = _mm256_or_ps(bad, _mm256_or_ps(nonfinite(rc), nonfinite(vc)));
            (al[t], bl[t]) = step(rc, vc, is_on(ml[t]));
        }
        store_line(out_a, cols, j, &al);
        if VALUES {
            store_line(out_b, cols, j, &bl);
        }
    }
    _mm256_movemask_ps(bad) == 0
}

/// Prefetches of a region of `bytes` spread over `steps` calls, front to back.
struct Prefetch {
    lines: usize,
    per_step: usize,
}

impl Prefetch {
    fn new(steps: usize, bytes: usize) -> Prefetch {
        let lines = bytes.div_ceil(64);
        Prefetch {
            lines,
            per_step: lines.div_ceil(steps.max(1)),
        }
    }

    /// Step `i`'s share of the region at `base`. Only hints: an address past the end of
    /// the caller's array (the last group has no next one) is never read, and prefetches
    /// do not fault.
    #[inline(always)]
    unsafe fn fetch(&self, base: *const u8, i: usize) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        let first = i * self.per_step;
        for l in first..(first + self.per_step).min(self.lines) {
            _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(64 * l).cast::<i8>());
        }
    }
}

/// `on ? a : b` per lane.
#[inline(always)]
unsafe fn select(on: __m256, a: __m256, b: __m256) -> __m256 {
    _mm256_blendv_ps(b, a, on)
}

/// GAE over eight rows (see `temporal::gae`): `adv` gets the advantages and `ret` the
/// returns `A + V` of rows `0..8` of `r`, `v`, `m` (row stride `cols`), every slot of
/// their eight rows written. Returns `init` continued with these rows' advantage moments
/// and mask status (as `block_moments`), whether their outputs are finite and whether
/// every reward and value was.
///
/// # Safety
/// The CPU must support AVX2 (see [`available`]).
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gae8<M: Mask>(
    r: &[f32],
    v: &[f32],
    m: &[M],
    cols: usize,
    (gamma, gamma_lam): (f32, f32),
    adv: &mut [MaybeUninit<f32>],
    ret: &mut [MaybeUninit<f32>],
    init: BlockOut,
) -> BlockOut {
    let n = LANES * cols;
    let mut buf = Scratch::take(2 * n);
    let (sa, rest) = buf.0.split_at_mut(n);
    let sb = &mut rest[..n];
    let (g, gl) = (_mm256_set1_ps(gamma), _mm256_set1_ps(gamma_lam));
    let (mut next_value, mut last) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let finite = scan8::<M, true>(r, v, m, cols, sa, sb, |r, v, on| {
        let delta = _mm256_sub_ps(_mm256_add_ps(r, _mm256_mul_ps(g, next_value)), v);
        let candidate = _mm256_add_ps(delta, _mm256_mul_ps(gl, last));
        last = select(on, candidate, last);
        next_value = select(on, v, next_value);
        (last, _mm256_add_ps(last, v))
    });
    let out = block_moments_onto(init, sa, &m[..n], cols);
    let ret_finite = sb.iter().fold(true, |ok, x| ok & x.is_finite());
    write_streaming_unfenced(&mut adv[..n], sa);
    write_streaming(&mut ret[..n], sb);
    buf.give_back();
    BlockOut {
        inputs_finite: out.inputs_finite & finite,
        finite: out.finite & ret_finite,
        ..out
    }
}

/// Discounted returns over eight rows (see `temporal::discounted_returns`) into `out`,
/// every slot of its eight rows written. Returns `init` continued with these rows'
/// moments and mask status (as `block_moments`), and whether every reward was finite.
///
/// # Safety
/// The CPU must support AVX2 (see [`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn returns8<M: Mask>(
    r: &[f32],
    m: &[M],
    cols: usize,
    gamma: f32,
    out: &mut [MaybeUninit<f32>],
    init: BlockOut,
) -> BlockOut {
    let n = LANES * cols;
    let mut buf = Scratch::take(n);
    let sa = &mut buf.0[..n];
    let g = _mm256_set1_ps(gamma);
    let mut running = _mm256_setzero_ps();
    let zero = _mm256_setzero_ps();
    let finite = scan8::<M, false>(r, r, m, cols, sa, &mut [], |r, _, on| {
        let next = _mm256_add_ps(r, _mm256_mul_ps(g, running));
        running = select(on, next, running);
        (_mm256_and_ps(on, next), zero)
    });
    let moments = block_moments_onto(init, sa, &m[..n], cols);
    write_streaming(&mut out[..n], sa);
    buf.give_back();
    BlockOut {
        inputs_finite: moments.inputs_finite & finite,
        ..moments
    }
}

thread_local! {
    static SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// This thread's scratch buffer for one group's outputs, taken out of its slot: the scan
/// writes them there (in cache), their moments are taken there, and they are streamed to
/// the caller's arrays front to back.
struct Scratch(Vec<f32>);

impl Scratch {
    fn take(len: usize) -> Scratch {
        let mut v = SCRATCH.with(std::cell::Cell::take);
        if v.len() < len {
            v.resize(len, 0.0);
        }
        Scratch(v)
    }
    fn give_back(self) {
        SCRATCH.with(|c| c.set(self.0));
    }
}
