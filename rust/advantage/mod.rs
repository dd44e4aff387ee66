//! Advantage estimation over flat buffers: GRPO and RLOO over groups of responses,
//! REINFORCE++, GAE, discounted returns, masked whitening and KL penalties over
//! `(rows, cols)` token grids.
//!
//! The numerics follow verl's `verl/trainer/ppo/core_algos.py` (and `verl.utils.torch_functional`
//! for masked whitening) operation by operation in float32, with reductions (group means,
//! standard deviations, whitening statistics) accumulated in float64 and rounded once.
//!
//! Masks are boolean in meaning: `bool`, `u8`, `i8` or `f32` elements, where the numeric ones
//! must hold exactly 0 or 1 (anything else is an error naming the first bad position). Pure
//! Rust; the PyO3 layer lives in `crate::py::advantage`.

pub mod group;
pub mod kl;
pub mod temporal;

pub use group::{broadcast, grpo, grpo_broadcast, rloo, rloo_broadcast};
pub use kl::{kl_divergence, KlKind};
pub use temporal::{discounted_returns, gae, reinforce_pp, whiten};

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};

/// Number of elements from which the kernels split work over rayon's threads; smaller
/// batches run on the calling thread and pay no synchronisation.
pub const PAR_THRESHOLD: usize = 16 * 1024;

/// One element of a response mask. A position counts (is "on") when the element is true
/// or 1; numeric masks must hold exactly 0 or 1.
pub trait MaskElem: Copy + Send + Sync {
    /// Whether the position counts. Only meaningful when `valid()`.
    fn on(self) -> bool;
    /// Whether the element is an acceptable mask value (0 or 1, or any bool).
    fn valid(self) -> bool;
    /// The element for an error message.
    fn show(self) -> String;
}

impl MaskElem for bool {
    #[inline(always)]
    fn on(self) -> bool {
        self
    }
    #[inline(always)]
    fn valid(self) -> bool {
        true
    }
    fn show(self) -> String {
        self.to_string()
    }
}

impl MaskElem for u8 {
    #[inline(always)]
    fn on(self) -> bool {
        self == 1
    }
    #[inline(always)]
    fn valid(self) -> bool {
        self <= 1
    }
    fn show(self) -> String {
        self.to_string()
    }
}

impl MaskElem for i8 {
    #[inline(always)]
    fn on(self) -> bool {
        self == 1
    }
    #[inline(always)]
    fn valid(self) -> bool {
        self == 0 || self == 1
    }
    fn show(self) -> String {
        self.to_string()
    }
}

impl MaskElem for f32 {
    #[inline(always)]
    fn on(self) -> bool {
        self == 1.0
    }
    #[inline(always)]
    fn valid(self) -> bool {
        self == 0.0 || self == 1.0
    }
    fn show(self) -> String {
        format!("{self:?}")
    }
}

/// The shape of a row-major `(rows, cols)` grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub rows: usize,
    pub cols: usize,
}

impl Shape {
    pub fn new(rows: usize, cols: usize) -> Self {
        Shape { rows, cols }
    }

    pub fn len(self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.rows, self.cols)
    }
}

