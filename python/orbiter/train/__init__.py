"""orbiter-train: fine-tune agents (LLM policies) with rewards, on a Rust core.

The trainer contract (:mod:`orbiter.train.trainer`) is re-exported here::

    from orbiter.train import TrainConfig, Trainer, TrainerError, TrainerState, TrainMetrics
"""

from __future__ import annotations

from orbiter.train._core import __version__
from orbiter.train.trainer import (
    TrainConfig,
    Trainer,
    TrainerError,
    TrainerState,
    TrainMetrics,
)

__all__ = [
    "TrainConfig",
    "TrainMetrics",
    "Trainer",
    "TrainerError",
    "TrainerState",
    "__version__",
]
