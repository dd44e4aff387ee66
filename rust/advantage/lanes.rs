//! Four rows' backward recursions at once, one row per lane of an SSE2 vector (x86_64,
//! where SSE2 is always present): the path of CPUs without AVX2 (see `lanes8`), and of
//! the four-row groups after a block's eight-row ones.
//!
//! GAE and REINFORCE++ scan each row from its end, so a row is a chain of dependent
//! float operations; four rows side by side make it one chain of vector operations. Rows
//! are contiguous in memory, so 4 x 4 tiles are loaded row by row and transposed in
//! registers into columns (one time step of the four rows per vector), scanned, and the
//! results transposed back and stored row by row.
//!
//! Every lane performs exactly the scalar recursion's float32 operations in the same
//! order (no fused multiply-add), so the results are bit-identical to
//! `temporal::gae_row` / `temporal::returns_row`.

use std::arch::x86_64::{
    __m128, _mm_add_ps, _mm_and_ps, _mm_andnot_ps, _mm_cmpneq_ps, _mm_loadu_ps, _mm_movehl_ps,
    _mm_movelh_ps, _mm_movemask_ps, _mm_mul_ps, _mm_or_ps, _mm_set1_ps, _mm_setzero_ps,
    _mm_storeu_ps, _mm_sub_ps, _mm_unpackhi_ps, _mm_unpacklo_ps,
};

use std::mem::MaybeUninit;

use crate::mask::Mask;

/// Rows per call: the lanes of one SSE2 vector.
pub(super) const LANES: usize = 4;

/// Floats per cache line.
const LINE: usize = 16;

/// The transpose of a 4 x 4 tile held as four vectors (rows in, columns out, or back).
#[inline(always)]
fn transpose(t: [__m128; 4]) -> [__m128; 4] {
    // SAFETY: SSE2 is part of the x86_64 baseline; these only shuffle registers.
    unsafe {
        let ab_lo = _mm_unpacklo_ps(t[0], t[1]); // a0 b0 a1 b1
        let ab_hi = _mm_unpackhi_ps(t[0], t[1]); // a2 b2 a3 b3
        let cd_lo = _mm_unpacklo_ps(t[2], t[3]); // c0 d0 c1 d1
        let cd_hi = _mm_unpackhi_ps(t[2], t[3]); // c2 d2 c3 d3
        [
            _mm_movelh_ps(ab_lo, cd_lo),
            _mm_movehl_ps(cd_lo, ab_lo),
            _mm_movelh_ps(ab_hi, cd_hi),
            _mm_movehl_ps(cd_hi, ab_hi),
        ]
    }
}

/// The four columns `j..j + 4` of the four rows of `x` (row stride `cols`).
#[inline(always)]
fn load_tile(x: &[f32], cols: usize, j: usize) -> [__m128; 4] {
    let row = |k: usize| -> __m128 {
        let s = &x[k * cols + j..k * cols + j + 4];
        // SAFETY: `s` holds exactly four floats (the slice above is bounds-checked).
        unsafe { _mm_loadu_ps(s.as_ptr()) }
    };
    transpose([row(0), row(1), row(2), row(3)])
}

/// The mask's columns `j..j + 4` as lane masks (all bits set where the element is set).
#[inline(always)]
fn load_mask_tile<M: Mask>(m: &[M], cols: usize, j: usize) -> [__m128; 4] {
    let row = |k: usize| -> __m128 {
        let s = &m[k * cols + j..k * cols + j + 4];
        let unit = [0, 1, 2, 3].map(|i| if s[i].is_set() { 1.0f32 } else { 0.0 });
        // SAFETY: `unit` is four floats.
        unsafe { _mm_loadu_ps(unit.as_ptr()) }
    };
    let cols4 = transpose([row(0), row(1), row(2), row(3)]);
    // SAFETY: SSE2 compares.
    cols4.map(|c| unsafe { _mm_cmpneq_ps(c, _mm_setzero_ps()) })
}

/// Stores the columns `t` (one time step per vector) as columns `j..j + 4` of four rows.
#[inline(always)]
fn store_tile(out: &mut [MaybeUninit<f32>], cols: usize, j: usize, t: [__m128; 4]) {
    let rows = transpose(t);
    for (k, r) in rows.into_iter().enumerate() {
        let s = &mut out[k * cols + j..k * cols + j + 4];
        // SAFETY: `s` has room for exactly four floats (`MaybeUninit<f32>` is laid out as
        // `f32`); storing initialises them.
        unsafe { _mm_storeu_ps(s.as_mut_ptr().cast::<f32>(), r) };
    }
}

