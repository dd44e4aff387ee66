"""Rewards: one float32 score per response.

Token rewards over :class:`~orbiter.train.data.RaggedTokens` (:mod:`.tokens`) and
:class:`RewardPipeline`, which weights and clips several rewards in one call.
"""

from __future__ import annotations

from orbiter.train.rewards.pipeline import PerItemReward, RewardPipeline
from orbiter.train.rewards.tokens import (
    contains,
    exact_match,
    length_penalty,
    prefix_match,
    repetition_penalty,
    stop_token_check,
    token_f1,
)

__all__ = [
    "PerItemReward",
    "RewardPipeline",
    "contains",
    "exact_match",
    "length_penalty",
    "prefix_match",
    "repetition_penalty",
    "stop_token_check",
    "token_f1",
]
