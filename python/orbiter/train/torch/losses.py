"""What each algorithm optimizes: advantage estimators, KL estimators and the loss terms.

Two registries, keyed by the config's own values: :data:`OBJECTIVES` by
``TorchTrainConfig.algorithm`` and :data:`KL_ESTIMATORS` by ``TorchTrainConfig.kl_kind``.
A new estimator is one entry (see :func:`register_objective`); the step functions only look
names up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from orbiter.train import advantages as core_advantages
from orbiter.train.config import Algorithm, KLEstimator


@dataclass(frozen=True, slots=True)
class AdvantageInputs:
    """What an advantage estimator sees of a rollout (B trajectories, N response tokens).

    Attributes:
        scores: (B,) float32, one reward per trajectory.
        mask: (B, N) float32, 1 on trainable tokens.
        group_ids: (B,) int64, trajectories of the same prompt share an id.
        values: (B, N) float32 critic values, for objectives with ``uses_critic``; else None.
        gamma: Discount.
        lam: GAE lambda.
    """

    scores: np.ndarray
    mask: np.ndarray
    group_ids: np.ndarray
    values: np.ndarray | None
    gamma: float
    lam: float


AdvantageFn = Callable[[AdvantageInputs], tuple[np.ndarray, np.ndarray | None]]
"""``inputs -> (advantages (B, N), returns (B, N) or None)``, computed in the Rust core."""


@dataclass(frozen=True, slots=True)
class Objective:
    """How one ``algorithm`` trains.

    Attributes:
        advantages: The estimator of a policy-gradient objective (clipped surrogate over the
            rollout), or None for supervised training on the references (:func:`nll_loss`).
        uses_critic: Trains a value head beside the policy and gives the estimator its values.
    """

    advantages: AdvantageFn | None
    uses_critic: bool = False

    @property
    def supervised(self) -> bool:
        return self.advantages is None


OBJECTIVES: dict[Algorithm, Objective] = {Algorithm.SFT: Objective(advantages=None)}
"""``TorchTrainConfig.algorithm`` -> its :class:`Objective`."""


def register_objective(
    name: Algorithm, *, uses_critic: bool = False
) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register an advantage estimator as the policy-gradient objective *name*."""

    def register(fn: AdvantageFn) -> AdvantageFn:
        OBJECTIVES[name] = Objective(advantages=fn, uses_critic=uses_critic)
        return fn

    return register


def outcome_rewards(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Token-level rewards (B, N): each response's score at its last unmasked token."""
    rewards = np.zeros(mask.shape, dtype=np.float32)
    lengths = mask.sum(axis=1).astype(np.int64)
    rows = np.flatnonzero(lengths > 0)
    rewards[rows, lengths[rows] - 1] = scores[rows]
    return rewards


@register_objective(Algorithm.GRPO)
def grpo_advantages(inputs: AdvantageInputs) -> tuple[np.ndarray, None]:
    """``A_i = (s_i - mean_g) / (std_g + eps)`` over i's group, on every token of i."""
    per_response = core_advantages.grpo(inputs.scores, inputs.group_ids)
    return core_advantages.broadcast(per_response, inputs.mask), None


@register_objective(Algorithm.RLOO)
def rloo_advantages(inputs: AdvantageInputs) -> tuple[np.ndarray, None]:
    """``A_i = s_i - mean of the other scores of i's group``, on every token of i."""
    per_response = core_advantages.rloo(inputs.scores, inputs.group_ids)
    return core_advantages.broadcast(per_response, inputs.mask), None


@register_objective(Algorithm.REINFORCE_PLUS_PLUS)
def reinforce_pp_advantages(inputs: AdvantageInputs) -> tuple[np.ndarray, None]:
    """REINFORCE++: discounted returns of the outcome rewards, whitened over the batch
    (:func:`orbiter.train.advantages.reinforce_pp`)."""
    rewards = outcome_rewards(inputs.scores, inputs.mask)
    advantages, _ = core_advantages.reinforce_pp(rewards, inputs.mask, gamma=inputs.gamma)
    return advantages, None


@register_objective(Algorithm.PPO, uses_critic=True)
def gae_advantages(inputs: AdvantageInputs) -> tuple[np.ndarray, np.ndarray]:
    """GAE over the outcome rewards: ``delta_t = r_t + gamma V_{t+1} - V_t``,
    ``A_t = sum_l (gamma lam)^l delta_{t+l}``, returns ``A + V``, then ``A`` whitened
    (:func:`orbiter.train.advantages.gae`); the critic's values are masked to the response."""
    assert inputs.values is not None, "ppo needs the critic's values"
    rewards = outcome_rewards(inputs.scores, inputs.mask)
    values = np.ascontiguousarray(inputs.values * inputs.mask, dtype=np.float32)
    return core_advantages.gae(rewards, values, inputs.mask, gamma=inputs.gamma, lam=inputs.lam)


KlEstimator = Callable[[torch.Tensor], torch.Tensor]
"""``log r (B, N) -> per-token KL estimate (B, N)``, with ``log r = logp - ref_logp``."""

KL_ESTIMATORS: dict[KLEstimator, KlEstimator] = {
    # Schulman's estimators of KL(policy || reference) from samples of the policy.
    KLEstimator.K1: lambda log_ratio: log_ratio,
    KLEstimator.K2: lambda log_ratio: 0.5 * log_ratio**2,
    KLEstimator.K3: lambda log_ratio: torch.exp(-log_ratio) - 1 + log_ratio,
}
"""``TorchTrainConfig.kl_kind`` -> its estimator: k1 = log r, k2 = (log r)^2 / 2,
k3 = (r^-1 - 1) + log r."""


def kl_penalty(kind: KLEstimator | str, logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL (B, N) to the reference by the estimator *kind* (differentiable)."""
    return KL_ESTIMATORS[KLEstimator(kind)](logp - ref_logp)


def policy_loss(
    logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip_range: float
) -> torch.Tensor:
    """Clipped surrogate, summed over the mask: ``-sum min(rho A, clip(rho, 1 - eps,
    1 + eps) A)`` with ``rho = exp(logp - logp.detach())``.

    One update per rollout: the behaviour policy is the current one, so the ratio is 1 in
    value and the clip acts through its gradient only.
    """
    ratio = torch.exp(logp - logp.detach())
    surrogate = torch.minimum(
        ratio * advantages, ratio.clamp(1 - clip_range, 1 + clip_range) * advantages
    )
    return -(surrogate * mask).sum()


def value_loss(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum (V - R)^2`` over the mask."""
    return 0.5 * (((values - returns) ** 2) * mask).sum()


def nll_loss(logp: torch.Tensor, mask: torch.Tensor, total: float) -> torch.Tensor:
    """``-sum logp / total`` over the mask: the supervised loss on reference tokens."""
    return -(logp * mask.float()).sum() / total