/// "name[r, c] (flat index i)" for an error about one element of a grid.
pub(crate) fn at2(name: &str, cols: usize, flat: usize, detail: impl std::fmt::Display) -> CoreError {
    let (r, c) = if cols == 0 {
        (flat, 0)
    } else {
        (flat / cols, flat % cols)
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

fn describe_nonfinite(x: f32) -> &'static str {
    if x.is_nan() {
        "NaN is not allowed"
    } else if x > 0.0 {
        "inf is not allowed"
    } else {
        "-inf is not allowed"
    }
}

/// Index of the first element for which `bad` holds, scanning rows in parallel above
/// the threshold (the result is the same as a serial scan).
fn first_bad<T: Sync>(data: &[T], row_len: usize, bad: impl Fn(&T) -> bool + Sync) -> Option<usize> {
    let row_len = row_len.max(1);
    if data.len() < PAR_THRESHOLD {
        return data.iter().position(bad);
    }
    let row = data
        .par_chunks(row_len)
        .position_first(|chunk| chunk.iter().any(&bad))?;
    let start = row * row_len;
    data.get(start..)
        .and_then(|rest| rest.iter().position(&bad))
        .map(|offset| start + offset)
}

/// Errors on the first NaN or infinite score of a 1-D argument.
pub(crate) fn check_finite_1d(name: &str, data: &[f32]) -> CoreResult<()> {
    match first_bad(data, 4096, |x| !x.is_finite()) {
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

/// Errors on the first mask element that is neither 0 nor 1.
pub(crate) fn check_mask<M: MaskElem>(name: &str, mask: &[M], shape: Shape) -> CoreResult<()> {
    match first_bad(mask, shape.cols, |m| !m.valid()) {
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

/// Masked sum of `x` and number of counted positions, per row (float64), then summed
/// over rows in order, so the result does not depend on the number of threads.
pub(crate) fn masked_sum_count<M: MaskElem>(x: &[f32], mask: &[M], shape: Shape) -> (f64, usize) {
    let row = |(xr, mr): (&[f32], &[M])| -> (f64, usize) {
        let mut s = 0.0f64;
        let mut n = 0usize;
        for (&v, &m) in xr.iter().zip(mr) {
            if m.on() {
                s += v as f64;
                n += 1;
            }
        }
        (s, n)
    };
    let cols = shape.cols.max(1);
    let parts: Vec<(f64, usize)> = if x.len() >= PAR_THRESHOLD {
        x.par_chunks(cols).zip(mask.par_chunks(cols)).map(row).collect()
    } else {
        x.chunks(cols).zip(mask.chunks(cols)).map(row).collect()
    };
    parts
        .into_iter()
        .fold((0.0, 0), |(s, n), (ps, pn)| (s + ps, n + pn))
}

/// Masked sum of `(x - mean)^2` (float64), per row then in order.
pub(crate) fn masked_sq_dev<M: MaskElem>(x: &[f32], mask: &[M], shape: Shape, mean: f64) -> f64 {
    let row = |(xr, mr): (&[f32], &[M])| -> f64 {
        let mut s = 0.0f64;
        for (&v, &m) in xr.iter().zip(mr) {
            if m.on() {
                let d = v as f64 - mean;
                s += d * d;
            }
        }
        s
    };
    let cols = shape.cols.max(1);
    let parts: Vec<f64> = if x.len() >= PAR_THRESHOLD {
        x.par_chunks(cols).zip(mask.par_chunks(cols)).map(row).collect()
    } else {
        x.chunks(cols).zip(mask.chunks(cols)).map(row).collect()
    };
    parts.into_iter().sum()
}

/// Fills a fresh `Vec<f32>` of `shape.len()` elements row by row with `fill(row, out_row)`,
/// in parallel above the threshold. Every element must be written by `fill`.
pub(crate) fn fill_rows(shape: Shape, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0.0f32; shape.len()];
    let cols = shape.cols.max(1);
    if out.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(cols)
            .enumerate()
            .for_each(|(r, row)| fill(r, row));
    } else {
        out.chunks_mut(cols)
            .enumerate()
            .for_each(|(r, row)| fill(r, row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_elements() {
        assert!(true.on() && !false.on() && false.valid());
        assert!(1u8.on() && 1u8.valid() && !2u8.valid() && !0u8.on());
        assert!(!(-1i8).valid() && 1i8.on() && 0i8.valid());
        assert!(1.0f32.on() && (-0.0f32).valid() && !(-0.0f32).on());
        assert!(!0.5f32.valid() && !f32::NAN.valid());
    }

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

    #[test]
    fn masked_statistics() {
        let x = [1.0f32, 2.0, 3.0, 100.0];
        let m = [true, true, true, false];
        let (s, n) = masked_sum_count(&x, &m, Shape::new(2, 2));
        assert_eq!((s, n), (6.0, 3));
        assert_eq!(masked_sq_dev(&x, &m, Shape::new(2, 2), 2.0), 2.0);
    }
}
