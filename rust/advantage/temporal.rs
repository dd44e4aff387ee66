//! Token-level estimators over `(rows, cols)` grids with a response mask: discounted
//! returns, REINFORCE++, GAE and masked whitening, as verl's `core_algos.py` and
//! `verl.utils.torch_functional.masked_whiten`.
//!
//! Each row's backward recursion is independent, so rows are processed in parallel
//! (above the size threshold) over contiguous row slices, writing the outputs in place.
//! The per-step arithmetic is verl's, in float32 and in verl's order; whitening
//! statistics are accumulated in float64 and rounded once.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::blocks::{assume_written, fence_streaming, write_streaming_unfenced, zeroed_block};
use super::{
    block_moments, block_moments_onto, check_finite_2d, check_grid, check_mask, check_overflow,
    check_same_shape, check_unit, fill_blocks, fill_blocks2, into_initialised, uninit_output,
    BlockOut, Moments, Shape, ROW_BLOCK,
};
#[cfg(target_arch = "x86_64")]
use super::{lanes, lanes8};
use crate::batch::PAR_MIN;
use crate::error::{CoreError, CoreResult};
use crate::mask::Mask;

/// verl's `masked_whiten` variance floor: `(x - mean) * rsqrt(var + 1e-8)`.
const WHITEN_EPS: f32 = 1e-8;

fn check_mask_grid<M: Mask>(
    mask: &[M],
    mask_shape: Shape,
    name: &str,
    shape: Shape,
) -> CoreResult<()> {
    check_same_shape("mask", mask_shape, name, shape)?;
    check_grid("mask", mask, mask_shape)
}

/// The shape and `gamma` checks of the returns estimators (rewards are checked for
/// finiteness in the kernels' own pass, see [`inputs_status`]).
fn check_rewards<M: Mask>(
    rewards: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
) -> CoreResult<()> {
    check_grid("rewards", rewards, shape)?;
    check_mask_grid(mask, mask_shape, "rewards", shape)?;
    check_unit("gamma", gamma)
}

/// After a fused pass: the error naming the first non-finite element of the first of
/// `inputs` that has one, when the kernels saw one.
fn inputs_status(status: &BlockOut, inputs: &[(&str, &[f32])], shape: Shape) -> CoreResult<()> {
    if !status.inputs_finite {
        for &(name, data) in inputs {
            check_finite_2d(name, data, shape)?;
        }
    }
    Ok(())
}

/// Whether every element of `x` is finite (a branch-free fold, so it vectorises).
fn all_finite(x: &[f32]) -> bool {
    x.iter().fold(true, |ok, v| ok & v.is_finite())
}

/// After a fused pass: the error naming the first mask element that is neither 0 nor 1.
fn mask_status<M: Mask>(status: &BlockOut, mask: &[M], shape: Shape) -> CoreResult<()> {
    if status.mask_ok {
        Ok(())
    } else {
        check_mask("mask", mask, shape)
    }
}

/// One piece of [`Whitening::apply`]: output, input and mask.
type WhitenPiece<'a, M> = ((&'a mut [MaybeUninit<f32>], &'a [f32]), &'a [M]);

/// Elements per task of [`Whitening::apply`]: large enough to amortise scheduling and the
/// streaming fence, small enough to balance two cores.
const WHITEN_PIECE: usize = 16 * 1024;

/// The whitening transform `(x - mean) * rsqrt(var + 1e-8)` of verl's `masked_whiten`, from
/// the moments over the counted positions (mean, unbiased variance); errors when fewer
/// than two positions count (verl raises too).
#[derive(Clone, Copy)]
struct Whitening {
    mean: f32,
    scale: f32,
}

impl Whitening {
    /// `argument` is the user's array the whitened values come from, `what` those values.
    fn from_moments(m: Moments, argument: &str, what: &str) -> CoreResult<Whitening> {
        if m.n < 2.0 {
            return Err(CoreError::arg(
                "mask",
                format!(
                    "whitening {what} needs at least 2 positions where the mask is 1, got {}",
                    m.n
                ),
            ));
        }
        let mean = m.mean as f32;
        let var = (m.m2 / (m.n - 1.0)) as f32;
        if !(mean.is_finite() && var.is_finite()) {
            return Err(CoreError::arg(
                argument,
                format!("the whitening statistics of {what} overflow float32 (values too large)"),
            ));
        }
        let scale = (1.0 / f64::from(var + WHITEN_EPS).sqrt()) as f32;
        Ok(Whitening { mean, scale })
    }

