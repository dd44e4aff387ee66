"""Resolving what ``check_reward`` accepts into one batched scorer."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from orbiter.train.errors import TrainerError

BatchedReward = Callable[[Sequence[str], Sequence[str]], np.ndarray]

CORE_TEXT_REWARDS = {
    "math_equal": "math_equal",
    "exact_match": "exact_text_match",
    "exact_text_match": "exact_text_match",
    "normalized_exact_match": "normalized_exact_match",
    "word_f1": "word_f1",
}
"""Names ``check_reward`` accepts, mapped to the text reward of ``orbiter.train.rewards``
that scores them (``"exact_match"`` on text is :func:`~orbiter.train.rewards.exact_text_match`)."""


def _batched_from_item(fn: Callable[[str, str], float]) -> BatchedReward:
    def score(outputs: Sequence[str], expected: Sequence[str]) -> np.ndarray:
        out = np.empty(len(outputs), dtype=np.float32)
        for i, (o, e) in enumerate(zip(outputs, expected, strict=True)):
            out[i] = float(fn(o, e))
        return out

    return score


def _as_array(name: str, fn: BatchedReward) -> BatchedReward:
    def score(outputs: Sequence[str], expected: Sequence[str]) -> np.ndarray:
        values = np.asarray(fn(outputs, expected), dtype=np.float32)
        if values.shape != (len(outputs),):
            raise TrainerError(
                f"reward {name} returned shape {values.shape}, expected ({len(outputs)},)"
            )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise TrainerError(
                f"reward {name} returned {values[bad[0]]} for item {bad[0]} "
                f"(output={outputs[bad[0]]!r})"
            )
        return values

    return score


def resolve_reward(reward_fn: Any | None, default: str = "math_equal") -> tuple[str, BatchedReward]:
    """``(name, scorer)`` for a core reward name, a RewardPipeline, a batched callable
    (marked ``fn.batched = True``, or any function of ``orbiter.train.rewards``), a
    per-item callable ``fn(output: str, expected: str) -> float``, or a RewardSpec."""
    from orbiter.train import rewards

    if reward_fn is None:
        reward_fn = default
    if isinstance(reward_fn, str):
        if reward_fn not in CORE_TEXT_REWARDS:
            raise TrainerError(
                f"unknown reward {reward_fn!r}; core rewards: {', '.join(CORE_TEXT_REWARDS)}"
            )
        return reward_fn, _as_array(reward_fn, getattr(rewards, CORE_TEXT_REWARDS[reward_fn]))
    spec_resolve = getattr(reward_fn, "resolve", None)
    if type(reward_fn).__name__ == "RewardSpec" and callable(spec_resolve):
        reward_fn = spec_resolve()
    if not callable(reward_fn):
        raise TrainerError(
            f"reward_fn must be a core reward name, a RewardPipeline, a callable or a "
            f"RewardSpec, got {type(reward_fn).__name__}"
        )
    name = getattr(reward_fn, "__name__", type(reward_fn).__name__)
    batched = (
        getattr(reward_fn, "batched", False) is True
        or type(reward_fn).__name__ == "RewardPipeline"
        or getattr(reward_fn, "__module__", "").startswith("orbiter.train.rewards")
    )
    if batched:
        return name, _as_array(name, reward_fn)
    try:
        params = inspect.signature(reward_fn).parameters.values()
    except (TypeError, ValueError):
        params = None
    if params is not None:
        positional = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if len(positional) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in positional):
            raise TrainerError(
                f"reward_fn {name} must take (output: str, expected: str), "
                f"its signature takes {len(positional)} positional argument(s)"
            )
    return name, _as_array(name, _batched_from_item(reward_fn))


def probe_reward(name: str, scorer: BatchedReward, output: str, expected: str) -> float:
    """Score one example (its own reference as the output) to catch broken rewards early."""
    try:
        value = float(scorer([output], [expected])[0])
    except TrainerError:
        raise
    except Exception as err:
        raise TrainerError(f"reward {name} failed on a probe example: {err!r}") from err
    if not math.isfinite(value):
        raise TrainerError(f"reward {name} returned {value} on a probe example")
    return value
