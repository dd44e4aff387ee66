//! The batch itself: what a caller hands in ([`Parts`]), the one check of all of it
//! ([`validate`]), and the checked view every kernel reads ([`Trajectories`]).
//!
//! Errors name the argument, the trajectory and the position in it:
//! `trainable_mask[3][17]: must be 0 or 1, got 2`.

use std::ops::Range;

use rayon::prelude::*;

use crate::advantage::{describe_nonfinite, first_bad};
use crate::batch::PAR_MIN;
use crate::error::{CoreError, CoreResult};
use crate::mask::Mask;
use crate::ragged::{check_offsets, Ragged, TokenId};

/// A per-token or per-turn column. `offsets` is `Some` when the column came in rows of its
/// own (built from lists), so that a row of the wrong length is named; `None` when it
/// shares the offsets of the rows it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Column<'a, V> {
    pub values: &'a [V],
    pub offsets: Option<&'a [i64]>,
}

impl<'a, V> Column<'a, V> {
    /// A column on the offsets of what it belongs to.
    pub fn shared(values: &'a [V]) -> Self {
        Column {
            values,
            offsets: None,
        }
    }
}

/// Everything a batch is built from, before the check. The ragged parts' own offsets were
/// checked when they were made ([`Ragged::new`]).
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a, T, M> {
    pub prompt_ids: Ragged<'a, T>,
    /// Sampled ids and tool/template ids interleaved, exactly as the policy read them.
    pub response_ids: Ragged<'a, T>,
    /// On the response offsets: 1 where the policy sampled the token.
    pub trainable_mask: Column<'a, M>,
    /// On the response offsets: each token's log-probability when it was sampled.
    pub logprobs: Column<'a, f32>,
    /// Per trajectory, the response length after each assistant turn.
    pub turn_ends: Ragged<'a, i64>,
    /// On the turn offsets: one reward per turn.
    pub turn_rewards: Option<Column<'a, f32>>,
    /// One reward per trajectory.
    pub rewards: Option<&'a [f32]>,
    pub vocab_size: Option<i64>,
}

/// Elements per chunk of a scan: each chunk is tested without branching (it vectorises),
/// and only a chunk that fails is walked again to find its first bad element.
const CHUNK: usize = 4096;

/// The first `i < len` for which `bad(i)`, the same whatever the thread count.
pub(crate) fn first_bad_index(len: usize, bad: impl Fn(usize) -> bool + Sync) -> Option<usize> {
    let chunks = len.div_ceil(CHUNK);
    let chunk_bad = |c: usize| {
        let end = ((c + 1) * CHUNK).min(len);
        (c * CHUNK..end).fold(false, |acc, i| acc | bad(i))
    };
    let chunk = if len >= PAR_MIN {
        (0..chunks).into_par_iter().position_first(chunk_bad)
    } else {
        (0..chunks).position(chunk_bad)
    }?;
    (chunk * CHUNK..len).find(|&i| bad(i))
}

/// `(row, position in the row)` of flat index `i` under `offsets` (checked offsets, `i`
/// below the last): the last row starting at or before `i`, which is never an empty one.
pub(crate) fn locate(offsets: &[i64], i: usize) -> (usize, usize) {
    let row = offsets
        .partition_point(|&o| o <= i as i64)
        .saturating_sub(1);
    let start = offsets.get(row).copied().unwrap_or(0) as usize;
    (row, i.saturating_sub(start))
}

/// Errors unless `column` has exactly one value per element of `rows`, row by row when it
/// came with offsets of its own.
fn check_aligned<V, R>(
    name: &str,
    column: &Column<'_, V>,
    rows_name: &str,
    rows: &Ragged<'_, R>,
    unit: &str,
) -> CoreResult<()> {
    match column.offsets {
        None => {
            let (got, want) = (column.values.len(), rows.values().len());
            if got != want {
                return Err(CoreError::arg(
                    name,
                    format!("has {got} values but {rows_name} has {want} {unit}"),
                ));
            }
        }
        Some(offsets) => {
            check_offsets(offsets, column.values.len(), &format!("{name}.offsets"))?;
            let own = offsets.len() - 1;
            if own != rows.len() {
                return Err(CoreError::arg(
                    name,
                    format!("has {own} trajectories but {rows_name} has {}", rows.len()),
                ));
            }
            let mismatch = offsets.iter().zip(rows.offsets()).position(|(a, b)| a != b);
            if let Some(i) = mismatch {
                // Offsets start equal (0), so the first difference ends row i - 1.
                let b = i - 1;
                let got = offsets[i] - offsets[b];
                let want = rows.row_len(b);
                return Err(CoreError::at(
                    name,
                    b,
                    format!("has {got} values but {rows_name}[{b}] has {want} {unit}"),
                ));
            }
        }
    }
    Ok(())
}