    /// `dst = whiten(src)` (`+ mean` unless `shift_mean`), `* mask` when `times_mask`;
    /// every slot of `dst` is written, through a stack buffer and streaming stores (the
    /// output is not read again here). Element-wise, so the grid is cut into pieces of
    /// [`WHITEN_PIECE`] elements regardless of rows, one fence each.
    fn apply<M: Mask>(
        self,
        src: &[f32],
        dst: &mut [MaybeUninit<f32>],
        mask: &[M],
        shift_mean: bool,
        times_mask: bool,
    ) {
        const CHUNK: usize = 512;
        let Whitening { mean, scale } = self;
        let back = if shift_mean { 0.0 } else { mean };
        let piece = |((d, s), m): WhitenPiece<'_, M>| {
            let mut buf = [0.0f32; CHUNK];
            for ((d, s), m) in d
                .chunks_mut(CHUNK)
                .zip(s.chunks(CHUNK))
                .zip(m.chunks(CHUNK))
            {
                let b = &mut buf[..s.len()];
                if times_mask {
                    for ((o, &v), &mv) in b.iter_mut().zip(s).zip(m) {
                        let w = (v - mean) * scale + back;
                        *o = if mv.is_set() { w } else { 0.0 };
                    }
                } else {
                    for (o, &v) in b.iter_mut().zip(s) {
                        *o = (v - mean) * scale + back;
                    }
                }
                write_streaming_unfenced(d, b);
            }
            fence_streaming();
        };
        if dst.len() >= PAR_MIN {
            dst.par_chunks_mut(WHITEN_PIECE)
                .zip(src.par_chunks(WHITEN_PIECE))
                .zip(mask.par_chunks(WHITEN_PIECE))
                .for_each(piece);
        } else {
            piece(((dst, src), mask));
        }
    }

    /// In place: `x = whiten(x)`, in pieces of [`WHITEN_PIECE`] elements.
    fn apply_in_place(self, x: &mut [f32]) {
        let Whitening { mean, scale } = self;
        let piece = |d: &mut [f32]| {
            for v in d.iter_mut() {
                *v = (*v - mean) * scale;
            }
        };
        if x.len() >= PAR_MIN {
            x.par_chunks_mut(WHITEN_PIECE).for_each(piece);
        } else {
            piece(x);
        }
    }
}

/// verl's `masked_whiten` over a `(rows, cols)` grid:
///
/// `out = (x - mean) / sqrt(var + 1e-8)` (plus `mean` when `shift_mean` is false), where
/// `mean` and the unbiased `var` (`sum m (x - mean)^2 / (sum m - 1)`) are taken over the
/// positions where the mask is 1; every position is transformed (masked ones included).
pub fn whiten<M: Mask>(
    x: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    shift_mean: bool,
) -> CoreResult<Vec<f32>> {
    check_grid("x", x, shape)?;
    check_mask_grid(mask, mask_shape, "x", shape)?;
    check_finite_2d("x", x, shape)?;
    let cols = shape.cols;
    let step = cols * ROW_BLOCK;
    let parts: Vec<BlockOut> = if x.len() >= PAR_MIN {
        x.par_chunks(step)
            .zip(mask.par_chunks(step))
            .map(|(xb, mb)| block_moments(xb, mb, cols))
            .collect()
    } else {
        x.chunks(step)
            .zip(mask.chunks(step))
            .map(|(xb, mb)| block_moments(xb, mb, cols))
            .collect()
    };
    let mut status = BlockOut::empty();
    for p in parts {
        status = status.merge(p);
    }
    mask_status(&status, mask, shape)?;
    let w = Whitening::from_moments(status.moments, "x", "x")?;
    let mut out = uninit_output("x", x.len())?;
    w.apply(x, &mut out, mask, shift_mean, false);
    Ok(into_initialised(out))
}

