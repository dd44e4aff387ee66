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
from orbiter.train.trajectories import TrajectoryBatch


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
        trajectories: The multi-turn rollout's checked batch (its rewards are *scores*, its
            trainable mask the rows of *mask*), or None for a single turn.
    """

    scores: np.ndarray
    mask: np.ndarray
    group_ids: np.ndarray
    values: np.ndarray | None
    gamma: float
    lam: float
    trajectories: TrajectoryBatch | None = None


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
    """Token-level rewards (B, N): each response's score at its last trainable token (the
    last position where *mask* is nonzero; a multi-turn mask has holes at tool tokens)."""
    rewards = np.zeros(mask.shape, dtype=np.float32)
    present = mask != 0
    rows = np.flatnonzero(present.any(axis=1))
    last = mask.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    rewards[rows, last[rows]] = scores[rows]
    return rewards


@register_objective(Algorithm.GRPO)
def grpo_advantages(inputs: AdvantageInputs) -> tuple[np.ndarray, None]:
    """``A_i = (s_i - mean_g) / (std_g + eps)`` over i's group, on every trainable token of
    i (for trajectories, :meth:`~orbiter.train.trajectories.TrajectoryBatch.grpo` on their
    ragged rows, padded to the mask's width)."""
    if inputs.trajectories is not None:
        return _padded(inputs, inputs.trajectories.grpo(inputs.group_ids)), None
    per_response = core_advantages.grpo(inputs.scores, inputs.group_ids)
    return core_advantages.broadcast(per_response, inputs.mask), None


@register_objective(Algorithm.RLOO)
def rloo_advantages(inputs: AdvantageInputs) -> tuple[np.ndarray, None]:
    """``A_i = s_i - mean of the other scores of i's group``, on every trainable token of i
    (for trajectories, :meth:`~orbiter.train.trajectories.TrajectoryBatch.rloo`)."""
    if inputs.trajectories is not None:
        return _padded(inputs, inputs.trajectories.rloo(inputs.group_ids)), None
    per_response = core_advantages.rloo(inputs.scores, inputs.group_ids)
    return core_advantages.broadcast(per_response, inputs.mask), None


def _padded(inputs: AdvantageInputs, flat: np.ndarray) -> np.ndarray:
    assert inputs.trajectories is not None
    return inputs.trajectories.pad(flat, max_len=inputs.mask.shape[1])


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
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float,
    clip_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token clipped surrogate loss (B, N), verl's ``compute_policy_loss`` without the
    dual clip: ``max(-A rho, -A clip(rho, 1 - clip_low, 1 + clip_high))`` with ``rho =
    exp(logp - old_logp)``; and where the clipped term is the larger (the clip binds).

    With one update per rollout the caller passes ``old_logp = logp.detach()``: the ratio
    is exactly 1, so the clip never binds and the loss is the plain policy gradient
    ``-A logp`` in its gradient. Only later updates on the same rollout (``ppo_epochs > 1``
    or several mini-batches) see a ratio other than 1.
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip_low, 1 + clip_high)
    return torch.maximum(unclipped, clipped), clipped > unclipped


def value_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Per-token ``0.5 * (V - R)^2`` (B, N)."""
    return 0.5 * (values - returns) ** 2


@dataclass(frozen=True, slots=True)
class Aggregation:
    """How per-token losses (B, N) become one scalar over a mini-batch, in two parts so that
    micro-batches add up to it: ``loss = sum over micro-batches of share(L, mask) / norm(M)``,
    with *M* the whole mini-batch's mask.

    Attributes:
        share: ``(L, mask) -> scalar``, one micro-batch's numerator.
        norm: ``mask -> float``, the mini-batch's denominator (at least 1).
    """

    share: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    norm: Callable[[torch.Tensor], float]


def _token_count(mask: torch.Tensor) -> float:
    return float(mask.sum().clamp(min=1))


def _sequence_count(mask: torch.Tensor) -> float:
    # Sequences without a trainable token are left out of the mean, as verl does.
    return float((mask.sum(-1) > 0).sum().clamp(min=1))


LOSS_AGGREGATIONS: dict[str, Aggregation] = {
    "token-mean": Aggregation(lambda loss, mask: (loss * mask).sum(), _token_count),
    "seq-mean-token-sum": Aggregation(lambda loss, mask: (loss * mask).sum(), _sequence_count),
    "seq-mean-token-mean": Aggregation(
        lambda loss, mask: ((loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)).sum(),
        _sequence_count,
    ),
}
"""``TorchTrainConfig.loss_agg_mode`` -> its :class:`Aggregation`, as verl's ``agg_loss``:
token-mean ``sum_bt L m / sum_bt m``; seq-mean-token-sum ``mean_b sum_t L m``;
seq-mean-token-mean ``mean_b (sum_t L m / sum_t m)``; the means over sequences with at least
one trainable token."""


def nll_loss(logp: torch.Tensor, mask: torch.Tensor, total: float) -> torch.Tensor:
    """``-sum logp / total`` over the mask: the supervised loss on reference tokens."""
    return -(logp * mask.float()).sum() / total
