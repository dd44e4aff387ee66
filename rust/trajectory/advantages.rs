//! Group advantages of trajectories: the outcome estimators of `crate::advantage::group`
//! (GRPO, RLOO) on each trajectory's outcome score, broadcast onto its trainable tokens.

use super::batch::{for_each_row_mut, Trajectories};
use super::rewards::{outcome_scores, Per};
use crate::advantage;
use crate::alloc;
use crate::error::{CoreError, CoreResult};

/// `out[b, t] = advantages[b] * mask[b, t]`, flat on the response offsets: one value per
/// trajectory on its trainable tokens, 0 on tool and template tokens (verl's
/// `scores.unsqueeze(-1) * response_mask` with the trainable mask as the response mask).
pub fn broadcast(t: &Trajectories<'_>, advantages: &[f32]) -> CoreResult<Vec<f32>> {
    if advantages.len() != t.len() {
        return Err(CoreError::arg(
            "advantages",
            format!(
                "has {} values but the batch has {} trajectories",
                advantages.len(),
                t.len()
            ),
        ));
    }
    if let Some(b) = advantages.iter().position(|a| !a.is_finite()) {
        return Err(CoreError::at(
            "advantages",
            b,
            format!("{} is not finite", advantages[b]),
        ));
    }
    let mut out = alloc::output_zeros::<f32>("response_ids", t.tokens())?;
    let mask = t.mask();
    for_each_row_mut(t.offsets(), &mut out, |b, row| {
        let a = advantages[b];
        let m = &mask[t.range(b)];
        for (o, &mv) in row.iter_mut().zip(m) {
            *o = if mv != 0 { a } else { 0.0 };
        }
    });
    Ok(out)
}

fn check_groups(t: &Trajectories<'_>, group_ids: &[i64]) -> CoreResult<()> {
    if group_ids.len() != t.len() {
        return Err(CoreError::arg(
            "group_ids",
            format!(
                "has {} ids but the batch has {} trajectories",
                group_ids.len(),
                t.len()
            ),
        ));
    }
    Ok(())
}

/// The group kernels name their scores `scores`; here they are the batch's rewards.
fn renamed(per: Per) -> impl Fn(CoreError) -> CoreError {
    move |mut e| {
        if let Some(rest) = e.message.strip_prefix("scores") {
            e.message = format!("{}{rest}", per.argument());
        }
        e
    }
}

/// GRPO (verl's `compute_grpo_outcome_advantage` with `response_mask` = the trainable
/// mask): with `s_b` the outcome score ([`outcome_scores`]) and `g` the group of `b`,
///
/// `A_b = (s_b - mean_g) / (std_g + eps)` (`normalize_std`), else `A_b = s_b - mean_g`,
///
/// `std_g` unbiased, a singleton group with mean 0 and std 1; then
/// `out[b, t] = A_b * mask[b, t]`, flat on the response offsets.
pub fn grpo(
    t: &Trajectories<'_>,
    per: Per,
    group_ids: &[i64],
    normalize_std: bool,
    eps: f64,
) -> CoreResult<Vec<f32>> {
    check_groups(t, group_ids)?;
    let scores = outcome_scores(t, per)?;
    let adv = advantage::grpo(&scores, group_ids, normalize_std, eps).map_err(renamed(per))?;
    broadcast(t, &adv)
}

/// RLOO (verl's `compute_rloo_outcome_advantage` with `response_mask` = the trainable
/// mask): `A_b = s_b n / (n - 1) - mean_g n / (n - 1)` for a group of `n > 1`, `A_b = s_b`
/// for a singleton; then `out[b, t] = A_b * mask[b, t]`, flat on the response offsets.
pub fn rloo(t: &Trajectories<'_>, per: Per, group_ids: &[i64]) -> CoreResult<Vec<f32>> {
    check_groups(t, group_ids)?;
    let scores = outcome_scores(t, per)?;
    let adv = advantage::rloo(&scores, group_ids).map_err(renamed(per))?;
    broadcast(t, &adv)
}

#[cfg(test)]
mod tests {
    use super::super::batch::tests::Owned;
    use super::*;

    #[test]
    fn advantages_cover_trainable_tokens_only() {
        let mut owned = Owned::example();
        owned.rewards = Some(vec![1.0, 0.0, 3.0]);
        let t = owned.batch();
        // Groups {0, 2} and {1}: mean 2, unbiased std sqrt(2).
        let a = grpo(&t, Per::Trajectory, &[5, 9, 5], true, 1e-6).unwrap();
        let d = (2.0f64.sqrt() + 1e-6) as f32;
        let (lo, hi) = (-1.0 / d, 1.0 / d);
        assert_eq!(a.len(), 9);
        let want = [lo, lo, 0.0, 0.0, lo, lo, hi, hi, 0.0];
        assert!(
            a.iter().zip(want).all(|(x, y)| (x - y).abs() < 1e-6),
            "{a:?}"
        );
        let r = rloo(&t, Per::Trajectory, &[5, 9, 5]).unwrap();
        assert_eq!(r, vec![-2.0, -2.0, 0.0, 0.0, -2.0, -2.0, 2.0, 2.0, 0.0]);
        // Per turn: scores 1.5, 0 and -1.
        let r = rloo(&t, Per::Turn, &[5, 9, 5]).unwrap();
        assert_eq!(r, vec![2.5, 2.5, 0.0, 0.0, 2.5, 2.5, -2.5, -2.5, 0.0]);
    }

    #[test]
    fn bad_groups_and_overflows_are_named() {
        let mut owned = Owned::example();
        let e = grpo(&owned.batch(), Per::Trajectory, &[1, 2], true, 1e-6).unwrap_err();
        assert_eq!(
            e.message,
            "group_ids: has 2 ids but the batch has 3 trajectories"
        );
        owned.rewards = Some(vec![3e38, 0.0, -3e38]);
        let e = rloo(&owned.batch(), Per::Trajectory, &[0, 1, 0]).unwrap_err();
        assert!(
            e.message
                .starts_with("rewards[0]: the leave-one-out advantage overflows"),
            "{}",
            e.message
        );
        let e = broadcast(&owned.batch(), &[1.0, f32::NAN, 0.0]).unwrap_err();
        assert_eq!(e.message, "advantages[1]: NaN is not finite");
    }
}
