"""Checks of scalar arguments at the Python boundary of the core.

A value of the wrong type is a :class:`~orbiter.train.errors.TrainerTypeError` naming the
argument, never a bare ``TypeError`` from the binding layer nor a silent coercion: ``True``
is not the int 1, ``3.7`` is not truncated to 3, ``"3"`` is not parsed.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from orbiter.train.errors import TrainerTypeError, TrainerValueError

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _type_name(value: Any) -> str:
    return type(value).__name__


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """*value* as an int that fits int64 (numpy integers accepted, bools refused)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TrainerTypeError(f"{name}: expected an int, got {_type_name(value)}")
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise TrainerValueError(f"{name}: {number} does not fit int64")
    if minimum is not None and number < minimum:
        raise TrainerValueError(f"{name}: must be >= {minimum}, got {number}")
    return number


def optional_integer(name: str, value: Any, *, minimum: int | None = None) -> int | None:
    """:func:`integer`, or ``None`` passed through."""
    return None if value is None else integer(name, value, minimum=minimum)


def real(name: str, value: Any) -> float:
    """*value* as a float (ints and numpy numbers accepted, bools and strings refused)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TrainerTypeError(f"{name}: expected a number, got {_type_name(value)}")
    try:
        return float(value)
    except OverflowError:
        magnitude = int(math.log10(abs(value)))  # str() of a huge int may itself fail
        raise TrainerValueError(f"{name}: about 1e{magnitude}, does not fit a float64") from None


def flag(name: str, value: Any) -> bool:
    """*value* as a bool; only ``True``/``False`` (and numpy bools) are accepted."""
    if not isinstance(value, bool | np.bool_):
        raise TrainerTypeError(f"{name}: expected True or False, got {_type_name(value)}")
    return bool(value)


def text(name: str, value: Any) -> str:
    """*value*, which must be a ``str``."""
    if not isinstance(value, str):
        raise TrainerTypeError(f"{name}: expected a str, got {_type_name(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise TrainerValueError(
            f"{name}: not UTF-8 text (a lone surrogate at index {err.start})"
        ) from None
    return value


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of *choices*, or ``""``: the one hint every
    misspelled name (config keys, reward names, choices) gets."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""
