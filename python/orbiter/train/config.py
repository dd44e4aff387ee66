"""The RL configuration vocabulary both backends share, and the one validator of fields.

**Names.** One name per idea, whatever the backend: ``algorithm`` (an :class:`Algorithm`),
``group_size`` (responses sampled per prompt), ``kl_coef`` (the weight of the KL penalty
to the reference policy) with ``kl_estimator`` (a :class:`KLEstimator`), ``clip_range``,
``gamma``, ``lam``. Where the backends spell a setting differently, either spelling sets
it on either backend (:data:`SYNONYMS`, :data:`ALGORITHM_ALIASES`). Fields only one
backend has live on that backend's config (``TorchTrainConfig.device``,
``VeRLConfig.rollout_batch_size``).

**Checks.** :func:`check_int`, :func:`check_float`, :func:`check_choice`,
:func:`parse_enum` raise a :class:`~orbiter.train.errors.TrainerError`
(value or type error) worded ``config.<field> = <value>: must be …``; :func:`split_update`
applies a dict of changes with the one "did you mean" rule for misspelled keys.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from orbiter.train._args import did_you_mean
from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError

__all__ = [
    "ALGORITHM_ALIASES",
    "SYNONYMS",
    "Algorithm",
    "KLEstimator",
    "bad_value",
    "check_choice",
    "check_float",
    "check_int",
    "check_turn_limits",
    "parse_enum",
    "split_update",
]


class Algorithm(StrEnum):
    """The RL algorithm: how advantages are estimated, and whether a critic is trained."""

    GRPO = "grpo"
    """Group-relative: ``(r - mean) / std`` over the responses to one prompt."""
    RLOO = "rloo"
    """Leave-one-out: ``r - mean`` of the other responses to the prompt."""
    REINFORCE_PLUS_PLUS = "reinforce_plus_plus"
    """Discounted returns, whitened over the batch."""
    PPO = "ppo"
    """GAE over a learned value (a critic or a value head)."""
    SFT = "sft"
    """Supervised: the reference answer's log-likelihood, no sampling."""

    @property
    def is_group(self) -> bool:
        """Whether the advantage compares several responses per prompt (group_size >= 2)."""
        return self in (Algorithm.GRPO, Algorithm.RLOO)


ALGORITHM_ALIASES: dict[str, str] = {"reinforce_pp": Algorithm.REINFORCE_PLUS_PLUS.value}
"""Other spellings of an algorithm, and the value they stand for."""


class KLEstimator(StrEnum):
    """Estimators of ``KL(π ‖ π_ref)`` per token from ``d = log π - log π_ref`` (Schulman's)."""

    K1 = "k1"
    """``d``: unbiased, high variance."""
    K2 = "k2"
    """``d² / 2``."""
    K3 = "k3"
    """``exp(-d) - 1 + d``: unbiased, non-negative, low variance."""


SYNONYMS: tuple[tuple[str, str], ...] = (
    ("kl_coef", "kl_coeff"),
    ("group_size", "rollout_n"),
    ("ppo_epochs", "num_iterations"),
)
"""Names of one setting that the backends spell differently: ``kl_coef`` (the torch
trainer's field) is ``kl_coeff`` (the original package's ``VeRLConfig`` field, kept for
drop-in compatibility); ``group_size`` is verl's ``rollout_n``; ``ppo_epochs`` (verl's)
is TRL's ``num_iterations``. Either spelling sets the setting on either backend."""


def _synonym(key: str, names: Collection[str]) -> str | None:
    for pair in SYNONYMS:
        if key in pair:
            other = pair[1] if key == pair[0] else pair[0]
            if other in names:
                return other
    return None


E = TypeVar("E", bound=StrEnum)


def bad_value(
    name: str, value: Any, why: str, kind: type[TrainerError] = TrainerValueError
) -> TrainerError:
    """The error of a config field: ``config.<name> = <value>: <why>``."""
    return kind(f"config.{name} = {value!r}: {why}")


