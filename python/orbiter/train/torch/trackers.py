"""Experiment trackers a run reports its step metrics to: ``report_to`` of the config.

``"none"`` (the default) writes only ``metrics.jsonl``; ``"tensorboard"`` also writes
TensorBoard event files under ``output_dir/tensorboard`` (``torch.utils.tensorboard``, with
the ``tensorboard`` package: ``pip install 'orbiter-train[tensorboard]'``); ``"wandb"`` logs
to Weights & Biases (``pip install 'orbiter-train[wandb]'``; ``WANDB_MODE=offline`` keeps the
run on disk), project ``extra["wandb_project"]`` (default ``orbiter-train``). A list names
several. Each step's numeric metrics are logged under their names at the step number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Protocol

from orbiter.train.config import bad_value
from orbiter.train.errors import TrainerError

__all__ = ["REPORT_TO", "Tracker", "check_report_to", "open_trackers"]

REPORT_TO = ("none", "tensorboard", "wandb")


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int) -> None: ...
    def close(self) -> None: ...


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "step"
    }


class TensorBoardTracker:
    """Scalars through ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainerError(
                "config.report_to = 'tensorboard': needs the tensorboard package "
                "(pip install 'orbiter-train[tensorboard]')"
            ) from None
        self._writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, metrics: dict[str, Any], step: int) -> None:
        for key, value in _numbers(metrics).items():
            self._writer.add_scalar(key, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WandbTracker:
    """A Weights & Biases run, its config the trainer's."""

    def __init__(self, project: str, config: dict[str, Any], out_dir: Path | None) -> None:
        try:
            import wandb
        except ImportError:
            raise TrainerError(
                "config.report_to = 'wandb': needs the wandb package "
                "(pip install 'orbiter-train[wandb]')"
            ) from None
        self._wandb = wandb
        self._run = wandb.init(
            project=project, config=config, dir=str(out_dir) if out_dir else None
        )

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self._run.log(_numbers(metrics), step=step)

    def close(self) -> None:
        self._run.finish()


def check_report_to(value: Any) -> tuple[str, ...]:
    """``report_to`` as a tuple of tracker names (``"none"`` alone means none)."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, Sequence) or isinstance(names, bytes):
        raise bad_value("report_to", value, f"must be one of {REPORT_TO} or a list of them")
    for name in names:
        if name not in REPORT_TO:
            raise bad_value("report_to", value, f"must be one of {REPORT_TO} or a list of them")
    return tuple(n for n in names if n != "none")


def open_trackers(cfg: Any, out_dir: Path | None) -> list[Tracker]:
    """The trackers ``cfg.report_to`` names (main rank only: the caller decides)."""
    names = check_report_to(cfg.report_to)
    trackers: list[Tracker] = []
    for name in names:
        if name == "tensorboard":
            if out_dir is None:
                raise TrainerError("config.report_to = 'tensorboard': needs config.output_dir")
            trackers.append(TensorBoardTracker(out_dir / "tensorboard"))
        else:
            config = asdict(cfg) if is_dataclass(cfg) and not isinstance(cfg, type) else {}
            safe = {k: v if isinstance(v, int | float | str | bool) else str(v)
                    for k, v in config.items()}  # fmt: skip
            project = str(cfg.extra.get("wandb_project", "orbiter-train"))
            trackers.append(WandbTracker(project, safe, out_dir))
    return trackers
