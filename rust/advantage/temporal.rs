//! Token-level estimators over `(rows, cols)` grids with a response mask: discounted
//! returns, REINFORCE++, GAE and masked whitening, as verl's `core_algos.py` and
//! `verl.utils.torch_functional.masked_whiten`.
//!
//! Each row's backward recursion is independent, so rows are processed in parallel
//! (above the size threshold) over contiguous row slices, writing the outputs in place.
//! The per-step arithmetic is verl's, in float32 and in verl's order; whitening
//! statistics are accumulated in float64 and rounded once.

use rayon::prelude::*;

use super::{
    check_finite_2d, check_grid, check_mask, check_same_shape, check_unit, masked_sq_dev,
    masked_sum_count, MaskElem, Shape, PAR_THRESHOLD,
};
use crate::error::{CoreError, CoreResult};

/// verl's `masked_whiten` variance floor: `(x - mean) * rsqrt(var + 1e-8)`.
const WHITEN_EPS: f32 = 1e-8;

fn check_mask_grid<M: MaskElem>(mask: &[M], mask_shape: Shape, name: &str, shape: Shape) -> CoreResult<()> {
    check_same_shape("mask", mask_shape, name, shape)?;
    check_grid("mask", mask, mask_shape)?;
    check_mask("mask", mask, mask_shape)
}

fn check_rewards<M: MaskElem>(
    rewards: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
) -> CoreResult<()> {
    check_grid("rewards", rewards, shape)?;
    check_mask_grid(mask, mask_shape, "rewards", shape)?;
    check_unit("gamma", gamma)?;
    check_finite_2d("rewards", rewards, shape)
}

/// Runs `row(r, out_a_row, out_b_row)` over every row of two fresh `(rows, cols)` outputs.
fn fill_rows2(shape: Shape, row: impl Fn(usize, &mut [f32], &mut [f32]) + Sync) -> (Vec<f32>, Vec<f32>) {
    let mut a = vec![0.0f32; shape.len()];
    let mut b = vec![0.0f32; shape.len()];
    let cols = shape.cols.max(1);
    if a.len() >= PAR_THRESHOLD {
        a.par_chunks_mut(cols)
            .zip(b.par_chunks_mut(cols))
            .enumerate()
            .for_each(|(r, (ra, rb))| row(r, ra, rb));
    } else {
        a.chunks_mut(cols)
            .zip(b.chunks_mut(cols))
            .enumerate()
            .for_each(|(r, (ra, rb))| row(r, ra, rb));
    }
    (a, b)
}

/// Mean and unbiased variance over the counted positions, as verl's `masked_mean` /
/// `masked_var(unbiased=True)`; errors when fewer than two positions count (verl raises too).
fn masked_moments<M: MaskElem>(x: &[f32], mask: &[M], shape: Shape, what: &str) -> CoreResult<(f32, f32)> {
    let (sum, n) = masked_sum_count(x, mask, shape);
    if n < 2 {
        return Err(CoreError::arg(
            "mask",
            format!("whitening {what} needs at least 2 positions where the mask is 1, got {n}"),
        ));
    }
    let nf = n as f64;
    let mean = sum / nf;
    let var = masked_sq_dev(x, mask, shape, mean) / nf * (nf / (nf - 1.0));
    let (mean32, var32) = (mean as f32, var as f32);
    if !(mean32.is_finite() && var32.is_finite()) {
        return Err(CoreError::arg(
            what,
            "whitening statistics overflow float32 (values too large)",
        ));
    }
    Ok((mean32, var32))
}

/// Whitens `x` in place: `x = (x - mean) * rsqrt(var + 1e-8)` (`+ mean` again unless
/// `shift_mean`), then `* mask` when `times_mask`.
fn whiten_in_place<M: MaskElem>(
    x: &mut [f32],
    mask: &[M],
    shape: Shape,
    shift_mean: bool,
    times_mask: bool,
    what: &str,
) -> CoreResult<()> {
    let (mean, var) = masked_moments(x, mask, shape, what)?;
    let scale = (1.0 / f64::from(var + WHITEN_EPS).sqrt()) as f32;
    let cols = shape.cols.max(1);
    let row = |(xr, mr): (&mut [f32], &[M])| {
        for (v, &m) in xr.iter_mut().zip(mr) {
            let mut w = (*v - mean) * scale;
            if !shift_mean {
                w += mean;
            }
            *v = if times_mask && !m.on() { 0.0 } else { w };
        }
    };
    if x.len() >= PAR_THRESHOLD {
        x.par_chunks_mut(cols).zip(mask.par_chunks(cols)).for_each(row);
    } else {
        x.chunks_mut(cols).zip(mask.chunks(cols)).for_each(row);
    }
    Ok(())
}

