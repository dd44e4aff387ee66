"""TorchTrainConfig and its validation, in the shared vocabulary of :mod:`orbiter.train.config`."""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from dataclasses import dataclass, fields
from typing import Any

from orbiter.train.config import (
    ALGORITHM_ALIASES,
    Algorithm,
    KLEstimator,
    bad_value,
    check_choice,
    check_float,
    check_int,
    check_turn_limits,
    parse_enum,
    split_update,
)
from orbiter.train.errors import TrainerError, TrainerTypeError
from orbiter.train.torch.lora import check_peft_config
from orbiter.train.torch.trackers import check_report_to
from orbiter.train.trainer import TrainConfig

ALGORITHMS = tuple(Algorithm)
KL_KINDS = tuple(KLEstimator)
DTYPES = ("auto", "float32", "bfloat16")
LR_SCHEDULERS = ("constant", "linear", "cosine")
LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean")


@dataclass(slots=True)
class TorchTrainConfig(TrainConfig):
    """Configuration of :class:`~orbiter.train.torch.TorchTrainer`.

    One step samples ``batch_size`` prompts, generates ``group_size`` completions for
    each, scores them, computes advantages in the Rust core and takes ``ppo_epochs`` passes
    over the rollout in mini-batches of ``mini_batch_size`` prompts, one optimizer update a
    mini-batch (by default one pass, one mini-batch: one update).
    An epoch is ``ceil(len(train_data) / batch_size)`` steps; a run is ``max_steps`` steps
    when it is set, whatever ``epochs`` is, else ``epochs`` epochs.

    Attributes:
        algorithm: An :class:`~orbiter.train.config.Algorithm`: "grpo", "rloo",
            "reinforce_plus_plus" (or "reinforce_pp"), "ppo" (with a value head) or "sft".
        group_size: Completions per prompt (>= 2 for grpo and rloo; ``rollout_n`` is a
            synonym).
        max_new_tokens: Longest completion (in a multi-turn rollout: longest turn).
        max_turns: Assistant turns per trajectory of an agent with tools or an environment
            (1: one response, as without tools; see :mod:`orbiter.train.torch.agent_rollout`).
        max_tool_calls: Tool calls run per turn; more get an error result.
        max_total_tokens: Response tokens per multi-turn trajectory, sampled and tool
            tokens together (None: the model's positions bound it).
        tool_timeout: Seconds one tool call may take before it gives an error result
            (None: no deadline).
        max_tool_result_tokens: Tokens of one tool result; longer ones are cut (None: no
            cap), in rollouts and in the demonstrations of ``messages`` records alike.
        temperature: Sampling temperature (> 0 while training; evaluation is greedy).
        top_p: Nucleus-sampling mass in (0, 1].
        kl_coef: Weight of the KL penalty to a frozen copy of the initial policy (0: none;
            ``kl_coeff`` is a synonym).
        kl_kind: A :class:`~orbiter.train.config.KLEstimator`: "k1" (log-ratio), "k2"
            (half squared log-ratio), "k3".
        clip_range: PPO clip epsilon of the policy ratio: its lower bound ``1 - clip_range``
            (and the upper one unless ``clip_range_high`` is set). The ratio is taken against
            the rollout's logprobs, so it is exactly 1 with one update per rollout and the
            clip acts only from the second update on (``ppo_epochs > 1`` or several
            mini-batches).
        clip_range_high: The upper bound ``1 + clip_range_high`` (DAPO's clip-higher; None:
            ``clip_range``).
        ppo_epochs: Passes over each rollout (``num_iterations``, TRL's name, is a synonym).
        mini_batch_size: Prompts (with their ``group_size`` completions) per optimizer update
            within a pass; ``ceil(batch_size / mini_batch_size)`` updates a pass, in the
            rollout's order (None: the whole rollout, one update a pass).
        loss_agg_mode: How per-token losses become one, as verl's ``agg_loss``:
            "token-mean" (over the mini-batch's trainable tokens), "seq-mean-token-sum" or
            "seq-mean-token-mean" (a mean over sequences of their token sum or mean). The
            policy, KL and value terms are aggregated alike.
        gamma: Discount for reinforce_pp and ppo.
        lam: GAE lambda for ppo.
        max_grad_norm: Gradient-norm clip.
        weight_decay: AdamW's decoupled weight decay (torch's default, 0.01).
        lr_scheduler: How the learning rate moves over the run, once a step (all of a
            step's updates share a rate), by transformers' schedulers: "constant" (the
            default), "linear" or "cosine" decay to 0 at the last step, after the warm-up.
        warmup_steps: Steps of a linear warm-up from 0 to ``learning_rate`` (0: none).
        warmup_ratio: The warm-up as a share of the run's steps, ``ceil(warmup_ratio *
            steps)`` (when ``warmup_steps`` is 0).
        grad_accum_steps: Micro-batches per optimizer step.
        seed: Seed of every random draw; a run is reproducible for a seed.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N".
        dtype: "auto" (bf16 autocast on CUDA, float32 on CPU), "float32" or "bfloat16".
        checkpoint_every: Steps between checkpoints (0: only at the end).
        eval_every: Steps between evaluations on the test split (0: never during training).
        log_every: Steps between progress-bar updates and log lines.
        max_steps: Steps in total, whatever ``epochs`` is: the data is visited again in a
            new order as often as that takes (None: ``epochs`` epochs).
        peft_config: A peft ``PeftConfig`` (e.g. ``peft.LoraConfig(r=8,
            target_modules=["c_attn"])``): the policy gets that adapter
            (``peft.get_peft_model``, its initial weights drawn from ``seed``; the agent's
            model becomes the peft model) and only the adapter is trained, checkpointed and
            exported. A peft model handed in as the policy is trained the same way without
            it. The KL reference is then the base model with the adapter disabled, not a
            copy. None: every trainable weight of the model is trained.
        save_final: Export the policy to ``output_dir/final`` when a run ends
            (``save_pretrained`` for transformers and peft models, see
            :meth:`TorchTrainer.export`).
        accuracy_threshold: A completion counts as correct (the ``accuracy`` of training
            steps and of :meth:`TorchTrainer.evaluate`, pass@k and maj@k) when its reward is
            ``>= accuracy_threshold`` (1.0: full marks; ``extra["accuracy_threshold"]``,
            the earlier spelling, sets it too).
        resume: Continue from the checkpoint in ``output_dir`` when there is one, with
            ``metrics.jsonl`` cut back to its step (a finished run returns its metrics
            without training). False: discard that checkpoint and ``metrics.jsonl`` and
            start afresh.
        report_to: Where step metrics go besides ``metrics.jsonl``: ``"none"``,
            ``"tensorboard"`` (event files in ``output_dir/tensorboard``), ``"wandb"``, or a
            list of them (:mod:`orbiter.train.torch.trackers`).
    """

    algorithm: Algorithm | str = Algorithm.GRPO
    group_size: int = 8
    max_new_tokens: int = 32
    max_turns: int = 1
    max_tool_calls: int = 4
    max_total_tokens: int | None = None
    tool_timeout: float | None = 30.0
    max_tool_result_tokens: int | None = 256
    temperature: float = 1.0
    top_p: float = 1.0
    kl_coef: float = 0.0
    kl_kind: KLEstimator | str = KLEstimator.K3
    clip_range: float = 0.2
    clip_range_high: float | None = None
    ppo_epochs: int = 1
    mini_batch_size: int | None = None
    loss_agg_mode: str = "token-mean"
    gamma: float = 1.0
    lam: float = 0.95
    max_grad_norm: float = 1.0
    weight_decay: float = 0.01
    lr_scheduler: str = "constant"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    grad_accum_steps: int = 1
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    checkpoint_every: int = 50
    eval_every: int = 0
    log_every: int = 1
    max_steps: int | None = None
    resume: bool = True
    peft_config: Any = None
    accuracy_threshold: float = 1.0
    save_final: bool = True
    report_to: str | list[str] = "none"


