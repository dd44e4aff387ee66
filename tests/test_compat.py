"""A trainer written for the original pure-Python orbiter-train, unchanged, runs here."""

from __future__ import annotations

import asyncio
import copy
import pickle
from typing import Any

import pytest

from orbiter.train.trainer import (
    TrainConfig,
    Trainer,
    TrainerError,
    TrainerState,
    TrainMetrics,
)


class EchoTrainer(Trainer):
    """Written the way the original package's trainers were: validate, then drive
    ``self._state`` by hand around the training loop."""

    def __init__(self, config: TrainConfig | None = None) -> None:
        super().__init__(config)
        self._agent: Any = None
        self._train_data: list[dict[str, str]] = []
        self._reward_fn: Any = None

    def check_agent(self, agent: Any) -> None:
        if not callable(agent):
            raise TrainerError("agent must be callable")
        self._agent = agent

    def check_dataset(self, train_data: Any, test_data: Any | None = None) -> None:
        if not isinstance(train_data, list) or not train_data:
            raise TrainerError("train_data must be a non-empty list")
        for i, item in enumerate(train_data):
            if "input" not in item:
                raise TrainerError(f"train_data[{i}] missing 'input'")
        self._train_data = train_data

    def check_reward(self, reward_fn: Any | None = None) -> None:
        self._reward_fn = reward_fn or (lambda out, exp: float(out == exp))

    def check_config(self, config: TrainConfig | dict[str, Any] | None = None) -> None:
        if isinstance(config, dict):
            for key, value in config.items():
                if hasattr(self._config, key):
                    setattr(self._config, key, value)
                else:
                    self._config.extra[key] = value
        elif config is not None:
            self._config = config
        if self._config.epochs < 1:
            raise TrainerError("epochs must be >= 1")

    async def train(self) -> TrainMetrics:
        self._require_validated()
        self._state = TrainerState.TRAINING
        try:
            total, steps = 0.0, 0
            for _ in range(self._config.epochs):
                for item in self._train_data:
                    output = self._agent(item["input"])
                    total += self._reward_fn(output, item.get("answer", ""))
                    steps += 1
                    await asyncio.sleep(0)
            self._state = TrainerState.COMPLETED
            return TrainMetrics(accuracy=total / steps, steps=steps)
        except Exception as exc:
            self._state = TrainerState.FAILED
            raise TrainerError(f"Training failed: {exc}") from exc

    async def evaluate(self, test_data: Any | None = None) -> TrainMetrics:
        data = test_data or self._train_data
        hits = sum(self._reward_fn(self._agent(d["input"]), d.get("answer", "")) for d in data)
        return TrainMetrics(accuracy=hits / len(data), steps=len(data))


DATA = [{"input": "a", "answer": "a"}, {"input": "b", "answer": "x"}]


def validated(config: dict[str, Any] | None = None) -> EchoTrainer:
    trainer = EchoTrainer()
    trainer.check_agent(lambda s: s)
    trainer.check_dataset(DATA)
    trainer.check_reward()
    trainer.check_config(config or {"epochs": 2, "flavour": "x"})
    trainer.mark_validated()
    return trainer


async def test_original_style_trainer_runs_to_completion() -> None:
    trainer = validated()
    metrics = await trainer.train()
    assert metrics == TrainMetrics(accuracy=0.5, steps=4)
    assert trainer.state is TrainerState.COMPLETED
    assert trainer.config.extra == {"flavour": "x"}
    assert [t.target for t in trainer.history] == [
        TrainerState.VALIDATED,
        TrainerState.TRAINING,
        TrainerState.COMPLETED,
    ]
    assert {r.name for r in trainer.checks} == {
        "check_agent",
        "check_dataset",
        "check_reward",
        "check_config",
    }
    assert (await trainer.evaluate()).accuracy == 0.5


async def test_original_style_failure_path_lands_in_failed() -> None:
    trainer = EchoTrainer()
    trainer.check_agent(lambda s: 1 / 0)
    trainer.check_dataset(DATA)
    trainer.check_reward()
    trainer.mark_validated()
    with pytest.raises(TrainerError, match="Training failed") as info:
        await trainer.train()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert trainer.state is TrainerState.FAILED


async def test_original_style_checks_raise_trainer_error() -> None:
    trainer = EchoTrainer()
    with pytest.raises(TrainerError, match=r"train_data\[1\] missing 'input'"):
        trainer.check_dataset([{"input": "a"}, {}])
    assert trainer.checks[-1].passed is False
    with pytest.raises(TrainerError, match="must be validated"):
        await trainer.train()
    assert trainer.state is TrainerState.CREATED


def test_direct_illegal_assignment_is_checked_by_the_core() -> None:
    trainer = EchoTrainer()
    with pytest.raises(TrainerError, match="created -> completed"):
        trainer._state = TrainerState.COMPLETED
    assert trainer.state is TrainerState.CREATED
    assert trainer._state is TrainerState.CREATED


class NoSuperTrainer(EchoTrainer):
    """Some original trainers set their attributes in ``__init__`` without calling the base
    class's: the lifecycle is then created on first use."""

    def __init__(self) -> None:
        self._config = TrainConfig(epochs=1)
        self._state = TrainerState.CREATED
        self._agent = None
        self._train_data = []
        self._reward_fn = None


async def test_subclass_that_skips_base_init_still_has_a_checked_lifecycle() -> None:
    trainer = NoSuperTrainer()
    assert trainer.state is TrainerState.CREATED
    trainer.check_agent(lambda s: s)
    trainer.check_dataset(DATA)
    trainer.check_reward()
    with pytest.raises(TrainerError, match="must be validated"):
        await trainer.train()
    trainer.mark_validated()
    assert (await trainer.train()).steps == 2
    assert trainer.state is TrainerState.COMPLETED
    assert [r.name for r in trainer.checks] == ["check_agent", "check_dataset", "check_reward"]
    with pytest.raises(TrainerError, match="Cannot validate"):
        trainer.mark_validated()


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
async def test_trainers_copy_and_pickle_with_their_state(how: str) -> None:
    trainer = EchoTrainer()
    trainer.check_agent(len)  # a picklable agent
    trainer.check_dataset(DATA)
    trainer.check_reward(_equal)
    trainer.mark_validated()
    twin = copy.deepcopy(trainer) if how == "deepcopy" else pickle.loads(pickle.dumps(trainer))
    assert twin.state is TrainerState.VALIDATED
    assert [t.target for t in twin.history] == [TrainerState.VALIDATED]
    assert [(c.name, c.passed, c.duration_ns) for c in twin.checks] == [
        (c.name, c.passed, c.duration_ns) for c in trainer.checks
    ]
    await twin.train()  # the copy's lifecycle is its own
    assert twin.state is TrainerState.COMPLETED
    assert trainer.state is TrainerState.VALIDATED
    with pytest.raises(TrainerError, match="Cannot validate"):
        twin.mark_validated()


def _equal(output: Any, expected: Any) -> float:
    return float(output == expected)
