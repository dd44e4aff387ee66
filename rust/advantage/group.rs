//! Outcome advantages over groups of responses to the same prompt: GRPO and RLOO, and
//! the broadcast of one advantage per response onto a `(rows, cols)` response mask.
//!
//! Grouping is O(n): a hash map from group id to a dense slot (ids of any value, groups of
//! any size in any order). Per-group sums are accumulated in float64; the final
//! arithmetic mirrors verl's float32 operations.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{
    check_finite_1d, check_grid, check_mask, check_overflow_1d, BlockOut, Shape, ROW_BLOCK,
};
use crate::alloc::{self, AllocError};
use crate::batch::PAR_MIN;
use crate::error::{CoreError, CoreResult};
use crate::mask::Mask;
use foldhash::fast::RandomState as SeededHash;

/// Group statistics of a batch: the dense group slot of each response, and per group the
/// number of responses and the float64 sum and sum of squared deviations of the scores.
struct Groups {
    slot: Vec<u32>,
    count: Vec<u32>,
    mean: Vec<f64>,
    sq_dev: Vec<f64>,
}

fn check_inputs(scores: &[f32], group_ids: &[i64]) -> CoreResult<()> {
    if scores.is_empty() {
        return Err(CoreError::arg(
            "scores",
            "empty batch; need at least one response",
        ));
    }
    if group_ids.len() != scores.len() {
        return Err(CoreError::arg(
            "group_ids",
            format!(
                "length {} does not match scores length {}",
                group_ids.len(),
                scores.len()
            ),
        ));
    }
    check_finite_1d("scores", scores)
}

/// Marks a group id not met yet, in the slot table or map.
const UNSEEN: u32 = u32::MAX;

fn min_max(ids: &[i64]) -> (i64, i64) {
    ids.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &id| {
        (lo.min(id), hi.max(id))
    })
}

/// `(smallest id, number of values spanned)` when the ids span fewer than `4 n` values, so
/// a table of that size (at most four u32 slots per response) can stand in for a hash map.
fn dense_id_range(ids: &[i64]) -> Option<(i64, usize)> {
    let (lo, hi) = min_max(ids);
    let span = i128::from(hi) - i128::from(lo) + 1;
    (span <= 4 * ids.len() as i128).then_some((lo, span as usize))
}

fn group(scores: &[f32], group_ids: &[i64]) -> CoreResult<Groups> {
    check_inputs(scores, group_ids)?;
    let n = scores.len();
    if n > u32::MAX as usize {
        return Err(CoreError::arg(
            "scores",
            format!("{n} responses exceed the supported 2^32 - 1"),
        ));
    }
    let mut slot = alloc::output("scores", n)?;
    let mut count: Vec<u32> = Vec::new();
    let mut sum: Vec<f64> = Vec::new();
    let mut add = |g: &mut u32, s: f32, slot: &mut Vec<u32>| -> CoreResult<()> {
        if *g == UNSEEN {
            if count.len() == count.capacity() {
                // Doubling, as `push` would, but fallibly: up to one group per response.
                let more = count.len().max(64);
                count
                    .try_reserve_exact(more)
                    .and_then(|()| sum.try_reserve_exact(more))
                    .map_err(|_| {
                        AllocError::of::<(u32, f64)>(count.len() + more)
                            .named("group_ids", "a group table")
                    })?;
            }
            *g = count.len() as u32;
            count.push(0);
            sum.push(0.0);
        }
        let gi = *g as usize;
        count[gi] += 1;
        sum[gi] += f64::from(s);
        slot.push(*g);
        Ok(())
    };
    match dense_id_range(group_ids) {
        // Ids in a compact range (prompt indices, the usual case): a table indexed by
        // `id - min` replaces hashing, which dominates at a million rows.
        Some((lo, span)) => {
            let mut table =
                alloc::filled(span, UNSEEN).map_err(|e| e.named("group_ids", "a group table"))?;
            for (&id, &s) in group_ids.iter().zip(scores) {
                add(&mut table[(id - lo) as usize], s, &mut slot)?;
            }
        }
        None => {
            let mut slots: HashMap<i64, u32, SeededHash> = HashMap::default();
            let hash_error =
                |_| AllocError::of::<(i64, u32)>(n).named("group_ids", "a group hash table");
            slots.try_reserve(n.min(1 << 20)).map_err(hash_error)?;
            for (&id, &s) in group_ids.iter().zip(scores) {
                if slots.len() == slots.capacity() {
                    slots.try_reserve(slots.len()).map_err(hash_error)?;
                }
                add(slots.entry(id).or_insert(UNSEEN), s, &mut slot)?;
            }
        }
    }
    let mut mean: Vec<f64> = alloc::output("group_ids", count.len())?;
    mean.extend(sum.iter().zip(&count).map(|(&s, &c)| s / f64::from(c)));
    let mut sq_dev = alloc::output_zeros::<f64>("group_ids", count.len())?;
    for (&g, &s) in slot.iter().zip(scores) {
        let gi = g as usize;
        let d = f64::from(s) - mean[gi];
        sq_dev[gi] += d * d;
    }
    Ok(Groups {
        slot,
        count,
        mean,
        sq_dev,
    })
}