def parse_enum(kind: type[E], value: Any, name: str, aliases: Mapping[str, str] | None = None) -> E:
    """*value* as a member of *kind* (its value, or an alias).

    Raises:
        TrainerValueError: naming the field, the choices and the closest one.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind((aliases or {}).get(value, value))
        except ValueError:
            pass
    choices = [m.value for m in kind]
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    raise bad_value(name, value, f"must be one of {', '.join(map(repr, choices))}{hint}")


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    """*value*, one of the strings *choices*."""
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, list(choices)) if isinstance(value, str) else ""
        raise bad_value(name, value, f"must be one of {', '.join(map(repr, choices))}{hint}")
    return value


def check_int(name: str, value: Any, low: int) -> int:
    """*value*, an int (not a bool) ``>= low``; the error names the field."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_value(name, value, "must be an int", TrainerTypeError)
    if value < low:
        raise bad_value(name, value, f"must be >= {low}")
    return value


def check_float(
    name: str, value: Any, low: float, high: float = math.inf, *, open_low: bool = False
) -> float:
    """*value*, a finite number in ``[low, high]`` (``(low, high]`` with *open_low*)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_value(name, value, "must be a finite number", TrainerTypeError)
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond float64; its repr may itself be too long to print
        magnitude = int(math.log10(abs(value)))
        raise TrainerValueError(
            f"config.{name} = about 1e{magnitude}: must be a finite number (a float64)"
        ) from None
    if not finite:
        raise bad_value(name, value, "must be a finite number")
    if value < low or value > high or (open_low and value == low):
        bracket = "(" if open_low else "["
        raise bad_value(name, value, f"must be in {bracket}{low}, {high}]")
    return float(value)


def check_turn_limits(cfg: Any) -> None:
    """The multi-turn rollout's bounds on *cfg* (either backend's config): ``max_turns`` and
    ``max_tool_calls`` ints >= 1, ``max_total_tokens`` and ``max_tool_result_tokens`` None
    or ints >= 1, ``tool_timeout`` None or a number > 0."""
    check_int("max_turns", cfg.max_turns, 1)
    check_int("max_tool_calls", cfg.max_tool_calls, 1)
    for name in ("max_total_tokens", "max_tool_result_tokens"):
        if getattr(cfg, name) is not None:
            check_int(name, getattr(cfg, name), 1)
    if cfg.tool_timeout is not None:
        check_float("tool_timeout", cfg.tool_timeout, 0.0, open_low=True)


def split_update(
    changes: Mapping[Any, Any], fields: Collection[str], extra_keys: Collection[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(field changes, extra changes)`` of a dict *changes* to a config with *fields*.

    A key that is a field (or a synonym of one, :data:`SYNONYMS`) sets it; ``"extra"`` (a
    dict), *extra_keys* (or their synonyms) and any other key go to ``extra``, except a key
    close to a field or to one of *extra_keys*, which is taken for a misspelling.

    Raises:
        TrainerValueError: a misspelled key, with "did you mean".
        TrainerTypeError: a key that is not a str, or an ``extra`` that is not a dict.
    """
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in changes.items():
        if not isinstance(key, str):
            raise TrainerTypeError(f"config keys must be str, got {key!r}")
        if key == "extra":
            if not isinstance(value, dict):
                raise TrainerTypeError(f"extra must be a dict, got {type(value).__name__}")
            extra.update(value)
            continue
        name = key if key in fields or key in extra_keys else _synonym(key, [*fields, *extra_keys])
        if name is not None and name in fields:
            known[name] = value
        elif name is not None:
            extra[name] = value
        else:
            hint = did_you_mean(key, [*fields, *extra_keys])
            if hint:
                raise TrainerValueError(
                    f"unknown config key {key!r}{hint} "
                    "(unknown keys that are not near a field go to config.extra)"
                )
            extra[key] = value
    return known, extra
