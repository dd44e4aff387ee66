"""Base Trainer ABC for agent fine-tuning with multi-phase lifecycle.

The lifecycle state machine lives in the Rust core (``orbiter.train._core.Lifecycle``):
transitions are atomic under threads, each is recorded with a monotonic timestamp, and
every ``check_*`` call of a subclass is timed, so the validation overhead is data you
can read back (:attr:`Trainer.history`, :attr:`Trainer.checks`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar, cast

from orbiter.train import _core
from orbiter.train.errors import TrainerError

__all__ = [
    "CheckRecord",
    "TrainConfig",
    "TrainMetrics",
    "Trainer",
    "TrainerError",
    "TrainerState",
    "Transition",
]


class TrainerState(StrEnum):
    """Trainer lifecycle state."""

    CREATED = "created"
    """Trainer instantiated, not yet validated"""
    VALIDATED = "validated"
    """All validation checks passed"""
    TRAINING = "training"
    """Training in progress"""
    COMPLETED = "completed"
    """Training completed successfully"""
    FAILED = "failed"
    """Training failed"""


@dataclass(slots=True)
class TrainMetrics:
    """Metrics produced by training or evaluation.

    Attributes:
        loss: Training loss.
        accuracy: Accuracy metric.
        steps: Number of training steps.
        extra: Backend-specific metrics.
    """

    loss: float = 0.0
    accuracy: float = 0.0
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TrainConfig:
    """Minimal training configuration.

    Subclass or extend via ``extra`` for backend-specific settings.

    Attributes:
        epochs: Number of training epochs.
        batch_size: Batch size.
        learning_rate: Learning rate.
        output_dir: Output directory for checkpoints.
        extra: Backend-specific settings.
    """

    epochs: int = 1
    batch_size: int = 8
    learning_rate: float = 1e-5
    output_dir: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Transition(NamedTuple):
    """One accepted lifecycle transition."""

    source: TrainerState
    target: TrainerState
    at_ns: int
    """Monotonic nanoseconds since the trainer was created."""


class CheckRecord(NamedTuple):
    """One run of a ``check_*`` method."""

    name: str
    passed: bool
    duration_ns: int
    at_ns: int
    """Monotonic nanoseconds since the trainer was created, when the check ended."""


_CHECK_METHODS = ("check_agent", "check_dataset", "check_reward", "check_config")

# (trainer id, check name) pairs being timed in this thread or task, so that a
# subclass calling ``super().check_x()`` is timed once, by its outermost call.
_ACTIVE_CHECKS: ContextVar[frozenset[tuple[int, str]]] = ContextVar(
    "orbiter_active_checks", default=frozenset()
)

_F = TypeVar("_F", bound=Callable[..., Any])


def _timed_check(name: str, method: _F) -> _F:
    @functools.wraps(method)
    def timed(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        key = (id(self), name)
        active = _ACTIVE_CHECKS.get()
        if key in active:
            return method(self, *args, **kwargs)
        token = _ACTIVE_CHECKS.set(active | {key})
        passed = False
        start = time.perf_counter_ns()
        try:
            result = method(self, *args, **kwargs)
            passed = True
            return result
        finally:
            elapsed = time.perf_counter_ns() - start
            _ACTIVE_CHECKS.reset(token)
            self._core_lifecycle.record_check(name, passed, elapsed)

    timed.__orbiter_timed__ = True  # type: ignore[attr-defined]
    return timed  # type: ignore[return-value]


class Trainer(ABC):
    """Abstract base class for agent training frameworks.

    The lifecycle follows a strict phase ordering:

    1. Call ``check_agent``, ``check_dataset``, ``check_reward``, ``check_config``
       (in any order) to validate all inputs.
    2. Call ``mark_validated()`` when all checks pass.
    3. Call ``train()`` to execute training.
    4. Call ``evaluate()`` to run evaluation on a test set.

    Legal transitions: CREATED → VALIDATED (``mark_validated``), VALIDATED → TRAINING,
    TRAINING → COMPLETED | FAILED. Anything else raises :class:`TrainerError`.
    Subclasses written for the original pure-Python package keep working: they may
    call ``self._require_validated()`` and assign ``self._state = TrainerState.X``;
    such assignments go through the core and are checked like any other transition.

    Args:
        config: Training configuration. Defaults to ``TrainConfig()``.
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        # Kept if a check already ran (and created it) before this call.
        self.__dict__.setdefault("_lifecycle", _core.Lifecycle())
        self._config = config if config is not None else TrainConfig()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _CHECK_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__orbiter_timed__", False):
                setattr(cls, name, _timed_check(name, method))

    # -- properties ---------------------------------------------------------------

    @property
    def state(self) -> TrainerState:
        """Current lifecycle state."""
        return TrainerState(self._core_lifecycle.state)

    @property
    def config(self) -> TrainConfig:
        """Training configuration."""
        return self._config

    @property
    def history(self) -> list[Transition]:
        """Accepted transitions, oldest first, with monotonic timestamps."""
        return [
            Transition(TrainerState(source), TrainerState(target), at_ns)
            for source, target, at_ns in self._core_lifecycle.history()
        ]

    @property
    def checks(self) -> list[CheckRecord]:
        """Every ``check_*`` call so far: name, whether it passed, its duration."""
        return [CheckRecord(*record) for record in self._core_lifecycle.checks()]

    @property
    def validation_ns(self) -> int:
        """Total nanoseconds spent in ``check_*`` calls so far."""
        return self._core_lifecycle.validation_ns

    # -- original-package compatibility -----------------------------------------------

    @property
    def _core_lifecycle(self) -> _core.Lifecycle:
        """The Rust lifecycle, created on first use for an original-style subclass whose
        ``__init__`` sets ``_config`` and ``_state`` itself without calling ours."""
        lifecycle = self.__dict__.get("_lifecycle")
        if lifecycle is None:
            # setdefault is atomic: racing threads all get the one lifecycle stored.
            lifecycle = self.__dict__.setdefault("_lifecycle", _core.Lifecycle())
        return cast(_core.Lifecycle, lifecycle)

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles carry the state and the recorded checks (the native
        lifecycle itself is not picklable); see :meth:`__setstate__`."""
        state = dict(self.__dict__)
        lifecycle = state.pop("_lifecycle", None)
        if lifecycle is not None:
            state["_lifecycle_path"] = [target for _, target, _ in lifecycle.history()]
            state["_lifecycle_checks"] = [c[:3] for c in lifecycle.checks()]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the lifecycle by replaying the recorded transitions and checks, each
        checked again by the core; the copy's clock (``history`` times) starts anew."""
        state = dict(state)
        path = state.pop("_lifecycle_path", [])
        checks = state.pop("_lifecycle_checks", [])
        self.__dict__.update(state)
        lifecycle = _core.Lifecycle()
        for name, passed, duration_ns in checks:
            lifecycle.record_check(name, passed, duration_ns)
        for target in path:
            lifecycle.transition(target)
        self.__dict__["_lifecycle"] = lifecycle

    @property
    def _state(self) -> TrainerState:
        return TrainerState(self._core_lifecycle.state)

    @_state.setter
    def _state(self, value: TrainerState | str) -> None:
        try:
            target = TrainerState(value)
        except ValueError:
            raise TrainerError(
                f"Cannot set trainer state to {value!r}: not a TrainerState "
                f"({', '.join(s.value for s in TrainerState)})"
            ) from None
        if target is TrainerState.CREATED and self.state is TrainerState.CREATED:
            return  # an original-style ``__init__`` re-stating the initial state
        self._core_lifecycle.transition(target.value)

    def _require_validated(self) -> None:
        """Raise :class:`TrainerError` unless training may start now (state VALIDATED)."""
        self._core_lifecycle.check(TrainerState.TRAINING.value)

    # -- abstract methods ---------------------------------------------------------------

    @abstractmethod
    def check_agent(self, agent: Any) -> None:
        """Validate that *agent* meets training requirements.

        Raises:
            TrainerError: If validation fails.
        """

    @abstractmethod
    def check_dataset(self, train_data: Any, test_data: Any | None = None) -> None:
        """Validate training (and optional test) data.

        Raises:
            TrainerError: If validation fails.
        """

    @abstractmethod
    def check_reward(self, reward_fn: Any | None = None) -> None:
        """Validate reward function or scoring mechanism.

        Raises:
            TrainerError: If validation fails.
        """

    @abstractmethod
    def check_config(self, config: TrainConfig | dict[str, Any] | None = None) -> None:
        """Validate and optionally update training configuration.

        Raises:
            TrainerError: If configuration is invalid.
        """

    @abstractmethod
    async def train(self) -> TrainMetrics:
        """Execute the training loop. Must be called after ``mark_validated()``.

        Returns:
            Training metrics.

        Raises:
            TrainerError: If training fails or trainer not validated.
        """

    @abstractmethod
    async def evaluate(self, test_data: Any | None = None) -> TrainMetrics:
        """Run evaluation on test data.

        Args:
            test_data: Optional test dataset. If None, use data from ``check_dataset``.

        Returns:
            Evaluation metrics.

        Raises:
            TrainerError: If evaluation fails.
        """

    # -- concrete methods ---------------------------------------------------------------

    async def _run_training(
        self, run: Awaitable[TrainMetrics], describe: Callable[[Exception], str]
    ) -> TrainMetrics:
        """The state bookkeeping of a training run, shared by the backends: ``TRAINING``
        while *run* is awaited, then ``COMPLETED`` with its metrics, or ``FAILED``.

        A :class:`TrainerError` or a cancellation is re-raised as it is; any other error
        becomes a ``TrainerError`` with the message ``describe(err)``, chained to it.
        """
        self._state = TrainerState.TRAINING
        try:
            metrics = await run
        except (asyncio.CancelledError, TrainerError):
            self._state = TrainerState.FAILED
            raise
        except Exception as err:
            self._state = TrainerState.FAILED
            raise TrainerError(describe(err)) from err
        self._state = TrainerState.COMPLETED
        return metrics

    def mark_validated(self) -> None:
        """Transition to ``VALIDATED`` state after all checks pass.

        Raises:
            TrainerError: If not in ``CREATED`` state.
        """
        self._core_lifecycle.transition(TrainerState.VALIDATED.value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(state={self.state.value!r}, config={self._config!r})"