/// One column `j` of the four rows as a vector (for the `cols % 4` columns of the row ends).
#[inline(always)]
fn load_column(x: &[f32], cols: usize, j: usize) -> __m128 {
    let c = [x[j], x[cols + j], x[2 * cols + j], x[3 * cols + j]];
    // SAFETY: `c` is four floats.
    unsafe { _mm_loadu_ps(c.as_ptr()) }
}

#[inline(always)]
fn load_mask_column<M: Mask>(m: &[M], cols: usize, j: usize) -> __m128 {
    let c = [0, 1, 2, 3].map(|k| {
        if m[k * cols + j].is_set() {
            1.0f32
        } else {
            0.0
        }
    });
    // SAFETY: `c` is four floats; SSE2 compare.
    unsafe { _mm_cmpneq_ps(_mm_loadu_ps(c.as_ptr()), _mm_setzero_ps()) }
}

#[inline(always)]
fn store_column(out: &mut [MaybeUninit<f32>], cols: usize, j: usize, v: __m128) {
    let mut c = [0.0f32; 4];
    // SAFETY: `c` has room for four floats.
    unsafe { _mm_storeu_ps(c.as_mut_ptr(), v) };
    for (k, x) in c.into_iter().enumerate() {
        out[k * cols + j].write(x);
    }
}

/// `on ? a : b` per lane.
#[inline(always)]
fn select(on: __m128, a: __m128, b: __m128) -> __m128 {
    // SAFETY: SSE2 bitwise operations.
    unsafe { _mm_or_ps(_mm_and_ps(on, a), _mm_andnot_ps(on, b)) }
}

/// Lanes where `x` is NaN or infinite (`x - x` is NaN exactly there).
#[inline(always)]
fn nonfinite(x: __m128) -> __m128 {
    // SAFETY: SSE2 arithmetic and compare (NaN compares not-equal).
    unsafe { _mm_cmpneq_ps(_mm_sub_ps(x, x), _mm_setzero_ps()) }
}

/// Runs `step(r, v, on) -> (a, b)` over the columns of four rows from the end: first the
/// `cols % 4` end columns one at a time, then 4 x 4 tiles. With `VALUES`, `v` is read
/// and `b` stored into `out_b`; without, `v` stands for `r` and `out_b` is not touched.
/// Every slot of the four rows of `out_a` (and `out_b`) is written. Returns whether every
/// element read from `r` (and `v`) was finite.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan4<M: Mask, const VALUES: bool>(
    r: &[f32],
    v: &[f32],
    m: &[M],
    cols: usize,
    out_a: &mut [MaybeUninit<f32>],
    out_b: &mut [MaybeUninit<f32>],
    mut step: impl FnMut(__m128, __m128, __m128) -> (__m128, __m128),
) -> bool {
    let n = LANES * cols;
    let (r, m, out_a) = (&r[..n], &m[..n], &mut out_a[..n]);
    let (v, out_b) = if VALUES {
        (&v[..n], &mut out_b[..n])
    } else {
        (r, &mut out_b[..0])
    };
    // SAFETY: SSE2 bitwise operations.
    let or = |a: __m128, b: __m128| unsafe { _mm_or_ps(a, b) };
    // SAFETY: SSE2 constant.
    let mut bad = unsafe { _mm_setzero_ps() };
    let whole = cols - cols % 4;
    for j in (whole..cols).rev() {
        let rc = load_column(r, cols, j);
        let vc = if VALUES { load_column(v, cols, j) } else { rc };
        bad = or(bad, nonfinite(rc));
        if VALUES {
            bad = or(bad, nonfinite(vc));
        }
        let (a, b) = step(rc, vc, load_mask_column(m, cols, j));
        store_column(out_a, cols, j, a);
        if VALUES {
            store_column(out_b, cols, j, b);
        }
    }
    let mut tile = |rt: [__m128; 4], vt: [__m128; 4], mt: [__m128; 4]| {
        let (mut at, mut bt) = ([rt[0]; 4], [rt[0]; 4]);
        for i in (0..4).rev() {
            bad = or(bad, nonfinite(rt[i]));
            if VALUES {
                bad = or(bad, nonfinite(vt[i]));
            }
            (at[i], bt[i]) = step(rt[i], vt[i], mt[i]);
        }
        (at, bt)
    };
    let lines = whole - whole % LINE;
    for j in (lines..whole).step_by(4).rev() {
        let (rt, mt) = (load_tile(r, cols, j), load_mask_tile(m, cols, j));
        let vt = if VALUES { load_tile(v, cols, j) } else { rt };
        let (at, bt) = tile(rt, vt, mt);
        store_tile(out_a, cols, j, at);
        if VALUES {
            store_tile(out_b, cols, j, bt);
        }
    }
    // A cache line of each of the twenty streams at a time, through buffers on the stack:
    // the rows are `cols` floats apart (4 KiB for T = 1024), so their lines share one L1
    // set, and reading a line a tile (16 bytes) at a time had it evicted and fetched
    // again for each of its four tiles.
    let mut rb = [0.0f32; LANES * LINE];
    let mut vb = [0.0f32; LANES * LINE];
    let mut mb = [0.0f32; LANES * LINE];
    let mut ab = [MaybeUninit::<f32>::uninit(); LANES * LINE];
    let mut bb = [MaybeUninit::<f32>::uninit(); LANES * LINE];
    for j in (0..lines).step_by(LINE).rev() {
        for k in 0..LANES {
            let (src, dst) = (k * cols + j..k * cols + j + LINE, k * LINE..(k + 1) * LINE);
            rb[dst.clone()].copy_from_slice(&r[src.clone()]);
            if VALUES {
                vb[dst.clone()].copy_from_slice(&v[src.clone()]);
            }
            for (u, x) in mb[dst].iter_mut().zip(&m[src]) {
                *u = if x.is_set() { 1.0 } else { 0.0 };
            }
        }
        for t in (0..LINE).step_by(4).rev() {
            let rt = load_tile(&rb, LINE, t);
            let vt = if VALUES { load_tile(&vb, LINE, t) } else { rt };
            // SAFETY: SSE2 compares.
            let mt = load_tile(&mb, LINE, t).map(|c| unsafe { _mm_cmpneq_ps(c, _mm_setzero_ps()) });
            let (at, bt) = tile(rt, vt, mt);
            store_tile(&mut ab, LINE, t, at);
            if VALUES {
                store_tile(&mut bb, LINE, t, bt);
            }
        }
        for k in 0..LANES {
            let (dst, src) = (k * cols + j..k * cols + j + LINE, k * LINE..(k + 1) * LINE);
            out_a[dst.clone()].copy_from_slice(&ab[src.clone()]);
            if VALUES {
                out_b[dst].copy_from_slice(&bb[src]);
            }
        }
    }
    // SAFETY: SSE2 movemask.
    unsafe { _mm_movemask_ps(bad) == 0 }
}