/// GRPO outcome advantages, one per response, as verl's `compute_grpo_outcome_advantage`:
///
/// `A_i = (s_i - mean_g) / (std_g + eps)` with `normalize_std`, else `A_i = s_i - mean_g`,
/// where `g` is the group of response `i`, `std_g` the unbiased (n - 1) standard deviation,
/// and a singleton group has `mean = 0`, `std = 1` (so `A_i = s_i / (1 + eps)`).
///
/// The statistics and this arithmetic are float64, rounded once to float32, so scores
/// near the float32 maximum give verl's exact values (float32 intermediates would
/// overflow: `std` of `[-3e38, 3e38]`). A normalised advantage is always within float32;
/// a centred one (`normalize_std = false`) can exceed it, which is an error naming the
/// first such score.
///
/// Errors: empty batch, length mismatch, non-finite score, `eps` negative or not finite,
/// `eps == 0` with a group of equal scores (0 / 0), and a centred score beyond float32.
pub fn grpo(
    scores: &[f32],
    group_ids: &[i64],
    normalize_std: bool,
    eps: f64,
) -> CoreResult<Vec<f32>> {
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(CoreError::arg(
            "eps",
            format!("must be a finite number >= 0, got {eps}"),
        ));
    }
    let groups = group(scores, group_ids)?;
    // Per group: (mean, std + eps).
    let mut stats: Vec<(f64, f64)> = alloc::output("group_ids", groups.count.len())?;
    stats.extend(
        groups
            .count
            .iter()
            .zip(&groups.mean)
            .zip(&groups.sq_dev)
            .map(|((&c, &m), &ss)| {
                if c == 1 {
                    (0.0, 1.0 + eps)
                } else {
                    (m, (ss / f64::from(c - 1)).sqrt() + eps)
                }
            }),
    );
    let mut out = alloc::output("scores", scores.len())?;
    for (i, (&g, &s)) in groups.slot.iter().zip(scores).enumerate() {
        let (mean, denom) = stats[g as usize];
        let centred = f64::from(s) - mean;
        if normalize_std {
            if denom == 0.0 {
                return Err(CoreError::at(
                    "group_ids",
                    i,
                    "this group's scores are all equal and eps is 0: (s - mean) / (std + eps) is 0 / 0",
                ));
            }
            out.push((centred / denom) as f32);
        } else {
            out.push(centred as f32);
        }
    }
    check_overflow_1d("scores", &out, "the centred score s - mean")?;
    Ok(out)
}