/// Errors on the first id outside `[0, vocab_size)`.
fn check_ids<T: TokenId>(name: &str, ids: &Ragged<'_, T>, vocab_size: i64) -> CoreResult<()> {
    let values = ids.values();
    let chunks = values.len().div_ceil(CHUNK);
    let chunk_bad = |c: usize| {
        let chunk = &values[c * CHUNK..((c + 1) * CHUNK).min(values.len())];
        T::count_out_of_range(chunk, vocab_size) > 0
    };
    let first_chunk = if values.len() >= crate::batch::PAR_MIN_SCAN {
        (0..chunks).into_par_iter().position_first(chunk_bad)
    } else {
        (0..chunks).position(chunk_bad)
    };
    let Some(c) = first_chunk else {
        return Ok(());
    };
    let i = (c * CHUNK..values.len())
        .find(|&i| crate::ragged::out_of_range(values[i], vocab_size))
        .unwrap_or(c * CHUNK);
    let (b, p) = locate(ids.offsets(), i);
    Err(CoreError::at(
        &format!("{name}[{b}]"),
        p,
        format!(
            "id {} is outside the vocabulary [0, {vocab_size})",
            values[i].to_i64()
        ),
    ))
}

/// Errors unless each trajectory's turn ends strictly increase from above 0 and stay
/// within its response.
fn check_turn_ends<T>(turns: &Ragged<'_, i64>, responses: &Ragged<'_, T>) -> CoreResult<()> {
    if turns.len() != responses.len() {
        return Err(CoreError::arg(
            "turn_ends",
            format!(
                "has {} trajectories but response_ids has {}",
                turns.len(),
                responses.len()
            ),
        ));
    }
    for b in 0..turns.len() {
        let len = responses.row_len(b) as i64;
        let name = format!("turn_ends[{b}]");
        let mut prev = 0i64;
        for (k, &end) in turns.row(b).iter().enumerate() {
            if end <= prev {
                let detail = if k == 0 {
                    format!("must be > 0 (a turn holds at least one token), got {end}")
                } else {
                    format!(
                        "{end} does not increase on turn_ends[{b}][{}] = {prev}",
                        k - 1
                    )
                };
                return Err(CoreError::at(&name, k, detail));
            }
            if end > len {
                return Err(CoreError::at(
                    &name,
                    k,
                    format!("{end} is past the end of the response ({len} tokens)"),
                ));
            }
            prev = end;
        }
    }
    Ok(())
}

/// Errors on the first value of `column` (rows `offsets`) that is not finite.
fn check_finite_rows(name: &str, values: &[f32], offsets: &[i64]) -> CoreResult<()> {
    match first_bad(values, CHUNK, |x| !x.is_finite()) {
        Some(i) => {
            let (b, p) = locate(offsets, i);
            Err(CoreError::at(
                &format!("{name}[{b}]"),
                p,
                describe_nonfinite(values[i]),
            ))
        }
        None => Ok(()),
    }
}

/// Errors unless `mask` holds one 0 or 1 per response token, row by row.
pub fn check_mask<T, M: Mask>(responses: &Ragged<'_, T>, mask: &Column<'_, M>) -> CoreResult<()> {
    check_aligned("trainable_mask", mask, "response_ids", responses, "tokens")?;
    let m = mask.values;
    if let Some(i) = first_bad_index(m.len(), |i| !m[i].is_binary()) {
        let (b, p) = locate(responses.offsets(), i);
        return Err(CoreError::at(
            &format!("trainable_mask[{b}]"),
            p,
            format!("must be 0 or 1, got {}", m[i].show()),
        ));
    }
    Ok(())
}

