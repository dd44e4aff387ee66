"""Configuration of :class:`~orbiter.train.verl.VeRLTrainer`: algorithm, reward spec, config.

Nothing here imports verl: the module loads without it.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.rewards.spec import RewardSpec, reward_style
from orbiter.train.trainer import TrainConfig

__all__ = [
    "EXTRA_KEYS",
    "RewardSpec",
    "VeRLAlgorithm",
    "VeRLConfig",
    "reward_style",
]


class VeRLAlgorithm(StrEnum):
    """RL algorithms verl runs; the value is this package's name, see :attr:`adv_estimator`."""

    PPO = "ppo"
    GRPO = "grpo"
    RLOO = "rloo"
    REINFORCE_PLUS_PLUS = "reinforce_plus_plus"

    @property
    def adv_estimator(self) -> str:
        """verl's ``algorithm.adv_estimator`` for this algorithm (PPO uses GAE with a critic)."""
        return "gae" if self is VeRLAlgorithm.PPO else self.value

    @property
    def is_group(self) -> bool:
        """Whether the advantage compares several responses per prompt (needs rollout.n > 1)."""
        return self in (VeRLAlgorithm.GRPO, VeRLAlgorithm.RLOO)


# Keys of ``TrainConfig.extra`` that VeRLTrainer reads (see the trainer's docstring).
EXTRA_KEYS: dict[str, str] = {
    "rollout_n": "responses sampled per prompt (group algorithms; default 5)",
    "n_gpus_per_node": "GPUs per node (default 1)",
    "nnodes": "nodes in the Ray cluster (default 1)",
    "rollout_engine": "verl rollout engine (default 'vllm')",
    "rollout_tp": "tensor-parallel size of the rollout engine (default 1)",
    "micro_batch_size_per_gpu": "micro batch per GPU for actor/critic/log-prob (default 1)",
    "critic_lr": "critic learning rate for PPO (default 1e-5)",
    "project_name": "trainer.project_name (default 'orbiter-train')",
    "experiment_name": "trainer.experiment_name (default '<algorithm>-<model>')",
    "data_source": "data_source column of the parquet files (default 'orbiter')",
    "ability": "ability column of the parquet files (default 'agent')",
    "verl_overrides": "Hydra overrides appended verbatim (list of 'key=value')",
    "verl_entry": "module (or .py file) run instead of verl.trainer.main_ppo",
    "dry_run": "return the command instead of running it",
    "env": "extra environment variables for the verl process (dict)",
    "kill_grace_s": "seconds between SIGTERM and SIGKILL when a run is cancelled (default 10)",
}


def _check_float(extra: dict[str, Any], key: str, default: float, *, positive: bool) -> None:
    value = extra.get(key, default)
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or not (value > 0 if positive else value >= 0):
        bound = "> 0" if positive else ">= 0"
        raise TrainerValueError(f"extra[{key!r}] must be a float {bound}, got {value!r}")


