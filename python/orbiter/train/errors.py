"""Error classes of orbiter-train.

:class:`~orbiter.train.trainer.TrainerError` (the spec's) is the root. Bad input to a
core function raises an error that is both a ``TrainerError`` and the matching
built-in, so ``except ValueError`` and ``except TrainerError`` both catch it. Messages
name the argument and the first offending index.
"""

from __future__ import annotations

from orbiter.train.trainer import TrainerError

__all__ = ["TrainerError", "TrainerTypeError", "TrainerValueError"]


class TrainerValueError(TrainerError, ValueError):
    """A value was rejected: out of range, wrong length or shape, not contiguous, NaN."""


class TrainerTypeError(TrainerError, TypeError):
    """An argument has the wrong type or dtype."""