/// The backward recursion over one row (verl 0.9.1's REINFORCE++): where `m_t = 1`,
/// `G_t = r_t + gamma * G_next` and `G_next = G_t`; where `m_t = 0`, `G_t = 0` and
/// `G_next` carries over unchanged (rewards there are ignored). `G_next` starts at 0.
fn returns_row<M: Mask>(rewards: &[f32], mask: &[M], gamma: f32, out: &mut [f32]) {
    let mut acc = 0.0f32;
    for ((o, &r), &m) in out.iter_mut().zip(rewards).zip(mask).rev() {
        let next = r + gamma * acc;
        let on = m.is_set();
        acc = if on { next } else { acc };
        *o = if on { next } else { 0.0 };
    }
}

/// Returns of one block of rows (`first_row..`) plus the block's moments, mask status and
/// whether its rewards were finite.
fn returns_block<M: Mask>(
    rewards: &[f32],
    mask: &[M],
    cols: usize,
    gamma: f32,
    first_row: usize,
    out: &mut [MaybeUninit<f32>],
) -> BlockOut {
    let span = first_row * cols..first_row * cols + out.len();
    let (Some(r), Some(m)) = (rewards.get(span.clone()), mask.get(span)) else {
        zeroed_block(out);
        return BlockOut {
            mask_ok: false,
            ..BlockOut::empty()
        };
    };
    let mut acc = BlockOut::empty();
    let mut finite = true;
    let in_lanes8 = by_lane_width(out.len() / cols.max(1), cols, |first, width| {
        let span = first * cols..(first + width.rows()) * cols;
        let (r, m, out) = (&r[span.clone()], &m[span.clone()], &mut out[span]);
        match width {
            // SAFETY: `by_lane_width` hands out eight rows only where AVX2 runs.
            #[cfg(target_arch = "x86_64")]
            Width::Eight => acc = unsafe { lanes8::returns8(r, m, cols, gamma, out, acc) },
            #[cfg(target_arch = "x86_64")]
            Width::Four => finite &= lanes::returns4(r, m, cols, gamma, out),
            Width::One => {
                finite &= all_finite(r);
                returns_row(r, m, gamma, zeroed_block(out));
            }
        }
    });
    // The rows after the eight-lane groups: their moments are taken here, in row order.
    let rest = in_lanes8 * cols..;
    // SAFETY: the lanes wrote every slot of their rows, the rest was zeroed and written.
    let out = unsafe { assume_written(&mut out[rest.clone()]) };
    let acc = block_moments_onto(acc, out, &m[rest], cols);
    BlockOut {
        inputs_finite: acc.inputs_finite & finite,
        ..acc
    }
}

/// A group of rows scanned together: eight (AVX2 lanes), four (SSE2 lanes) or one.
#[derive(Clone, Copy)]
enum Width {
    #[cfg(target_arch = "x86_64")]
    Eight,
    #[cfg(target_arch = "x86_64")]
    Four,
    One,
}

impl Width {
    fn rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Width::Eight => lanes8::LANES,
            #[cfg(target_arch = "x86_64")]
            Width::Four => lanes::LANES,
            Width::One => 1,
        }
    }
}

/// Calls `run(first_row, width)` over `rows` rows of `cols` columns in order: groups of
/// eight where the AVX2 lanes take such rows, then of four (x86_64), then single rows.
/// Returns how many rows the groups of eight covered (they report their moments
/// themselves).
fn by_lane_width(rows: usize, cols: usize, mut run: impl FnMut(usize, Width)) -> usize {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    let eight = {
        if lanes8::available(cols) {
            while done + lanes8::LANES <= rows {
                run(done, Width::Eight);
                done += lanes8::LANES;
            }
        }
        let eight = done;
        while done + lanes::LANES <= rows {
            run(done, Width::Four);
            done += lanes::LANES;
        }
        eight
    };
    #[cfg(not(target_arch = "x86_64"))]
    let eight = 0;
    for k in done..rows {
        run(k, Width::One);
    }
    eight
}

