//! Reward scoring kernels (pure Rust): one float32 score per response.

pub mod math;
pub mod pipeline;
pub mod regex;
pub mod squad;
pub mod token;
