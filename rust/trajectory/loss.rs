//! Loss aggregation over a batch's trainable tokens, as verl's `core_algos.agg_loss`
//! defines it: per-token weights `w` (so that a torch loss is `sum(w * L)`, its autograd
//! untouched) and the aggregated value of a given per-token array.
//!
//! With `m` the trainable mask, `n_b = sum_t m[b, t]`, `N = sum_b n_b` (or the global
//! `batch_num_tokens`), `S` the number of trajectories with `n_b > 0` (or the global
//! `global_batch_size`), `H` the horizon (`loss_scale_factor`, else the longest response:
//! verl's `loss_mask.shape[-1]` for a batch padded to its longest) and `D` = `dp_size`:
//!
//! | mode | `w[b, t]` |
//! |---|---|
//! | `token-mean` | `m D / N` |
//! | `token-sum` | `m D` |
//! | `seq-mean-token-sum` | `m D / S` |
//! | `seq-mean-token-sum-norm` (Dr. GRPO) | `m D / (S H)` |
//! | `seq-mean-token-mean` | `m D / ((n_b + 1e-8) S)`, `n_b + 1e-8` in float32 as verl |
//!
//! and the aggregate of `L` is `sum_bt w[b, t] L[b, t]`. Where verl divides 0 by 0 (no
//! trainable token in the batch, `N = 0` or `S = 0`) the weights and the value are 0.

use super::batch::{first_bad_index, for_each_row_mut, Trajectories};
use crate::alloc;
use crate::error::{CoreError, CoreResult, Overflow};

/// verl's `loss_agg_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggMode {
    TokenMean,
    TokenSum,
    SeqMeanTokenSum,
    SeqMeanTokenSumNorm,
    SeqMeanTokenMean,
}

impl AggMode {
    pub const NAMES: [&'static str; 5] = [
        "token-mean",
        "token-sum",
        "seq-mean-token-sum",
        "seq-mean-token-sum-norm",
        "seq-mean-token-mean",
    ];

    pub fn parse(text: &str) -> CoreResult<AggMode> {
        Ok(match text {
            "token-mean" => AggMode::TokenMean,
            "token-sum" => AggMode::TokenSum,
            "seq-mean-token-sum" => AggMode::SeqMeanTokenSum,
            "seq-mean-token-sum-norm" => AggMode::SeqMeanTokenSumNorm,
            "seq-mean-token-mean" => AggMode::SeqMeanTokenMean,
            other => {
                return Err(CoreError::arg(
                    "mode",
                    format!("must be one of {}, got '{other}'", Self::NAMES.join(", ")),
                ))
            }
        })
    }
}

/// The normalisers of `agg_loss` that span more than one micro-batch or rank; `None` for
/// the batch's own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Norms {
    pub dp_size: i64,
    pub batch_num_tokens: Option<f64>,
    pub global_batch_size: Option<f64>,
    pub loss_scale_factor: Option<f64>,
}

impl Default for Norms {
    fn default() -> Self {
        Norms {
            dp_size: 1,
            batch_num_tokens: None,
            global_batch_size: None,
            loss_scale_factor: None,
        }
    }
}

fn positive(name: &str, value: Option<f64>) -> CoreResult<Option<f64>> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(CoreError::arg(
            name,
            format!("must be a finite number > 0, got {v}"),
        )),
        _ => Ok(value),
    }
}

/// verl refuses a missing global normaliser when the batch is one of several ranks'.
fn global(name: &str, value: Option<f64>, dp: i64, what: &str) -> CoreResult<Option<f64>> {
    let value = positive(name, value)?;
    if value.is_none() && dp > 1 {
        return Err(CoreError::arg(
            name,
            format!("required when dp_size > 1 ({what} over all ranks)"),
        ));
    }
    Ok(value)
}