/// Discounted returns as in verl's REINFORCE++ estimator, per row from the end:
///
/// `G_t = m_t * (r_t + gamma * G_next(t))`, where `G_next(t)` is the return at the next
/// position after `t` where the mask is 1 (0 if none): masked positions (observation
/// tokens, padding) get 0, their rewards are ignored, and the return carries across them.
pub fn discounted_returns<M: Mask>(
    rewards: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
) -> CoreResult<Vec<f32>> {
    check_rewards(rewards, shape, mask, mask_shape, gamma)?;
    let g = gamma as f32;
    // SAFETY: `returns_block` writes every slot of its block.
    let (returns, status) = unsafe {
        fill_blocks("rewards", shape, |first, out| {
            returns_block(rewards, mask, shape.cols, g, first, out)
        })
    }?;
    inputs_status(&status, &[("rewards", rewards)], shape)?;
    mask_status(&status, mask, shape)?;
    if !status.finite {
        check_overflow("rewards", &returns, shape, "the discounted return")?;
    }
    Ok(returns)
}

/// REINFORCE++ as verl's `compute_reinforce_plus_plus_outcome_advantage`:
/// `returns = discounted_returns(rewards, mask, gamma)` and
/// `advantages = masked_whiten(returns, mask) * mask`. Returns `(advantages, returns)`.
pub fn reinforce_pp<M: Mask>(
    rewards: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
) -> CoreResult<(Vec<f32>, Vec<f32>)> {
    check_rewards(rewards, shape, mask, mask_shape, gamma)?;
    let g = gamma as f32;
    // SAFETY: `returns_block` writes every slot of its block.
    let (returns, status) = unsafe {
        fill_blocks("rewards", shape, |first, out| {
            returns_block(rewards, mask, shape.cols, g, first, out)
        })
    }?;
    inputs_status(&status, &[("rewards", rewards)], shape)?;
    mask_status(&status, mask, shape)?;
    if !status.finite {
        check_overflow("rewards", &returns, shape, "the discounted return")?;
    }
    let w = Whitening::from_moments(status.moments, "rewards", "the discounted returns")?;
    let mut advantages = uninit_output("rewards", returns.len())?;
    w.apply(&returns, &mut advantages, mask, true, true);
    let advantages = into_initialised(advantages);
    // Where the mask is set, |G - mean| <= sqrt(sum of squared deviations) (m2), and the
    // rest is 0: so |advantage| <= sqrt(m2) * scale, and only a bound near float32's
    // limit needs the pass that finds the position.
    let bound = status.moments.m2.max(0.0).sqrt() * f64::from(w.scale);
    let safe = bound.is_finite() && bound < f64::from(f32::MAX) / 2.0;
    if !safe {
        check_overflow("rewards", &advantages, shape, "the whitened advantage")?;
    }
    Ok((advantages, returns))
}