/// Checks every invariant of a batch, once, in one pass over each buffer: equal lengths of
/// ids, mask and logprobs per trajectory; masks 0/1; logprobs finite everywhere (a NaN off
/// the mask still turns `0 * NaN` in a loss into NaN) and `<= 0` under the mask; ids within
/// `[0, vocab_size)` when a vocabulary is given; turn ends strictly increasing, above 0 and
/// within the response; per-turn rewards one per turn and finite; rewards one per
/// trajectory and finite.
pub fn validate<T: TokenId, M: Mask>(parts: &Parts<'_, T, M>) -> CoreResult<()> {
    let responses = &parts.response_ids;
    let n = parts.prompt_ids.len();
    if responses.len() != n {
        return Err(CoreError::arg(
            "response_ids",
            format!(
                "has {} trajectories but prompt_ids has {n}",
                responses.len()
            ),
        ));
    }
    let offsets = responses.offsets();
    check_mask(responses, &parts.trainable_mask)?;
    check_aligned(
        "logprobs",
        &parts.logprobs,
        "response_ids",
        responses,
        "tokens",
    )?;
    let m = parts.trainable_mask.values;
    let lp = parts.logprobs.values;
    check_finite_rows("logprobs", lp, offsets)?;
    if let Some(i) = first_bad_index(lp.len(), |i| m[i].is_set() & (lp[i] > 0.0)) {
        let (b, p) = locate(offsets, i);
        return Err(CoreError::at(
            &format!("logprobs[{b}]"),
            p,
            format!(
                "{} is above 0 on a trainable token (a log-probability is <= 0)",
                lp[i]
            ),
        ));
    }
    if let Some(vocab) = parts.vocab_size {
        if vocab <= 0 {
            return Err(CoreError::arg(
                "vocab_size",
                format!("must be > 0, got {vocab}"),
            ));
        }
        check_ids("prompt_ids", &parts.prompt_ids, vocab)?;
        check_ids("response_ids", responses, vocab)?;
    }
    let turns = &parts.turn_ends;
    check_turn_ends(turns, responses)?;
    if let Some(column) = &parts.turn_rewards {
        check_aligned("turn_rewards", column, "turn_ends", turns, "turns")?;
        check_finite_rows("turn_rewards", column.values, turns.offsets())?;
    }
    if let Some(rewards) = parts.rewards {
        if rewards.len() != n {
            return Err(CoreError::arg(
                "rewards",
                format!(
                    "has {} values but the batch has {n} trajectories",
                    rewards.len()
                ),
            ));
        }
        if let Some(b) = rewards.iter().position(|r| !r.is_finite()) {
            return Err(CoreError::at("rewards", b, describe_nonfinite(rewards[b])));
        }
    }
    Ok(())
}

/// A checked batch, as the kernels read it: the response offsets, and on them the
/// trainable mask (0/1 bytes) and logprobs; the turn ends (ragged, one row per trajectory),
/// the per-turn rewards on their offsets and the rewards, when the batch has them. The ids
/// themselves are no kernel's business.
#[derive(Clone, Copy, Debug)]
pub struct Trajectories<'a> {
    offsets: &'a [i64],
    mask: &'a [u8],
    logprobs: &'a [f32],
    turns: Ragged<'a, i64>,
    turn_rewards: Option<&'a [f32]>,
    rewards: Option<&'a [f32]>,
}

/// The buffers of a [`Trajectories`], as a holder keeps them.
#[derive(Clone, Copy, Debug)]
pub struct Buffers<'a> {
    pub response_offsets: &'a [i64],
    pub trainable_mask: &'a [u8],
    pub logprobs: &'a [f32],
    pub turn_offsets: &'a [i64],
    pub turn_ends: &'a [i64],
    pub turn_rewards: Option<&'a [f32]>,
    pub rewards: Option<&'a [f32]>,
}

impl<'a> Trajectories<'a> {
    /// [`validate`]s `parts` (a 0/1 byte mask) and views them.
    pub fn new<T: TokenId>(parts: &Parts<'a, T, u8>) -> CoreResult<Self> {
        validate(parts)?;
        let buffers = Buffers {
            response_offsets: parts.response_ids.offsets(),
            trainable_mask: parts.trainable_mask.values,
            logprobs: parts.logprobs.values,
            turn_offsets: parts.turn_ends.offsets(),
            turn_ends: parts.turn_ends.values(),
            turn_rewards: parts.turn_rewards.map(|c| c.values),
            rewards: parts.rewards,
        };
        Trajectories::trusted(buffers)
    }

