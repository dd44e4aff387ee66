"""A :class:`~orbiter.train.trajectories.TrajectoryBatch` as verl's agent-loop outputs, and back.

verl's ``verl.experimental.agent_loop.agent_loop.AgentLoopOutput`` (0.9) holds one
trajectory: ``prompt_ids``, ``response_ids`` (generated and tool tokens interleaved),
``response_mask`` (1 for generated tokens, 0 for tool tokens), ``response_logprobs``,
``reward_score`` (the trajectory's reward; verl's ``as_dict`` puts it on the last response
token as ``rm_scores``), ``num_turns`` (user, assistant and tool turns: its
``ToolAgentLoop`` counts ``user_turns + assistant_turns + 1``), ``metrics`` (an
``AgentLoopMetrics``: ``generate_sequences``, ``tool_calls``, ``compute_score`` seconds and
``num_preempted``) and ``extra_fields``, where verl's own loops keep ``turn_scores`` and
``tool_rewards``. The export adds ``extra_fields["turn_ends"]``, and puts the per-turn
rewards in ``turn_scores``, so that :func:`from_agent_loop_outputs` rebuilds every array.

verl is not imported: ``AgentLoopOutput(**d)`` builds verl's object from each dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.trajectories import TrajectoryBatch, given_or_mask_turn_ends

__all__ = ["AGENT_LOOP_METRICS", "from_agent_loop_outputs", "to_agent_loop_outputs"]

AGENT_LOOP_METRICS = ("generate_sequences", "tool_calls", "compute_score", "num_preempted")
"""The fields of verl's ``AgentLoopMetrics``."""


def _metrics(
    metrics: Mapping[str, float] | Sequence[Mapping[str, float]] | None, n: int
) -> list[dict[str, float]]:
    if metrics is None:
        return [{} for _ in range(n)]
    rows: Sequence[Mapping[str, float]]
    if isinstance(metrics, Mapping):
        rows = [metrics] * n
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str | bytes):
        rows = metrics
        if len(rows) != n:
            raise TrainerValueError(
                f"metrics: has {len(rows)} entries but the batch has {n} trajectories"
            )
    else:
        raise TrainerTypeError(
            f"metrics: expected a mapping or one per trajectory, got {type(metrics).__name__}"
        )
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TrainerTypeError(f"metrics[{i}]: expected a mapping, got {type(row).__name__}")
        unknown = sorted(set(row) - set(AGENT_LOOP_METRICS))
        if unknown:
            raise TrainerValueError(
                f"metrics[{i}]: unknown key {unknown[0]!r} (verl's AgentLoopMetrics has "
                f"{', '.join(AGENT_LOOP_METRICS)})"
            )
        out.append(dict(row))
    return out


