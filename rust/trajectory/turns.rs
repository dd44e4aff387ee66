//! Turns as other frameworks count them: verl's `num_turns`, and the turn ends of a
//! trajectory that came without them (TRL's and verl's outputs carry only the mask).

use super::batch::Trajectories;
use crate::alloc;
use crate::error::CoreResult;
use crate::mask::Mask;
use crate::ragged::check_offsets;

/// verl's `num_turns` (`AgentLoopOutput`: chat turns, user, assistant and tool, counted as
/// its `ToolAgentLoop` does: `user_turns + assistant_turns + 1`): per trajectory
/// `1 + T_b + U_b`, with `T_b` its assistant turns and `U_b` the tool (user) spans, one
/// for each turn end that a non-trainable token follows.
pub fn num_turns(t: &Trajectories<'_>) -> CoreResult<Vec<i64>> {
    let mut out = alloc::output("turn_ends", t.len())?;
    let mask = t.mask();
    for b in 0..t.len() {
        let range = t.range(b);
        let ends = t.turns().row(b);
        let spans = ends
            .iter()
            .filter(|&&e| {
                let at = usize::try_from(e)
                    .ok()
                    .and_then(|e| range.start.checked_add(e));
                at.is_some_and(|at| at < range.end && mask.get(at) == Some(&0))
            })
            .count();
        out.push(1 + ends.len() as i64 + spans as i64);
    }
    Ok(out)
}

/// Turn ends read off a trainable mask (rows `offsets`, checked here as
/// `trainable_mask.offsets`): one assistant turn per maximal run of trainable tokens,
/// ending after its last one. Returns `(turn_ends, turn_offsets)`.
pub fn turn_ends_from_mask<M: Mask>(
    mask: &[M],
    offsets: &[i64],
) -> CoreResult<(Vec<i64>, Vec<i64>)> {
    check_offsets(offsets, mask.len(), "trainable_mask.offsets")?;
    let runs = mask
        .iter()
        .enumerate()
        .filter(|&(i, m)| m.is_set() && mask.get(i + 1).is_none_or(|n| !n.is_set()))
        .count();
    let mut ends = alloc::output("trainable_mask", runs + offsets.len())?;
    let mut turn_offsets = alloc::output("trainable_mask", offsets.len())?;
    turn_offsets.push(0i64);
    for w in offsets.windows(2) {
        let row = &mask[w[0] as usize..w[1] as usize];
        for (p, m) in row.iter().enumerate() {
            let last_of_run = m.is_set() && row.get(p + 1).is_none_or(|n| !n.is_set());
            if last_of_run {
                ends.push(p as i64 + 1);
            }
        }
        turn_offsets.push(ends.len() as i64);
    }
    Ok((ends, turn_offsets))
}

#[cfg(test)]
mod tests {
    use super::super::batch::tests::Owned;
    use super::*;

    #[test]
    fn verl_counts_assistant_and_tool_turns() {
        let owned = Owned::example();
        // 0: 2 turns, a tool span after the first; 1: none; 2: one turn, then a tool span.
        assert_eq!(num_turns(&owned.batch()).unwrap(), vec![4, 1, 3]);
    }

    #[test]
    fn turns_are_the_runs_of_trainable_tokens() {
        let owned = Owned::example();
        let (ends, offsets) = turn_ends_from_mask(&owned.mask, &owned.offsets).unwrap();
        assert_eq!(ends, owned.turn_ends);
        assert_eq!(offsets, owned.turn_offsets);
        // Runs do not cross trajectories.
        let (ends, offsets) = turn_ends_from_mask(&[1u8, 1, 1, 0, 1], &[0, 2, 5]).unwrap();
        assert_eq!((ends, offsets), (vec![2, 1, 3], vec![0, 1, 3]));
        assert!(turn_ends_from_mask(&[1u8], &[0, 2]).is_err());
    }
}
