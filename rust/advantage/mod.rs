//! Advantage estimation over flat buffers: GRPO and RLOO over groups of responses,
//! REINFORCE++, GAE, discounted returns, masked whitening and KL penalties over
//! `(rows, cols)` token grids.
//!
//! The numerics follow verl's `verl/trainer/ppo/core_algos.py` (and `verl.utils.torch_functional`
//! for masked whitening) operation by operation in float32, with reductions (group means,
//! standard deviations, whitening statistics) accumulated in float64 and rounded once.
//!
//! Masks are boolean in meaning: `bool`, `u8`, `i8` or `f32` elements, where the numeric ones
//! must hold exactly 0 or 1 (anything else is an error naming the first bad position; see
//! `crate::mask`). Pure
//! Rust; the PyO3 layer lives in `crate::py::advantage`.

mod blocks;
mod checks;
pub mod group;
pub mod kl;
#[cfg(target_arch = "x86_64")]
mod lanes;
#[cfg(target_arch = "x86_64")]
mod lanes8;
#[cfg(target_arch = "x86_64")]
mod moments512;
pub mod temporal;

pub use group::{broadcast, grpo, grpo_broadcast, rloo, rloo_broadcast};
pub use kl::{kl_divergence, KlKind};
pub use temporal::{discounted_returns, gae, reinforce_pp, whiten};

pub(crate) use blocks::{
    block_moments, block_moments_onto, fill_blocks, fill_blocks2, into_initialised, uninit_output,
    BlockOut, Moments, ROW_BLOCK,
};
pub use checks::check_same_shape;
pub(crate) use checks::{
    check_finite_1d, check_finite_2d, check_grid, check_mask, check_overflow, check_overflow_1d,
    check_unit, describe_nonfinite, first_bad,
};

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
