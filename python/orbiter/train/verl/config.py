"""Configuration of :class:`~orbiter.train.verl.VeRLTrainer`: algorithm, reward spec, config.

Nothing here imports verl: the module loads without it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from orbiter.train.config import (
    ALGORITHM_ALIASES,
    check_float,
    check_int,
    check_turn_limits,
    parse_enum,
    split_update,
)
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

    With tools or an environment (see :meth:`VeRLTrainer.check_agent`), verl's tool agent
    loop runs each trajectory, bounded as :class:`~orbiter.train.torch.TorchTrainConfig`
    bounds its multi-turn rollout:

    * ``max_turns`` → ``actor_rollout_ref.rollout.multi_turn.max_assistant_turns`` (1, the
      default: one response, the tools unused)
    * ``max_tool_calls`` → ``...multi_turn.max_parallel_calls``: verl runs the first
      ``max_tool_calls`` calls of a turn and drops the others (TorchTrainer answers them
      with an error result)
    * ``max_total_tokens`` → ``data.max_response_length`` when set: verl has one bound for
      a trajectory's response, sampled and tool tokens together (None: ``max_response_length``)
    * ``max_tool_result_tokens`` → ``...multi_turn.max_tool_response_length``, which verl
      counts in characters of the result's text, not tokens (None: no cut)
    * ``tool_timeout`` → each tool's ``timeout`` in the tool config file, enforced by
      :class:`orbiter.train.verl.tool_adapter.OrbiterTool` in verl's workers

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
    max_turns: int = 1
    max_tool_calls: int = 4
    max_total_tokens: int | None = None
    tool_timeout: float | None = 30.0
    max_tool_result_tokens: int | None = 256

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's type and range; the error names the field.

        Raises:
            TrainerValueError: If a value is out of range.
            TrainerTypeError: If a value has the wrong type.
        """
        self.algorithm = parse_enum(VeRLAlgorithm, self.algorithm, "algorithm", ALGORITHM_ALIASES)
        for name in (
            "epochs",
            "batch_size",
            "rollout_batch_size",
            "ppo_epochs",
            "max_prompt_length",
            "max_response_length",
        ):
            check_int(name, getattr(self, name), 1)
        check_turn_limits(self)
        check_float("learning_rate", self.learning_rate, 0.0, open_low=True)
        check_float("kl_coeff", self.kl_coeff, 0.0)
        for name in ("clip_range", "gamma", "lam"):
            check_float(name, getattr(self, name), 0.0, 1.0)
        self._check_ranges()

    def _check_ranges(self) -> None:
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
                check_int(f"extra[{key!r}]", extra[key], 1)
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
        check_float("extra['kill_grace_s']", extra.get("kill_grace_s", 10.0), 0.0)
        check_float("extra['critic_lr']", extra.get("critic_lr", 1e-5), 0.0, open_low=True)
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
        known, extra = split_update(changes, [n for n in names if n != "extra"], EXTRA_KEYS)
        values.update(known)
        values["extra"] = {**self.extra, **extra}
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