/// verl's `masked_whiten` over a `(rows, cols)` grid:
///
/// `out = (x - mean) / sqrt(var + 1e-8)` (plus `mean` when `shift_mean` is false), where
/// `mean` and the unbiased `var` (`sum m (x - mean)^2 / (sum m - 1)`) are taken over the
/// positions where the mask is 1; every position is transformed (masked ones included).
pub fn whiten<M: MaskElem>(
    x: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    shift_mean: bool,
) -> CoreResult<Vec<f32>> {
    check_grid("x", x, shape)?;
    check_mask_grid(mask, mask_shape, "x", shape)?;
    check_finite_2d("x", x, shape)?;
    let mut out = x.to_vec();
    whiten_in_place(&mut out, mask, shape, shift_mean, false, "x")?;
    Ok(out)
}

/// The backward recursion of one row (verl 0.9.1's REINFORCE++): where `m_t = 1`,
/// `G_t = r_t + gamma * G_next` and `G_next = G_t`; where `m_t = 0`, `G_t = 0` and `G_next`
/// carries over unchanged (rewards there are ignored). `G_next` starts at 0.
#[inline]
fn returns_row<M: MaskElem>(rewards: &[f32], mask: &[M], gamma: f32, out: &mut [f32]) {
    let mut running = 0.0f32;
    for ((o, &r), &m) in out.iter_mut().zip(rewards).zip(mask).rev() {
        if m.on() {
            running = r + gamma * running;
            *o = running;
        } else {
            *o = 0.0;
        }
    }
}

fn returns_grid<M: MaskElem>(rewards: &[f32], mask: &[M], shape: Shape, gamma: f64) -> Vec<f32> {
    let g = gamma as f32;
    let cols = shape.cols;
    super::fill_rows(shape, |r, out| {
        let span = r * cols..(r + 1) * cols;
        returns_row(&rewards[span.clone()], &mask[span], g, out);
    })
}

/// Discounted returns as in verl's REINFORCE++ estimator, per row from the end:
///
/// `G_t = m_t * (r_t + gamma * G_next(t))`, where `G_next(t)` is the return at the next
/// position after `t` where the mask is 1 (0 if none): masked positions (observation
/// tokens, padding) get 0, their rewards are ignored, and the return carries across them.
pub fn discounted_returns<M: MaskElem>(
    rewards: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
) -> CoreResult<Vec<f32>> {
    check_rewards(rewards, shape, mask, mask_shape, gamma)?;
    Ok(returns_grid(rewards, mask, shape, gamma))
}

/// REINFORCE++ as verl's `compute_reinforce_plus_plus_outcome_advantage`:
/// `returns = discounted_returns(rewards, mask, gamma)` and
/// `advantages = masked_whiten(returns, mask) * mask`. Returns `(advantages, returns)`.
pub fn reinforce_pp<M: MaskElem>(
    rewards: &[f32],
    shape: Shape,
    mask: &[M],
    mask_shape: Shape,
    gamma: f64,
) -> CoreResult<(Vec<f32>, Vec<f32>)> {
    check_rewards(rewards, shape, mask, mask_shape, gamma)?;
    let returns = returns_grid(rewards, mask, shape, gamma);
    let mut advantages = returns.clone();
    whiten_in_place(&mut advantages, mask, shape, true, true, "returns")?;
    Ok((advantages, returns))
}

/// GAE as verl's `compute_gae_advantage_return`, per row from the end over all positions:
///
/// `delta_t = r_t + gamma * V_next - V_t`; where `m_t = 1`: `A_t = delta_t + gamma * lam * A_next`
/// and `V_next = V_t`; where `m_t = 0` both carry over unchanged (`A_t = A_next`).
/// `returns = A + V` (before whitening); `advantages = masked_whiten(A, mask)` when
/// `whiten_advantages` (verl always whitens), else `A`. Returns `(advantages, returns)`.
#[allow(clippy::too_many_arguments)]
pub fn gae<M: MaskElem>(
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
    check_finite_2d("rewards", rewards, shape)?;
    check_finite_2d("values", values, shape)?;
    let g = gamma as f32;
    // verl computes `gamma * lam` in Python (float64), then multiplies a float32 tensor.
    let gl = (gamma * lam) as f32;
    let cols = shape.cols;
    let (mut advantages, returns) = fill_rows2(shape, |r, adv, ret| {
        let span = r * cols..(r + 1) * cols;
        let (rr, vr, mr) = (&rewards[span.clone()], &values[span.clone()], &mask[span]);
        let mut next_value = 0.0f32;
        let mut last = 0.0f32;
        for t in (0..cols).rev() {
            let v = vr[t];
            if mr[t].on() {
                let delta = (rr[t] + g * next_value) - v;
                last = delta + gl * last;
                next_value = v;
            }
            adv[t] = last;
            ret[t] = last + v;
        }
    });
    if whiten_advantages {
        whiten_in_place(&mut advantages, mask, shape, true, false, "advantages")?;
    }
    Ok((advantages, returns))
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
        assert!(close(&ret, &[a0 + 0.5, a1 + 0.25, a2 + 0.75, 3.0]), "{ret:?}");
        let (white, _) = gae(&r, s, &v, s, &m, s, gamma, lam, true).unwrap();
        let white2 = whiten(&adv, s, &m, s, true).unwrap();
        assert_eq!(white, white2);
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