/// GAE as verl's `compute_gae_advantage_return`, per row from the end over all positions:
///
/// `delta_t = r_t + gamma * V_next - V_t`; where `m_t = 1`: `A_t = delta_t + gamma * lam * A_next`
/// and `V_next = V_t`; where `m_t = 0` both carry over unchanged (`A_t = A_next`).
/// `returns = A + V` (before whitening); `advantages = masked_whiten(A, mask)` when
/// `whiten_advantages` (verl always whitens), else `A`. Returns `(advantages, returns)`.
#[allow(clippy::too_many_arguments)]
pub fn gae<M: Mask>(
    rewards: &[f32],
    shape: Shape,
    values: &[f32],
    values_shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
    lam: f64,
    whiten_advantages: bool,
) -> CoreResult<(Vec<f32>, Vec<f32>)> {
    check_grid("rewards", rewards, shape)?;
    check_same_shape("values", values_shape, "rewards", shape)?;
    check_grid("values", values, values_shape)?;
    check_mask_grid(mask, mask_shape, "rewards", shape)?;
    check_unit("gamma", gamma)?;
    check_unit("lam", lam)?;
    let g = gamma as f32;
    // verl computes `gamma * lam` in Python (float64), then multiplies a float32 tensor.
    let gl = (gamma * lam) as f32;
    let cols = shape.cols;
    // SAFETY: `gae_block` writes every slot of both blocks.
    let (mut advantages, returns, status) = unsafe {
        fill_blocks2("rewards", shape, |first, adv, ret| {
            gae_block(rewards, values, mask, cols, (g, gl), first, adv, ret)
        })
    }?;
    inputs_status(&status, &[("rewards", rewards), ("values", values)], shape)?;
    mask_status(&status, mask, shape)?;
    let mut advantages_finite = status.finite;
    if whiten_advantages {
        let w = Whitening::from_moments(status.moments, "rewards", "the advantages")?;
        w.apply_in_place(&mut advantages);
        // Every advantage is a counted one or carried from one (or the initial 0), so
        // |A - mean| <= max(sqrt(m2), |mean|): only a bound near float32's limit needs the
        // pass that finds the position.
        let m = status.moments;
        let bound = (m.m2.max(0.0).sqrt() + m.mean.abs()) * f64::from(w.scale);
        advantages_finite &= bound.is_finite() && bound < f64::from(f32::MAX) / 2.0;
    }
    if !advantages_finite {
        check_overflow("rewards", &advantages, shape, "the advantage")?;
    }
    if !status.finite {
        check_overflow("rewards", &returns, shape, "the return (advantage + value)")?;
    }
    Ok((advantages, returns))
}

/// GAE over one block of rows (`first_row..`): advantages into `adv`, returns into `ret`,
/// plus the advantages' moments, the mask status, whether both outputs are finite and
/// whether the rewards and values read were.
#[allow(clippy::too_many_arguments)]
fn gae_block<M: Mask>(
    rewards: &[f32],
    values: &[f32],
    mask: &[M],
    cols: usize,
    (gamma, gamma_lam): (f32, f32),
    first_row: usize,
    adv: &mut [MaybeUninit<f32>],
    ret: &mut [MaybeUninit<f32>],
) -> BlockOut {
    let span = first_row * cols..first_row * cols + adv.len();
    let (Some(r), Some(v), Some(m)) = (
        rewards.get(span.clone()),
        values.get(span.clone()),
        mask.get(span),
    ) else {
        zeroed_block(adv);
        zeroed_block(ret);
        return BlockOut {
            mask_ok: false,
            ..BlockOut::empty()
        };
    };
    let mut acc = BlockOut::empty();
    let mut finite = true;
    let in_lanes8 = by_lane_width(adv.len() / cols.max(1), cols, |first, width| {
        let span = first * cols..(first + width.rows()) * cols;
        let (r, v, m) = (&r[span.clone()], &v[span.clone()], &m[span.clone()]);
        let (adv, ret) = (&mut adv[span.clone()], &mut ret[span]);
        let gl = (gamma, gamma_lam);
        match width {
            // SAFETY: `by_lane_width` hands out eight rows only where AVX2 runs.
            #[cfg(target_arch = "x86_64")]
            Width::Eight => acc = unsafe { lanes8::gae8(r, v, m, cols, gl, adv, ret, acc) },
            #[cfg(target_arch = "x86_64")]
            Width::Four => finite &= lanes::gae4(r, v, m, cols, gl, adv, ret),
            Width::One => {
                finite &= all_finite(r) & all_finite(v);
                let (a, g) = (zeroed_block(adv), zeroed_block(ret));
                gae_row(r, v, m, gl, a, g);
            }
        }
    });
    // The rows after the eight-lane groups: their moments are taken here, in row order.
    let rest = in_lanes8 * cols..;
    // SAFETY: the lanes wrote every slot of their rows, the rest was zeroed and written.
    let (adv, ret) = unsafe {
        (
            assume_written(&mut adv[rest.clone()]),
            assume_written(&mut ret[rest.clone()]),
        )
    };
    let out = block_moments_onto(acc, adv, &m[rest], cols);
    BlockOut {
        inputs_finite: out.inputs_finite & finite,
        finite: out.finite & all_finite(ret),
        ..out
    }
}