FIELD_NAMES = tuple(f.name for f in fields(TorchTrainConfig))


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
    known, extra = split_update(update, FIELD_NAMES)
    return dataclasses.replace(current, **known, extra={**current.extra, **extra})


def validate_config(cfg: TorchTrainConfig) -> None:
    """Raise :class:`TrainerError` naming the first field out of range; the algorithm and
    the KL estimator become their enums (``"reinforce_pp"`` is REINFORCE_PLUS_PLUS)."""
    check_int("epochs", cfg.epochs, 1)
    check_int("batch_size", cfg.batch_size, 1)
    check_float("learning_rate", cfg.learning_rate, 0.0, open_low=True)
    algorithm = parse_enum(Algorithm, cfg.algorithm, "algorithm", ALGORITHM_ALIASES)
    cfg.algorithm = algorithm
    check_int("group_size", cfg.group_size, 2 if algorithm.is_group else 1)
    check_int("max_new_tokens", cfg.max_new_tokens, 1)
    check_turn_limits(cfg)
    sft = algorithm is Algorithm.SFT
    check_float("temperature", cfg.temperature, 0.0, open_low=not sft)
    check_float("top_p", cfg.top_p, 0.0, 1.0, open_low=True)
    check_float("kl_coef", cfg.kl_coef, 0.0)
    cfg.kl_kind = parse_enum(KLEstimator, cfg.kl_kind, "kl_kind")
    check_float("clip_range", cfg.clip_range, 0.0, open_low=True)
    if cfg.clip_range_high is not None:
        check_float("clip_range_high", cfg.clip_range_high, 0.0, open_low=True)
    check_int("ppo_epochs", cfg.ppo_epochs, 1)
    if cfg.mini_batch_size is not None:
        check_int("mini_batch_size", cfg.mini_batch_size, 1)
    check_choice("loss_agg_mode", cfg.loss_agg_mode, LOSS_AGG_MODES)
    check_float("gamma", cfg.gamma, 0.0, 1.0)
    check_float("lam", cfg.lam, 0.0, 1.0)
    check_float("max_grad_norm", cfg.max_grad_norm, 0.0, open_low=True)
    check_int("grad_accum_steps", cfg.grad_accum_steps, 1)
    _check_optimizer(cfg)
    check_int("seed", cfg.seed, 0)
    check_int("checkpoint_every", cfg.checkpoint_every, 0)
    check_int("eval_every", cfg.eval_every, 0)
    check_int("log_every", cfg.log_every, 1)
    if cfg.max_steps is not None:
        check_int("max_steps", cfg.max_steps, 1)
    for name in ("grad_accum_steps", "mini_batch_size"):
        parts = getattr(cfg, name)
        if parts is not None and parts > cfg.batch_size:
            raise bad_value(name, parts, "must be <= batch_size")
    check_choice("dtype", cfg.dtype, DTYPES)
    if "accuracy_threshold" in cfg.extra:  # the earlier spelling
        cfg.accuracy_threshold = cfg.extra.pop("accuracy_threshold")
    check_float("accuracy_threshold", cfg.accuracy_threshold, -math.inf)
    check_peft_config(cfg.peft_config)
    check_report_to(cfg.report_to)
    for name in ("resume", "save_final"):
        if not isinstance(getattr(cfg, name), bool):
            raise bad_value(name, getattr(cfg, name), "must be True or False", TrainerTypeError)
    device = cfg.device
    if not isinstance(device, str) or not (
        device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    ):
        raise bad_value("device", device, "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if cfg.output_dir:
        _check_writable(cfg.output_dir)


def _check_optimizer(cfg: TorchTrainConfig) -> None:
    """The weight decay and the learning-rate schedule."""
    check_float("weight_decay", cfg.weight_decay, 0.0)
    check_choice("lr_scheduler", cfg.lr_scheduler, LR_SCHEDULERS)
    check_int("warmup_steps", cfg.warmup_steps, 0)
    check_float("warmup_ratio", cfg.warmup_ratio, 0.0, 1.0)
    if cfg.warmup_steps and cfg.warmup_ratio:
        raise bad_value(
            "warmup_ratio", cfg.warmup_ratio, "set warmup_steps or warmup_ratio, not both"
        )


def _check_writable(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise bad_value("output_dir", path, f"is not a writable directory ({err})") from err
