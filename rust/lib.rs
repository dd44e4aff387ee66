//! orbiter-train's Rust core.
//!
//! Every module except `py` is pure Rust, knows nothing of Python and is tested with
//! `cargo test`. `py` (behind the `python` feature, which maturin enables) is the thin
//! PyO3 layer: it borrows numpy arrays, releases the GIL around the kernels, allocates
//! outputs and maps errors.

pub mod advantage;
pub mod alloc;
pub mod batch;
pub mod error;
pub mod hashkey;
pub mod lifecycle;
pub mod mask;
pub mod npbool;
pub mod ragged;
pub mod records;
pub mod reward;
pub mod tokenize;
pub mod trajectory;
pub mod validate;

#[cfg(feature = "python")]
mod py;