/// GAE's backward recursion over one row (see [`gae`]).
fn gae_row<M: Mask>(
    rewards: &[f32],
    values: &[f32],
    mask: &[M],
    (gamma, gamma_lam): (f32, f32),
    adv: &mut [f32],
    ret: &mut [f32],
) {
    let (mut next_value, mut last) = (0.0f32, 0.0f32);
    for ((((a, g), &r), &v), &m) in adv
        .iter_mut()
        .zip(ret.iter_mut())
        .zip(rewards)
        .zip(values)
        .zip(mask)
        .rev()
    {
        let delta = (r + gamma * next_value) - v;
        let candidate = delta + gamma_lam * last;
        let on = m.is_set();
        last = if on { candidate } else { last };
        next_value = if on { v } else { next_value };
        *a = last;
        *g = last + v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(&x, &y)| (f64::from(x) - y).abs() <= 1e-5 * (1.0 + y.abs()))
    }

    #[test]
    fn returns_carry_over_masked_positions() {
        let r = [1.0f32, 0.0, 8.0, 2.0, 5.0];
        let m = [1u8, 1, 0, 1, 0];
        let s = Shape::new(1, 5);
        let g = discounted_returns(&r, s, &m, s, 0.5).unwrap();
        // G4 = 0 (masked, reward ignored), G3 = 2, G2 = 0 (carried over), G1 = 1, G0 = 1.5
        assert_eq!(g, vec![1.5, 1.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn reinforce_pp_whitens_over_mask() {
        let r = [0.0f32, 1.0, 0.0, 0.0, 2.0, 7.0];
        let m = [1.0f32, 1.0, 0.0, 1.0, 1.0, 0.0];
        let s = Shape::new(2, 3);
        let (adv, ret) = reinforce_pp(&r, s, &m, s, 1.0).unwrap();
        assert_eq!(ret, vec![1.0, 1.0, 0.0, 2.0, 2.0, 0.0]);
        // Counted returns: 1, 1, 2, 2 -> mean 1.5, unbiased var 1/3.
        let k = 1.0 / (1.0f64 / 3.0 + 1e-8).sqrt();
        let want = [-0.5 * k, -0.5 * k, 0.0, 0.5 * k, 0.5 * k, 0.0];
        assert!(close(&adv, &want), "{adv:?}");
    }

    #[test]
    fn gae_matches_hand_recursion() {
        let r = [0.0f32, 0.0, 1.0, 9.0];
        let v = [0.5f32, 0.25, 0.75, 3.0];
        let m = [true, true, true, false];
        let s = Shape::new(1, 4);
        let (gamma, lam) = (0.9f64, 0.8f64);
        let (adv, ret) = gae(&r, s, &v, s, &m, s, gamma, lam, false).unwrap();
        let d2 = 1.0 - 0.75;
        let a2 = d2;
        let d1 = 0.0 + gamma * 0.75 - 0.25;
        let a1 = d1 + gamma * lam * a2;
        let d0 = 0.0 + gamma * 0.25 - 0.5;
        let a0 = d0 + gamma * lam * a1;
        assert!(close(&adv, &[a0, a1, a2, 0.0]), "{adv:?}");
        assert!(
            close(&ret, &[a0 + 0.5, a1 + 0.25, a2 + 0.75, 3.0]),
            "{ret:?}"
        );
        let (white, _) = gae(&r, s, &v, s, &m, s, gamma, lam, true).unwrap();
        let white2 = whiten(&adv, s, &m, s, true).unwrap();
        assert_eq!(white, white2);
    }

    #[test]
    fn overflow_names_the_first_position() {
        // Row 1's return 3e38 + 3e38 is beyond float32, from finite rewards.
        let s = Shape::new(2, 2);
        let r = [1.0f32, 1.0, 3e38, 3e38];
        let m = [1u8; 4];
        let want = "rewards[1, 0] (flat index 2): the discounted return overflows float32 (inf)";
        assert_eq!(
            discounted_returns(&r, s, &m, s, 1.0).unwrap_err().message,
            want
        );
        assert_eq!(reinforce_pp(&r, s, &m, s, 1.0).unwrap_err().message, want);
        assert!(discounted_returns(&r, s, &m, s, 0.0).is_ok());
        // Finite returns whose whitening statistics overflow name rewards too.
        let e = reinforce_pp(
            &[3e38, -3e38],
            Shape::new(1, 2),
            &[1u8, 1],
            Shape::new(1, 2),
            0.0,
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("rewards: the whitening statistics"),
            "{}",
            e.message
        );
        // GAE's delta r - V of 3.4e38 - (-3.4e38).
        let one = Shape::new(1, 1);
        let e = gae(
            &[3.4e38],
            one,
            &[-3.4e38],
            one,
            &[1u8],
            one,
            1.0,
            1.0,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "rewards[0, 0] (flat index 0): the advantage overflows float32 (inf)"
        );
        assert!(gae(&[3.4e38], one, &[3.4e38], one, &[1u8], one, 1.0, 1.0, false).is_ok());
    }

    #[test]
    fn whiten_needs_two_positions_and_keeps_mean_on_request() {
        let x = [1.0f32, 3.0, 10.0];
        let s = Shape::new(1, 3);
        assert!(whiten(&x, s, &[1u8, 0, 0], s, true).is_err());
        let w = whiten(&x, s, &[1u8, 1, 0], s, false).unwrap();
        // mean 2, unbiased var 2
        let k = 1.0 / (2.0f64 + 1e-8).sqrt();
        assert!(close(&w, &[-k + 2.0, k + 2.0, 8.0 * k + 2.0]), "{w:?}");
    }

    #[test]
    fn rejects_bad_arguments() {
        let s = Shape::new(1, 2);
        let r = [0.0f32, 1.0];
        let m = [1u8, 1];
        assert!(discounted_returns(&r, s, &m, s, 1.5).is_err());
        assert!(gae(&r, s, &r, s, &m, s, 0.9, -0.1, true)
            .unwrap_err()
            .message
            .starts_with("lam:"));
        let err = gae(&r, s, &[0.0, f32::NAN], s, &m, s, 0.9, 0.9, true).unwrap_err();
        assert!(err.message.starts_with("values[0, 1]"), "{}", err.message);
        let err = gae(&r, s, &r, Shape::new(2, 1), &m, s, 0.9, 0.9, true).unwrap_err();
        assert!(err.message.starts_with("values:"), "{}", err.message);
        let err = reinforce_pp(&r, s, &m, Shape::new(1, 3), 0.9).unwrap_err();
        assert!(err.message.starts_with("mask:"), "{}", err.message);
        assert!(reinforce_pp(&[], Shape::new(0, 2), &m[..0], Shape::new(0, 2), 0.9).is_err());
    }

    /// Each row of a many-row grid (four-row lanes, odd column counts) against the same
    /// row alone (the scalar path), bit for bit, for every mask type's path.
    #[test]
    fn lanes_match_single_rows_bit_for_bit() {
        // 11 rows: a block of eight lanes, then three rows alone; 13: eight lanes, four
        // SSE2 lanes, one row alone.
        // Rows longer than the eight lanes take go to the SSE2 lanes (9 rows: 4 + 4 + 1).
        for (rows, cols) in [1usize, 3, 4, 7, 16, 18, 37, 64, 1023]
            .into_iter()
            .flat_map(|c| [(11usize, c), (13, c)])
            .chain([(9, 64 * 1024 + 3)])
        {
            let n = rows * cols;
            let r: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 23) as f32 / 7.0 - 1.5)
                .collect();
            let v: Vec<f32> = (0..n)
                .map(|i| ((i * 104_729) % 19) as f32 / 5.0 - 2.0)
                .collect();
            let mb: Vec<bool> = (0..n).map(|i| (i * 31 + i / cols) % 5 != 0).collect();
            let mf: Vec<f32> = mb.iter().map(|&b| f32::from(u8::from(b))).collect();
            let shape = Shape::new(rows, cols);
            let one = Shape::new(1, cols);
            let (adv, ret) = gae(&r, shape, &v, shape, &mb, shape, 0.99, 0.95, false).unwrap();
            let (adv_f, ret_f) = gae(&r, shape, &v, shape, &mf, shape, 0.99, 0.95, false).unwrap();
            assert_eq!((&adv, &ret), (&adv_f, &ret_f));
            let g = discounted_returns(&r, shape, &mb, shape, 0.9).unwrap();
            for k in 0..rows {
                let row = k * cols..(k + 1) * cols;
                let (a1, r1) = gae(
                    &r[row.clone()],
                    one,
                    &v[row.clone()],
                    one,
                    &mb[row.clone()],
                    one,
                    0.99,
                    0.95,
                    false,
                )
                .unwrap();
                assert_eq!(
                    &adv[row.clone()],
                    &a1[..],
                    "gae advantages, cols {cols}, row {k}"
                );
                assert_eq!(
                    &ret[row.clone()],
                    &r1[..],
                    "gae returns, cols {cols}, row {k}"
                );
                let g1 = discounted_returns(&r[row.clone()], one, &mb[row.clone()], one, 0.9);
                assert_eq!(&g[row], &g1.unwrap()[..], "returns, cols {cols}, row {k}");
            }
        }
    }

    /// A non-finite reward or value anywhere (any lane, a tile or an end column) is named.
    #[test]
    fn nonfinite_inputs_are_named_from_every_lane() {
        // (9, 7): eight rows of end columns only, then one row alone; (13, 37): eight
        // rows of lines and end columns, four SSE2 lanes, then one row alone.
        let cases = [
            (9usize, 7usize, vec![0usize, 13, 27, 62]),
            (
                13,
                37,
                vec![0, 36, 7 * 37 + 20, 8 * 37 + 3, 11 * 37 + 30, 12 * 37 + 36],
            ),
        ];
        let bads = [f32::NAN, f32::INFINITY, -f32::INFINITY];
        for (rows, cols, at) in cases {
            let shape = Shape::new(rows, cols);
            let m = vec![1u8; rows * cols];
            for (n, &i) in at.iter().enumerate() {
                let bad = bads[n % bads.len()];
                let mut r = vec![0.5f32; rows * cols];
                r[i] = bad;
                let zeros = vec![0.0f32; rows * cols];
                let gae_error = |r: &[f32], v: &[f32]| {
                    gae(r, shape, v, shape, &m, shape, 1.0, 1.0, true)
                        .unwrap_err()
                        .message
                };
                let want = format!("rewards[{}, {}]", i / cols, i % cols);
                assert!(gae_error(&r, &zeros).starts_with(&want), "gae {i}");
                let e = reinforce_pp(&r, shape, &m, shape, 1.0).unwrap_err();
                assert!(
                    e.message.starts_with(&want),
                    "reinforce_pp {i}: {}",
                    e.message
                );
                let want = format!("values[{}, {}]", i / cols, i % cols);
                assert!(gae_error(&zeros, &r).starts_with(&want), "gae values {i}");
            }
        }
    }

    #[test]
    fn parallel_rows_match_serial() {
        let shape = Shape::new(64, 1024);
        let n = shape.len();
        let r: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 / 13.0).collect();
        let v: Vec<f32> = (0..n).map(|i| ((i * 104_729) % 17) as f32 / 17.0).collect();
        let m: Vec<bool> = (0..n).map(|i| (i % 1024) < 1024 - (i / 1024) * 9).collect();
        let (adv, ret) = gae(&r, shape, &v, shape, &m, shape, 0.99, 0.95, false).unwrap();
        let row = 37;
        let (a1, r1) = gae(
            &r[row * 1024..(row + 1) * 1024],
            Shape::new(1, 1024),
            &v[row * 1024..(row + 1) * 1024],
            Shape::new(1, 1024),
            &m[row * 1024..(row + 1) * 1024],
            Shape::new(1, 1024),
            0.99,
            0.95,
            false,
        )
        .unwrap();
        assert_eq!(&adv[row * 1024..(row + 1) * 1024], &a1[..]);
        assert_eq!(&ret[row * 1024..(row + 1) * 1024], &r1[..]);
    }
}
