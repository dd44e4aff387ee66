"""Error classes of orbiter-train.

:class:`TrainerError` (the spec's, re-exported by :mod:`orbiter.train.trainer`) is the
root. It lives here so that every module can raise it without importing the trainer
contract. Bad input to a core function raises an error that is both a ``TrainerError``
and the matching built-in, so ``except ValueError`` and ``except TrainerError`` both
catch it. Messages name the argument and the first offending index.
"""

from __future__ import annotations

__all__ = ["TrainerError", "TrainerTypeError", "TrainerValueError"]


class TrainerError(Exception):
    """Error during training operations."""


class TrainerValueError(TrainerError, ValueError):
    """A value was rejected: out of range, wrong length or shape, not contiguous, NaN."""


class TrainerTypeError(TrainerError, TypeError):
    """An argument has the wrong type or dtype."""