def to_agent_loop_outputs(
    batch: TrajectoryBatch,
    *,
    metrics: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """One dict of ``AgentLoopOutput`` fields per trajectory.

    ``prompt_ids``, ``response_ids``, ``response_mask`` (the trainable mask as 0/1 ints) and
    ``response_logprobs`` are the batch's rows; ``reward_score`` its reward (None without
    one); ``num_turns`` :meth:`TrajectoryBatch.num_turns`; ``metrics`` the given
    ``AgentLoopMetrics`` fields (one mapping for all, or one per trajectory; none: verl's
    defaults); ``extra_fields`` holds ``turn_ends``, ``turn_scores`` (the per-turn rewards,
    ``[]`` without them) and ``tool_rewards`` (``[]``), the keys verl's loops keep.

    verl's ``as_dict`` sets ``rm_scores[-1] = reward_score``: on the last response token,
    which is the batch's last trainable token unless the response ends with tool tokens.
    """
    n = len(batch)
    rows = _metrics(metrics, n)
    prompts, responses, turns = batch.prompt_ids, batch.response_ids, batch.turn_ends
    p_off, r_off, t_off = prompts.offsets, responses.offsets, turns.offsets
    p_ids, r_ids = prompts.values.tolist(), responses.values.tolist()
    mask, logprobs = batch.trainable_mask.tolist(), batch.logprobs.tolist()
    ends = turns.values.tolist()
    turn_rewards = None if batch.turn_rewards is None else batch.turn_rewards.tolist()
    rewards = None if batch.rewards is None else batch.rewards.tolist()
    num_turns = batch.num_turns().tolist()
    out = []
    for b in range(n):
        ps, pe = int(p_off[b]), int(p_off[b + 1])
        rs, re = int(r_off[b]), int(r_off[b + 1])
        ts, te = int(t_off[b]), int(t_off[b + 1])
        out.append(
            {
                "prompt_ids": p_ids[ps:pe],
                "response_ids": r_ids[rs:re],
                "response_mask": mask[rs:re],
                "response_logprobs": logprobs[rs:re],
                "reward_score": None if rewards is None else rewards[b],
                "num_turns": num_turns[b],
                "metrics": rows[b],
                "extra_fields": {
                    "turn_ends": ends[ts:te],
                    "turn_scores": [] if turn_rewards is None else turn_rewards[ts:te],
                    "tool_rewards": [],
                },
            }
        )
    return out


def _field(output: Any, name: str, index: int, *, required: bool = True) -> Any:
    if isinstance(output, Mapping):
        if name in output:
            return output[name]
    elif hasattr(output, name):
        return getattr(output, name)
    if required:
        raise TrainerValueError(f"outputs[{index}]: has no {name!r}")
    return None


def from_agent_loop_outputs(
    outputs: Sequence[Any], *, vocab_size: int | None = None
) -> TrajectoryBatch:
    """The batch of verl ``AgentLoopOutput`` objects (or dicts of their fields), checked
    once: ``response_mask`` is the trainable mask, ``response_logprobs`` the logprobs (0
    where None), ``reward_score`` the rewards (all None: no rewards; some None: an error
    naming the first). ``extra_fields["turn_ends"]`` gives a trajectory's turns, else each
    run of trainable tokens is one assistant turn; a non-empty ``turn_scores`` in any
    output makes them the per-turn rewards (one per turn of every trajectory).
    """
    if isinstance(outputs, str | bytes) or not isinstance(outputs, Sequence):
        raise TrainerTypeError(
            f"outputs: expected a sequence of AgentLoopOutput, got {type(outputs).__name__}"
        )
    prompts, responses, masks, logprobs, extras, scores = [], [], [], [], [], []
    for i, o in enumerate(outputs):
        prompts.append(_field(o, "prompt_ids", i))
        response = _field(o, "response_ids", i)
        responses.append(response)
        masks.append(_field(o, "response_mask", i))
        lp = _field(o, "response_logprobs", i, required=False)
        logprobs.append([0.0] * len(response) if lp is None else lp)
        extra = _field(o, "extra_fields", i, required=False) or {}
        if not isinstance(extra, Mapping):
            raise TrainerTypeError(f"outputs[{i}].extra_fields: expected a mapping")
        extras.append(extra)
        scores.append(_field(o, "reward_score", i, required=False))
    given = [s is not None for s in scores]
    if any(given) and not all(given):
        first = given.index(not given[0])
        raise TrainerValueError(
            f"outputs[{first}].reward_score: {scores[first]!r}, where outputs[0] has "
            f"{scores[0]!r}: every trajectory needs a reward, or none"
        )
    given_ends = [e.get("turn_ends") for e in extras]
    turn_ends = (
        None if all(g is None for g in given_ends) else given_or_mask_turn_ends(masks, given_ends)
    )
    turn_scores = [e.get("turn_scores") or [] for e in extras]
    return TrajectoryBatch.from_sequences(
        prompts,
        responses,
        masks,
        logprobs,
        turn_ends,
        turn_rewards=turn_scores if any(len(s) for s in turn_scores) else None,
        rewards=np.asarray(scores, dtype=np.float32) if all(given) and scores else None,
        vocab_size=vocab_size,
    )
