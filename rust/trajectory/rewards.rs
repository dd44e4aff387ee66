//! Where a batch's rewards sit: token-level rewards on the response offsets, and the
//! outcome score of each trajectory that the group estimators normalise.

use super::batch::Trajectories;
use crate::alloc;
use crate::error::{CoreError, CoreResult};

/// Which of a batch's rewards a kernel reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// One reward per trajectory (`rewards`).
    Trajectory,
    /// One reward per assistant turn (`turn_rewards`).
    Turn,
}

impl Per {
    pub fn parse(text: &str) -> CoreResult<Per> {
        match text {
            "trajectory" => Ok(Per::Trajectory),
            "turn" => Ok(Per::Turn),
            other => Err(CoreError::arg(
                "per",
                format!("must be 'trajectory' or 'turn', got '{other}'"),
            )),
        }
    }

    /// The argument that holds these rewards.
    pub fn argument(self) -> &'static str {
        match self {
            Per::Trajectory => "rewards",
            Per::Turn => "turn_rewards",
        }
    }
}

fn missing(per: Per) -> CoreError {
    CoreError::arg(
        per.argument(),
        format!(
            "the batch holds no {} (build it with {}=...)",
            match per {
                Per::Trajectory => "trajectory rewards",
                Per::Turn => "per-turn rewards",
            },
            per.argument()
        ),
    )
}

/// Token-level rewards, flat on the response offsets (float32, one per response token):
///
/// - `Per::Trajectory`: `r[b, t] = rewards[b]` at `t` = trajectory `b`'s last trainable
///   token, 0 elsewhere;
/// - `Per::Turn`: `r[b, t] = turn_rewards[b][k]` at `t` = the last trainable token of turn
///   `k` (positions from the end of turn `k - 1` to `turn_ends[b][k]`), 0 elsewhere.
///
/// Errors: the batch lacks those rewards, or a trajectory (a turn) has no trainable token
/// to carry its reward.
pub fn token_rewards(t: &Trajectories<'_>, per: Per) -> CoreResult<Vec<f32>> {
    let mut out = alloc::output_zeros::<f32>("response_ids", t.tokens())?;
    let mask = t.mask();
    match per {
        Per::Trajectory => {
            let rewards = t.rewards().ok_or_else(|| missing(per))?;
            for (b, &r) in rewards.iter().enumerate() {
                let range = t.range(b);
                let last = mask[range.clone()].iter().rposition(|&m| m != 0);
                let Some(p) = last else {
                    return Err(CoreError::at(
                        "rewards",
                        b,
                        format!(
                            "trajectory {b} has no trainable token to carry its reward \
                             ({} response tokens, none sampled)",
                            range.len()
                        ),
                    ));
                };
                out[range.start + p] = r;
            }
        }
        Per::Turn => {
            let rewards = t.turn_rewards().ok_or_else(|| missing(per))?;
            for b in 0..t.len() {
                let start = t.range(b).start;
                let first = t.first_turn(b);
                for (k, turn) in t.turn_ranges(b).enumerate() {
                    let span = start + turn.start..start + turn.end;
                    let Some(p) = mask[span.clone()].iter().rposition(|&m| m != 0) else {
                        return Err(CoreError::at(
                            &format!("turn_rewards[{b}]"),
                            k,
                            format!(
                                "turn {k} of trajectory {b} (response positions {}..{}) has no \
                                 trainable token to carry its reward",
                                turn.start, turn.end
                            ),
                        ));
                    };
                    out[span.start + p] = rewards[first + k];
                }
            }
        }
    }
    Ok(out)
}