/// GAE over four rows (see `temporal::gae`): `adv` gets the advantages and `ret` the
/// returns `A + V` of rows `0..4` of `r`, `v`, `m` (row stride `cols`), every slot of
/// their four rows written. Returns whether every reward and value was finite.
#[allow(clippy::too_many_arguments)]
pub(super) fn gae4<M: Mask>(
    r: &[f32],
    v: &[f32],
    m: &[M],
    cols: usize,
    (gamma, gamma_lam): (f32, f32),
    adv: &mut [MaybeUninit<f32>],
    ret: &mut [MaybeUninit<f32>],
) -> bool {
    // SAFETY: SSE2 arithmetic throughout.
    unsafe {
        let (g, gl) = (_mm_set1_ps(gamma), _mm_set1_ps(gamma_lam));
        let (mut next_value, mut last) = (_mm_setzero_ps(), _mm_setzero_ps());
        scan4::<M, true>(r, v, m, cols, adv, ret, |r, v, on| {
            let delta = _mm_sub_ps(_mm_add_ps(r, _mm_mul_ps(g, next_value)), v);
            let candidate = _mm_add_ps(delta, _mm_mul_ps(gl, last));
            last = select(on, candidate, last);
            next_value = select(on, v, next_value);
            (last, _mm_add_ps(last, v))
        })
    }
}

/// Discounted returns over four rows (see `temporal::discounted_returns`) into `out`,
/// every slot of its four rows written.
/// Returns whether every reward was finite.
pub(super) fn returns4<M: Mask>(
    r: &[f32],
    m: &[M],
    cols: usize,
    gamma: f32,
    out: &mut [MaybeUninit<f32>],
) -> bool {
    // SAFETY: SSE2 arithmetic throughout.
    unsafe {
        let g = _mm_set1_ps(gamma);
        let mut running = _mm_setzero_ps();
        let zero = _mm_setzero_ps();
        scan4::<M, false>(r, r, m, cols, out, &mut [], |r, _, on| {
            let next = _mm_add_ps(r, _mm_mul_ps(g, running));
            running = select(on, next, running);
            (_mm_and_ps(on, next), zero)
        })
    }
}
