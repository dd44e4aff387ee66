"""Shared fixtures: a minimal concrete trainer in the new style."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings

from orbiter.train import TrainConfig, Trainer, TrainerError, TrainerState, TrainMetrics

# Property tests assert results, never timing: hypothesis's default 200 ms deadline per
# example failed on a first example that paid a lazy import (pyarrow) on a loaded machine.
settings.register_profile("orbiter", deadline=None)
settings.load_profile("orbiter")


class RecordingTrainer(Trainer):
    """A concrete trainer whose checks record their arguments and can be told to fail."""

    def __init__(self, config: TrainConfig | None = None) -> None:
        super().__init__(config)
        self.seen: dict[str, Any] = {}
        self.fail_on: set[str] = set()

    def _check(self, name: str, value: Any) -> None:
        if name in self.fail_on:
            raise TrainerError(f"{name} rejected {value!r}")
        self.seen[name] = value

    def check_agent(self, agent: Any) -> None:
        self._check("agent", agent)

    def check_dataset(self, train_data: Any, test_data: Any | None = None) -> None:
        self._check("dataset", (train_data, test_data))

    def check_reward(self, reward_fn: Any | None = None) -> None:
        self._check("reward", reward_fn)

    def check_config(self, config: TrainConfig | dict[str, Any] | None = None) -> None:
        self._check("config", config)

    async def train(self) -> TrainMetrics:
        self._require_validated()
        self._state = TrainerState.TRAINING
        self._state = TrainerState.COMPLETED
        return TrainMetrics(loss=0.5, accuracy=0.75, steps=3)

    async def evaluate(self, test_data: Any | None = None) -> TrainMetrics:
        return TrainMetrics(accuracy=1.0, steps=len(test_data or []))


@pytest.fixture
def trainer() -> RecordingTrainer:
    return RecordingTrainer()
