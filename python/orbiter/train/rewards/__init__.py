"""Rewards: one float32 score per response.

Text rewards (:mod:`.text`): :func:`exact_text_match`, :func:`normalized_exact_match`,
:func:`word_f1`, :func:`regex_match`, :func:`extract_answer`, :func:`math_equal` (with
:class:`MathStatus`). Token
rewards over
:class:`~orbiter.train.data.RaggedTokens` (:mod:`.tokens`) and :class:`RewardPipeline`, which
weights and clips several rewards in one call.
"""

from __future__ import annotations

from orbiter.train.rewards.pipeline import PerItemReward, RewardPipeline
from orbiter.train.rewards.text import (
    MathStatus,
    exact_text_match,
    extract_answer,
    math_equal,
    normalized_exact_match,
    regex_match,
    word_f1,
)
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
    "MathStatus",
    "PerItemReward",
    "RewardPipeline",
    "contains",
    "exact_match",
    "exact_text_match",
    "extract_answer",
    "length_penalty",
    "math_equal",
    "normalized_exact_match",
    "prefix_match",
    "regex_match",
    "repetition_penalty",
    "stop_token_check",
    "token_f1",
    "word_f1",
]
