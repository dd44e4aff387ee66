//! Reward scoring kernels (pure Rust).

pub mod math;
pub mod text;
