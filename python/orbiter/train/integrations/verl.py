"""verl's reward functions, scored by orbiter's core: ``compute_score`` (per response) and
``compute_score_batch`` (per batch), for verl's naive and batch reward managers.

Point verl at this file; what to score with travels in ``reward_kwargs``::

    custom_reward_function.path=<this file>          # orbiter.train.integrations.verl.__file__
    custom_reward_function.name=compute_score        # reward_manager=naive (the default)
    custom_reward_function.name=compute_score_batch  # reward_manager=batch: one core call
    +custom_reward_function.reward_kwargs.reward=math_equal

verl loads the function (``verl.trainer.ppo.reward.get_custom_reward_fn``) and wraps it with
``functools.partial(..., **reward_kwargs)``; its naive manager calls
``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`` per response, its
batch manager ``compute_score_batch(data_sources=, solution_strs=, ground_truths=,
extra_infos=)``. Each result is a dict ``{"score": float, "acc": bool, "pred": str}``: verl
rewards ``score`` and logs the other keys as ``reward_extra_info``. ``pred`` is the answer
the reward read (:func:`orbiter.train.rewards.text.math_answer` for ``math_equal``, ``""``
where it found none; the response itself for the other text rewards).

A ground truth that is a list (or tuple, or a numpy array, as parquet lists come back) means
any of them: the score is the best over its items. Ints and floats are written as text.

``reward_kwargs`` select the scorer:

    reward          a core text reward (``math_equal``, ``exact_text_match``,
                    ``normalized_exact_match``, ``word_f1``); ``math_equal`` by default
    reward_kind     "core" (default): that reward; "pair": the user's ``fn(output, expected)``;
                    "verl": the user's ``compute_score(data_source, solution_str, ...)``
    reward_module   the user's module (``VeRLTrainer`` plans these from a RewardSpec)
    reward_name     the function in it, a dotted name walks attributes
    search_path     put on ``sys.path`` first, so the user's module imports in verl's workers
    tool_rewards    "sum": add the sum of the trajectory's tool step rewards (verl's
                    ``extra_info["tool_rewards"]``), e.g. an orbiter Environment's reward
                    (:mod:`orbiter.train.verl.tool_adapter`); "" (default): ignore them

verl may load the file under another module name, in a process whose Python has orbiter
installed or not: it imports only the standard library at the top and finds orbiter (and the
user's module) when first called. The functions are module-level, so they pickle.
"""

from __future__ import annotations

import functools
import importlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MODULE",
    "DEFAULT_NAME",
    "FUNCTION_NAME",
    "compute_score",
    "compute_score_batch",
    "resolve",
]

FUNCTION_NAME = "compute_score"
"""The ``custom_reward_function.name`` of verl's per-response (naive) reward manager."""

DEFAULT_MODULE = "orbiter.train.rewards"
DEFAULT_NAME = "math_equal"

# The directory holding ``orbiter/``: a fallback for ``import orbiter`` in a worker whose
# Python does not have the package installed but can read this file.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


@functools.cache
def resolve(kind: str, module: str, name: str, search_path: str) -> Callable[..., Any]:
    """The function ``module.name``, imported once per process.

    The user's *search_path* goes first on ``sys.path`` (an installed package of the same
    name must not shadow it); orbiter's own root goes last (the installed one wins).
    """
    if search_path and search_path not in sys.path:
        sys.path.insert(0, search_path)
    if kind == "core" and _PACKAGE_ROOT not in sys.path:
        sys.path.append(_PACKAGE_ROOT)
    fn: Any = importlib.import_module(module)
    for part in name.split("."):
        fn = getattr(fn, part)
    resolved: Callable[..., Any] = fn
    return resolved


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _golds(ground_truth: Any) -> list[str]:
    """The accepted answers: a list, tuple or 1-D array is any of its items."""
    if isinstance(ground_truth, str | bytes) or not hasattr(ground_truth, "__iter__"):
        return [_text(ground_truth)]
    golds = [_text(g) for g in ground_truth]
    if not golds:
        raise ValueError("ground_truth: an empty list accepts no answer")
    return golds


def _result(score: float, pred: str) -> dict[str, Any]:
    return {"score": score, "acc": score >= 1.0, "pred": pred}


TOOL_REWARDS = ("", "sum")
"""The values of ``reward_kwargs["tool_rewards"]``."""


def _tool_reward(extra_info: Any) -> float:
    """``fsum(extra_info["tool_rewards"])``: the step rewards verl's tool agent loop
    collected from ``BaseTool.execute`` (0 without any)."""
    rewards = extra_info.get("tool_rewards") if isinstance(extra_info, Mapping) else None
    if rewards is None:
        return 0.0
    return math.fsum(float(r) for r in rewards)


