"""Which reward verl's workers score with: the user's reward checked and planned.

verl scores responses in its own (Ray worker) processes, through the static module
:mod:`orbiter.train.integrations.verl` (``custom_reward_function.path``). :func:`plan_reward`
checks what the user gave and returns a :class:`RewardPlan`, whose
:attr:`~RewardPlan.reward_kwargs` (``custom_reward_function.reward_kwargs``) tell that
module which function to import and how to call it; ``VeRLTrainer.evaluate`` calls the same
module with the same keywords, so it scores exactly as training does.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.integrations.verl import DEFAULT_MODULE, DEFAULT_NAME
from orbiter.train.rewards.registry import TEXT_REWARDS, lookup
from orbiter.train.rewards.spec import RewardSpec, reward_style

__all__ = [
    "CORE_REWARDS",
    "RewardPlan",
    "import_root",
    "importable_reference",
    "plan_reward",
]

CORE_REWARDS = TEXT_REWARDS
"""Reward names verl can score with: those of the registry with a text form
``fn(responses: list[str], answers: list[str]) -> float32 (n,)``."""


@dataclass(frozen=True, slots=True)
class RewardPlan:
    """Where :mod:`orbiter.train.integrations.verl` gets its scores.

    ``kind == "core"``: ``orbiter.train.rewards.<name>``; otherwise the user's function
    ``<module>.<name>`` called as ``fn(output, expected)`` (``"pair"``) or with verl's
    keywords (``"verl"``). ``search_path`` is put on ``sys.path`` of the scoring process.
    """

    kind: Literal["core", "pair", "verl"]
    module: str
    name: str
    search_path: str

    @property
    def needs_reference(self) -> bool:
        """Whether the scores compare each response with the record's reference answer:
        every core reward does; the user's function decides for itself (it gets ``""``)."""
        return self.kind == "core"

    @property
    def reward_kwargs(self) -> dict[str, str]:
        """verl's ``custom_reward_function.reward_kwargs``: the keywords of
        :func:`orbiter.train.integrations.verl.compute_score` that select this function."""
        return {
            "reward_kind": self.kind,
            "reward_module": self.module,
            "reward_name": self.name,
            "search_path": self.search_path,
        }


EXPECTED_REWARD = "reward_fn must be None, a core reward name, a callable or RewardSpec"


def _walk(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def import_root(module: ModuleType) -> str:
    """The directory to put on ``sys.path`` so that *module* imports by its name ("" when
    it has no file)."""
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
    if reward_fn is None:
        return RewardPlan("core", DEFAULT_MODULE, DEFAULT_NAME, "")
    if isinstance(reward_fn, str):
        try:
            entry = lookup(reward_fn, "reward_fn", TEXT_REWARDS)
        except TrainerValueError as err:
            raise TrainerValueError(f"{err}; {EXPECTED_REWARD}") from None
        text = entry.text
        assert text is not None  # TEXT_REWARDS have a text form
        return RewardPlan("core", DEFAULT_MODULE, text, "")
    if isinstance(reward_fn, RewardSpec):
        fn = reward_fn.resolve()
        if reward_fn.callable is None:
            module = importlib.import_module(reward_fn.module_path)
            return RewardPlan(
                reward_style(fn), reward_fn.module_path, reward_fn.func_name, import_root(module)
            )
    elif callable(reward_fn):
        fn = reward_fn
    else:
        raise TrainerTypeError(f"{EXPECTED_REWARD}, got {type(reward_fn).__name__}")
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
    return RewardPlan(style, module_name, qualname, import_root(sys.modules[module_name]))