/// `c_b` of each trajectory, `w[b, t] = c_b m[b, t]` (float64).
fn coefficients(t: &Trajectories<'_>, mode: AggMode, norms: Norms) -> CoreResult<Vec<f64>> {
    if norms.dp_size < 1 {
        return Err(CoreError::arg(
            "dp_size",
            format!("must be >= 1, got {}", norms.dp_size),
        ));
    }
    let dp = norms.dp_size as f64;
    let mut counts = alloc::output("response_ids", t.len())?;
    counts.extend((0..t.len()).map(|b| t.trainable(b)));
    let ratio = |num: f64, den: f64| if den == 0.0 { 0.0 } else { num / den };
    let sequences = || -> CoreResult<f64> {
        let own = counts.iter().filter(|&&n| n > 0).count() as f64;
        let given = global(
            "global_batch_size",
            norms.global_batch_size,
            norms.dp_size,
            "the number of trajectories",
        )?;
        Ok(given.unwrap_or(own))
    };
    let mut out = alloc::output("response_ids", t.len())?;
    match mode {
        AggMode::TokenMean => {
            let own = counts.iter().sum::<usize>() as f64;
            let given = global(
                "batch_num_tokens",
                norms.batch_num_tokens,
                norms.dp_size,
                "the number of trainable tokens",
            )?;
            out.resize(t.len(), ratio(dp, given.unwrap_or(own)));
        }
        AggMode::TokenSum => out.resize(t.len(), dp),
        AggMode::SeqMeanTokenSum => out.resize(t.len(), ratio(dp, sequences()?)),
        AggMode::SeqMeanTokenSumNorm => {
            let longest = (0..t.len()).map(|b| t.row_len(b)).max().unwrap_or(0) as f64;
            let horizon = positive("loss_scale_factor", norms.loss_scale_factor)?;
            let s = sequences()?;
            out.resize(t.len(), ratio(dp, s * horizon.unwrap_or(longest)));
        }
        AggMode::SeqMeanTokenMean => {
            let s = sequences()?;
            out.extend(counts.iter().map(|&n| {
                // torch adds 1e-8 to a float32 count, where it vanishes from n >= 1.
                let per_token = n as f32 + 1e-8f32;
                if n == 0 {
                    0.0
                } else {
                    ratio(dp, f64::from(per_token) * s)
                }
            }));
        }
    }
    // Only a global normaliser the caller gave can be small enough for this.
    if let Some(c) = out.iter().find(|c| !(**c as f32).is_finite()) {
        let name = match mode {
            AggMode::TokenMean => "batch_num_tokens",
            AggMode::SeqMeanTokenSumNorm if norms.loss_scale_factor.is_some() => {
                "loss_scale_factor"
            }
            _ => "global_batch_size",
        };
        let detail = Overflow {
            what: "a loss weight",
            value: *c as f32,
        };
        return Err(CoreError::arg(name, detail));
    }
    Ok(out)
}

/// The per-token weights `w` of `mode` (see the module table), float32, flat on the
/// response offsets: `agg_loss(L) = sum_bt w[b, t] L[b, t]`, 0 off the trainable mask.
pub fn loss_weights(t: &Trajectories<'_>, mode: AggMode, norms: Norms) -> CoreResult<Vec<f32>> {
    let c = coefficients(t, mode, norms)?;
    let mut out = alloc::output_zeros::<f32>("response_ids", t.tokens())?;
    let mask = t.mask();
    for_each_row_mut(t.offsets(), &mut out, |b, row| {
        let w = c[b] as f32;
        for (o, &m) in row.iter_mut().zip(&mask[t.range(b)]) {
            *o = if m != 0 { w } else { 0.0 };
        }
    });
    Ok(out)
}

/// A per-token array of a batch: flat on its response offsets, or padded `(rows, width)`
/// row-major with each trajectory's tokens first (right padding, as verl's `loss_mat`).
#[derive(Clone, Copy, Debug)]
pub enum PerToken<'a> {
    Flat(&'a [f32]),
    Padded {
        values: &'a [f32],
        rows: usize,
        width: usize,
    },
}

