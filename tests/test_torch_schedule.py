"""Learning-rate warm-up and decay, weight decay, and their exact resume."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from orbiter.train import TrainerError  # noqa: E402
from tests.test_torch_trainer import ready_trainer  # noqa: E402

LR = 1e-3


def _rates(path: Path) -> list[float]:
    rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    return [r["learning_rate"] for r in rows if "epoch" in r]


def _cosine(t: int, warmup: int, total: int) -> float:
    if t < warmup:
        return LR * t / warmup
    return LR * max(0.0, 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))))


def _linear(t: int, warmup: int, total: int) -> float:
    if t < warmup:
        return LR * t / warmup
    return LR * max(0.0, (total - t) / (total - warmup))


@pytest.mark.parametrize(
    ("settings", "want"),
    [
        ({"lr_scheduler": "cosine", "warmup_steps": 2}, lambda t: _cosine(t, 2, 6)),
        ({"lr_scheduler": "linear", "warmup_ratio": 0.5}, lambda t: _linear(t, 3, 6)),
        ({"warmup_steps": 3}, lambda t: LR * min(1.0, t / 3)),
        ({}, lambda t: LR),
    ],
)
async def test_each_step_uses_the_scheduled_rate(
    tmp_path: Path, settings: dict[str, Any], want: Any
) -> None:
    trainer = ready_trainer(tmp_path, max_steps=6, learning_rate=LR, **settings)
    trainer.mark_validated()
    await trainer.train()
    assert _rates(tmp_path) == pytest.approx([want(t) for t in range(6)], rel=1e-12, abs=0)


@pytest.mark.parametrize("algorithm", ["grpo", "sft"])
async def test_a_schedule_and_weight_decay_resume_exactly(tmp_path: Path, algorithm: str) -> None:
    settings = {
        "algorithm": algorithm,
        "checkpoint_every": 2,
        "lr_scheduler": "cosine",
        "warmup_steps": 2,
        "weight_decay": 0.3,
    }
    full = ready_trainer(tmp_path / "full", max_steps=6, **settings)
    full.mark_validated()
    await full.train()
    first = ready_trainer(tmp_path / "split", max_steps=3, **settings)
    first.mark_validated()
    await first.train()
    second = ready_trainer(tmp_path / "split", max_steps=6, **settings)
    second.mark_validated()
    await second.train()
    assert _rates(tmp_path / "split") == _rates(tmp_path / "full")
    a, b = full._agent.model.state_dict(), second._agent.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    # weight decay is not a no-op: another value trains other weights
    other = ready_trainer(tmp_path / "other", max_steps=6, **{**settings, "weight_decay": 0.0})
    other.mark_validated()
    await other.train()
    assert not torch.equal(other._agent.model.embed.weight, a["embed.weight"])


def test_the_defaults_keep_a_constant_rate_and_adamw_decay() -> None:
    trainer = ready_trainer()
    ctx = trainer._start(*trainer._require_ready())
    assert ctx.scheduler is None
    assert [(g["lr"], g["weight_decay"]) for g in ctx.optimizer.param_groups] == [(1e-3, 0.01)]


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"lr_scheduler": "exponential"}, "lr_scheduler"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"warmup_ratio": 1.5}, "warmup_ratio"),
        ({"warmup_steps": 2, "warmup_ratio": 0.1}, "warmup_ratio"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_bad_schedules_name_the_field(update: dict[str, Any], field: str) -> None:
    with pytest.raises(TrainerError, match=rf"config\.{field} = "):
        ready_trainer(**update)
