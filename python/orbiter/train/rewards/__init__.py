"""Reward scoring: each function returns one float32 score per response.

Text rewards (:mod:`orbiter.train.rewards.text`): :func:`normalized_exact_match`,
:func:`word_f1`, :func:`regex_match`, :func:`extract_answer`, :func:`math_equal`.
"""

from __future__ import annotations

from orbiter.train.rewards.text import (
    extract_answer,
    math_equal,
    normalized_exact_match,
    regex_match,
    word_f1,
)

__all__ = [
    "extract_answer",
    "math_equal",
    "normalized_exact_match",
    "regex_match",
    "word_f1",
]
