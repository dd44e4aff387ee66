//! Batches of agent trajectories, token in, token out, in Arrow's list layout.
//!
//! A trajectory is its prompt ids and a response that interleaves the ids the policy
//! sampled with tool-result and template ids, exactly as the policy read them. On the
//! response's offsets the batch holds a trainable mask (1: sampled by the policy) and the
//! rollout logprobs; per trajectory, the response length after each assistant turn (the
//! turn ends, ragged) and, optionally, one reward per turn; and optionally one reward per
//! trajectory. [`batch::validate`] checks all of it once; the kernels then trust it:
//!
//! - [`rewards`]: token-level rewards (each reward on its last trainable token) and the
//!   outcome scores;
//! - [`advantages`]: GRPO and RLOO over groups of trajectories, on trainable tokens only;
//! - [`loss`]: verl's loss aggregation modes as per-token weights and values;
//! - [`turns`]: verl's turn count, and turn ends read off a mask.
//!
//! Pure Rust; the PyO3 layer is `crate::py::trajectory`.

pub mod advantages;
pub mod batch;
pub mod loss;
pub mod rewards;
pub mod turns;

pub use advantages::{broadcast, grpo, rloo};
pub use batch::{check_mask, validate, Buffers, Column, Parts, Trajectories};
pub use loss::{aggregate, loss_weights, AggMode, Norms, PerToken};
pub use rewards::{outcome_scores, token_rewards, Per};
pub use turns::{num_turns, turn_ends_from_mask};
