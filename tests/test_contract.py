"""The public contract of ``orbiter.train.trainer``, field by field, against the spec."""

from __future__ import annotations

import dataclasses
import inspect
from enum import StrEnum
from typing import Any, get_type_hints

import pytest

import orbiter.train
from orbiter.train import trainer as trainer_module
from orbiter.train.trainer import (
    TrainConfig,
    Trainer,
    TrainerError,
    TrainerState,
    TrainMetrics,
)

from .conftest import RecordingTrainer

SPEC_NAMES = ["TrainConfig", "Trainer", "TrainerError", "TrainerState", "TrainMetrics"]


def test_names_import_from_both_modules() -> None:
    for name in SPEC_NAMES:
        assert getattr(orbiter.train, name) is getattr(trainer_module, name)
        assert name in trainer_module.__all__
        assert name in orbiter.train.__all__


def test_trainer_error_is_a_plain_exception() -> None:
    assert issubclass(TrainerError, Exception)
    assert TrainerError.__doc__ == "Error during training operations."
    with pytest.raises(TrainerError, match="boom"):
        raise TrainerError("boom")


def test_trainer_state_values() -> None:
    assert issubclass(TrainerState, StrEnum)
    assert [(s.name, s.value) for s in TrainerState] == [
        ("CREATED", "created"),
        ("VALIDATED", "validated"),
        ("TRAINING", "training"),
        ("COMPLETED", "completed"),
        ("FAILED", "failed"),
    ]
    assert TrainerState.TRAINING == "training"
    assert TrainerState("failed") is TrainerState.FAILED
    assert TrainerState.__doc__ == "Trainer lifecycle state."


def _fields(cls: type) -> list[tuple[str, Any, Any]]:
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append((f.name, hints[f.name], default))
    return out


def test_train_metrics_fields_and_defaults() -> None:
    assert _fields(TrainMetrics) == [
        ("loss", float, 0.0),
        ("accuracy", float, 0.0),
        ("steps", int, 0),
        ("extra", dict[str, Any], {}),
    ]
    assert TrainMetrics.__doc__ is not None
    assert TrainMetrics.__doc__.startswith("Metrics produced by training or evaluation.")


def test_train_config_fields_and_defaults() -> None:
    assert _fields(TrainConfig) == [
        ("epochs", int, 1),
        ("batch_size", int, 8),
        ("learning_rate", float, 1e-5),
        ("output_dir", str, ""),
        ("extra", dict[str, Any], {}),
    ]
    assert TrainConfig.__doc__ is not None
    assert TrainConfig.__doc__.startswith("Minimal training configuration.")


@pytest.mark.parametrize("cls", [TrainConfig, TrainMetrics])
def test_dataclasses_are_slotted_and_have_no_shared_defaults(cls: type) -> None:
    assert "__slots__" in cls.__dict__
    a, b = cls(), cls()
    with pytest.raises(AttributeError):
        a.not_a_field = 1
    a.extra["k"] = 1
    assert b.extra == {}


def test_spec_example() -> None:
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=2e-5)
    assert (config.epochs, config.batch_size, config.learning_rate) == (3, 16, 2e-5)
    assert config.output_dir == ""
    assert config.extra == {}


def test_trainer_is_abstract_with_the_spec_methods() -> None:
    assert inspect.isabstract(Trainer)
    assert Trainer.__abstractmethods__ == {
        "check_agent",
        "check_dataset",
        "check_reward",
        "check_config",
        "train",
        "evaluate",
    }
    with pytest.raises(TypeError):
        Trainer()  # type: ignore[abstract]
    assert inspect.iscoroutinefunction(Trainer.train)
    assert inspect.iscoroutinefunction(Trainer.evaluate)
    assert "mark_validated" not in Trainer.__abstractmethods__


def test_method_signatures_match_the_spec() -> None:
    def params(fn: Any) -> list[tuple[str, Any]]:
        sig = inspect.signature(fn)
        return [(p.name, p.default) for p in sig.parameters.values()]

    empty = inspect.Parameter.empty
    assert params(Trainer.__init__) == [("self", empty), ("config", None)]
    assert params(Trainer.check_agent) == [("self", empty), ("agent", empty)]
    assert params(Trainer.check_dataset) == [
        ("self", empty),
        ("train_data", empty),
        ("test_data", None),
    ]
    assert params(Trainer.check_reward) == [("self", empty), ("reward_fn", None)]
    assert params(Trainer.check_config) == [("self", empty), ("config", None)]
    assert params(Trainer.train) == [("self", empty)]
    assert params(Trainer.evaluate) == [("self", empty), ("test_data", None)]
    assert params(Trainer.mark_validated) == [("self", empty)]


def test_none_config_gets_a_fresh_default() -> None:
    a, b = RecordingTrainer(None), RecordingTrainer()
    assert a.config == TrainConfig()
    assert a.config is not b.config
    a.config.extra["x"] = 1
    assert b.config.extra == {}


def test_given_config_is_kept() -> None:
    config = TrainConfig(epochs=2)
    assert RecordingTrainer(config).config is config


def test_state_and_config_are_read_only(trainer: RecordingTrainer) -> None:
    with pytest.raises(AttributeError):
        trainer.state = TrainerState.VALIDATED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        trainer.config = TrainConfig()  # type: ignore[misc]
    assert trainer.state is TrainerState.CREATED


async def test_full_lifecycle(trainer: RecordingTrainer) -> None:
    trainer.check_agent("agent")
    trainer.check_dataset([1, 2], [3])
    trainer.check_reward(None)
    trainer.check_config({"epochs": 2})
    trainer.mark_validated()
    assert trainer.state is TrainerState.VALIDATED
    metrics = await trainer.train()
    assert metrics == TrainMetrics(loss=0.5, accuracy=0.75, steps=3)
    assert trainer.state is TrainerState.COMPLETED
    evaluation = await trainer.evaluate([1, 2, 3])
    assert evaluation.steps == 3
