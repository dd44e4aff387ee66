//! Combining reward components: a weighted sum, optional clipping, and a check that
//! no component holds NaN or infinity (the error names the component and the row).

use crate::alloc;
use crate::error::{CoreError, CoreResult, Overflow};

/// One scored component: its name (for errors), its scores and its weight.
pub struct Component<'a> {
    pub name: &'a str,
    pub scores: &'a [f32],
    pub weight: f64,
}

/// `total[i] = clip(Σ_k weight_k * scores_k[i], lo, hi)`, accumulated in f64 and rounded
/// to float32 once.
///
/// Errors: no components, an empty batch, components of different lengths, a weight
/// or score that is NaN or infinite, `lo > hi` or a NaN bound, and a total (after
/// clipping) beyond float32: "`name`[i]: the weighted total overflows float32 (inf)",
/// naming the row and the component of the largest `|weight * score|` there.
pub fn combine(components: &[Component<'_>], clip: Option<(f64, f64)>) -> CoreResult<Vec<f32>> {
    let Some(first) = components.first() else {
        return Err(CoreError::arg("components", "no reward components"));
    };
    let n = first.scores.len();
    if n == 0 {
        return Err(CoreError::arg(first.name, "empty batch (0 rows)"));
    }
    if let Some((lo, hi)) = clip {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(CoreError::arg(
                "clip",
                format!("needs lo <= hi, got ({lo}, {hi})"),
            ));
        }
    }
    for c in components {
        if c.scores.len() != n {
            return Err(CoreError::arg(
                c.name,
                format!(
                    "returned {} scores, expected {n} (one per response)",
                    c.scores.len()
                ),
            ));
        }
        if !c.weight.is_finite() {
            return Err(CoreError::arg(
                c.name,
                format!("weight must be finite, got {}", c.weight),
            ));
        }
        if let Some(i) = c.scores.iter().position(|s| !s.is_finite()) {
            return Err(CoreError::at(
                c.name,
                i,
                format!("score is {} (rewards must be finite)", c.scores[i]),
            ));
        }
    }
    let mut total = alloc::output_zeros::<f64>(first.name, n)?;
    for c in components {
        for (t, &s) in total.iter_mut().zip(c.scores) {
            *t += c.weight * f64::from(s);
        }
    }
    let mut out = alloc::output(first.name, n)?;
    for (i, &t) in total.iter().enumerate() {
        let value = match clip {
            Some((lo, hi)) => t.clamp(lo, hi) as f32,
            None => t as f32,
        };
        if !value.is_finite() {
            return Err(overflow(components, i, value));
        }
        out.push(value);
    }
    Ok(out)
}

/// The error for row `i`, whose total is `value`: it names the component of the largest
/// weighted score there (the first of equals), the one to lower or clip.
fn overflow(components: &[Component<'_>], i: usize, value: f32) -> CoreError {
    let term = |c: &Component<'_>| (c.weight * f64::from(c.scores[i])).abs();
    let largest = components
        .iter()
        .min_by(|a, b| term(b).total_cmp(&term(a)))
        .map_or("components", |c| c.name);
    let what = "the weighted total";
    CoreError::at(
        largest,
        i,
        format_args!(
            "{}; lower its weight or clip the total",
            Overflow { what, value }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c<'a>(name: &'a str, scores: &'a [f32], weight: f64) -> Component<'a> {
        Component {
            name,
            scores,
            weight,
        }
    }

    #[test]
    fn weighted_sum_and_clip() {
        let a = [1.0f32, 0.0, 1.0];
        let b = [0.5f32, -1.0, 2.0];
        let out = combine(&[c("a", &a, 1.0), c("b", &b, 2.0)], None).unwrap();
        assert_eq!(out, vec![2.0, -2.0, 5.0]);
        let out = combine(&[c("a", &a, 1.0), c("b", &b, 2.0)], Some((-1.0, 3.0))).unwrap();
        assert_eq!(out, vec![2.0, -1.0, 3.0]);
    }

    #[test]
    fn errors_name_component_and_row() {
        let a = [1.0f32, 0.0];
        let bad = [0.0f32, f32::NAN];
        let e = combine(&[c("a", &a, 1.0), c("fmt", &bad, 1.0)], None).unwrap_err();
        assert!(e.message.starts_with("fmt[1]: score is NaN"), "{e}");
        let e = combine(&[c("a", &a, 1.0), c("b", &a[..1], 1.0)], None).unwrap_err();
        assert!(e.message.starts_with("b: returned 1 scores"), "{e}");
        assert!(combine(&[c("a", &a, f64::NAN)], None).is_err());
        assert!(combine(&[], None).is_err());
        assert!(combine(&[c("a", &[], 1.0)], None).is_err());
        assert!(combine(&[c("a", &a, 1.0)], Some((1.0, 0.0))).is_err());
    }

    #[test]
    fn a_total_beyond_float32_names_the_row_and_component() {
        let a = [1.0f32, 1.0, 3e38];
        let b = [0.0f32, 1e30, 3e38];
        let e = combine(&[c("a", &a, 1.0), c("b", &b, 1e20)], None).unwrap_err();
        assert_eq!(
            e.message,
            "b[1]: the weighted total overflows float32 (inf); lower its weight or clip the total"
        );
        // Float64 sums of float64-overflowing terms: inf - inf is NaN, refused too.
        let e = combine(&[c("a", &a, 1e308), c("x", &a, -1e308)], None).unwrap_err();
        assert!(e.message.starts_with("a[2]:"), "{}", e.message);
        // Clipping brings any total back within float32.
        let out = combine(&[c("a", &a, 1.0), c("b", &b, 1e20)], Some((-1.0, 1.0))).unwrap();
        assert_eq!(out, vec![1.0, 1.0, 1.0]);
        // The float32 maximum itself is a total, not an overflow.
        let m = [f32::MAX];
        assert_eq!(combine(&[c("m", &m, 1.0)], None).unwrap(), vec![f32::MAX]);
    }
}
