//! Length penalties: linear around a target, and DAPO's overlong soft penalty.

use crate::batch::{check_nonempty, map_rows, map_rows_with};
use crate::error::{CoreError, CoreResult, Overflow};
use crate::ragged::{Ragged, TokenId};

/// Kinds of length penalty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LengthPenalty {
    /// `-|len - target| / scale`.
    Linear { target: f64, scale: f64 },
    /// DAPO's overlong soft penalty, times `factor`:
    /// 0 if `len <= max_len - cache_len`; `(max_len - cache_len - len) / cache_len` if
    /// `len <= max_len`; -1 beyond `max_len`.
    Dapo {
        max_len: i64,
        cache_len: i64,
        factor: f64,
    },
}

impl LengthPenalty {
    pub fn linear(target: f64, scale: f64) -> CoreResult<Self> {
        if !target.is_finite() || target < 0.0 {
            return Err(CoreError::arg(
                "target",
                format!("must be finite and >= 0, got {target}"),
            ));
        }
        if !scale.is_finite() || scale <= 0.0 {
            return Err(CoreError::arg(
                "scale",
                format!("must be finite and > 0, got {scale}"),
            ));
        }
        Ok(LengthPenalty::Linear { target, scale })
    }

    pub fn dapo(max_len: i64, cache_len: i64, factor: f64) -> CoreResult<Self> {
        if max_len <= 0 {
            return Err(CoreError::arg(
                "max_len",
                format!("must be > 0, got {max_len}"),
            ));
        }
        if cache_len <= 0 || cache_len > max_len {
            return Err(CoreError::arg(
                "cache_len",
                format!("must be in [1, max_len = {max_len}], got {cache_len}"),
            ));
        }
        if !factor.is_finite() || factor < 0.0 {
            return Err(CoreError::arg(
                "penalty_factor",
                format!("must be finite and >= 0, got {factor}"),
            ));
        }
        Ok(LengthPenalty::Dapo {
            max_len,
            cache_len,
            factor,
        })
    }

    /// The penalty of a row of `len` tokens, in float64 (see [`length_penalty`] for
    /// its rounding to float32).
    #[inline]
    pub fn score(&self, len: usize) -> f64 {
        let len = len as f64;
        match *self {
            LengthPenalty::Linear { target, scale } => -(len - target).abs() / scale,
            LengthPenalty::Dapo {
                max_len,
                cache_len,
                factor,
            } => {
                let (max_len, cache_len) = (max_len as f64, cache_len as f64);
                let expected = max_len - cache_len;
                if len <= expected {
                    0.0
                } else if len <= max_len {
                    factor * (expected - len) / cache_len
                } else {
                    -factor
                }
            }
        }
    }

    /// What overflows when a penalty is beyond float32, for the error.
    fn what(&self) -> &'static str {
        match self {
            LengthPenalty::Linear { .. } => "the length penalty -|len - target| / scale",
            LengthPenalty::Dapo { .. } => "the length penalty (times penalty_factor)",
        }
    }
}

/// A length penalty per row (see [`LengthPenalty`]), computed in float64 and rounded to
/// float32. A penalty beyond float32 (a `target` or `penalty_factor` near 1e308, a
/// `scale` near 5e-324) is an error naming the first such row:
/// "`responses`[3]: the length penalty ... overflows float32 (-inf)".
pub fn length_penalty<T: TokenId>(
    responses: &Ragged<'_, T>,
    kind: LengthPenalty,
) -> CoreResult<Vec<f32>> {
    check_nonempty("responses", responses.len())?;
    // The largest penalty in magnitude is at a row length of 0 or of the longest row
    // (linear), or `penalty_factor` (DAPO): when it fits float32, every row's does.
    let worst = match kind {
        LengthPenalty::Linear { .. } => kind
            .score(0)
            .abs()
            .max(kind.score(responses.max_len()).abs()),
        LengthPenalty::Dapo { factor, .. } => factor,
    };
    if (worst as f32).is_finite() {
        return map_rows("responses", responses.len(), |i| {
            kind.score(responses.row_len(i)) as f32
        });
    }
    map_rows_with::<(), _, _>("responses", responses.len(), |i, _| {
        let value = kind.score(responses.row_len(i)) as f32;
        if value.is_finite() {
            Ok(value)
        } else {
            let what = kind.what();
            Err(CoreError::at("responses", i, Overflow { what, value }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_dapo() {
        let v: Vec<i32> = vec![1, 2, 1, 2, 3, 1, 2, 3, 9];
        let r = Ragged::new(&v, &[0, 0, 2, 9], "offsets").unwrap();
        let lin = LengthPenalty::linear(2.0, 2.0).unwrap();
        assert_eq!(length_penalty(&r, lin).unwrap(), vec![-1.0, 0.0, -2.5]);
        let d = LengthPenalty::dapo(4, 2, 1.0).unwrap();
        assert_eq!(
            [d.score(2), d.score(3), d.score(4), d.score(5)],
            [0.0, -0.5, -1.0, -1.0]
        );
        assert!(LengthPenalty::dapo(4, 5, 1.0).is_err());
        assert!(LengthPenalty::dapo(0, 1, 1.0).is_err());
        assert!(LengthPenalty::linear(1.0, 0.0).is_err());
    }

    #[test]
    fn a_penalty_beyond_float32_names_the_row() {
        let v: Vec<i32> = vec![1, 2, 3];
        let r = Ragged::new(&v, &[0, 0, 3], "offsets").unwrap();
        // Row 0 is empty (|0 - 0| / scale = 0); row 1's |3 - 0| / 5e-324 is beyond float32.
        let lin = LengthPenalty::linear(0.0, 5e-324).unwrap();
        assert_eq!(
            length_penalty(&r, lin).unwrap_err().message,
            "responses[1]: the length penalty -|len - target| / scale overflows float32 (-inf)"
        );
        let lin = LengthPenalty::linear(1e308, 1.0).unwrap();
        assert!(length_penalty(&r, lin)
            .unwrap_err()
            .message
            .starts_with("responses[0]:"));
        let fits = LengthPenalty::linear(3.0, 1e-38).unwrap();
        let out = length_penalty(&r, fits).unwrap();
        assert_eq!(out, vec![(-3.0 / 1e-38) as f32, 0.0]);
        let d = LengthPenalty::dapo(1, 1, 1e300).unwrap();
        assert_eq!(
            length_penalty(&r, d).unwrap_err().message,
            "responses[1]: the length penalty (times penalty_factor) overflows float32 (-inf)"
        );
    }
}
