"""One optimizer step: rollout → advantages → loss → update, over an explicit context.

The step functions see only a :class:`StepContext` (never the trainer), so nothing here
imports back up; which loss and which estimators a step uses is looked up in
:mod:`orbiter.train.torch.losses`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from orbiter.train.errors import TrainerError
from orbiter.train.torch import critic
from orbiter.train.torch.agent import TokenizerAdapter
from orbiter.train.torch.batches import Tokenized, micro_batches, mini_batch_rows, pad
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.generation import completion_logprobs
from orbiter.train.torch.lora import Reference
from orbiter.train.torch.losses import (
    LOSS_AGGREGATIONS,
    AdvantageInputs,
    Objective,
    kl_penalty,
    nll_loss,
    policy_loss,
    value_loss,
)
from orbiter.train.torch.rollout import Rollout, RolloutBatch
from orbiter.train.torch.runtime import Distributed, seed_for


@dataclass(slots=True)
class StepContext:
    """Everything a step reads and updates, built once per run.

    Attributes:
        model: The policy itself (generation, the critic's features, clipping).
        policy: What the loss differentiates: ``model``, or under DDP its wrapper.
        value_head: PPO's critic, when the objective uses one.
        scheduler: The learning-rate schedule, stepped after each step (None: a
            constant rate).
        reference: The KL penalty's reference, when ``kl_coef > 0``: a frozen copy of the
            initial policy, or a peft policy's base with the adapter disabled.
    """

    cfg: TorchTrainConfig
    objective: Objective
    model: nn.Module
    policy: nn.Module
    optimizer: torch.optim.Optimizer
    dist: Distributed
    device: torch.device
    tok: TokenizerAdapter
    data: Tokenized
    rollout: Rollout
    value_head: nn.Module | None = None
    reference: Reference | None = None
    scheduler: LambdaLR | None = None


def train_step(ctx: StepContext, indices: list[int], step: int) -> dict[str, float]:
    """One optimizer step on the training examples *indices* (this rank's share); its
    random draws are seeded from ``seed_for(seed, step, rank)``. The schedule (if any)
    moves the rate on afterwards; ``learning_rate`` in the metrics is the step's own."""
    torch.manual_seed(seed_for(ctx.cfg.seed, step, ctx.dist.rank))
    learning_rate = float(ctx.optimizer.param_groups[0]["lr"])
    supervised = ctx.objective.supervised
    metrics = sft_step(ctx, indices) if supervised else rl_step(ctx, indices, step)
    if ctx.scheduler is not None:
        ctx.scheduler.step()
    metrics["learning_rate"] = learning_rate
    return metrics


def rl_step(ctx: StepContext, indices: list[int], step: int) -> dict[str, float]:
    """Generate and score ``group_size`` completions per prompt, estimate advantages in the
    core, then take ``ppo_epochs`` passes over the rollout, one clipped policy-gradient
    update (plus KL and value terms) per mini-batch."""
    cfg = ctx.cfg
    t0 = time.perf_counter()
    generator = torch.Generator(device=ctx.device).manual_seed(
        seed_for(cfg.seed, step, ctx.dist.rank) + 1
    )
    batch = ctx.rollout.collect(ctx.model, indices, generator)
    t2 = time.perf_counter()
    advantages, returns = _advantages(ctx, batch)
    t3 = time.perf_counter()
    parts = mini_batch_rows(len(batch), len(indices), cfg.batch_size, cfg.mini_batch_size)
    # One update: the behaviour policy is the current one (ratio 1). Several: every update
    # compares with the policy that sampled, whose logprobs the rollout kept.
    old_logp = batch.rollout_logprobs if cfg.ppo_epochs > 1 or len(parts) > 1 else None
    updates = [
        _update(ctx, batch, rows, advantages, returns, old_logp, step)
        for _ in range(cfg.ppo_epochs)
        for rows in parts
    ]
    t4 = time.perf_counter()
    scores = batch.rewards
    threshold = cfg.accuracy_threshold
    generated = float(batch.trainable_mask.sum())
    step_time = t4 - t0
    tokens = sum(u.tokens for u in updates)
    return {
        "reward_mean": float(scores.mean()),
        "reward_std": float(scores.std()),
        "accuracy": float((scores >= threshold).mean()),
        "loss": sum(u.loss for u in updates) / len(updates),
        "kl": sum(u.kl for u in updates) / tokens,
        "entropy": sum(u.entropy for u in updates) / tokens,
        "clip_fraction": sum(u.clipped for u in updates) / tokens,
        "grad_norm": sum(u.grad_norm for u in updates) / len(updates),
        "tokens_per_s": generated / step_time if step_time > 0 else 0.0,
        "response_len": generated / len(batch),
        "time_generate": batch.generate_seconds,
        "time_score": batch.score_seconds,
        "time_advantage": t3 - t2,
        "time_update": t4 - t3,
        "time_step": step_time,
        **batch.metrics,
    }


def _advantages(ctx: StepContext, batch: RolloutBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token-level advantages (B, N) from the Rust core, and the critic's returns."""
    assert ctx.objective.advantages is not None
    mask_f = np.ascontiguousarray(batch.trainable_mask.cpu().numpy(), dtype=np.float32)
    values = None
    if ctx.objective.uses_critic:
        assert ctx.value_head is not None
        values = critic.values(
            ctx.model,
            ctx.value_head,
            batch.prompt_ids,
            batch.prompt_mask,
            batch.completion_ids,
            batch.completion_mask,
        )
    advantages, returns = ctx.objective.advantages(
        AdvantageInputs(
            scores=np.ascontiguousarray(batch.rewards, dtype=np.float32),
            mask=mask_f,
            group_ids=batch.group_ids,
            values=values,
            gamma=ctx.cfg.gamma,
            lam=ctx.cfg.lam,
            trajectories=batch.trajectories,
        )
    )
    return (
        torch.from_numpy(advantages).to(ctx.device),
        torch.from_numpy(returns).to(ctx.device) if returns is not None else None,
    )


@dataclass(frozen=True, slots=True)
class UpdateStats:
    """One optimizer update: its loss, and sums over its trainable tokens (``tokens``, at
    least 1) of the KL, the entropy and the tokens where the clip binds."""

    loss: float
    kl: float
    entropy: float
    clipped: float
    tokens: float
    grad_norm: float


def _update(
    ctx: StepContext,
    batch: RolloutBatch,
    rows: slice,
    advantages: torch.Tensor,
    returns: torch.Tensor | None,
    old_logp: torch.Tensor | None,
    step: int,
) -> UpdateStats:
    """One optimizer update on the trajectories *rows*: backward passes over
    ``grad_accum_steps`` micro-batches, each loss term aggregated by ``loss_agg_mode`` over
    the whole of *rows*, then gradient clipping and the optimizer step.

    *old_logp* (B, N) are the behaviour policy's logprobs of the ratio; None: the current
    policy's own (``logp.detach()``, a ratio of exactly 1)."""
    cfg = ctx.cfg
    aggregation = LOSS_AGGREGATIONS[cfg.loss_agg_mode]
    clip_high = cfg.clip_range if cfg.clip_range_high is None else cfg.clip_range_high
    norm = aggregation.norm(batch.trainable_mask[rows])
    loss_sum = kl_sum = entropy_sum = clipped_sum = 0.0
    ctx.optimizer.zero_grad(set_to_none=True)
    for micro in micro_batches(rows.stop - rows.start, cfg.grad_accum_steps):
        part = slice(rows.start + micro.start, rows.start + micro.stop)
        ids_p, mask_p = batch.prompt_ids[part], batch.prompt_mask[part]
        ids_c, mask_c = batch.completion_ids[part], batch.completion_mask[part]
        maskf = batch.trainable_mask[part].float()
        logp, entropy = completion_logprobs(ctx.policy, ids_p, mask_p, ids_c, mask_c)
        old = logp.detach() if old_logp is None else old_logp[part]
        pg, clipped = policy_loss(logp, old, advantages[part], cfg.clip_range, clip_high)
        loss = aggregation.share(pg, maskf)
        if ctx.reference is not None:
            ref_logp = ctx.reference.logprobs(ids_p, mask_p, ids_c, mask_c)
            kl = kl_penalty(cfg.kl_kind, logp, ref_logp)
            loss = loss + cfg.kl_coef * aggregation.share(kl, maskf)
            kl_sum += float((kl.detach() * maskf).sum())
        if ctx.value_head is not None and returns is not None:
            # The critic reads detached features: its loss never reaches the policy's
            # weights, so under DDP every policy gradient goes through the wrapper.
            with torch.no_grad():
                hidden = critic.hidden_states(ctx.model, ids_p, mask_p, ids_c, mask_c)
            v = ctx.value_head(hidden).squeeze(-1)
            loss = loss + aggregation.share(value_loss(v, returns[part]), maskf)
        loss = loss / norm
        if not torch.isfinite(loss):
            raise TrainerError(f"loss is {float(loss)} at step {step + 1}")
        loss.backward()  # type: ignore[no-untyped-call]
        loss_sum += float(loss.detach())
        entropy_sum += float((entropy.detach() * maskf).sum())
        clipped_sum += float((clipped * maskf).sum())
    if ctx.value_head is not None:
        # The value head is not inside DDP: average its gradients by hand.
        ctx.dist.average_gradients(ctx.value_head.parameters())
    grad_norm = torch.nn.utils.clip_grad_norm_(
        [p for g in ctx.optimizer.param_groups for p in g["params"]], cfg.max_grad_norm
    )
    ctx.optimizer.step()
    tokens = float(batch.trainable_mask[rows].sum().clamp(min=1))
    return UpdateStats(loss_sum, kl_sum, entropy_sum, clipped_sum, tokens, float(grad_norm))


def sft_step(ctx: StepContext, indices: list[int]) -> dict[str, float]:
    """One supervised step: the NLL of each example's target after its prompt (its
    demonstration's trainable tokens, or its reference answer; :meth:`Tokenized.target`),
    ``-sum(logp * trainable) / sum(trainable)`` over the batch."""
    cfg, tok, data = ctx.cfg, ctx.tok, ctx.data
    t0 = time.perf_counter()
    prompt_ids, prompt_mask = pad(
        [data.prompts[i] for i in indices], tok.pad_token_id, left=True, device=ctx.device
    )
    targets = [data.target(i) for i in indices]
    target_ids, target_mask = pad(
        [ids for ids, _ in targets], tok.pad_token_id, left=False, device=ctx.device
    )
    trainable = torch.zeros_like(target_mask)
    for k, (_, keep) in enumerate(targets):
        trainable[k, : len(keep)] = torch.tensor(keep, dtype=torch.bool)
    total = float(trainable.sum().clamp(min=1))
    ctx.optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for part in micro_batches(len(indices), cfg.grad_accum_steps):
        logp, _ = completion_logprobs(
            ctx.policy, prompt_ids[part], prompt_mask[part], target_ids[part], target_mask[part]
        )
        loss = nll_loss(logp, trainable[part], total)
        if not torch.isfinite(loss):
            raise TrainerError(f"loss is {float(loss)}")
        loss.backward()  # type: ignore[no-untyped-call]
        loss_sum += float(loss.detach())
    grad_norm = torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), cfg.max_grad_norm)
    ctx.optimizer.step()
    elapsed = time.perf_counter() - t0
    return {
        "loss": loss_sum,
        "grad_norm": float(grad_norm),
        "tokens_per_s": total / elapsed if elapsed > 0 else 0.0,
        "time_update": elapsed,
        "time_step": elapsed,
    }