    /// Views buffers that [`validate`] passed and that cannot have changed since (a
    /// holder owns the offsets and turns read-only). Only what is O(1) is looked at again,
    /// the lengths, so that no kernel reads past a buffer; a mismatch names the buffer.
    pub fn trusted(b: Buffers<'a>) -> CoreResult<Self> {
        let tokens = b.response_offsets.last().copied().unwrap_or(-1);
        let resized = |name: &str, len: usize| {
            CoreError::arg(
                name,
                format!(
                    "holds {len} values but the response offsets end at {tokens}: the array \
                     was resized after the batch was built"
                ),
            )
        };
        for (name, len) in [
            ("trainable_mask", b.trainable_mask.len()),
            ("logprobs", b.logprobs.len()),
        ] {
            if usize::try_from(tokens).ok() != Some(len) {
                return Err(resized(name, len));
            }
        }
        let turns = Ragged::trusted(b.turn_ends, b.turn_offsets, "turn_ends.offsets")?;
        let rows = b.response_offsets.len() - 1;
        if turns.len() != rows {
            return Err(CoreError::arg(
                "turn_ends",
                format!("has {} trajectories, the batch {rows}", turns.len()),
            ));
        }
        if b.turn_rewards.is_some_and(|r| r.len() != b.turn_ends.len()) {
            return Err(CoreError::arg("turn_rewards", "not one per turn"));
        }
        if b.rewards.is_some_and(|r| r.len() != rows) {
            return Err(CoreError::arg("rewards", "not one per trajectory"));
        }
        Ok(Trajectories {
            offsets: b.response_offsets,
            mask: b.trainable_mask,
            logprobs: b.logprobs,
            turns,
            turn_rewards: b.turn_rewards,
            rewards: b.rewards,
        })
    }

    /// Number of trajectories.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Response tokens of the whole batch.
    pub fn tokens(&self) -> usize {
        self.mask.len()
    }

    pub fn offsets(&self) -> &'a [i64] {
        self.offsets
    }

    pub fn mask(&self) -> &'a [u8] {
        self.mask
    }

    pub fn logprobs(&self) -> &'a [f32] {
        self.logprobs
    }

    pub fn turns(&self) -> &Ragged<'a, i64> {
        &self.turns
    }

    pub fn turn_rewards(&self) -> Option<&'a [f32]> {
        self.turn_rewards
    }

    pub fn rewards(&self) -> Option<&'a [f32]> {
        self.rewards
    }

    /// Flat positions of trajectory `b`'s response.
    pub fn range(&self, b: usize) -> Range<usize> {
        match (self.offsets.get(b), self.offsets.get(b + 1)) {
            (Some(&s), Some(&e)) => s as usize..e as usize,
            _ => 0..0,
        }
    }

    /// Response length of trajectory `b`.
    pub fn row_len(&self, b: usize) -> usize {
        self.range(b).len()
    }

    /// The trainable mask of trajectory `b`.
    pub fn mask_row(&self, b: usize) -> &'a [u8] {
        self.mask.get(self.range(b)).unwrap_or(&[])
    }

    /// Trainable tokens of trajectory `b`.
    pub fn trainable(&self, b: usize) -> usize {
        self.mask_row(b).iter().map(|&m| usize::from(m != 0)).sum()
    }

    /// Positions (within the response) of trajectory `b`'s turns: turn `k` holds the tokens
    /// from the end of turn `k - 1` (0 for the first) up to its own end, the tool results
    /// before its sampled tokens included. Clamped to the response, so a turn end can never
    /// index past it.
    pub fn turn_ranges(&self, b: usize) -> impl Iterator<Item = Range<usize>> + 'a {
        let len = self.row_len(b);
        let ends = self.turns.row(b);
        ends.iter().scan(0usize, move |start, &end| {
            let end = (end.max(0) as usize).min(len);
            let range = (*start).min(end)..end;
            *start = end;
            Some(range)
        })
    }

    /// Index of trajectory `b`'s first turn among all turns.
    pub fn first_turn(&self, b: usize) -> usize {
        self.turns.offsets().get(b).copied().unwrap_or(0) as usize
    }
}