/// `agg_loss` of `values` by `mode`: `sum_bt w[b, t] L[b, t]` with the weights of
/// [`loss_weights`], summed in float64 over trajectories' token sums. Values off the
/// trainable mask (tool tokens, padding) are not read; one that is not finite under it is
/// an error naming its trajectory and position.
pub fn aggregate(
    t: &Trajectories<'_>,
    values: PerToken<'_>,
    mode: AggMode,
    norms: Norms,
) -> CoreResult<f64> {
    let row = |b: usize| -> &[f32] {
        match values {
            PerToken::Flat(v) => &v[t.range(b)],
            PerToken::Padded { values, width, .. } => &values[b * width..b * width + t.row_len(b)],
        }
    };
    match values {
        PerToken::Flat(v) if v.len() != t.tokens() => {
            return Err(CoreError::arg(
                "values",
                format!(
                    "has {} values but response_ids has {} tokens",
                    v.len(),
                    t.tokens()
                ),
            ))
        }
        PerToken::Padded {
            values,
            rows,
            width,
        } => {
            if rows != t.len() || values.len() != rows.saturating_mul(width) {
                return Err(CoreError::arg(
                    "values",
                    format!(
                        "has shape ({rows}, {width}) but the batch has {} trajectories",
                        t.len()
                    ),
                ));
            }
            if let Some(b) = (0..t.len()).find(|&b| t.row_len(b) > width) {
                return Err(CoreError::arg(
                    "values",
                    format!(
                        "its width {width} is narrower than trajectory {b}'s {} response tokens",
                        t.row_len(b)
                    ),
                ));
            }
        }
        PerToken::Flat(_) => {}
    }
    let mask = t.mask();
    let bad = (0..t.len()).find_map(|b| {
        let (v, m) = (row(b), &mask[t.range(b)]);
        first_bad_index(v.len(), |i| (m[i] != 0) & !v[i].is_finite()).map(|p| (b, p, v[p]))
    });
    if let Some((b, p, x)) = bad {
        return Err(CoreError::at(
            &format!("values[{b}]"),
            p,
            format!("{x} is not finite on a trainable token"),
        ));
    }
    let c = coefficients(t, mode, norms)?;
    let total = (0..t.len())
        .map(|b| {
            let sum: f64 = row(b)
                .iter()
                .zip(&mask[t.range(b)])
                .map(|(&v, &m)| if m != 0 { f64::from(v) } else { 0.0 })
                .sum();
            c[b] * sum
        })
        .fold(0.0, |acc, x| acc + x); // a `sum` of no terms would be -0.0
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::super::batch::tests::Owned;
    use super::*;

    fn norms() -> Norms {
        Norms::default()
    }

    #[test]
    fn weights_follow_the_table() {
        let owned = Owned::example();
        let t = owned.batch();
        // n_b = [4, 0, 2]: N = 6, S = 2, H = 6.
        let w = loss_weights(&t, AggMode::TokenMean, norms()).unwrap();
        let m: Vec<f32> = owned.mask.iter().map(|&m| f32::from(m)).collect();
        assert_eq!(w, m.iter().map(|&x| x / 6.0).collect::<Vec<_>>());
        let w = loss_weights(&t, AggMode::SeqMeanTokenMean, norms()).unwrap();
        assert_eq!(w[0], 1.0 / 8.0);
        assert_eq!(w[6], 1.0 / 4.0);
        assert_eq!(w[2], 0.0);
        let w = loss_weights(&t, AggMode::SeqMeanTokenSumNorm, norms()).unwrap();
        assert_eq!(w[0], 1.0 / 12.0);
        let given = Norms {
            loss_scale_factor: Some(10.0),
            dp_size: 2,
            global_batch_size: Some(4.0),
            ..norms()
        };
        let w = loss_weights(&t, AggMode::SeqMeanTokenSumNorm, given).unwrap();
        assert_eq!(w[7], 2.0 / 40.0);
        let w = loss_weights(&t, AggMode::TokenSum, norms()).unwrap();
        assert_eq!(w, m);
    }

    #[test]
    fn aggregate_reads_trainable_tokens_of_flat_or_padded_values() {
        let owned = Owned::example();
        let t = owned.batch();
        let flat: Vec<f32> = (0..9).map(|i| i as f32).collect();
        // Trainable: traj 0 at 0, 1, 4, 5 (sum 10); traj 2 at 6, 7 (sum 13).
        let v = aggregate(&t, PerToken::Flat(&flat), AggMode::TokenMean, norms()).unwrap();
        assert!((v - 23.0 / 6.0).abs() < 1e-12);
        let v = aggregate(
            &t,
            PerToken::Flat(&flat),
            AggMode::SeqMeanTokenMean,
            norms(),
        )
        .unwrap();
        assert!((v - (10.0 / 4.0 + 13.0 / 2.0) / 2.0).abs() < 1e-6);
        let mut padded = vec![f32::NAN; 3 * 7];
        padded[..6].copy_from_slice(&flat[..6]);
        padded[14..17].copy_from_slice(&flat[6..]);
        let p = PerToken::Padded {
            values: &padded,
            rows: 3,
            width: 7,
        };
        let v = aggregate(&t, p, AggMode::SeqMeanTokenSum, norms()).unwrap();
        assert!((v - 23.0 / 2.0).abs() < 1e-12);
        padded[15] = f32::INFINITY;
        let p = PerToken::Padded {
            values: &padded,
            rows: 3,
            width: 7,
        };
        let e = aggregate(&t, p, AggMode::TokenMean, norms()).unwrap_err();
        assert_eq!(
            e.message,
            "values[2][1]: inf is not finite on a trainable token"
        );
        let narrow = PerToken::Padded {
            values: &padded[..15],
            rows: 3,
            width: 5,
        };
        let e = aggregate(&t, narrow, AggMode::TokenMean, norms()).unwrap_err();
        assert!(
            e.message.contains("narrower than trajectory 0's 6"),
            "{}",
            e.message
        );
        let e = aggregate(&t, PerToken::Flat(&flat[1..]), AggMode::TokenMean, norms());
        assert!(e.is_err());
    }

    #[test]
    fn normalisers_are_checked_as_verl_does() {
        let owned = Owned::example();
        let t = owned.batch();
        let dp = Norms {
            dp_size: 2,
            ..norms()
        };
        let e = loss_weights(&t, AggMode::TokenMean, dp).unwrap_err();
        assert!(e
            .message
            .starts_with("batch_num_tokens: required when dp_size > 1"));
        let e = loss_weights(&t, AggMode::SeqMeanTokenMean, dp).unwrap_err();
        assert!(e.message.starts_with("global_batch_size: required"));
        let zero = Norms {
            batch_num_tokens: Some(0.0),
            ..norms()
        };
        assert!(loss_weights(&t, AggMode::TokenMean, zero).is_err());
        let neg = Norms {
            dp_size: 0,
            ..norms()
        };
        assert!(loss_weights(&t, AggMode::TokenSum, neg).is_err());
        let tiny = Norms {
            loss_scale_factor: Some(1e-300),
            ..norms()
        };
        let e = loss_weights(&t, AggMode::SeqMeanTokenSumNorm, tiny).unwrap_err();
        assert_eq!(
            e.message,
            "loss_scale_factor: a loss weight overflows float32 (inf)"
        );
        assert!(AggMode::parse("seq-mean").is_err());
        assert_eq!(AggMode::parse("token-sum").unwrap(), AggMode::TokenSum);
        // No trainable token at all: weights 0, not 0 / 0.
        let mut none = Owned::example();
        none.mask = vec![0; 9];
        let t = none.batch();
        let w = loss_weights(&t, AggMode::TokenMean, norms()).unwrap();
        assert!(w.iter().all(|&x| x == 0.0));
        let flat = vec![1.0f32; 9];
        let v = aggregate(
            &t,
            PerToken::Flat(&flat),
            AggMode::SeqMeanTokenMean,
            norms(),
        );
        assert_eq!(v.unwrap().to_bits(), 0.0f64.to_bits());
    }
}
