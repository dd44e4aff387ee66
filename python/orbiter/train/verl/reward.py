"""The reward module verl loads: ``compute_score`` over orbiter's core or the user's function.

verl scores responses in its own (Ray worker) processes and finds the reward function by
file path and name (``custom_reward_function.path`` / ``.name``). :func:`write_reward_module`
writes that file; :func:`load_reward_module` loads the same file in-process, so
``VeRLTrainer.evaluate`` scores exactly as training does.

The file defines::

    compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float
    compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs)
        -> list[float]      # one core call per batch: used by VeRLTrainer.evaluate, and
                            # by verl versions with a batch reward manager
                            # (custom_reward_function.name=compute_score_batch)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import orbiter.train
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.trainer import TrainerError
from orbiter.train.verl.config import RewardSpec, reward_style

__all__ = [
    "CORE_REWARDS",
    "RewardPlan",
    "importable_reference",
    "load_reward_module",
    "plan_reward",
    "write_reward_module",
]

CORE_REWARDS = ("math_equal", "normalized_exact_match", "word_f1")
"""Core text rewards ``fn(responses: list[str], answers: list[str]) -> float32 (n,)``."""

DEFAULT_REWARD = "math_equal"


@dataclass(frozen=True, slots=True)
class RewardPlan:
    """Where the reward module gets its scores.

    ``kind == "core"``: ``orbiter.train.rewards.<name>``; otherwise the user's function
    ``<module>.<name>`` called as ``fn(output, expected)`` (``"pair"``) or with verl's
    keywords (``"verl"``). ``search_path`` is put on ``sys.path`` of the scoring process.
    """

    kind: Literal["core", "pair", "verl"]
    module: str
    name: str
    search_path: str


def _walk(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _import_root(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    if not file:
        return ""
    path = Path(file).resolve()
    root = path.parent
    depth = module.__name__.count(".") + (1 if path.name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    return str(root)


def importable_reference(fn: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` when importing *module* and walking *qualname* gives *fn* back."""
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module_name or not qualname or module_name == "__main__" or "<" in qualname:
        return None
    try:
        found = _walk(importlib.import_module(module_name), qualname)
    except Exception:
        return None
    return (module_name, qualname) if found is fn or found == fn else None


def plan_reward(reward_fn: Any | None) -> RewardPlan:
    """Check *reward_fn* and decide how the reward module scores.

    Accepts ``None`` (the core's ``math_equal``), the name of a core reward
    (:data:`CORE_REWARDS`), a :class:`RewardSpec`, or a callable ``fn(output, expected)``
    (or verl's ``compute_score``) importable as ``module.qualname``.

    Raises:
        TrainerError: For anything else, e.g. a lambda or a function defined in
            ``__main__``, which verl's worker processes cannot import.
    """
    core_root = str(Path(orbiter.train.__file__).resolve().parents[2])
    if reward_fn is None:
        return RewardPlan("core", "orbiter.train.rewards", DEFAULT_REWARD, core_root)
    if isinstance(reward_fn, str):
        if reward_fn not in CORE_REWARDS:
            raise TrainerValueError(
                f"reward_fn: unknown core reward {reward_fn!r}; choose one of {list(CORE_REWARDS)}"
            )
        return RewardPlan("core", "orbiter.train.rewards", reward_fn, core_root)
    if isinstance(reward_fn, RewardSpec):
        fn = reward_fn.resolve()
        if reward_fn.callable is None:
            module = importlib.import_module(reward_fn.module_path)
            return RewardPlan(
                reward_style(fn), reward_fn.module_path, reward_fn.func_name, _import_root(module)
            )
    elif callable(reward_fn):
        fn = reward_fn
    else:
        raise TrainerTypeError(
            "reward_fn must be None, a core reward name, a RewardSpec or a callable, "
            f"got {type(reward_fn).__name__}"
        )
    style = reward_style(fn)
    reference = importable_reference(fn)
    if reference is None:
        raise TrainerValueError(
            f"reward_fn {getattr(fn, '__qualname__', fn)!r} cannot be imported by verl's "
            "worker processes (a lambda, a nested function or one defined in __main__); "
            "move it to a module and pass RewardSpec(module_path='my_rewards', "
            "func_name='my_reward')"
        )
    module_name, qualname = reference
    return RewardPlan(style, module_name, qualname, _import_root(sys.modules[module_name]))


_TEMPLATE = '''\
"""Reward module for verl, written by orbiter-train (VeRLTrainer). Do not edit."""

from __future__ import annotations

import importlib
import sys

KIND = {kind!r}
_SEARCH_PATH = {search_path!r}
if _SEARCH_PATH and _SEARCH_PATH not in sys.path:
    # the user's module root goes first (an installed package must not shadow it);
    # orbiter's own root last (the installed orbiter-train wins)
    if KIND == "core":
        sys.path.append(_SEARCH_PATH)
    else:
        sys.path.insert(0, _SEARCH_PATH)

_fn = importlib.import_module({module!r})
for _part in {name!r}.split("."):
    _fn = getattr(_fn, _part)


def _text(value):
    return value if isinstance(value, str) else str(value)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """Scores of a batch, one core call (in-process evaluation; verl's batch reward manager)."""
    responses = [_text(s) for s in solution_strs]
    answers = [_text(g) for g in ground_truths]
    if KIND == "core":
        return [float(x) for x in _fn(responses, answers)]
    infos = list(extra_infos) if extra_infos is not None else [None] * len(responses)
    return [
        compute_score(source, response, answer, info, **kwargs)
        for source, response, answer, info in zip(data_sources, responses, answers, infos)
    ]


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """Score of one response against its ground truth (verl's custom reward function)."""
    if KIND == "core":
        return float(_fn([_text(solution_str)], [_text(ground_truth)])[0])
    if KIND == "verl":
        return float(
            _fn(
                data_source=data_source,
                solution_str=solution_str,
                ground_truth=ground_truth,
                extra_info=extra_info,
                **kwargs,
            )
        )
    return float(_fn(_text(solution_str), _text(ground_truth)))
'''


def write_reward_module(plan: RewardPlan, path: Path) -> Path:
    """Write the reward module for *plan* at *path* (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        _TEMPLATE.format(
            kind=plan.kind, search_path=plan.search_path, module=plan.module, name=plan.name
        ),
        encoding="utf-8",
    )
    return path


def load_reward_module(path: Path) -> Callable[..., list[float]]:
    """Load the reward module at *path* in-process; return its ``compute_score_batch``.

    Raises:
        TrainerError: If the file cannot be loaded.
    """
    name = f"_orbiter_verl_reward_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TrainerError(f"cannot load the reward module {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise TrainerError(f"cannot load the reward module {str(path)!r}: {exc}") from exc
    batch: Callable[..., list[float]] = module.compute_score_batch
    return batch
