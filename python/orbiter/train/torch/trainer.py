"""TorchTrainer: RL fine-tuning of a causal LM with scoring and advantages in the Rust core."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from orbiter.train import advantages as core_advantages
from orbiter.train.data import RaggedTokens, validate_tokens
from orbiter.train.torch.agent import PolicyAgent, TokenizerAdapter, check_policy
from orbiter.train.torch.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from orbiter.train.torch.config import TorchTrainConfig, merge_config, validate_config
from orbiter.train.torch.dataset import Example, load_examples
from orbiter.train.torch.generation import completion_logprobs, generate
from orbiter.train.torch.reward import BatchedReward, probe_reward, resolve_reward
from orbiter.train.trainer import TrainConfig, Trainer, TrainerError, TrainerState, TrainMetrics

logger = logging.getLogger("orbiter.train.torch")

METRICS_FILE = "metrics.jsonl"


class _StopRequestedError(Exception):
    """The worker noticed a stop request (asyncio cancellation) at a step boundary."""


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _prompt_ids(tok: TokenizerAdapter, agent: PolicyAgent, example: Example) -> list[int]:
    if example.prompt_ids is not None:
        return list(example.prompt_ids)
    return tok.encode_prompt(agent.prompt_text(example.prompt))


@dataclass(slots=True)
class _Tokenized:
    examples: list[Example]
    prompts: list[list[int]]
    answers: list[list[int]]
    longest_prompt: int


# Metrics that add up over ranks (the others are averaged).
_SUMMED_METRICS = frozenset({"tokens_per_s"})


@dataclass(slots=True)
class _Dist:
    world: int = 1
    rank: int = 0
    owns_group: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Metrics averaged over ranks (throughputs summed), on the device the process group
        serves (NCCL only reduces CUDA tensors)."""
        if self.world == 1 or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return {
            k: float(v) if k in _SUMMED_METRICS else float(v) / self.world
            for k, v in zip(keys, t.tolist(), strict=True)
        }


def _dist_from_env(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    dist = torch.distributed
    owns = False
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL starts: one GPU per rank
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return _Dist(world=dist.get_world_size(), rank=dist.get_rank(), owns_group=owns, device=device)


def _resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when present; a CUDA device without an index is this rank's GPU
    (``LOCAL_RANK`` under ``torchrun``), so ranks never share GPU 0 by accident."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise TrainerError(f"config.device = {name!r} is not a torch device: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainerError(f"config.device = {name!r} but CUDA is not available")
        if device.index is None:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local % torch.cuda.device_count())
    return device