/// Runs `f(b, out_row)` over each trajectory's slice of a flat per-token output `out`
/// (laid out on `offsets`), in parallel over trajectories from [`PAR_MIN`] tokens.
pub(crate) fn for_each_row_mut<V: Send>(
    offsets: &[i64],
    out: &mut [V],
    f: impl Fn(usize, &mut [V]) + Sync,
) {
    let mut rows: Vec<&mut [V]> = Vec::new();
    if rows.try_reserve_exact(offsets.len()).is_err() {
        // Cannot happen for a batch that exists; still, serially is correct too.
        serial_rows(offsets, out, &f);
        return;
    }
    let mut rest: &mut [V] = out;
    for w in offsets.windows(2) {
        let len = ((w[1] - w[0]) as usize).min(rest.len());
        let (row, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rows.push(row);
        rest = tail;
    }
    if offsets.last().copied().unwrap_or(0) as usize >= PAR_MIN {
        rows.into_par_iter()
            .enumerate()
            .for_each(|(b, row)| f(b, row));
    } else {
        for (b, row) in rows.into_iter().enumerate() {
            f(b, row);
        }
    }
}

fn serial_rows<V>(offsets: &[i64], out: &mut [V], f: &impl Fn(usize, &mut [V])) {
    for (b, w) in offsets.windows(2).enumerate() {
        if let Some(row) = out.get_mut(w[0] as usize..w[1] as usize) {
            f(b, row);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small batch of three trajectories, owned, for the kernels' tests:
    /// 0: 2 turns, tool tokens at 2..4; 1: empty; 2: one turn with a trailing tool span.
    pub(crate) struct Owned {
        pub prompt_ids: Vec<i64>,
        pub prompt_offsets: Vec<i64>,
        pub response_ids: Vec<i64>,
        pub offsets: Vec<i64>,
        pub mask: Vec<u8>,
        pub logprobs: Vec<f32>,
        pub turn_ends: Vec<i64>,
        pub turn_offsets: Vec<i64>,
        pub turn_rewards: Option<Vec<f32>>,
        pub rewards: Option<Vec<f32>>,
    }

    impl Owned {
        pub(crate) fn example() -> Owned {
            Owned {
                prompt_ids: vec![1, 2, 3, 4, 5, 6],
                prompt_offsets: vec![0, 2, 3, 6],
                response_ids: vec![7, 8, 9, 9, 10, 11, 12, 13, 9],
                offsets: vec![0, 6, 6, 9],
                mask: vec![1, 1, 0, 0, 1, 1, 1, 1, 0],
                logprobs: vec![-0.5, -0.25, 0.0, 0.0, -1.0, -2.0, -0.125, -0.75, 0.0],
                turn_ends: vec![2, 6, 2],
                turn_offsets: vec![0, 2, 2, 3],
                turn_rewards: Some(vec![0.5, 1.0, -1.0]),
                rewards: Some(vec![1.0, 0.0, -2.0]),
            }
        }

        pub(crate) fn parts(&self) -> Parts<'_, i64, u8> {
            Parts {
                prompt_ids: Ragged::new(&self.prompt_ids, &self.prompt_offsets, "p").unwrap(),
                response_ids: Ragged::new(&self.response_ids, &self.offsets, "r").unwrap(),
                trainable_mask: Column::shared(&self.mask),
                logprobs: Column::shared(&self.logprobs),
                turn_ends: Ragged::new(&self.turn_ends, &self.turn_offsets, "t").unwrap(),
                turn_rewards: self.turn_rewards.as_deref().map(Column::shared),
                rewards: self.rewards.as_deref(),
                vocab_size: Some(14),
            }
        }

        pub(crate) fn batch(&self) -> Trajectories<'_> {
            Trajectories::new(&self.parts()).unwrap()
        }
    }

    fn error(owned: &Owned) -> String {
        validate(&owned.parts()).unwrap_err().message
    }

    #[test]
    fn a_good_batch_is_viewed_with_its_turns() {
        let owned = Owned::example();
        let t = owned.batch();
        assert_eq!((t.len(), t.tokens()), (3, 9));
        assert_eq!(t.range(2), 6..9);
        assert_eq!(t.trainable(0), 4);
        assert_eq!(t.trainable(1), 0);
        assert_eq!(t.turn_ranges(0).collect::<Vec<_>>(), vec![0..2, 2..6]);
        assert_eq!(t.turn_ranges(1).count(), 0);
        assert_eq!(t.turn_ranges(2).collect::<Vec<_>>(), vec![0..2]);
        assert_eq!(t.first_turn(2), 2);
    }

    #[test]
    fn every_bad_input_names_the_trajectory_and_position() {
        type Spoil = Box<dyn Fn(&mut Owned)>;
        let cases: Vec<(Spoil, &str)> = vec![
            (
                Box::new(|o| o.mask[7] = 2),
                "trainable_mask[2][1]: must be 0 or 1, got 2",
            ),
            (
                Box::new(|o| o.logprobs[4] = f32::NAN),
                "logprobs[0][4]: NaN is not allowed",
            ),
            (
                Box::new(|o| o.logprobs[8] = f32::NEG_INFINITY),
                "logprobs[2][2]: -inf is not allowed",
            ),
            (
                Box::new(|o| o.logprobs[5] = 0.5),
                "logprobs[0][5]: 0.5 is above 0 on a trainable token (a log-probability is <= 0)",
            ),
            (
                Box::new(|o| o.response_ids[7] = 14),
                "response_ids[2][1]: id 14 is outside the vocabulary [0, 14)",
            ),
            (
                Box::new(|o| o.prompt_ids[2] = -1),
                "prompt_ids[1][0]: id -1 is outside the vocabulary [0, 14)",
            ),
            (
                Box::new(|o| o.turn_ends[1] = 2),
                "turn_ends[0][1]: 2 does not increase on turn_ends[0][0] = 2",
            ),
            (
                Box::new(|o| o.turn_ends[0] = 0),
                "turn_ends[0][0]: must be > 0 (a turn holds at least one token), got 0",
            ),
            (
                Box::new(|o| o.turn_ends[2] = 4),
                "turn_ends[2][0]: 4 is past the end of the response (3 tokens)",
            ),
            (
                Box::new(|o| o.turn_rewards.as_mut().unwrap()[2] = f32::INFINITY),
                "turn_rewards[2][0]: inf is not allowed",
            ),
            (
                Box::new(|o| o.rewards.as_mut().unwrap()[1] = f32::NAN),
                "rewards[1]: NaN is not allowed",
            ),
            (
                Box::new(|o| {
                    o.rewards.as_mut().unwrap().pop();
                }),
                "rewards: has 2 values but the batch has 3 trajectories",
            ),
            (
                Box::new(|o| {
                    o.turn_rewards.as_mut().unwrap().pop();
                }),
                "turn_rewards: has 2 values but turn_ends has 3 turns",
            ),
            (
                Box::new(|o| {
                    o.mask.pop();
                }),
                "trainable_mask: has 8 values but response_ids has 9 tokens",
            ),
        ];
        for (spoil, want) in cases {
            let mut owned = Owned::example();
            spoil(&mut owned);
            assert_eq!(error(&owned), want);
        }
    }

    #[test]
    fn columns_with_their_own_rows_name_the_trajectory() {
        let owned = Owned::example();
        let mask_offsets = [0i64, 5, 5, 9];
        let lp_offsets = [0i64, 6, 6, 9];
        let mut parts = owned.parts();
        parts.logprobs.offsets = Some(&lp_offsets);
        assert!(validate(&parts).is_ok());
        parts.trainable_mask.offsets = Some(&mask_offsets);
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "trainable_mask[0]: has 5 values but response_ids[0] has 6 tokens"
        );
        let reward_offsets = [0i64, 2, 3, 3];
        let mut parts = owned.parts();
        let turn_rewards = owned.turn_rewards.as_deref().unwrap();
        parts.turn_rewards = Some(Column {
            values: turn_rewards,
            offsets: Some(&reward_offsets),
        });
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "turn_rewards[1]: has 1 values but turn_ends[1] has 0 turns"
        );
        let short = [0i64, 2, 3];
        parts.turn_rewards = Some(Column {
            values: turn_rewards,
            offsets: Some(&short),
        });
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "turn_rewards: has 2 trajectories but turn_ends has 3"
        );
    }

    #[test]
    fn counts_and_vocabulary_are_checked() {
        let owned = Owned::example();
        let mut parts = owned.parts();
        parts.vocab_size = Some(0);
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "vocab_size: must be > 0, got 0"
        );
        parts.vocab_size = None;
        parts.prompt_ids = Ragged::new(&owned.prompt_ids, &[0, 6], "p").unwrap();
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "response_ids: has 3 trajectories but prompt_ids has 1"
        );
        let mut parts = owned.parts();
        parts.turn_ends = Ragged::new(&owned.turn_ends, &[0, 3], "t").unwrap();
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "turn_ends: has 1 trajectories but response_ids has 3"
        );
        // A float mask is held to 0/1 too.
        let floats = [1.0f32, 1.0, 0.0, 0.0, 1.0, 0.5, 1.0, 1.0, 0.0];
        let p = owned.parts();
        let parts = Parts {
            prompt_ids: p.prompt_ids,
            response_ids: p.response_ids,
            trainable_mask: Column::shared(&floats[..]),
            logprobs: p.logprobs,
            turn_ends: p.turn_ends,
            turn_rewards: p.turn_rewards,
            rewards: p.rewards,
            vocab_size: p.vocab_size,
        };
        assert_eq!(
            validate(&parts).unwrap_err().message,
            "trainable_mask[0][5]: must be 0 or 1, got 0.5"
        );
    }

    #[test]
    fn large_batches_find_the_first_bad_position() {
        let n = 3 * PAR_MIN + 7;
        let ids = vec![1i32; n];
        let offsets = [0i64, 10, n as i64];
        let mut mask = vec![1u8; n];
        let mut logprobs = vec![-1.0f32; n];
        logprobs[n - 3] = 0.5;
        mask[n - 2] = 3;
        mask[n - 1] = 4;
        let turn_ends = [10i64, (n - 10) as i64];
        let check = |mask: &[u8]| {
            let parts = Parts {
                prompt_ids: Ragged::new(&ids[..2], &[0, 1, 2], "p").unwrap(),
                response_ids: Ragged::new(&ids, &offsets, "r").unwrap(),
                trainable_mask: Column::shared(mask),
                logprobs: Column::shared(&logprobs[..]),
                turn_ends: Ragged::new(&turn_ends, &[0, 1, 2], "t").unwrap(),
                turn_rewards: None,
                rewards: None,
                vocab_size: Some(2),
            };
            validate(&parts).unwrap_err().message
        };
        let at = n - 2 - 10;
        assert_eq!(
            check(&mask),
            format!("trainable_mask[1][{at}]: must be 0 or 1, got 3")
        );
        mask[n - 2] = 1;
        mask[n - 1] = 1;
        assert_eq!(
            check(&mask),
            format!(
                "logprobs[1][{}]: 0.5 is above 0 on a trainable token (a log-probability is <= 0)",
                n - 13
            )
        );
    }

    #[test]
    fn trusted_buffers_refuse_other_lengths() {
        let owned = Owned::example();
        let good = Buffers {
            response_offsets: &owned.offsets,
            trainable_mask: &owned.mask,
            logprobs: &owned.logprobs,
            turn_offsets: &owned.turn_offsets,
            turn_ends: &owned.turn_ends,
            turn_rewards: owned.turn_rewards.as_deref(),
            rewards: owned.rewards.as_deref(),
        };
        assert!(Trajectories::trusted(good).is_ok());
        let short = Buffers {
            logprobs: &owned.logprobs[..8],
            ..good
        };
        let e = Trajectories::trusted(short).unwrap_err().message;
        assert!(e.starts_with("logprobs: holds 8 values"), "{e}");
        let rewards = Buffers {
            rewards: Some(&[1.0]),
            ..good
        };
        assert!(Trajectories::trusted(rewards).is_err());
    }

    #[test]
    fn rows_are_located_and_filled() {
        let offsets = [0i64, 2, 2, 5];
        assert_eq!(locate(&offsets, 0), (0, 0));
        assert_eq!(locate(&offsets, 2), (2, 0));
        assert_eq!(locate(&offsets, 4), (2, 2));
        for total in [5usize, PAR_MIN + 1] {
            let offsets = [0i64, 2, 2, total as i64];
            let mut out = vec![0usize; total];
            for_each_row_mut(&offsets, &mut out, |b, row| row.fill(b + 1));
            assert_eq!(&out[..3], &[1, 1, 3]);
            assert!(out[2..].iter().all(|&v| v == 3));
        }
        assert_eq!(first_bad_index(10, |i| i >= 7), Some(7));
        assert_eq!(
            first_bad_index(PAR_MIN * 2, |i| i % 9000 == 8999),
            Some(8999)
        );
        assert_eq!(first_bad_index(0, |_| true), None);
    }
}