@dataclass(slots=True)
class VeRLConfig(TrainConfig):
    """verl-specific training configuration.

    Extends :class:`TrainConfig` with the RL algorithm, rollout and PPO parameters and
    the model/tokenizer references. How each field maps onto verl's Hydra config:

    * ``epochs`` → ``trainer.total_epochs``
    * ``rollout_batch_size`` → ``data.train_batch_size`` (prompts per step)
    * ``batch_size`` → ``actor_rollout_ref.actor.ppo_mini_batch_size``, capped at
      ``rollout_batch_size`` (which must be a multiple of it)
    * ``learning_rate`` → ``actor_rollout_ref.actor.optim.lr``
    * ``ppo_epochs`` → ``actor_rollout_ref.actor.ppo_epochs``
    * ``kl_coeff`` → ``actor_rollout_ref.actor.kl_loss_coef`` with ``use_kl_loss``
      (GRPO, RLOO, REINFORCE++) or ``algorithm.kl_ctrl.kl_coef`` with
      ``algorithm.use_kl_in_reward`` (PPO); 0 turns KL off
    * ``clip_range`` → ``actor_rollout_ref.actor.clip_ratio``
    * ``gamma``, ``lam`` → ``algorithm.gamma``, ``algorithm.lam``
    * ``model_name`` → ``actor_rollout_ref.model.path`` (and ``critic.model.path``, PPO)
    * ``tokenizer_name`` → ``actor_rollout_ref.model.tokenizer_path``
    * ``max_prompt_length``, ``max_response_length`` → ``data.max_prompt_length``,
      ``data.max_response_length``

    Raises:
        TrainerValueError: (a ``TrainerError`` and a ``ValueError``) naming the field when a
            value is out of range, here and in :meth:`validate`.
    """

    algorithm: VeRLAlgorithm = VeRLAlgorithm.GRPO
    rollout_batch_size: int = 4
    ppo_epochs: int = 4
    kl_coeff: float = 0.1
    clip_range: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    model_name: str = ""
    tokenizer_name: str = ""
    max_prompt_length: int = 1024
    max_response_length: int = 512

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's type and range; the error names the field.

        Raises:
            TrainerValueError: If a value is out of range.
            TrainerTypeError: If a value has the wrong type.
        """
        try:
            self.algorithm = VeRLAlgorithm(self.algorithm)
        except ValueError:
            raise TrainerValueError(
                f"algorithm must be one of {[a.value for a in VeRLAlgorithm]}, "
                f"got {self.algorithm!r}"
            ) from None
        for name in (
            "epochs",
            "batch_size",
            "rollout_batch_size",
            "ppo_epochs",
            "max_prompt_length",
            "max_response_length",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TrainerTypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise TrainerValueError(f"{name} must be >= 1, got {value}")
        for name in ("learning_rate", "kl_coeff", "clip_range", "gamma", "lam"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TrainerTypeError(f"{name} must be a float, got {type(value).__name__}")
            if not math.isfinite(value):
                raise TrainerValueError(f"{name} must be finite, got {value}")
        self._check_ranges()

    def _check_ranges(self) -> None:
        if not self.learning_rate > 0.0:
            raise TrainerValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.kl_coeff >= 0.0:
            raise TrainerValueError(f"kl_coeff must be >= 0, got {self.kl_coeff}")
        if not 0.0 <= self.clip_range <= 1.0:
            raise TrainerValueError(f"clip_range must be in [0, 1], got {self.clip_range}")
        if not 0.0 <= self.gamma <= 1.0:
            raise TrainerValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 <= self.lam <= 1.0:
            raise TrainerValueError(f"lam must be in [0, 1], got {self.lam}")
        mini = min(self.batch_size, self.rollout_batch_size)
        if self.rollout_batch_size % mini:
            raise TrainerValueError(
                f"rollout_batch_size ({self.rollout_batch_size}) must be a multiple of "
                f"batch_size ({self.batch_size}), verl's ppo_mini_batch_size"
            )
        for name in ("model_name", "tokenizer_name", "output_dir"):
            if not isinstance(getattr(self, name), str):
                raise TrainerTypeError(f"{name} must be a str")
        if not isinstance(self.extra, dict):
            raise TrainerTypeError(f"extra must be a dict, got {type(self.extra).__name__}")
        self._check_extra()

    def _check_extra(self) -> None:
        extra = self.extra
        for key in (
            "rollout_n",
            "n_gpus_per_node",
            "nnodes",
            "micro_batch_size_per_gpu",
            "rollout_tp",
        ):
            if key in extra:
                value = extra[key]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TrainerTypeError(
                        f"extra[{key!r}] must be an int, got {type(value).__name__}"
                    )
                if value < 1:
                    raise TrainerValueError(f"extra[{key!r}] must be >= 1, got {value}")
        if self.algorithm.is_group and extra.get("rollout_n", 5) < 2:
            raise TrainerValueError(
                f"extra['rollout_n'] must be >= 2 for {self.algorithm.value} (it compares "
                f"responses to the same prompt), got {extra['rollout_n']}"
            )
        overrides = extra.get("verl_overrides", [])
        if isinstance(overrides, str):
            overrides = [overrides]
        if not isinstance(overrides, list | tuple) or not all(
            isinstance(o, str) and "=" in o for o in overrides
        ):
            raise TrainerTypeError("extra['verl_overrides'] must be a list of 'key=value' strings")
        if not isinstance(extra.get("env", {}), dict):
            raise TrainerTypeError("extra['env'] must be a dict of environment variables")
        for key in ("verl_entry", "rollout_engine", "project_name", "experiment_name"):
            if key in extra and not (isinstance(extra[key], str) and extra[key]):
                raise TrainerTypeError(f"extra[{key!r}] must be a non-empty str")
        _check_float(extra, "kill_grace_s", 10.0, positive=False)
        _check_float(extra, "critic_lr", 1e-5, positive=True)
        if not isinstance(extra.get("dry_run", False), bool):
            raise TrainerTypeError(
                f"extra['dry_run'] must be True or False, got {extra['dry_run']!r}"
            )

    @property
    def ppo_mini_batch_size(self) -> int:
        """verl's ``ppo_mini_batch_size``: ``min(batch_size, rollout_batch_size)``."""
        return min(self.batch_size, self.rollout_batch_size)

    def updated(self, changes: dict[str, Any]) -> VeRLConfig:
        """A validated copy with *changes* applied: known fields set, other keys into ``extra``.

        A key that is not a field but is close to one (or to a known ``extra`` key) is
        taken for a misspelling and rejected with a "did you mean" error.

        Raises:
            TrainerError: On a misspelled key or an invalid value.
        """
        names = [f.name for f in fields(self)]
        values = {name: getattr(self, name) for name in names}
        values["extra"] = dict(self.extra)
        for key, value in changes.items():
            if not isinstance(key, str):
                raise TrainerTypeError(f"config keys must be str, got {key!r}")
            if key in names and key != "extra":
                values[key] = value
                continue
            if key == "extra":
                if not isinstance(value, dict):
                    raise TrainerTypeError(f"extra must be a dict, got {type(value).__name__}")
                values["extra"].update(value)
                continue
            if key not in EXTRA_KEYS:
                close = difflib.get_close_matches(key, [*names, *EXTRA_KEYS], n=1, cutoff=0.8)
                if close:
                    raise TrainerValueError(
                        f"unknown config key {key!r}: did you mean {close[0]!r}?"
                    )
            values["extra"][key] = value
        return VeRLConfig(**values)

    @classmethod
    def from_train_config(cls, config: TrainConfig) -> VeRLConfig:
        """A ``VeRLConfig`` with *config*'s common fields (and its ``extra``) and defaults."""
        if isinstance(config, VeRLConfig):
            config.validate()
            return config
        return cls(
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            output_dir=config.output_dir,
            extra=dict(config.extra),
        )
