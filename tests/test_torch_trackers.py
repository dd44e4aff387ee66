"""report_to: step metrics reach TensorBoard (read back with TensorBoard's own event reader)
and Weights & Biases (offline), as metrics.jsonl holds them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")

from orbiter.train.errors import TrainerValueError
from orbiter.train.torch import TorchTrainer
from tests.test_torch_trainer import ready_trainer


def _metrics(out: Path) -> list[dict[str, float]]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x]
    return [r for r in rows if "loss" in r and "step" in r and "reward_mean" in r]


def test_tensorboard_gets_every_step_metric(tmp_path: Path) -> None:
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    trainer = ready_trainer(tmp_path, report_to="tensorboard")
    trainer.mark_validated()
    asyncio.run(trainer.train())
    events = accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    steps = _metrics(tmp_path)
    assert [m["step"] for m in steps] == [1, 2, 3]
    for key in ("loss", "reward_mean", "entropy", "learning_rate"):
        logged = events.Scalars(key)
        assert [e.step for e in logged] == [1, 2, 3]
        assert [e.value for e in logged] == pytest.approx([m[key] for m in steps], rel=1e-6)


def test_wandb_offline_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    trainer = ready_trainer(tmp_path, report_to=["wandb"], extra={"wandb_project": "t"})
    trainer.mark_validated()
    asyncio.run(trainer.train())
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


@pytest.mark.parametrize("value", ["tensorbord", ["none", "csv"], 3])
def test_an_unknown_tracker_is_named(value: object) -> None:
    with pytest.raises(TrainerValueError, match="report_to"):
        TorchTrainer().check_config({"report_to": value})


def test_tensorboard_needs_an_output_dir() -> None:
    pytest.importorskip("tensorboard")
    trainer = ready_trainer(None, report_to="tensorboard")
    trainer.mark_validated()
    with pytest.raises(Exception, match="output_dir"):
        asyncio.run(trainer.train())
    assert not os.path.exists("tensorboard")
