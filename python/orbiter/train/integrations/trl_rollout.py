"""A :class:`~orbiter.train.trajectories.TrajectoryBatch` as what TRL's ``rollout_func``
returns, and back.

TRL's ``GRPOTrainer(rollout_func=...)`` (1.16, ``trl/trainer/grpo_trainer.py``) calls
``rollout_func(prompts, trainer)`` and requires a dict with ``prompt_ids``,
``completion_ids`` and ``logprobs``, one list per completion (``logprobs`` as long as the
completion). Every other key is forwarded to the reward functions, one value per completion;
``env_mask`` is popped first and becomes the trainer's ``tool_mask`` (1: model tokens, 0:
environment tokens), which multiplies its loss mask. The export adds ``turn_ends`` and, when
the batch has them, ``reward`` and ``turn_rewards``, so that :func:`from_trl_rollout`
rebuilds every array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.trajectories import TrajectoryBatch

__all__ = ["REQUIRED_KEYS", "from_trl_rollout", "to_trl_rollout"]

REQUIRED_KEYS = ("prompt_ids", "completion_ids", "logprobs")
"""The keys TRL's ``_generate`` requires of a ``rollout_func`` output."""


def _rows(values: Any, offsets: Any) -> list[Any]:
    flat = values.tolist()
    return [flat[int(offsets[b]) : int(offsets[b + 1])] for b in range(len(offsets) - 1)]


def to_trl_rollout(batch: TrajectoryBatch) -> dict[str, list[Any]]:
    """``{"prompt_ids", "completion_ids", "logprobs", "env_mask", "turn_ends"}`` (and
    ``"reward"``, ``"turn_rewards"`` when the batch has them), one list per trajectory:
    the prompt ids, the response ids, the rollout logprobs, the trainable mask as 0/1 ints,
    the turn ends, the reward and the per-turn rewards."""
    responses = batch.response_ids
    turns = batch.turn_ends
    out: dict[str, list[Any]] = {
        "prompt_ids": _rows(batch.prompt_ids.values, batch.prompt_ids.offsets),
        "completion_ids": _rows(responses.values, responses.offsets),
        "logprobs": _rows(batch.logprobs, responses.offsets),
        "env_mask": _rows(batch.trainable_mask, responses.offsets),
        "turn_ends": _rows(turns.values, turns.offsets),
    }
    if batch.rewards is not None:
        out["reward"] = batch.rewards.tolist()
    if batch.turn_rewards is not None:
        out["turn_rewards"] = _rows(batch.turn_rewards, turns.offsets)
    return out


def from_trl_rollout(
    output: Mapping[str, Any], *, vocab_size: int | None = None
) -> TrajectoryBatch:
    """The batch of a ``rollout_func`` output, checked once. ``env_mask`` is the trainable
    mask (absent: every completion token is the model's); ``turn_ends`` the turns (absent:
    each run of trainable tokens is one turn); ``reward`` and ``turn_rewards``, when
    present, the rewards. A logprob vLLM could not give (``None``) is refused as a NaN,
    naming its position."""
    if not isinstance(output, Mapping):
        raise TrainerTypeError(f"output: expected a mapping, got {type(output).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in output]
    if missing:
        raise TrainerValueError(
            f"output: has no {missing[0]!r} (rollout_func must return {REQUIRED_KEYS})"
        )
    completions = list(output["completion_ids"])
    masks = output.get("env_mask")
    if masks is None:
        masks = [[1] * len(c) for c in completions]
    reward = output.get("reward")
    return TrajectoryBatch.from_sequences(
        output["prompt_ids"],
        completions,
        masks,
        output["logprobs"],
        output.get("turn_ends"),
        turn_rewards=output.get("turn_rewards"),
        rewards=None if reward is None else np.asarray(reward, dtype=np.float32),
        vocab_size=vocab_size,
    )