/// RLOO outcome advantages, one per response, as verl's `compute_rloo_outcome_advantage`:
///
/// `A_i = s_i * n / (n - 1) - mean_g * n / (n - 1)` (equal to `s_i` minus the mean of the
/// other `n - 1` scores of its group) for a group of `n > 1` responses, and `A_i = s_i`
/// for a singleton group.
///
/// Computed in float64 and rounded once to float32 (verl's float32 `s_i * n` overflows
/// for scores near the float32 maximum); an advantage beyond float32 (`[3e38, -3e38]`
/// gives `6e38`) is an error naming the first such score.
pub fn rloo(scores: &[f32], group_ids: &[i64]) -> CoreResult<Vec<f32>> {
    let groups = group(scores, group_ids)?;
    let mut out = alloc::output("scores", scores.len())?;
    out.extend(groups.slot.iter().zip(scores).map(|(&g, &s)| {
        let gi = g as usize;
        let n = groups.count[gi];
        if n > 1 {
            let nf = f64::from(n);
            let nm1 = f64::from(n - 1);
            (f64::from(s) * nf / nm1 - groups.mean[gi] * nf / nm1) as f32
        } else {
            s
        }
    }));
    check_overflow_1d("scores", &out, "the leave-one-out advantage")?;
    Ok(out)
}

/// `out[r, c] = advantages[r] * mask[r, c]`: one advantage per response broadcast onto its
/// response tokens, zero elsewhere (verl's `scores.unsqueeze(-1) * response_mask`).
pub fn broadcast<M: Mask>(advantages: &[f32], mask: &[M], shape: Shape) -> CoreResult<Vec<f32>> {
    check_grid("mask", mask, shape)?;
    if advantages.len() != shape.rows {
        return Err(CoreError::arg(
            "advantages",
            format!(
                "length {} does not match the mask's {} rows",
                advantages.len(),
                shape.rows
            ),
        ));
    }
    check_finite_1d("advantages", advantages)?;
    let cols = shape.cols.max(1);
    // Written straight into uninitialised memory: zeroing the output first would cost
    // one more pass over it. The mask is validated in the same pass; the first bad
    // element is looked up only on failure.
    let block = |(i, out): (usize, &mut [MaybeUninit<f32>])| -> bool {
        let mut ok = true;
        for (k, orow) in out.chunks_mut(cols).enumerate() {
            let r = i * ROW_BLOCK + k;
            match (advantages.get(r), mask.get(r * cols..(r + 1) * cols)) {
                (Some(&a), Some(m)) if m.len() == orow.len() => {
                    for (o, &mv) in orow.iter_mut().zip(m) {
                        o.write(if mv.is_set() { a } else { 0.0 });
                        ok &= mv.is_binary();
                    }
                }
                _ => {
                    // Unreachable after the shape checks; still, every slot gets a value.
                    for o in orow.iter_mut() {
                        o.write(0.0);
                    }
                    ok = false;
                }
            }
        }
        ok
    };
    let mut out: Vec<f32> = alloc::output("mask", shape.len())?;
    let slots = &mut out.spare_capacity_mut()[..shape.len()];
    let step = cols * ROW_BLOCK;
    let mask_ok = if shape.len() >= PAR_MIN {
        slots
            .par_chunks_mut(step)
            .enumerate()
            .map(block)
            .reduce(|| true, |a, b| a & b)
    } else {
        slots
            .chunks_mut(step)
            .enumerate()
            .map(block)
            .fold(true, |a, b| a & b)
    };
    // SAFETY: the chunks cover all `shape.len()` slots and `block` writes every slot of
    // its chunk on both of its paths.
    unsafe { out.set_len(shape.len()) };
    let status = BlockOut {
        mask_ok,
        ..BlockOut::empty()
    };
    if !status.mask_ok {
        check_mask("mask", mask, shape)?;
    }
    Ok(out)
}

/// [`grpo`] followed by [`broadcast`] onto `mask` (`mask` has one row per response).
pub fn grpo_broadcast<M: Mask>(
    scores: &[f32],
    group_ids: &[i64],
    mask: &[M],
    shape: Shape,
    normalize_std: bool,
    eps: f64,
) -> CoreResult<Vec<f32>> {
    check_rows(scores, shape)?;
    let adv = grpo(scores, group_ids, normalize_std, eps)?;
    broadcast(&adv, mask, shape)
}

