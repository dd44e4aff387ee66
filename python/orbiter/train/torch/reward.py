"""The torch trainer's view of the reward registry (:mod:`orbiter.train.rewards.registry`)."""

from __future__ import annotations

from orbiter.train.rewards.registry import (
    REWARDS,
    TEXT_REWARDS,
    BatchedReward,
    probe_reward,
    resolve_reward,
)

__all__ = ["CORE_TEXT_REWARDS", "BatchedReward", "probe_reward", "resolve_reward"]

CORE_TEXT_REWARDS = {name: REWARDS[name].text for name in TEXT_REWARDS}
"""Names ``check_reward`` accepts, mapped to the text reward of ``orbiter.train.rewards``
that scores them (``"exact_match"`` on text is :func:`~orbiter.train.rewards.exact_text_match`)."""
