//! Reward scoring: one float32 score per response.

pub mod pipeline;
pub mod token;