/// [`rloo`] followed by [`broadcast`] onto `mask` (`mask` has one row per response).
pub fn rloo_broadcast<M: Mask>(
    scores: &[f32],
    group_ids: &[i64],
    mask: &[M],
    shape: Shape,
) -> CoreResult<Vec<f32>> {
    check_rows(scores, shape)?;
    let adv = rloo(scores, group_ids)?;
    broadcast(&adv, mask, shape)
}

fn check_rows(scores: &[f32], shape: Shape) -> CoreResult<()> {
    if !scores.is_empty() && scores.len() != shape.rows {
        return Err(CoreError::arg(
            "mask",
            format!(
                "{} rows do not match scores length {}",
                shape.rows,
                scores.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
    }

    #[test]
    fn grpo_groups_in_any_order_with_singletons() {
        let scores = [1.0f32, 5.0, 0.0, 3.0, 2.0];
        let ids = [7i64, -3, 7, 1 << 40, 7];
        let adv = grpo(&scores, &ids, true, 1e-6).unwrap();
        // Group 7: {1, 0, 2}, mean 1, unbiased std 1.
        let d = 1.0 + 1e-6f32;
        let want = [0.0, 5.0 / d, -1.0 / d, 3.0 / d, 1.0 / d];
        assert!(close(&adv, &want), "{adv:?}");
        let centred = grpo(&scores, &ids, false, 1e-6).unwrap();
        assert!(close(&centred, &[0.0, 5.0, -1.0, 3.0, 1.0]));
    }

    #[test]
    fn grpo_equal_scores_and_eps() {
        let adv = grpo(&[2.0, 2.0], &[0, 0], true, 1e-6).unwrap();
        assert_eq!(adv, vec![0.0, 0.0]);
        let err = grpo(&[2.0, 2.0], &[0, 0], true, 0.0).unwrap_err();
        assert!(err.message.starts_with("group_ids[0]:"), "{}", err.message);
        assert!(grpo(&[1.0], &[0], true, -1.0).is_err());
        assert!(grpo(&[1.0], &[0], true, f64::NAN).is_err());
    }

    #[test]
    fn grpo_rejects_bad_input() {
        assert!(grpo(&[], &[], true, 1e-6)
            .unwrap_err()
            .message
            .contains("empty"));
        let err = grpo(&[1.0, 2.0], &[0], true, 1e-6).unwrap_err();
        assert!(err.message.starts_with("group_ids:"));
        let err = grpo(&[1.0, f32::NAN], &[0, 0], true, 1e-6).unwrap_err();
        assert_eq!(err.message, "scores[1]: NaN is not allowed");
    }

    #[test]
    fn rloo_leave_one_out() {
        let scores = [1.0f32, 2.0, 6.0, 4.0];
        let ids = [0i64, 0, 0, 9];
        let adv = rloo(&scores, &ids).unwrap();
        // s_i - mean of the others; singleton unchanged.
        assert!(
            close(&adv, &[1.0 - 4.0, 2.0 - 3.5, 6.0 - 1.5, 4.0]),
            "{adv:?}"
        );
    }

    #[test]
    fn scores_near_the_float32_maximum() {
        let m = f32::MAX;
        // Float64 statistics: verl's values, where float32 ones overflowed to 0 and NaN.
        let adv = grpo(&[-m, m], &[0, 0], true, 1e-6).unwrap();
        let want = std::f64::consts::FRAC_1_SQRT_2 as f32;
        assert!(close(&adv, &[-want, want]), "{adv:?}");
        let adv = grpo(&[-m, m, m], &[0, 0, 0], true, 0.0).unwrap();
        // Mean m/3, deviations (-4m/3, 2m/3, 2m/3), unbiased std m * sqrt(4/3).
        let sd = (4.0f64 / 3.0).sqrt();
        let (lo, hi) = ((-4.0 / 3.0 / sd) as f32, (2.0 / 3.0 / sd) as f32);
        assert!(close(&adv, &[lo, hi, hi]), "{adv:?}");
        // A centred score beyond float32 names the first one.
        let e = grpo(&[-m, m, m], &[0, 0, 0], false, 1e-6).unwrap_err();
        assert_eq!(
            e.message,
            "scores[0]: the centred score s - mean overflows float32 (-inf)"
        );
        let e = rloo(&[1.0, 3e38, -3e38], &[5, 0, 0]).unwrap_err();
        assert_eq!(
            e.message,
            "scores[1]: the leave-one-out advantage overflows float32 (inf)"
        );
        let err = rloo_broadcast(&[3e38, -3e38], &[0, 0], &[1u8, 1], Shape::new(2, 1));
        assert!(err.unwrap_err().message.starts_with("scores[0]:"));
        // s * n overflowed float32 before the subtraction; in float64 it does not.
        let adv = rloo(&[3e38, 2e38], &[0, 0]).unwrap();
        assert!(adv
            .iter()
            .zip([1e38f32, -1e38])
            .all(|(a, w)| ((a - w) / w).abs() < 1e-6));
    }

    #[test]
    fn broadcast_onto_mask() {
        let mask = [1u8, 1, 0, 0, 1, 0];
        let out = broadcast(&[2.0, -1.0], &mask, Shape::new(2, 3)).unwrap();
        assert_eq!(out, vec![2.0, 2.0, 0.0, 0.0, -1.0, 0.0]);
        assert!(broadcast(&[2.0], &mask, Shape::new(2, 3)).is_err());
        let bad = [1u8, 1, 0, 0, 3, 0];
        let err = broadcast(&[2.0, -1.0], &bad, Shape::new(2, 3)).unwrap_err();
        assert!(err.message.starts_with("mask[1, 1]"), "{}", err.message);
        let err = grpo_broadcast(&[1.0], &[0], &mask, Shape::new(2, 3), true, 1e-6).unwrap_err();
        assert!(err.message.starts_with("mask:"), "{}", err.message);
    }

    #[test]
    fn dense_and_hashed_ids_group_alike() {
        // The same grouping under compact ids (table) and spread ids (hash map), with
        // negative and extreme values on the hashed side.
        let n = 10_000usize;
        let dense: Vec<i64> = (0..n).map(|i| ((i * 7919) % 1_250) as i64 - 600).collect();
        let spread: Vec<i64> = dense
            .iter()
            .map(|&d| {
                if d == 0 {
                    i64::MIN
                } else {
                    d.wrapping_mul(1 << 40)
                }
            })
            .collect();
        assert!(dense_id_range(&dense).is_some());
        assert!(dense_id_range(&spread).is_none());
        let scores: Vec<f32> = (0..n).map(|i| ((i * 31) % 17) as f32 * 0.25).collect();
        let a = grpo(&scores, &dense, true, 1e-6).unwrap();
        let b = grpo(&scores, &spread, true, 1e-6).unwrap();
        assert_eq!(a, b);
        assert_eq!(dense_id_range(&[i64::MIN, i64::MAX]), None);
        assert_eq!(dense_id_range(&[5, 5]), Some((5, 1)));
    }

    #[test]
    fn many_groups_hash_well() {
        let n = 100_000usize;
        let ids: Vec<i64> = (0..n).map(|i| ((i / 4) as i64) << 32).collect();
        let scores: Vec<f32> = (0..n).map(|i| (i % 4) as f32).collect();
        let adv = rloo(&scores, &ids).unwrap();
        // Group {0,1,2,3}: mean 1.5, A = (4 s - 6) / 3.
        for (i, a) in adv.iter().enumerate() {
            let s = (i % 4) as f32;
            assert!((a - (4.0 * s - 6.0) / 3.0).abs() < 1e-5);
        }
    }
}
