"""TorchTrainer: the contract's checks and the orchestration of a training run.

A run is put together here and carried out elsewhere: the device, DDP and seeds in
:mod:`.runtime`, which examples each step takes in :mod:`.batches`, one step (rollout →
advantages → loss → update) in :mod:`.steps` over the :mod:`.rollout` seam and the
:mod:`.losses` registries, checkpoints and the resume policy in :mod:`.checkpoint`, and
metrics, the progress bar and the summary in :mod:`.reporting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from orbiter.train.config import Algorithm
from orbiter.train.data import RaggedTokens
from orbiter.train.records import Columns, Example, Examples, require_references
from orbiter.train.rewards.registry import (
    BatchedReward,
    needs_reference,
    probe_reward,
    resolve_reward,
)
from orbiter.train.rewards.text import ExtractStyle
from orbiter.train.torch.agent import (
    PolicyAgent,
    TokenizerAdapter,
    check_policy,
    is_orbiter_agent,
    policy_for,
)
from orbiter.train.torch.agent_rollout import agent_rollout
from orbiter.train.torch.batches import (
    Schedule,
    Tokenized,
    check_fits_context,
    column_names,
    columns_of,
    tokenize,
)
from orbiter.train.torch.checkpoint import (
    check_no_symlinks,
    check_resumable,
    check_start,
    discard_checkpoint,
    has_checkpoint,
    load_checkpoint,
    model_config_files,
    save_checkpoint,
    trainer_state,
    training_modules,
)
from orbiter.train.torch.config import TorchTrainConfig, merge_config, validate_config
from orbiter.train.torch.critic import value_head_for
from orbiter.train.torch.dataset import load_examples
from orbiter.train.torch.evaluation import EvalSampling, evaluate_examples
from orbiter.train.torch.export import FINAL_DIR, export
from orbiter.train.torch.generation import Sampling
from orbiter.train.torch.lora import reference_for, with_adapter
from orbiter.train.torch.losses import OBJECTIVES
from orbiter.train.torch.reporting import METRICS_FILE, RunReport, summarize
from orbiter.train.torch.rollout import Rollout, SingleTurnRollout
from orbiter.train.torch.runtime import autocast_for, distributed_from_env, resolve_device
from orbiter.train.torch.schedule import apply_settings, build_scheduler, restore
from orbiter.train.torch.steps import StepContext, train_step
from orbiter.train.torch.trackers import open_trackers
from orbiter.train.trainer import TrainConfig, Trainer, TrainerError, TrainMetrics

logger = logging.getLogger("orbiter.train.torch")


class _StopRequestedError(Exception):
    """The worker noticed a stop request (asyncio cancellation) at a step boundary."""


class TorchTrainer(Trainer):
    """RL fine-tuning of a torch causal LM, on CUDA when present and on the CPU otherwise.

    Each step: sample ``batch_size`` prompts → generate ``group_size`` completions per prompt
    (KV-cached decoding) → decode → score in the Rust core → advantages in the Rust core →
    ``ppo_epochs`` passes of updates over ``mini_batch_size``-prompt mini-batches, each a
    clipped policy-gradient loss over the trainable mask (plus a KL penalty to a frozen
    reference when ``kl_coef > 0``) → AdamW with gradient clipping. One update (the default)
    has a ratio of 1, so the clip only acts on later updates. ``algorithm="sft"`` trains on
    the reference answers instead.

    Metrics go to a tqdm bar, ``output_dir/metrics.jsonl`` and TensorBoard when installed.
    Checkpoints (safetensors + JSON) are written atomically; a trainer on the same
    ``output_dir`` resumes from the last one. A finished run exports the policy to
    ``output_dir/final`` (:meth:`export`). Under ``torchrun`` it runs DDP.
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        if config is None or not isinstance(config, TorchTrainConfig):
            config = merge_config(TorchTrainConfig(), config)
        super().__init__(config)
        self._agent: PolicyAgent | None = None
        self._tokenizer: TokenizerAdapter | None = None
        self._train_examples: Examples | None = None
        self._test_examples: Examples | None = None
        self._train_tokens: Tokenized | None = None
        self._test_tokens: Tokenized | None = None
        self._columns = Columns()
        self.value_head: nn.Module | None = None
        """PPO's critic (a linear head on the policy's last hidden state) after ``train()``."""
        self._reward_name = "math_equal"
        self._reward: BatchedReward | None = None
        self._needs_reference = True
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
        error. ``output_dir`` is created and must be writable, and its ``checkpoint/`` must
        not be a symlink.
        """
        merged = merge_config(self.torch_config, config)
        validate_config(merged)
        if merged.output_dir:
            check_no_symlinks(merged.output_dir)
        self._config = merged

    def check_agent(self, agent: Any, policy: Any | None = None) -> None:
        """Accept a :class:`PolicyAgent` or a bare ``nn.Module`` (with the byte tokenizer):
        trainable parameters, vocabulary at least the tokenizer's, one tiny forward, and
        the schemas of its tools (errors name the tool and the parameter).

        An orbiter-style *agent* (an object with ``instructions`` and ``tools``, each tool
        with ``name``, ``description``, ``parameters`` and ``async execute(**kwargs)``) is
        trained as *policy* (a PolicyAgent or an nn.Module): its instructions and tools go
        with the policy's model, tokenizer and environment."""
        if policy is not None or is_orbiter_agent(agent):
            if policy is None:
                raise TrainerError(
                    f"agent {getattr(agent, 'name', type(agent).__name__)!r} is an orbiter "
                    "agent: pass the model to train as check_agent(agent, policy=PolicyAgent"
                    "(model, tokenizer))"
                )
            agent = policy_for(agent, policy)
        self._agent, self._tokenizer = check_policy(agent)
        if self._train_examples is not None:
            self._tokenize_splits()

    def check_dataset(
        self,
        train_data: Any,
        test_data: Any | None = None,
        *,
        prompt_column: str | None = None,
        answer_column: str | None = None,
    ) -> None:
        """Records with ``input``/``prompt`` and ``answer``/``expected``/``output``, or the
        columns *prompt_column* and *answer_column* (GSM8K ``"question"``, MATH
        ``"problem"`` / ``"solution"``; every record must have them, and :meth:`evaluate`
        maps its data alike): a list of dicts, a JSONL path or a ``datasets.Dataset``. A
        prompt is text or a conversation (``[{"role": ..., "content": ...}, ...]``),
        rendered with the tokenizer's chat template when it has one
        (:mod:`orbiter.train.prompts`). Other columns are handed to batched rewards that
        ask for them. Or pre-tokenized prompts, a ``RaggedTokens`` or ``(RaggedTokens,
        answers)``, used as given (ids checked against the vocabulary in the core). A record
        without a prompt key may hold a tool-use demonstration under ``messages`` (OpenAI /
        TRL roles; :mod:`orbiter.train.records`): ``algorithm="sft"`` trains on its
        assistant tokens, laid out as the agent's multi-turn rollout lays them out
        (:mod:`orbiter.train.torch.turns`), and a conversation the rollout could not produce
        is refused naming the row and the message. The test split is kept for
        :meth:`evaluate`. Tokenized once (when the agent is known) and
        validated in the core; a record without an answer is refused when the reward
        compares with one (checked here once the reward is known, else by
        :meth:`check_reward`).
        """
        columns = Columns(prompt_column, answer_column)
        train = load_examples(train_data, "train_data", columns)
        test = load_examples(test_data, "test_data", columns) if test_data is not None else None
        if self._reward is not None and self._needs_reference:
            self._require_references(train, test)
        self._columns, self._train_examples, self._test_examples = columns, train, test
        self._train_tokens = self._test_tokens = None
        if self._tokenizer is not None:
            self._tokenize_splits()

    def check_reward(self, reward_fn: Any | None = None) -> None:
        """A core reward name (default ``"math_equal"``), a ``RewardPipeline``, a batched
        callable (``fn.batched = True``), a per-item ``fn(output, expected) -> float`` or a
        ``RewardSpec``. A pipeline gets the generated ids as ``response_tokens`` (so token
        rewards such as ``length_penalty`` work), the answers' ids as
        ``reference_tokens`` and the dataset's other columns; a batched callable gets the
        columns (and ``response_tokens``) its signature names, TRL's ``**columns``
        (:mod:`orbiter.train.rewards.registry`). It is probed once on a training example
        when data is known, and a reward that compares with references refuses records
        without one."""
        name, scorer = resolve_reward(reward_fn)
        needs = needs_reference(reward_fn)
        if self._train_examples:
            if needs:
                self._require_references(self._train_examples, self._test_examples, name)
            self._probe(name, scorer, self._train_examples[0])
        self._reward_name, self._reward, self._needs_reference = name, scorer, needs

    def _require_references(
        self, train: Examples, test: Examples | None, name: str | None = None
    ) -> None:
        reward = self._reward_name if name is None else name
        require_references(train, "train_data", reward)
        if test is not None:
            require_references(test, "test_data", reward)

    def _probe(self, name: str, scorer: BatchedReward, example: Example) -> None:
        """Score *example*'s answer as its own response; before :meth:`check_agent` its
        UTF-8 bytes stand in for its tokens."""
        tok = self._tokenizer
        ids = tok.encode_answer(example.answer) if tok else list(example.answer.encode())
        tokens = RaggedTokens.from_sequences([ids])
        probe_reward(
            name,
            scorer,
            example.answer,
            example.answer,
            response_tokens=tokens,
            reference_tokens=tokens,
            columns=columns_of([example], column_names(self._train_examples or [example])),
        )

    def _tokenize_splits(self) -> None:
        """Tokenize the training split and the test split once each (kept for
        :meth:`evaluate`) for the current agent."""
        assert self._train_examples is not None
        self._train_tokens = self._tokenize(self._train_examples, "train_data")
        if self._test_examples is not None:
            self._test_tokens = self._tokenize(self._test_examples, "test_data")

    def _tokenize(self, examples: Sequence[Example], name: str) -> Tokenized:
        assert self._agent is not None and self._tokenizer is not None
        limit = self.torch_config.max_tool_result_tokens
        return tokenize(examples, name, self._agent, self._tokenizer, max_result_tokens=limit)

    def _current(self, data: Tokenized, examples: Sequence[Example], name: str) -> Tokenized:
        """*data*, or *examples* tokenized anew when the config's ``max_tool_result_tokens``
        changed since and their demonstrations are laid out with it."""
        if (
            data.demonstrations
            and data.max_result_tokens != self.torch_config.max_tool_result_tokens
        ):
            return self._tokenize(examples, name)
        return data

    def _require_ready(self) -> tuple[PolicyAgent, TokenizerAdapter, Tokenized, BatchedReward]:
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
        assert self._train_examples is not None
        self._train_tokens = data = self._current(data, self._train_examples, "train_data")
        if self._test_tokens is not None and self._test_examples is not None:
            self._test_tokens = self._current(self._test_tokens, self._test_examples, "test_data")
        check_fits_context(agent.model, data, self.torch_config.max_new_tokens)
        stop = threading.Event()

        async def run() -> TrainMetrics:
            # started once the state is TRAINING
            future = asyncio.get_running_loop().run_in_executor(None, self._run, stop)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                # stop at the next step boundary, with a checkpoint, before reporting
                stop.set()
                with contextlib.suppress(Exception):
                    await future
                raise

        return await self._run_training(
            run(), lambda err: f"training failed at step {self._step}: {err!r}"
        )

    def _run(self, stop: threading.Event) -> TrainMetrics:
        cfg = self.torch_config
        ctx = self._start(*self._require_ready())
        out_dir = Path(cfg.output_dir) if cfg.output_dir else None
        if cfg.batch_size < ctx.dist.world:
            raise TrainerError(
                f"config.batch_size = {cfg.batch_size} is smaller than the {ctx.dist.world} "
                "ranks: every rank needs at least one prompt per step"
            )
        schedule = Schedule.of(
            len(ctx.data.prompts),
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            epochs=cfg.epochs,
            max_steps=cfg.max_steps,
        )
        ctx.scheduler = build_scheduler(ctx.optimizer, cfg, schedule.total)
        start = self._resume(ctx, out_dir)
        if out_dir is not None:
            check_start(start, schedule.total, out_dir)
            if start == schedule.total:
                logger.warning(
                    "the run in %s already finished (step %d of %d): nothing to train, its "
                    "metrics are returned (resume=False starts afresh)",
                    out_dir,
                    start,
                    schedule.total,
                )
        report = RunReport(
            out_dir,
            total=schedule.total,
            start=start,
            log_every=cfg.log_every,
            enabled=ctx.dist.is_main,
            trackers=open_trackers(cfg, out_dir) if ctx.dist.is_main else (),
        )
        autocast = autocast_for(cfg.dtype, ctx.device)
        self._step = start
        try:
            for step in range(start, schedule.total):
                if stop.is_set():
                    raise _StopRequestedError
                indices = schedule.indices(step, world=ctx.dist.world, rank=ctx.dist.rank)
                with autocast:
                    metrics = train_step(ctx, indices, step)
                metrics = ctx.dist.mean(metrics)
                metrics["step"] = step + 1
                metrics["epoch"] = schedule.epoch_of(step) + 1
                self._after_step(ctx, metrics, report, out_dir)
        except _StopRequestedError:
            if out_dir is not None:
                self._checkpoint(ctx, out_dir, self._step)
            raise TrainerError(f"training cancelled at step {self._step}") from None
        finally:
            report.close()
        if out_dir is not None and self._step > start:
            self._checkpoint(ctx, out_dir, self._step)
            if cfg.save_final and ctx.dist.is_main:
                self.export(out_dir / FINAL_DIR)
        ctx.dist.close()
        return summarize(report.history, self._step, schedule.total)

    def _start(
        self, agent: PolicyAgent, tok: TokenizerAdapter, data: Tokenized, reward: BatchedReward
    ) -> StepContext:
        """Place the policy on this rank's device (wrapped for DDP), and build the value
        head, the optimizer, the KL reference and the rollout of the run."""
        cfg = self.torch_config
        device = resolve_device(cfg.device)
        dist = distributed_from_env(device)
        objective = OBJECTIVES[Algorithm(cfg.algorithm)]
        # A peft_config wraps the policy once; the agent keeps the peft model from then on.
        agent.model = with_adapter(agent.model, cfg.peft_config, cfg.seed)
        model = agent.model.to(device)
        model.train()
        policy = dist.wrap(model)
        value_head = value_head_for(model, device) if objective.uses_critic else None
        self.value_head = value_head
        params = [p for p in model.parameters() if p.requires_grad]
        if value_head is not None:
            params += list(value_head.parameters())
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        # The KL reference is the policy as handed in, also when resuming (taken before the
        # checkpoint's weights are loaded into the model); for a peft policy, its base.
        reference = None
        if cfg.kl_coef > 0 and not objective.supervised:
            reference = reference_for(model)
        sampling = Sampling(
            cfg.max_new_tokens, tok.eos_token_id, tok.pad_token_id, cfg.temperature, cfg.top_p
        )
        rollout: Rollout = SingleTurnRollout(data, tok, reward, cfg.group_size, sampling, device)
        if agent.is_agentic:
            rollout = agent_rollout(
                agent,
                data,
                tok,
                reward,
                cfg,
                group_size=cfg.group_size,
                sampling=sampling,
                device=device,
            )
        return StepContext(
            cfg=cfg,
            objective=objective,
            model=model,
            policy=policy,
            optimizer=optimizer,
            dist=dist,
            device=device,
            tok=tok,
            data=data,
            rollout=rollout,
            value_head=value_head,
            reference=reference,
        )

    def _resume(self, ctx: StepContext, out_dir: Path | None) -> int:
        """The step to start from: the checkpoint's in *out_dir* (loaded into the modules and
        the optimizer, its config checked against this one, the schedule restored, the
        configured learning rate and weight decay set), else 0. With ``resume=False`` the
        checkpoint is discarded (by rank 0) first."""
        if out_dir is None:
            return 0
        if not ctx.cfg.resume:
            if ctx.dist.is_main and has_checkpoint(out_dir):
                logger.warning("resume=False: discarding the checkpoint in %s", out_dir)
                discard_checkpoint(out_dir)
            return 0
        if not has_checkpoint(out_dir):
            return 0
        modules = training_modules(ctx.model, ctx.value_head)
        state = load_checkpoint(
            out_dir,
            modules,
            ctx.optimizer,
            lambda saved: check_resumable(saved.get("config", {}), ctx.cfg, out_dir),
        )
        start = int(state["step"])
        restore(ctx.scheduler, state.get("scheduler"), start)
        apply_settings(ctx.optimizer, ctx.scheduler, ctx.cfg)
        logger.info("resuming from %s at step %d", out_dir, start)
        return start

    def _after_step(
        self,
        ctx: StepContext,
        metrics: dict[str, float],
        report: RunReport,
        out_dir: Path | None,
    ) -> None:
        """Record a finished step; evaluate and checkpoint when their interval comes round."""
        cfg = ctx.cfg
        done = int(metrics["step"])
        self._step = done
        self.last_step_metrics = metrics
        report.step(metrics)
        if (
            cfg.eval_every
            and done % cfg.eval_every == 0
            and self._test_examples
            and ctx.dist.is_main
        ):
            evaluation = self._evaluate_sync(self._test_examples, None, self._test_tokens)
            row = {"step": done, "eval_accuracy": evaluation.accuracy}
            # an agent's evaluation also says how it used its tools
            for key in ("tool_use_rate", "tool_error_rate"):
                if key in evaluation.extra:
                    row[f"eval_{key}"] = evaluation.extra[key]
            report.write(row)
        if out_dir is not None and cfg.checkpoint_every and done % cfg.checkpoint_every == 0:
            self._checkpoint(ctx, out_dir, done)

    def _checkpoint(self, ctx: StepContext, out_dir: Path, step: int) -> None:
        if not ctx.dist.is_main:
            return
        modules = training_modules(ctx.model, ctx.value_head)
        state = trainer_state(ctx.cfg, step, self._reward_name)
        if ctx.scheduler is not None:
            state["scheduler"] = ctx.scheduler.state_dict()
        instructions = self._agent.instructions if self._agent is not None else ""
        files = model_config_files(ctx.model, instructions)
        save_checkpoint(out_dir, modules, ctx.optimizer, state, files)

    def export(self, path: str | Path | None = None) -> Path:
        """Write the policy to *path* (default ``output_dir/final``, where a run writes it
        when it ends) with :func:`~orbiter.train.torch.export.export`: ``save_pretrained``
        for a transformers model (``AutoModelForCausalLM.from_pretrained`` loads it), only
        the adapter for a peft model (``PeftModel.from_pretrained`` on the base), the
        built-in model's weights and ``model_config.json`` otherwise, and the tokenizer when
        it has ``save_pretrained``.

        Returns:
            The directory written.
        """
        if self._agent is None:
            raise TrainerError("export() needs check_agent first")
        if path is None:
            if not self.torch_config.output_dir:
                raise TrainerError("export() needs a path, or config.output_dir")
            path = Path(self.torch_config.output_dir) / FINAL_DIR
        return export(self._agent, path)

    # -- evaluation -------------------------------------------------------------------------

    async def evaluate(
        self,
        test_data: Any | None = None,
        *,
        n_samples: int = 1,
        temperature: float = 0.0,
        answer_style: ExtractStyle = "last_number",
    ) -> TrainMetrics:
        """Completions of *test_data* (or the test split from ``check_dataset``, whose column
        mapping *test_data* shares), scored in the core: greedy by default, or *n_samples*
        per item sampled at *temperature* (> 0; seeded with ``config.seed``, nucleus
        ``config.top_p``).

        A sample is correct when its reward is ``>= config.accuracy_threshold`` (default
        1.0). maj@k votes on the answers ``extract_answer(style=answer_style)`` finds.

        An agent with tools or an environment is evaluated as it trains: each sample is a
        multi-turn trajectory (up to ``config.max_turns`` turns, the config's tool limits),
        scored on its final turn by the reward plus the environment's ``reward()``.

        Returns:
            ``TrainMetrics(loss = mean NLL per token of the references, accuracy = share
            of correct samples, steps = items, extra = reward_mean (mean@k), reward_std,
            reward_min, reward_max, "pass@1", "pass@2", ... "pass@k" (Chen et al.'s unbiased
            estimator), "maj@k", n_samples, temperature, accuracy_threshold, samples)``;
            for an agent with tools, ``loss`` is the NLL per assistant token of the items'
            demonstrations (``messages`` records; 0 without any) and ``extra`` also holds
            ``turns``, ``tool_calls`` (per trajectory), ``tool_use_rate`` (share of
            trajectories with a call), ``tool_error_rate`` (failed calls / calls),
            ``trajectory_len`` and ``truncation_rate``.
        """
        sampling = EvalSampling(n_samples, temperature, answer_style)
        if self._agent is None or self._reward is None:
            raise TrainerError("evaluate() needs check_agent and check_reward first")
        if test_data is not None:
            examples: Examples | None = load_examples(test_data, "test_data", self._columns)
            data = None
        else:
            examples, data = self._test_examples, self._test_tokens
        if not examples:
            raise TrainerError(
                "evaluate() has no test data: pass test_data or give check_dataset one"
            )
        if self._needs_reference:
            require_references(examples, "test_data", self._reward_name)
        data = (
            self._tokenize(examples, "test_data")
            if data is None
            else self._current(data, examples, "test_data")
        )
        check_fits_context(self._agent.model, data, self.torch_config.max_new_tokens, "test_data")
        try:
            return await asyncio.to_thread(self._evaluate_sync, examples, sampling, data)
        except TrainerError:
            raise
        except Exception as err:
            raise TrainerError(f"evaluation failed: {err!r}") from err

    def _evaluate_sync(
        self,
        examples: Sequence[Example],
        sampling: EvalSampling | None = None,
        data: Tokenized | None = None,
    ) -> TrainMetrics:
        agent, tok, reward = self._agent, self._tokenizer, self._reward
        assert agent is not None and tok is not None and reward is not None
        cfg = self.torch_config
        return evaluate_examples(agent, tok, reward, examples, cfg, sampling, data)


# The metrics file's name, for the demo and other readers of a run's output directory.
__all__ = ["METRICS_FILE", "TorchTrainer"]