/// Each trajectory's outcome score `s_b`, the sum over its token-level rewards (verl's
/// `token_level_rewards.sum(-1)`): `rewards[b]`, or `sum_k turn_rewards[b][k]` (float64,
/// rounded once; 0 for a trajectory without turns). A sum beyond float32 is an error.
pub fn outcome_scores(t: &Trajectories<'_>, per: Per) -> CoreResult<Vec<f32>> {
    match per {
        Per::Trajectory => {
            let rewards = t.rewards().ok_or_else(|| missing(per))?;
            let mut out = alloc::output("rewards", rewards.len())?;
            out.extend_from_slice(rewards);
            Ok(out)
        }
        Per::Turn => {
            let rewards = t.turn_rewards().ok_or_else(|| missing(per))?;
            let turns = t.turns();
            let mut out = alloc::output("turn_rewards", t.len())?;
            for b in 0..t.len() {
                let (a, e) = (turns.offsets()[b] as usize, turns.offsets()[b + 1] as usize);
                let sum: f64 = rewards[a..e].iter().map(|&r| f64::from(r)).sum();
                let s = sum as f32;
                if !s.is_finite() {
                    return Err(CoreError::at(
                        "turn_rewards",
                        b,
                        crate::error::Overflow {
                            what: "the sum of the turn rewards",
                            value: s,
                        },
                    ));
                }
                out.push(s);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::tests::Owned;
    use super::*;

    #[test]
    fn trajectory_rewards_sit_on_the_last_trainable_token() {
        let mut owned = Owned::example();
        owned.mask[1] = 0; // turn 0 of trajectory 0 then ends past its last sampled token
                           // Trajectory 1 is empty: no token can carry its reward, and the error names it.
        let e = token_rewards(&owned.batch(), Per::Trajectory).unwrap_err();
        assert!(e
            .message
            .starts_with("rewards[1]: trajectory 1 has no trainable token"));
        owned.offsets = vec![0, 6, 7, 9];
        owned.turn_ends = vec![2, 6, 1, 2];
        owned.turn_offsets = vec![0, 2, 3, 4];
        owned.turn_rewards = Some(vec![0.5, 1.0, 3.0, -1.0]);
        let t = owned.batch();
        let r = token_rewards(&t, Per::Trajectory).unwrap();
        // mask: [1 0 0 0 1 1 | 1 | 1 0]; last trainable: 5, 6, 7.
        assert_eq!(r, vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -2.0, 0.0]);
        let r = token_rewards(&t, Per::Turn).unwrap();
        assert_eq!(r, vec![0.5, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0, -1.0, 0.0]);
        assert_eq!(outcome_scores(&t, Per::Turn).unwrap(), vec![1.5, 3.0, -1.0]);
        assert_eq!(
            outcome_scores(&t, Per::Trajectory).unwrap(),
            vec![1.0, 0.0, -2.0]
        );
    }

    #[test]
    fn a_turn_without_a_trainable_token_is_named() {
        let mut owned = Owned::example();
        owned.mask[4] = 0;
        owned.mask[5] = 0;
        let e = token_rewards(&owned.batch(), Per::Turn).unwrap_err();
        assert_eq!(
            e.message,
            "turn_rewards[0][1]: turn 1 of trajectory 0 (response positions 2..6) has no \
             trainable token to carry its reward"
        );
        owned.turn_rewards = None;
        owned.rewards = None;
        let t = owned.batch();
        let e = token_rewards(&t, Per::Turn).unwrap_err();
        assert!(e
            .message
            .starts_with("turn_rewards: the batch holds no per-turn"));
        let e = outcome_scores(&t, Per::Trajectory).unwrap_err();
        assert!(e
            .message
            .starts_with("rewards: the batch holds no trajectory"));
        assert!(Per::parse("step").is_err());
        assert_eq!(Per::parse("turn").unwrap(), Per::Turn);
    }

    #[test]
    fn a_sum_of_turn_rewards_beyond_float32_is_an_error() {
        let mut owned = Owned::example();
        owned.turn_rewards = Some(vec![3e38, 3e38, 1.0]);
        let e = outcome_scores(&owned.batch(), Per::Turn).unwrap_err();
        assert_eq!(
            e.message,
            "turn_rewards[0]: the sum of the turn rewards overflows float32 (inf)"
        );
    }
}