def _pad(
    rows: list[list[int]], pad_id: int, *, left: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token rows to (B, T) in the Rust core; returns ids (long) and a bool mask."""
    ragged = RaggedTokens.from_sequences(rows)
    ids, mask = ragged.to_padded(pad_id=pad_id, side="left" if left else "right")
    return (
        torch.from_numpy(np.ascontiguousarray(ids)).long().to(device),
        torch.from_numpy(np.ascontiguousarray(mask)).bool().to(device),
    )


def _seed_for(seed: int, step: int, rank: int) -> int:
    # Every random draw of a step derives from (seed, step, rank), so a resumed run
    # replays exactly the draws an uninterrupted one makes.
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


@dataclass(slots=True)
class _StepTimes:
    generate: float = 0.0
    score: float = 0.0
    advantage: float = 0.0
    update: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class TorchTrainer(Trainer):
    """RL fine-tuning of a torch causal LM, on CUDA when present and on the CPU otherwise.

    Each step: sample ``batch_size`` prompts → generate ``group_size`` completions per prompt
    (KV-cached decoding) → decode → score in the Rust core → advantages in the Rust core →
    clipped policy-gradient loss over the completion mask (plus a KL penalty to a frozen
    reference when ``kl_coef > 0``) → AdamW with gradient clipping. ``algorithm="sft"``
    trains on the reference answers instead.

    Metrics go to a tqdm bar, ``output_dir/metrics.jsonl`` and TensorBoard when installed.
    Checkpoints (safetensors + JSON) are written atomically; a trainer on the same
    ``output_dir`` resumes from the last one. Under ``torchrun`` it runs DDP.
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        if config is None or not isinstance(config, TorchTrainConfig):
            config = merge_config(TorchTrainConfig(), config)
        super().__init__(config)
        self._agent: PolicyAgent | None = None
        self._tokenizer: TokenizerAdapter | None = None
        self._train_examples: list[Example] | None = None
        self._test_examples: list[Example] | None = None
        self._train_tokens: _Tokenized | None = None
        self.value_head: nn.Module | None = None
        """PPO's critic (a linear head on the policy's last hidden state) after ``train()``."""
        self._reward_name = "math_equal"
        self._reward: BatchedReward | None = None
        self._step = 0
        self.last_step_metrics: dict[str, float] = {}

    @property
    def torch_config(self) -> TorchTrainConfig:
        """The configuration, typed as :class:`TorchTrainConfig`."""
        config = self._config
        assert isinstance(config, TorchTrainConfig)
        return config

    # -- checks -------------------------------------------------------------------------

    def check_config(self, config: TrainConfig | dict[str, Any] | None = None) -> None:
        """Merge *config* into the current one and validate every range.

        Unknown dict keys go to ``extra``; a key close to a field name is a "did you mean"
        error. ``output_dir`` is created and must be writable.
        """
        merged = merge_config(self.torch_config, config)
        validate_config(merged)
        self._config = merged

    def check_agent(self, agent: Any) -> None:
        """Accept a :class:`PolicyAgent` or a bare ``nn.Module`` (with the byte tokenizer):
        trainable parameters, vocabulary at least the tokenizer's, one tiny forward."""
        self._agent, self._tokenizer = check_policy(agent)
        if self._train_examples is not None:
            self._train_tokens = self._tokenize(self._train_examples, "train_data")

    def check_dataset(self, train_data: Any, test_data: Any | None = None) -> None:
        """Records with ``input``/``prompt`` and ``answer``/``expected``/``output``: a list
        of dicts, a JSONL path or a ``datasets.Dataset``; or pre-tokenized prompts, a
        ``RaggedTokens`` or ``(RaggedTokens, answers)``, used as given (ids checked against the
        vocabulary in the core). The test split is kept for :meth:`evaluate`. Tokenized once
        (when the agent is known) and validated in the core.
        """
        self._train_examples = load_examples(train_data, "train_data")
        self._test_examples = (
            load_examples(test_data, "test_data") if test_data is not None else None
        )
        if self._tokenizer is not None:
            self._train_tokens = self._tokenize(self._train_examples, "train_data")
            if self._test_examples is not None:
                self._tokenize(self._test_examples, "test_data")

    def check_reward(self, reward_fn: Any | None = None) -> None:
        """A core reward name (default ``"math_equal"``), a ``RewardPipeline``, a batched
        callable (``fn.batched = True``), a per-item ``fn(output, expected) -> float`` or a
        ``RewardSpec``. It is probed once on a training example when data is known."""
        name, scorer = resolve_reward(reward_fn)
        if self._train_examples:
            first = self._train_examples[0]
            probe_reward(name, scorer, first.answer, first.answer)
        self._reward_name, self._reward = name, scorer

    def _tokenize(self, examples: list[Example], name: str) -> _Tokenized:
        assert self._agent is not None and self._tokenizer is not None
        tok, agent = self._tokenizer, self._agent
        prompts = [_prompt_ids(tok, agent, e) for e in examples]
        answers = [tok.encode_answer(e.answer) for e in examples]
        context = _context_length(agent.model)
        report = validate_tokens(
            RaggedTokens.from_sequences(prompts),
            vocab_size=tok.vocab_size,
            min_len=1,
            # Room for at least one generated token within the model's positions.
            max_len=None if context is None else context - 1,
        )
        if not report.ok:
            raise TrainerError(f"{name}: {report}")
        return _Tokenized(examples, prompts, answers, report.max_len)

    def _require_ready(self) -> tuple[PolicyAgent, TokenizerAdapter, _Tokenized, BatchedReward]:
        missing = [
            what
            for what, value in (
                ("check_agent", self._agent),
                ("check_dataset", self._train_tokens),
                ("check_reward", self._reward),
            )
            if value is None
        ]
        if missing:
            raise TrainerError(f"TorchTrainer needs {', '.join(missing)} before training")
        assert self._agent and self._tokenizer and self._train_tokens and self._reward
        return self._agent, self._tokenizer, self._train_tokens, self._reward

    # -- training -------------------------------------------------------------------------

    async def train(self) -> TrainMetrics:
        """Run the loop in a worker thread; the event loop stays free.

        Raises:
            TrainerError: not validated, or training failed (the cause is chained). The state
                is then FAILED and the last checkpoint is left intact. Cancelling the
                awaiting task checkpoints at the next step boundary and leaves FAILED.
        """
        self._require_validated()
        agent, _, data, _ = self._require_ready()
        # The ranges hold even when check_config was never called.
        validate_config(self.torch_config)
        _check_fits_context(agent.model, data, self.torch_config.max_new_tokens)
        self._state = TrainerState.TRAINING
        stop = threading.Event()
        future = asyncio.get_running_loop().run_in_executor(None, self._run, stop)
        try:
            metrics = await asyncio.shield(future)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(Exception):
                await future
            self._state = TrainerState.FAILED
            raise
        except TrainerError:
            self._state = TrainerState.FAILED
            raise
        except Exception as err:
            self._state = TrainerState.FAILED
            raise TrainerError(f"training failed at step {self._step}: {err!r}") from err
        self._state = TrainerState.COMPLETED
        return metrics

    def _run(self, stop: threading.Event) -> TrainMetrics:  # noqa: PLR0912, PLR0915
        agent, tok, data, reward = self._require_ready()
        cfg = self.torch_config
        device = _resolve_device(cfg.device)
        dist = _dist_from_env(device)
        model = agent.model.to(device)
        model.train()
        policy: nn.Module = model
        if dist.world > 1:
            policy = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        value_head = self._value_head(model, device) if cfg.algorithm == "ppo" else None
        self.value_head = value_head
        params = [p for p in model.parameters() if p.requires_grad]
        if value_head is not None:
            params += list(value_head.parameters())
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
        # The KL reference is the policy as handed in, also when resuming (taken before the
        # checkpoint's weights are loaded into the model).
        reference = None
        if cfg.kl_coef > 0 and cfg.algorithm != "sft":
            reference = copy.deepcopy(model).eval().requires_grad_(False)
        start = 0
        out_dir = Path(cfg.output_dir) if cfg.output_dir else None
        if out_dir is not None and has_checkpoint(out_dir):
            state = load_checkpoint(out_dir, self._modules(model, value_head), optimizer)
            _check_resumable(state.get("config", {}), cfg, out_dir)
            start = int(state["step"])
            logger.info("resuming from %s at step %d", out_dir, start)
        if cfg.batch_size < dist.world:
            raise TrainerError(
                f"config.batch_size = {cfg.batch_size} is smaller than the {dist.world} ranks: "
                "every rank needs at least one prompt per step"
            )
        n = len(data.prompts)
        steps_per_epoch = math.ceil(n / cfg.batch_size)
        total = cfg.epochs * steps_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        writer = _MetricsWriter(out_dir, enabled=dist.is_main)
        bar = _progress(total, start, enabled=dist.is_main)
        history: list[dict[str, float]] = []
        # bf16 autocast on CUDA by default ("auto"); on the CPU only when asked for.
        autocast: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda"):
            autocast = torch.autocast(device.type, dtype=torch.bfloat16)
        self._step = start
        try:
            for step in range(start, total):
                if stop.is_set():
                    raise _StopRequestedError
                epoch, offset = divmod(step, steps_per_epoch)
                order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
                batch = order[offset * cfg.batch_size : (offset + 1) * cfg.batch_size]
                # Equal shards: an epoch's short last batch is topped up from the start of
                # the permutation, so every rank runs the same number of backward passes.
                if len(batch) % dist.world:
                    top_up = dist.world - len(batch) % dist.world
                    batch = np.concatenate([batch, order[:top_up]])
                batch = batch[dist.rank :: dist.world]
                torch.manual_seed(_seed_for(cfg.seed, step, dist.rank))
                with autocast:
                    metrics = self._step_once(
                        policy, model, value_head, reference, optimizer, tok, data, reward,
                        [int(i) for i in batch], step, device, dist.rank,
                    )  # fmt: skip
                metrics = dist.mean(metrics)
                metrics["step"] = step + 1
                metrics["epoch"] = epoch + 1
                self._step = step + 1
                self.last_step_metrics = metrics
                history.append(metrics)
                writer.write(metrics)
                bar.update(metrics, cfg.log_every)
                if (
                    cfg.eval_every
                    and (step + 1) % cfg.eval_every == 0
                    and self._test_examples
                    and dist.is_main
                ):
                    evaluation = self._evaluate_sync(self._test_examples)
                    writer.write({"step": step + 1, "eval_accuracy": evaluation.accuracy})
                if (
                    out_dir is not None
                    and cfg.checkpoint_every
                    and (step + 1) % cfg.checkpoint_every == 0
                ):
                    self._checkpoint(out_dir, model, value_head, optimizer, step + 1, dist)
        except _StopRequestedError:
            if out_dir is not None:
                self._checkpoint(out_dir, model, value_head, optimizer, self._step, dist)
            raise TrainerError(f"training cancelled at step {self._step}") from None
        finally:
            bar.close()
            writer.close()
        if out_dir is not None and self._step > start:
            self._checkpoint(out_dir, model, value_head, optimizer, self._step, dist)
        if dist.owns_group:
            torch.distributed.destroy_process_group()
        return self._summary(history, total)

    def _modules(self, model: nn.Module, value_head: nn.Module | None) -> dict[str, nn.Module]:
        return (
            {"model": model} if value_head is None else {"model": model, "value_head": value_head}
        )

    def _checkpoint(
        self,
        out_dir: Path,
        model: nn.Module,
        value_head: nn.Module | None,
        optimizer: torch.optim.Optimizer,
        step: int,
        dist: _Dist,
    ) -> None:
        if not dist.is_main:
            return
        cfg = self.torch_config
        state = {
            "step": step,
            "rng": {"seed": cfg.seed, "scheme": "per-step: seed*1000003 + step*7919 + rank*104729"},
            "config": {k: v for k, v in _config_dict(cfg).items()},
            "reward": self._reward_name,
        }
        save_checkpoint(out_dir, self._modules(model, value_head), optimizer, state)

    def _value_head(self, model: nn.Module, device: torch.device) -> nn.Module:
        hidden = getattr(getattr(model, "config", None), "d_model", None) or getattr(
            getattr(model, "config", None), "hidden_size", None
        )
        if not isinstance(hidden, int):
            raise TrainerError(
                "algorithm 'ppo' needs a model exposing hidden states (TinyCausalLM or a "
                "transformers model)"
            )
        head = nn.Linear(hidden, 1).to(device)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return head

    def _step_once(  # noqa: PLR0915
        self,
        policy: nn.Module,
        model: nn.Module,
        value_head: nn.Module | None,
        reference: nn.Module | None,
        optimizer: torch.optim.Optimizer,
        tok: TokenizerAdapter,
        data: _Tokenized,
        reward: BatchedReward,
        batch: list[int],
        step: int,
        device: torch.device,
        rank: int,
    ) -> dict[str, float]:
        cfg = self.torch_config
        if cfg.algorithm == "sft":
            return self._sft_step(policy, model, optimizer, tok, data, batch, device)
        group = cfg.group_size
        times = _StepTimes()
        t0 = time.perf_counter()
        prompts = [data.prompts[i] for i in batch for _ in range(group)]
        references = [data.examples[i].answer for i in batch for _ in range(group)]
        prompt_ids, prompt_mask = _pad(prompts, tok.pad_token_id, left=True, device=device)
        generator = torch.Generator(device=device).manual_seed(_seed_for(cfg.seed, step, rank) + 1)
        model.eval()
        completion_ids, completion_mask = generate(
            model,
            prompt_ids,
            prompt_mask,
            max_new_tokens=cfg.max_new_tokens,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            generator=generator,
        )
        model.train()
        t1 = time.perf_counter()
        texts = [tok.decode(row) for row in completion_ids.tolist()]
        scores = reward(texts, references)
        t2 = time.perf_counter()
        mask_np = completion_mask.cpu().numpy()
        adv_np, returns_np, values = self._advantages(
            model, value_head, prompt_ids, prompt_mask, completion_ids, completion_mask,
            scores, mask_np, len(batch), group,
        )  # fmt: skip
        t3 = time.perf_counter()
        advantages = torch.from_numpy(adv_np).to(device)
        returns = torch.from_numpy(returns_np).to(device) if returns_np is not None else None
        loss_sum = kl_sum = entropy_sum = 0.0
        total_tokens = float(completion_mask.sum().clamp(min=1))
        optimizer.zero_grad(set_to_none=True)
        for part in _micro_batches(len(prompts), cfg.grad_accum_steps):
            ids_p, mask_p = prompt_ids[part], prompt_mask[part]
            ids_c, mask_c = completion_ids[part], completion_mask[part]
            maskf = mask_c.float()
            logp, entropy = completion_logprobs(policy, ids_p, mask_p, ids_c, mask_c)
            # One update per rollout: the behaviour policy is the current one, so the
            # ratio is 1 in value and the clip acts through its gradient only.
            ratio = torch.exp(logp - logp.detach())
            adv = advantages[part]
            surrogate = torch.minimum(
                ratio * adv, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * adv
            )
            loss = -(surrogate * maskf).sum()
            if reference is not None:
                with torch.no_grad():
                    ref_logp, _ = completion_logprobs(reference, ids_p, mask_p, ids_c, mask_c)
                kl = _kl_torch(logp, ref_logp, cfg.kl_kind)
                loss = loss + cfg.kl_coef * (kl * maskf).sum()
                kl_sum += float((kl.detach() * maskf).sum())
            if value_head is not None and returns is not None:
                # The critic reads detached features: its loss never reaches the policy's
                # weights, so under DDP every policy gradient goes through the wrapper.
                with torch.no_grad():
                    hidden = _hidden_states(model, ids_p, mask_p, ids_c, mask_c)
                v = value_head(hidden).squeeze(-1)
                loss = loss + 0.5 * (((v - returns[part]) ** 2) * maskf).sum()
            loss = loss / total_tokens
            if not torch.isfinite(loss):
                raise TrainerError(f"loss is {float(loss)} at step {step + 1}")
            loss.backward()  # type: ignore[no-untyped-call]
            loss_sum += float(loss.detach())
            entropy_sum += float((entropy.detach() * maskf).sum())
        if value_head is not None and _world_size() > 1:
            # The value head is not inside DDP: average its gradients by hand.
            for p in value_head.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= _world_size()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for g in optimizer.param_groups for p in g["params"]], cfg.max_grad_norm
        )
        optimizer.step()
        t4 = time.perf_counter()
        times = _StepTimes(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
        threshold = float(cfg.extra.get("accuracy_threshold", 1.0))
        generated = float(mask_np.sum())
        step_time = t4 - t0
        del values
        return {
            "reward_mean": float(scores.mean()),
            "reward_std": float(scores.std()),
            "accuracy": float((scores >= threshold).mean()),
            "loss": loss_sum,
            "kl": kl_sum / total_tokens,
            "entropy": entropy_sum / total_tokens,
            "grad_norm": float(grad_norm),
            "tokens_per_s": generated / step_time if step_time > 0 else 0.0,
            "response_len": generated / len(prompts),
            "time_generate": times.generate,
            "time_score": times.score,
            "time_advantage": times.advantage,
            "time_update": times.update,
            "time_step": step_time,
        }

    def _advantages(
        self,
        model: nn.Module,
        value_head: nn.Module | None,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        completion_ids: torch.Tensor,
        completion_mask: torch.Tensor,
        scores: np.ndarray,
        mask_np: np.ndarray,
        n_prompts: int,
        group: int,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Token-level advantages (B, N) from the Rust core, and returns for ppo."""
        cfg = self.torch_config
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        mask_f = np.ascontiguousarray(mask_np, dtype=np.float32)
        if cfg.algorithm in ("grpo", "rloo"):
            group_ids = np.repeat(np.arange(n_prompts, dtype=np.int64), group)
            estimator = core_advantages.grpo if cfg.algorithm == "grpo" else core_advantages.rloo
            per_response = estimator(scores, group_ids)
            return core_advantages.broadcast(per_response, mask_f), None, None
        token_rewards = _outcome_rewards(scores, mask_f)
        if cfg.algorithm == "reinforce_pp":
            advantages, _ = core_advantages.reinforce_pp(token_rewards, mask_f, gamma=cfg.gamma)
            return advantages, None, None
        assert value_head is not None
        with torch.no_grad():
            hidden = _hidden_states(model, prompt_ids, prompt_mask, completion_ids, completion_mask)
            values = value_head(hidden).squeeze(-1).float().cpu().numpy()
        values = np.ascontiguousarray(values * mask_f, dtype=np.float32)
        adv, returns = core_advantages.gae(
            token_rewards, values, mask_f, gamma=cfg.gamma, lam=cfg.lam
        )
        return adv, returns, values

    def _sft_step(
        self,
        policy: nn.Module,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        tok: TokenizerAdapter,
        data: _Tokenized,
        batch: list[int],
        device: torch.device,
    ) -> dict[str, float]:
        cfg = self.torch_config
        t0 = time.perf_counter()
        prompt_ids, prompt_mask = _pad(
            [data.prompts[i] for i in batch], tok.pad_token_id, left=True, device=device
        )
        answer_ids, answer_mask = _pad(
            [data.answers[i] for i in batch], tok.pad_token_id, left=False, device=device
        )
        total = float(answer_mask.sum().clamp(min=1))
        optimizer.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for part in _micro_batches(len(batch), cfg.grad_accum_steps):
            logp, _ = completion_logprobs(
                policy, prompt_ids[part], prompt_mask[part], answer_ids[part], answer_mask[part]
            )
            loss = -(logp * answer_mask[part].float()).sum() / total
            if not torch.isfinite(loss):
                raise TrainerError(f"loss is {float(loss)}")
            loss.backward()  # type: ignore[no-untyped-call]
            loss_sum += float(loss.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        elapsed = time.perf_counter() - t0
        return {
            "loss": loss_sum,
            "grad_norm": float(grad_norm),
            "tokens_per_s": total / elapsed if elapsed > 0 else 0.0,
            "time_update": elapsed,
            "time_step": elapsed,
        }

    def _summary(self, history: list[dict[str, float]], total: int) -> TrainMetrics:
        if not history:
            return TrainMetrics(steps=self._step, extra={"total_steps": total})
        last = history[-1]
        window = history[-max(1, len(history) // 10) :]

        def mean(key: str) -> float:
            values = [h[key] for h in window if key in h]
            return float(np.mean(values)) if values else 0.0

        extra: dict[str, Any] = {
            k: v for k, v in last.items() if k not in ("loss", "accuracy", "step")
        }
        extra["reward_mean_last10pct"] = mean("reward_mean")
        extra["total_steps"] = total
        timing = {k: sum(h.get(k, 0.0) for h in history) for k in _TIME_KEYS}
        step_total = sum(h.get("time_step", 0.0) for h in history) or 1.0
        extra["time_split"] = {k[5:]: v / step_total for k, v in timing.items()}
        return TrainMetrics(
            loss=mean("loss"), accuracy=mean("accuracy"), steps=self._step, extra=extra
        )

    # -- evaluation -------------------------------------------------------------------------

    async def evaluate(self, test_data: Any | None = None) -> TrainMetrics:
        """Greedy decoding on *test_data* (or the test split from ``check_dataset``),
        scored in the core.

        Returns:
            ``TrainMetrics(loss = mean NLL per token of the references, accuracy = share of
            items with reward >= extra["accuracy_threshold"] (default 1.0), steps = items,
            extra = reward statistics)``.
        """
        if self._agent is None or self._reward is None:
            raise TrainerError("evaluate() needs check_agent and check_reward first")
        examples = (
            load_examples(test_data, "test_data") if test_data is not None else self._test_examples
        )
        if not examples:
            raise TrainerError(
                "evaluate() has no test data: pass test_data or give check_dataset one"
            )
        try:
            return await asyncio.to_thread(self._evaluate_sync, examples)
        except TrainerError:
            raise
        except Exception as err:
            raise TrainerError(f"evaluation failed: {err!r}") from err

    def _evaluate_sync(self, examples: list[Example]) -> TrainMetrics:
        agent, tok, reward = self._agent, self._tokenizer, self._reward
        assert agent is not None and tok is not None and reward is not None
        cfg = self.torch_config
        model = agent.model
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        outputs: list[str] = []
        nll_sum = 0.0
        nll_tokens = 0.0
        size = max(cfg.batch_size * cfg.group_size, 64)
        try:
            with torch.no_grad():
                for lo in range(0, len(examples), size):
                    chunk = examples[lo : lo + size]
                    prompts = [_prompt_ids(tok, agent, e) for e in chunk]
                    ids, mask = _pad(prompts, tok.pad_token_id, left=True, device=device)
                    completion, _ = generate(
                        model,
                        ids,
                        mask,
                        max_new_tokens=cfg.max_new_tokens,
                        eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id,
                        temperature=0.0,
                    )
                    outputs += [tok.decode(row) for row in completion.tolist()]
                    answers = [tok.encode_answer(e.answer) for e in chunk if e.answer]
                    if answers:
                        with_answer = [p for p, e in zip(prompts, chunk, strict=True) if e.answer]
                        pi, pm = _pad(with_answer, tok.pad_token_id, left=True, device=device)
                        ai, am = _pad(answers, tok.pad_token_id, left=False, device=device)
                        logp, _ = completion_logprobs(model, pi, pm, ai, am)
                        nll_sum += float(-(logp * am.float()).sum())
                        nll_tokens += float(am.sum())
        finally:
            model.train(was_training)
        scores = reward(outputs, [e.answer for e in examples])
        threshold = float(cfg.extra.get("accuracy_threshold", 1.0))
        return TrainMetrics(
            loss=nll_sum / nll_tokens if nll_tokens else 0.0,
            accuracy=float((scores >= threshold).mean()),
            steps=len(examples),
            extra={
                "reward_mean": float(scores.mean()),
                "reward_std": float(scores.std()),
                "reward_min": float(scores.min()),
                "reward_max": float(scores.max()),
                "samples": [
                    {
                        "input": e.prompt or tok.decode(list(e.prompt_ids or ())),
                        "output": o,
                        "answer": e.answer,
                    }
                    for e, o in zip(examples[:5], outputs[:5], strict=False)
                ],
            },
        )


_TIME_KEYS = ("time_generate", "time_score", "time_advantage", "time_update")


def _context_length(model: nn.Module) -> int | None:
    """Positions the model can attend over (TinyCausalLM's ``max_positions``, a transformers
    config's ``max_position_embeddings`` / ``n_positions``), or None when it does not say."""
    config = getattr(model, "config", None)
    for key in ("max_positions", "max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _check_fits_context(model: nn.Module, data: _Tokenized, new_tokens: int) -> None:
    context = _context_length(model)
    if context is None or data.longest_prompt + new_tokens <= context:
        return
    # The longest length came from the core's report; its row is looked up only to name it.
    row = next(i for i, p in enumerate(data.prompts) if len(p) == data.longest_prompt)
    raise TrainerError(
        f"train_data[{row}]: a prompt of {data.longest_prompt} tokens plus "
        f"max_new_tokens = {new_tokens} exceeds the model's {context} positions"
    )


# Settings that fix which prompts, samples and updates a step makes: a checkpoint resumes
# only under the same values (the others, e.g. epochs or log_every, may change).
_TRAJECTORY_FIELDS = ("algorithm", "seed", "batch_size", "group_size", "grad_accum_steps")


def _check_resumable(saved: dict[str, Any], cfg: TorchTrainConfig, out_dir: Path) -> None:
    current = _config_dict(cfg)
    changed = [
        f"{key}: checkpoint {saved[key]!r}, now {current[key]!r}"
        for key in _TRAJECTORY_FIELDS
        if key in saved and saved[key] != current[key]
    ]
    if changed:
        raise TrainerError(
            f"cannot resume the checkpoint in {str(out_dir)!r} with a different "
            f"{'; '.join(changed)} (use another output_dir to start afresh)"
        )
    others = sorted(
        key
        for key, value in saved.items()
        if key not in _TRAJECTORY_FIELDS and key in current and current[key] != value
    )
    if others:
        logger.warning("resuming %s with changed settings: %s", out_dir, ", ".join(others))


def _config_dict(cfg: TorchTrainConfig) -> dict[str, Any]:
    out = asdict(cfg)
    out["extra"] = {k: v for k, v in cfg.extra.items() if _jsonable(v)}
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _micro_batches(n: int, parts: int) -> Iterator[slice]:
    size = math.ceil(n / parts)
    for lo in range(0, n, size):
        yield slice(lo, min(n, lo + size))


def _outcome_rewards(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Token-level rewards (B, N): each response's score at its last unmasked token."""
    rewards = np.zeros(mask.shape, dtype=np.float32)
    lengths = mask.sum(axis=1).astype(np.int64)
    rows = np.flatnonzero(lengths > 0)
    rewards[rows, lengths[rows] - 1] = scores[rows]
    return rewards


def _kl_torch(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-token KL estimators of Schulman's note: k1 = log r, k2 = (log r)^2 / 2,
    k3 = (r^-1 - 1) + log r with ``log r = logp - ref_logp`` (differentiable, for the loss)."""
    log_ratio = logp - ref_logp
    if kind == "k1":
        return log_ratio
    if kind == "k2":
        return 0.5 * log_ratio**2
    return torch.exp(-log_ratio) - 1 + log_ratio


def _hidden_states(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
) -> torch.Tensor:
    """Last-layer hidden states at the positions that predict each completion token."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    hidden_states = getattr(model, "hidden_states", None)
    if callable(hidden_states):
        hidden: torch.Tensor = hidden_states(ids, mask)
    else:
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states[-1]
    n = prompt_ids.shape[1]
    return hidden[:, n - 1 : -1].float()


class _MetricsWriter:
    """``metrics.jsonl`` (one JSON object a step) and TensorBoard scalars when installed."""

    def __init__(self, out_dir: Path | None, *, enabled: bool) -> None:
        self._file = None
        self._tb: Any = None
        if out_dir is None or not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(out_dir / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(out_dir / "tensorboard"))
        except Exception:  # tensorboard is optional
            self._tb = None

    def write(self, metrics: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(metrics) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = int(metrics.get("step", 0))
            for key, value in metrics.items():
                if isinstance(value, int | float) and key != "step":
                    self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tb is not None:
            self._tb.close()


class _Progress:
    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                initial=start,
                desc="train",
                unit="step",
                dynamic_ncols=True,
                disable=None,
            )

    def update(self, metrics: dict[str, float], every: int) -> None:
        step = int(metrics["step"])
        if self._bar is not None:
            self._bar.update(1)
            if step % every == 0:
                shown = {
                    k: f"{metrics[k]:.3g}"
                    for k in ("loss", "reward_mean", "accuracy", "kl")
                    if k in metrics
                }
                self._bar.set_postfix(shown, refresh=False)
        if step % every == 0:
            logger.info(
                "step %d: %s",
                step,
                " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float)),
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _progress(total: int, start: int, *, enabled: bool) -> _Progress:
    return _Progress(total, start, enabled)


__all__ = ["TorchTrainer"]
