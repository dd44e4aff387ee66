//! The advantage kernels' input checks: grid sizes, shapes, finite values, strict 0/1
//! masks and unit-interval parameters, each error naming the argument and the first bad
//! element (`name[r, c] (flat index i)`).

use rayon::prelude::*;

use super::Shape;
use crate::batch::PAR_MIN;
use crate::error::{CoreError, CoreResult, Overflow};
use crate::mask::Mask;

/// "name[r, c] (flat index i)" for an error about one element of a grid.
pub(crate) fn at2(
    name: &str,
    cols: usize,
    flat: usize,
    detail: impl std::fmt::Display,
) -> CoreError {
    let (r, c) = match (flat.checked_div(cols), flat.checked_rem(cols)) {
        (Some(r), Some(c)) => (r, c),
        _ => (flat, 0),
    };
    CoreError::value(format!("{name}[{r}, {c}] (flat index {flat}): {detail}"))
}

/// Errors unless `data` holds `shape.len()` elements and the grid has at least one element.
pub(crate) fn check_grid<T>(name: &str, data: &[T], shape: Shape) -> CoreResult<()> {
    if shape.rows == 0 || shape.cols == 0 {
        return Err(CoreError::arg(
            name,
            format!("empty batch (shape {shape}); need at least one row and one column"),
        ));
    }
    if data.len() != shape.len() {
        return Err(CoreError::arg(
            name,
            format!("{} elements do not fill shape {shape}", data.len()),
        ));
    }
    Ok(())
}

/// Errors unless `other` (argument `name`) has the shape `shape` of argument `reference`.
pub fn check_same_shape(name: &str, other: Shape, reference: &str, shape: Shape) -> CoreResult<()> {
    if other != shape {
        return Err(CoreError::arg(
            name,
            format!("shape {other} does not match {reference} shape {shape}"),
        ));
    }
    Ok(())
}

/// "NaN is not allowed", "inf is not allowed" or "-inf is not allowed", for `x`.
pub(crate) fn describe_nonfinite(x: f32) -> &'static str {
    if x.is_nan() {
        "NaN is not allowed"
    } else if x > 0.0 {
        "inf is not allowed"
    } else {
        "-inf is not allowed"
    }
}

/// Index of the first element for which `bad` holds. Rows are tested without
/// short-circuiting (so the test vectorises), in parallel above the threshold; the result is
/// the same as a serial scan.
pub(crate) fn first_bad<T: Sync>(
    data: &[T],
    row_len: usize,
    bad: impl Fn(&T) -> bool + Sync,
) -> Option<usize> {
    let row_len = row_len.max(1);
    let has_bad = |chunk: &[T]| chunk.iter().fold(false, |acc, x| acc | bad(x));
    let row = if data.len() < PAR_MIN {
        data.chunks(row_len).position(has_bad)
    } else {
        data.par_chunks(row_len).position_first(has_bad)
    }?;
    let start = row * row_len;
    data.get(start..)
        .and_then(|rest| rest.iter().position(&bad))
        .map(|offset| start + offset)
}

/// Elements per chunk of a 1-D scan (a 1-D argument has no rows to split on).
const CHUNK_1D: usize = 4096;

/// Errors on the first NaN or infinite score of a 1-D argument.
pub(crate) fn check_finite_1d(name: &str, data: &[f32]) -> CoreResult<()> {
    match first_bad(data, CHUNK_1D, |x| !x.is_finite()) {
        Some(i) => Err(CoreError::at(name, i, describe_nonfinite(data[i]))),
        None => Ok(()),
    }
}

/// Errors on the first NaN or infinite element of a `(rows, cols)` grid.
pub(crate) fn check_finite_2d(name: &str, data: &[f32], shape: Shape) -> CoreResult<()> {
    match first_bad(data, shape.cols, |x| !x.is_finite()) {
        Some(i) => Err(at2(name, shape.cols, i, describe_nonfinite(data[i]))),
        None => Ok(()),
    }
}

/// Errors on the first element of a kernel's `(rows, cols)` result that is not finite,
/// when every input was: the arithmetic overflowed float32 there.
/// "`rewards`[3, 17] (flat index ...): the discounted return overflows float32 (inf)".
pub(crate) fn check_overflow(name: &str, out: &[f32], shape: Shape, what: &str) -> CoreResult<()> {
    match first_bad(out, shape.cols, |x| !x.is_finite()) {
        Some(i) => Err(at2(
            name,
            shape.cols,
            i,
            Overflow {
                what,
                value: out[i],
            },
        )),
        None => Ok(()),
    }
}

/// [`check_overflow`] for a 1-D result, one element per element of argument `name`:
/// "`scores`[3]: the centred score overflows float32 (inf)".
pub(crate) fn check_overflow_1d(name: &str, out: &[f32], what: &str) -> CoreResult<()> {
    match first_bad(out, CHUNK_1D, |x| !x.is_finite()) {
        Some(i) => Err(CoreError::at(
            name,
            i,
            Overflow {
                what,
                value: out[i],
            },
        )),
        None => Ok(()),
    }
}

/// Errors on the first mask element that is neither 0 nor 1.
pub(crate) fn check_mask<M: Mask>(name: &str, mask: &[M], shape: Shape) -> CoreResult<()> {
    match first_bad(mask, shape.cols, |m| !m.is_binary()) {
        Some(i) => Err(at2(
            name,
            shape.cols,
            i,
            format!("mask values must be 0 or 1, got {}", mask[i].show()),
        )),
        None => Ok(()),
    }
}

/// Errors unless `x` is a finite number in `[0, 1]` (a discount or GAE lambda).
pub(crate) fn check_unit(name: &str, x: f64) -> CoreResult<()> {
    if !(0.0..=1.0).contains(&x) {
        return Err(CoreError::arg(name, format!("must lie in [0, 1], got {x}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bad_matches_serial_scan_on_large_input() {
        let mut data = vec![0.0f32; 50_000];
        data[40_001] = f32::NAN;
        data[49_999] = f32::INFINITY;
        let err = check_finite_2d("rewards", &data, Shape::new(500, 100)).unwrap_err();
        assert_eq!(
            err.message,
            "rewards[400, 1] (flat index 40001): NaN is not allowed"
        );
        let err = check_finite_1d("scores", &data[40_002..]).unwrap_err();
        assert_eq!(err.message, "scores[9997]: inf is not allowed");
    }

    #[test]
    fn mask_and_grid_checks() {
        let mask = [1u8, 0, 2, 1];
        let err = check_mask("mask", &mask, Shape::new(2, 2)).unwrap_err();
        assert_eq!(
            err.message,
            "mask[1, 0] (flat index 2): mask values must be 0 or 1, got 2"
        );
        assert!(check_grid("rewards", &[0.0f32; 0], Shape::new(0, 3)).is_err());
        assert!(check_grid("rewards", &[0.0f32; 5], Shape::new(2, 3)).is_err());
        assert!(check_unit("gamma", 1.5).is_err());
        assert!(check_unit("gamma", f64::NAN).is_err());
        assert!(check_unit("lam", 0.0).is_ok());
        assert!(check_same_shape("values", Shape::new(2, 3), "rewards", Shape::new(2, 4)).is_err());
    }
}