def _with_tool_reward(result: dict[str, Any], extra_info: Any, mode: str) -> dict[str, Any]:
    """*result* with ``score += tool reward`` and the tool reward under ``"tool_reward"``
    when *mode* is "sum"; ``acc`` and ``pred`` stay the reward function's."""
    if mode == "":
        return result
    if mode not in TOOL_REWARDS:
        raise ValueError(f"tool_rewards must be one of {TOOL_REWARDS}, got {mode!r}")
    bonus = _tool_reward(extra_info)
    return {**result, "score": float(result["score"]) + bonus, "tool_reward": bonus}


def _from_user(value: Any) -> dict[str, Any]:
    """A user function's result as verl's dict: a dict passes as it is, a number wraps."""
    if isinstance(value, dict):
        return value
    score = float(value)
    return _result(score, "")


def _core_batch(
    name: str, module: str, responses: list[str], ground_truths: Sequence[Any]
) -> list[dict[str, Any]]:
    """One core call over every (response, gold) pair; each response keeps its best gold."""
    if module == DEFAULT_MODULE:
        resolve("core", module, DEFAULT_NAME, "")  # puts orbiter on sys.path if need be
        from orbiter.train.rewards.registry import TEXT_REWARDS, lookup

        lookup(name, "reward", TEXT_REWARDS)  # an unknown name lists the choices
    fn = resolve("core", module, name, "")
    owner: list[int] = []
    pairs: list[str] = []
    golds: list[str] = []
    for i, truth in enumerate(ground_truths):
        for gold in _golds(truth):
            owner.append(i)
            pairs.append(responses[i])
            golds.append(gold)
    scores = [float(s) for s in fn(pairs, golds)] if pairs else []
    best = [-math.inf] * len(responses)
    for i, s in zip(owner, scores, strict=True):
        best[i] = max(best[i], s)
    if name == "math_equal" and module == DEFAULT_MODULE:
        from orbiter.train.rewards.text import math_answer

        preds = [p or "" for p in math_answer(responses)]
    else:
        preds = responses
    return [_result(b, p) for b, p in zip(best, preds, strict=True)]


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    reward: str = DEFAULT_NAME,
    reward_kind: str = "core",
    reward_module: str = DEFAULT_MODULE,
    reward_name: str = "",
    search_path: str = "",
    tool_rewards: str = "",
    **kwargs: Any,
) -> dict[str, Any]:
    """``{"score", "acc", "pred"}`` of one response against its ground truth (verl's naive
    reward manager); with ``tool_rewards="sum"``, ``score = reward + sum(tool step
    rewards)`` and ``"tool_reward"`` is that sum. Keywords verl adds besides
    ``reward_kwargs`` (e.g. a reward router's address) reach a ``"verl"``-style user
    function only."""
    if reward_kind == "core":
        name = reward_name or reward
        result = _core_batch(name, reward_module, [_text(solution_str)], [ground_truth])[0]
        return _with_tool_reward(result, extra_info, tool_rewards)
    fn = resolve(reward_kind, reward_module, reward_name, search_path)
    if reward_kind == "verl":
        result = _from_user(
            fn(
                data_source=data_source,
                solution_str=solution_str,
                ground_truth=ground_truth,
                extra_info=extra_info,
                **kwargs,
            )
        )
    else:
        result = _from_user(fn(_text(solution_str), _text(ground_truth)))
    return _with_tool_reward(result, extra_info, tool_rewards)


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[Any],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    *,
    reward: str = DEFAULT_NAME,
    reward_kind: str = "core",
    reward_module: str = DEFAULT_MODULE,
    reward_name: str = "",
    search_path: str = "",
    tool_rewards: str = "",
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """:func:`compute_score` of a batch, one core call for core rewards (verl's batch reward
    manager with ``custom_reward_function.name=compute_score_batch``, and
    ``VeRLTrainer.evaluate``)."""
    responses = [_text(s) for s in solution_strs]
    truths = list(ground_truths)
    if len(truths) != len(responses):
        raise ValueError(f"ground_truths: {len(truths)} items for {len(responses)} solution_strs")
    infos = list(extra_infos) if extra_infos is not None else [None] * len(responses)
    if reward_kind == "core":
        results = _core_batch(reward_name or reward, reward_module, responses, truths)
        return [
            _with_tool_reward(r, info, tool_rewards) for r, info in zip(results, infos, strict=True)
        ]
    return [
        compute_score(
            source,
            response,
            truth,
            info,
            reward_kind=reward_kind,
            reward_module=reward_module,
            reward_name=reward_name,
            search_path=search_path,
            tool_rewards=tool_rewards,
            **kwargs,
        )
        for source, response, truth, info in zip(
            data_sources, responses, truths, infos, strict=True
        )
    ]
