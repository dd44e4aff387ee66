"""How a user names their own reward function: :class:`RewardSpec`, and :func:`reward_style`.

Both trainers take a ``RewardSpec``: the torch trainer scores in process, verl imports the
function by name in its worker processes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError

__all__ = ["RewardSpec", "reward_style"]


def reward_style(fn: Callable[..., Any], name: str = "reward_fn") -> Literal["pair", "verl"]:
    """How a reward function is called.

    ``"verl"``: it has ``solution_str`` and ``ground_truth`` parameters (verl's
    ``compute_score(data_source, solution_str, ground_truth, extra_info=None)``) and is
    called with keywords. ``"pair"``: it accepts two positional arguments
    ``fn(output, expected) -> float`` (the original package's per-item form).

    Raises:
        TrainerTypeError: If *fn* has neither form.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: trust them as pairs
        return "pair"
    if {"solution_str", "ground_truth"} <= signature.parameters.keys():
        return "verl"
    try:
        signature.bind("", "")
    except TypeError:
        raise TrainerTypeError(
            f"{name}: {_describe(fn)} must accept (output, expected): it will be called as "
            "fn(output: str, expected: str) -> float, or, when it has parameters named "
            "solution_str and ground_truth, with verl's keywords as fn(data_source=..., "
            "solution_str=..., ground_truth=..., extra_info=...) -> float; its signature is "
            f"{signature}"
        ) from None
    return "pair"


def _describe(fn: Any) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(fn)


@dataclass(frozen=True, slots=True)
class RewardSpec:
    """A reward function for RL training, given in one of two forms.

    * ``RewardSpec(callable=fn)`` — an in-process function. verl scores in other
      processes, so the trainer turns it into ``module.qualname`` when it can be
      imported that way and rejects it otherwise.
    * ``RewardSpec(module_path="my_rewards", func_name="accuracy")`` — an importable
      reference, the form that works on every node of a cluster.

    The function is ``fn(output: str, expected: str) -> float`` or verl's
    ``compute_score(data_source, solution_str, ground_truth, extra_info=None) -> float``.

    Raises:
        TrainerError: If not exactly one of the two forms is given.
    """

    callable: Callable[..., float] | None = None
    module_path: str = ""
    func_name: str = ""

    def __post_init__(self) -> None:
        has_ref = bool(self.module_path or self.func_name)
        if self.callable is not None and has_ref:
            raise TrainerValueError(
                "RewardSpec takes either 'callable' or 'module_path' + 'func_name', not both"
            )
        if self.callable is None:
            if not (self.module_path and self.func_name):
                raise TrainerValueError(
                    "RewardSpec requires either 'callable' or both 'module_path' and 'func_name'"
                    f" (got module_path={self.module_path!r}, func_name={self.func_name!r})"
                )
        elif not callable(self.callable):
            raise TrainerTypeError(
                f"RewardSpec.callable must be callable, got {type(self.callable).__name__}"
            )

    def resolve(self) -> Callable[..., float]:
        """Return the concrete function, importing it if necessary: ``callable`` as it was
        given, as the original package did. Its signature is checked by the trainer that
        calls it (:func:`reward_style` for verl, the reward registry for torch).

        Raises:
            TrainerError: If the module or function cannot be found or is not callable.
        """
        if self.callable is not None:
            fn: Any = self.callable
        else:
            try:
                module = importlib.import_module(self.module_path)
            except ImportError as exc:
                raise TrainerError(
                    f"RewardSpec: cannot import module {self.module_path!r}: {exc}"
                ) from exc
            fn = module
            for part in self.func_name.split("."):
                fn = getattr(fn, part, None)
            if fn is None:
                raise TrainerError(f"Cannot find {self.func_name!r} in {self.module_path!r}")
            if not callable(fn):
                raise TrainerTypeError(f"{self.module_path}.{self.func_name} is not callable")
        resolved: Callable[..., float] = fn
        return resolved
