"""TorchTrainConfig and its validation."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tempfile
from dataclasses import dataclass, fields
from typing import Any

from orbiter.train.trainer import TrainConfig, TrainerError

ALGORITHMS = ("grpo", "rloo", "reinforce_pp", "ppo", "sft")
GROUP_ALGORITHMS = ("grpo", "rloo")
KL_KINDS = ("k1", "k2", "k3")
DTYPES = ("auto", "float32", "bfloat16")


@dataclass(slots=True)
class TorchTrainConfig(TrainConfig):
    """Configuration of :class:`~orbiter.train.torch.TorchTrainer`.

    One step samples ``batch_size`` prompts, generates ``group_size`` completions for
    each, scores them, computes advantages in the Rust core and takes one optimizer step.
    An epoch is ``ceil(len(train_data) / batch_size)`` steps.

    Attributes:
        algorithm: "grpo", "rloo", "reinforce_pp", "ppo" (with a value head) or "sft".
        group_size: Completions per prompt (>= 2 for grpo and rloo).
        max_new_tokens: Longest completion.
        temperature: Sampling temperature (> 0 while training; evaluation is greedy).
        top_p: Nucleus-sampling mass in (0, 1].
        kl_coef: Weight of the KL penalty to a frozen copy of the initial policy (0: none).
        kl_kind: KL estimator: "k1" (log-ratio), "k2" (half squared log-ratio), "k3".
        clip_range: PPO clip epsilon of the policy ratio.
        gamma: Discount for reinforce_pp and ppo.
        lam: GAE lambda for ppo.
        max_grad_norm: Gradient-norm clip.
        grad_accum_steps: Micro-batches per optimizer step.
        seed: Seed of every random draw; a run is reproducible for a seed.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N".
        dtype: "auto" (bf16 autocast on CUDA, float32 on CPU), "float32" or "bfloat16".
        checkpoint_every: Steps between checkpoints (0: only at the end).
        eval_every: Steps between evaluations on the test split (0: never during training).
        log_every: Steps between progress-bar updates and log lines.
        max_steps: Stop after this many steps in total (None: run all epochs).
    """

    algorithm: str = "grpo"
    group_size: int = 8
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    kl_coef: float = 0.0
    kl_kind: str = "k3"
    clip_range: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    max_grad_norm: float = 1.0
    grad_accum_steps: int = 1
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    checkpoint_every: int = 50
    eval_every: int = 0
    log_every: int = 1
    max_steps: int | None = None


FIELD_NAMES = tuple(f.name for f in fields(TorchTrainConfig))


def _bad(name: str, value: Any, why: str) -> TrainerError:
    return TrainerError(f"config.{name} = {value!r}: {why}")


def merge_config(
    current: TorchTrainConfig, update: TrainConfig | dict[str, Any] | None
) -> TorchTrainConfig:
    """The config *update* applies to *current*, as a new :class:`TorchTrainConfig`.

    A ``TrainConfig`` replaces the base fields (a ``TorchTrainConfig`` replaces all);
    a dict updates the named fields, sends unknown keys to ``extra``, and rejects a key
    that looks like a misspelled field with a "did you mean" error.
    """
    if update is None:
        return current
    if isinstance(update, TorchTrainConfig):
        return dataclasses.replace(update, extra=dict(update.extra))
    if isinstance(update, TrainConfig):
        base = {f.name: getattr(update, f.name) for f in fields(TrainConfig)}
        base["extra"] = dict(update.extra)
        return dataclasses.replace(current, **base)
    if not isinstance(update, dict):
        raise TrainerError(
            f"config must be a TrainConfig, a TorchTrainConfig, a dict or None, "
            f"got {type(update).__name__}"
        )
    known: dict[str, Any] = {}
    extra = dict(current.extra)
    for key, value in update.items():
        if not isinstance(key, str):
            raise TrainerError(f"config key {key!r} is not a string")
        if key in FIELD_NAMES and key != "extra":
            known[key] = value
        elif key == "extra":
            if not isinstance(value, dict):
                raise _bad("extra", value, "must be a dict")
            extra.update(value)
        else:
            close = difflib.get_close_matches(key, FIELD_NAMES, n=1, cutoff=0.8)
            if close:
                raise TrainerError(
                    f"unknown config key {key!r}: did you mean {close[0]!r}? "
                    f"(unknown keys that are not near a field go to config.extra)"
                )
            extra[key] = value
    return dataclasses.replace(current, **known, extra=extra)


def _int(cfg: TorchTrainConfig, name: str, low: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, value, "must be an int")
    if value < low:
        raise _bad(name, value, f"must be >= {low}")


def _float(
    cfg: TorchTrainConfig, name: str, low: float, high: float, *, open_low: bool = False
) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(name, value, "must be a finite number")
    if value < low or value > high or (open_low and value == low):
        bracket = "(" if open_low else "["
        raise _bad(name, value, f"must be in {bracket}{low}, {high}]")


def _choice(cfg: TorchTrainConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise _bad(name, value, f"must be one of {', '.join(map(repr, choices))}")


def validate_config(cfg: TorchTrainConfig) -> None:
    """Raise :class:`TrainerError` naming the first field out of range."""
    _int(cfg, "epochs", 1)
    _int(cfg, "batch_size", 1)
    _float(cfg, "learning_rate", 0.0, math.inf, open_low=True)
    _choice(cfg, "algorithm", ALGORITHMS)
    _int(cfg, "group_size", 2 if cfg.algorithm in GROUP_ALGORITHMS else 1)
    _int(cfg, "max_new_tokens", 1)
    _float(cfg, "temperature", 0.0, math.inf, open_low=cfg.algorithm != "sft")
    _float(cfg, "top_p", 0.0, 1.0, open_low=True)
    _float(cfg, "kl_coef", 0.0, math.inf)
    _choice(cfg, "kl_kind", KL_KINDS)
    _float(cfg, "clip_range", 0.0, math.inf, open_low=True)
    _float(cfg, "gamma", 0.0, 1.0)
    _float(cfg, "lam", 0.0, 1.0)
    _float(cfg, "max_grad_norm", 0.0, math.inf, open_low=True)
    _int(cfg, "grad_accum_steps", 1)
    _int(cfg, "seed", 0)
    _int(cfg, "checkpoint_every", 0)
    _int(cfg, "eval_every", 0)
    _int(cfg, "log_every", 1)
    if cfg.max_steps is not None:
        _int(cfg, "max_steps", 1)
    if cfg.grad_accum_steps > cfg.batch_size:
        raise _bad("grad_accum_steps", cfg.grad_accum_steps, "must be <= batch_size")
    _choice(cfg, "dtype", DTYPES)
    device = cfg.device
    if not isinstance(device, str) or not (
        device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    ):
        raise _bad("device", device, "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if cfg.output_dir:
        _check_writable(cfg.output_dir)


def _check_writable(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise _bad("output_dir", path, f"is not a writable directory ({err})") from err
