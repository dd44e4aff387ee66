"""The learning-rate schedule: transformers' schedulers with a warm-up, stepped once per
training step, and the optimizer settings a resumed run applies.

With the defaults (``lr_scheduler="constant"``, no warm-up) there is no scheduler at all:
the rate is ``learning_rate`` at every step, as it always was.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from orbiter.train.config import bad_value
from orbiter.train.torch.config import TorchTrainConfig


def warmup_steps_of(cfg: TorchTrainConfig, total: int) -> int:
    """The warm-up's length in steps: ``warmup_steps``, else ``ceil(warmup_ratio * total)``
    (TRL's and transformers' rule)."""
    return cfg.warmup_steps if cfg.warmup_steps else math.ceil(cfg.warmup_ratio * total)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TorchTrainConfig, total: int
) -> LambdaLR | None:
    """transformers' ``get_scheduler`` for a run of *total* steps, or None for a constant
    rate without warm-up. With ``w`` warm-up steps, after ``t`` finished steps the rate of
    step ``t + 1`` is ``learning_rate * f(t)``:

    - warm-up, ``t < w``: ``f(t) = t / w`` (the first step's rate is 0);
    - ``"constant"``: ``f(t) = 1``;
    - ``"linear"``: ``f(t) = max(0, (total - t) / (total - w))``;
    - ``"cosine"``: ``f(t) = max(0, (1 + cos(pi * (t - w) / (total - w))) / 2)``.

    Raises:
        TrainerError: A schedule is asked for and transformers is not installed.
    """
    warmup = warmup_steps_of(cfg, total)
    if cfg.lr_scheduler == "constant" and warmup == 0:
        return None
    try:
        from transformers import get_scheduler
    except ImportError as err:
        raise bad_value(
            "lr_scheduler",
            cfg.lr_scheduler,
            "a schedule or a warm-up needs transformers (pip install transformers)",
        ) from err
    name = "constant_with_warmup" if cfg.lr_scheduler == "constant" else cfg.lr_scheduler
    scheduler: LambdaLR = get_scheduler(
        name, optimizer, num_warmup_steps=warmup, num_training_steps=total
    )
    return scheduler


def apply_settings(
    optimizer: torch.optim.Optimizer, scheduler: LambdaLR | None, cfg: TorchTrainConfig
) -> None:
    """Give a restored optimizer this run's ``learning_rate`` and ``weight_decay`` (its
    state carries the checkpoint's): the rate of every group is ``learning_rate`` without a
    schedule, else ``learning_rate * f(t)`` at the scheduler's step ``t``, exactly as the
    scheduler itself computes it."""
    groups = optimizer.param_groups
    for group in groups:
        group["weight_decay"] = cfg.weight_decay
        group["lr"] = cfg.learning_rate
    if scheduler is None:
        return
    scheduler.base_lrs = [cfg.learning_rate] * len(groups)
    for group, factor in zip(groups, scheduler.lr_lambdas, strict=True):
        group["initial_lr"] = cfg.learning_rate
        group["lr"] = cfg.learning_rate * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in groups]


def restore(scheduler: LambdaLR | None, state: dict[str, Any] | None, step: int) -> None:
    """Load a checkpoint's scheduler *state*; a checkpoint without one (written with a
    constant rate) puts the new schedule at *step*."""
    if scheduler is None:
        return
    if state is not None:
        scheduler.load_state_dict(state)
    else:
        scheduler.last_epoch = step
