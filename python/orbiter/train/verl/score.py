"""verl's custom reward function: scores through orbiter's core or the user's function.

verl loads this very file by path (``custom_reward_function.path``, function
``custom_reward_function.name``), wraps the function with
``functools.partial(..., **custom_reward_function.reward_kwargs)`` (verl's
``verl/trainer/ppo/reward.py``: ``get_custom_reward_fn``) and its reward manager calls it
per response with keywords::

    compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)

so what to score with travels in ``reward_kwargs`` (see
:attr:`orbiter.train.verl.reward.RewardPlan.reward_kwargs`), not in generated code:

    reward_kind     "core": ``orbiter.train.rewards.<reward_name>(responses, answers)``;
                    "pair": the user's ``fn(output, expected)``;
                    "verl": the user's ``compute_score(data_source, solution_str, ...)``
    reward_module   the module to import (default ``orbiter.train.rewards``)
    reward_name     the function in it, a dotted name walks attributes (default ``math_equal``)
    search_path     put on ``sys.path`` first, so the user's module imports in verl's workers

verl may load the file under another module name, so it imports only the standard library
at the top and finds orbiter (and the user's module) when first called.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Sequence
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
"""The ``custom_reward_function.name`` verl is given."""

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


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    reward_kind: str = "core",
    reward_module: str = DEFAULT_MODULE,
    reward_name: str = DEFAULT_NAME,
    search_path: str = "",
    **kwargs: Any,
) -> float:
    """Score of one response against its ground truth (verl's custom reward function).

    Keywords verl adds besides ``reward_kwargs`` (e.g. a reward router's address) reach
    a ``"verl"``-style user function only.
    """
    fn = resolve(reward_kind, reward_module, reward_name, search_path)
    if reward_kind == "core":
        return float(fn([_text(solution_str)], [_text(ground_truth)])[0])
    if reward_kind == "verl":
        return float(
            fn(
                data_source=data_source,
                solution_str=solution_str,
                ground_truth=ground_truth,
                extra_info=extra_info,
                **kwargs,
            )
        )
    return float(fn(_text(solution_str), _text(ground_truth)))


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[Any],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    *,
    reward_kind: str = "core",
    reward_module: str = DEFAULT_MODULE,
    reward_name: str = DEFAULT_NAME,
    search_path: str = "",
    **kwargs: Any,
) -> list[float]:
    """Scores of a batch, one core call for core rewards (``VeRLTrainer.evaluate``, and
    verl's batch reward manager with ``custom_reward_function.name=compute_score_batch``)."""
    responses = [_text(s) for s in solution_strs]
    answers = [_text(g) for g in ground_truths]
    if reward_kind == "core":
        fn = resolve(reward_kind, reward_module, reward_name, search_path)
        return [float(x) for x in fn(responses, answers)]
    infos = list(extra_infos) if extra_infos is not None else [None] * len(responses)
    return [
        compute_score(
            source,
            response,
            answer,
            info,
            reward_kind=reward_kind,
            reward_module=reward_module,
            reward_name=reward_name,
            search_path=search_path,
            **kwargs,
        )
        for source, response, answer, info in zip(
            data_sources, responses, answers, infos, strict=True
        )
    ]
