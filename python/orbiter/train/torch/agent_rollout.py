"""The multi-turn rollout: the policy samples, calls tools, reads their results and answers,
token in, token out.

Each trajectory is its prompt ids followed by a response that interleaves

- the ids the policy sampled, exactly as sampled (trainable, with their rollout logprobs), and
- the tool results and the template's scaffolding between turns (not trainable, logprob 0),
  rendered as text for the new turn only (:meth:`ToolCallFormat.results_text`) and encoded
  on their own, appended after the sampled ids (:func:`orbiter.train.torch.turns.results_span`,
  which lays out supervised demonstrations too).

The conversation is never re-rendered or re-tokenized: what the policy read at each turn is
the training data. A turn's calls are parsed from its decoded text by the agent's tool-call
format and run by :func:`orbiter.train.agents.execute_calls`; a failing call becomes an
error result. A trajectory ends when a turn makes no call, after ``max_turns`` turns, or when
its response reaches ``max_total_tokens`` (then it counts as truncated).

All live trajectories of a step generate together, one batched sampler call per turn, and
finished ones drop out. The KV cache is not kept across turns: each turn's sampler call
re-encodes the exact ids of the prefix (prompt + response so far) once, then decodes with a
cache.

The reward is the reward function's score of the final turn's text (its sampled ids are
``response_tokens``) plus the environment's ``reward()``; it lands on the trajectory's last
trainable token through the advantage estimators.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from orbiter.train.agents import (
    Environment,
    Tool,
    ToolCall,
    ToolCallFormat,
    ToolResult,
    ToolSet,
    environment_tools,
    execute_calls,
    reset_fields,
)
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerError
from orbiter.train.rewards.registry import BatchedReward
from orbiter.train.torch.agent import PolicyAgent, TokenizerAdapter
from orbiter.train.torch.batches import Tokenized, context_length, model_vocab_size, pad
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.generation import Sampling, sample
from orbiter.train.torch.rollout import RolloutBatch
from orbiter.train.torch.turns import results_span
from orbiter.train.trajectories import TrajectoryBatch

Sampler = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, Sampling, torch.Generator | None],
    tuple[torch.Tensor, torch.Tensor, torch.Tensor],
]
"""``(model, prompt_ids, prompt_mask, sampling, generator) -> (ids, mask, logprobs)``, as
:func:`orbiter.train.torch.generation.sample`."""


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """Bounds of a multi-turn rollout.

    Attributes:
        max_turns: Assistant turns per trajectory (1: one sampled response, tools unused).
        max_tool_calls: Calls run per turn; further ones get an error result.
        max_total_tokens: Response tokens per trajectory, sampled and appended together
            (None: only the model's positions bound it).
        tool_timeout: Seconds a call may take (None: no deadline).
        max_tool_result_tokens: Tokens of one result's content; longer ones are cut and
            marked ``[truncated]`` (None: no cap).
    """

    max_turns: int = 1
    max_tool_calls: int = 4
    max_total_tokens: int | None = None
    tool_timeout: float | None = 30.0
    max_tool_result_tokens: int | None = 256


def agent_rollout(
    agent: PolicyAgent,
    data: Tokenized,
    tok: TokenizerAdapter,
    reward: BatchedReward,
    cfg: TorchTrainConfig,
    *,
    group_size: int,
    sampling: Sampling,
    device: torch.device,
) -> MultiTurnRollout:
    """The multi-turn rollout of *agent* (its tools, format and environment) over *data*,
    bounded by the config's turn and tool limits and the model's positions: what training
    and evaluation both run."""
    return MultiTurnRollout(
        data,
        tok,
        reward,
        group_size,
        sampling,
        device,
        tools=list(ToolSet(agent.tools)),
        tool_format=agent.format,
        environment=agent.environment,
        limits=TurnLimits(
            cfg.max_turns,
            cfg.max_tool_calls,
            cfg.max_total_tokens,
            cfg.tool_timeout,
            cfg.max_tool_result_tokens,
        ),
        context=context_length(agent.model),
        vocab_size=model_vocab_size(agent.model),
    )


@dataclass(slots=True)
class Trajectory:
    """One trajectory being built: the response ids, their trainable mask (1: sampled) and
    rollout logprobs, the response length after each turn, and counts."""

    prompt: list[int]
    budget: int
    ids: list[int] = field(default_factory=list)
    trainable: list[bool] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turn_ends: list[int] = field(default_factory=list)
    final: list[int] = field(default_factory=list)
    tool_calls: int = 0
    tool_errors: int = 0
    truncated: bool = False
    done: bool = False

    def append(self, ids: Sequence[int], logprobs: Sequence[float] | None) -> None:
        """Append sampled ids with their *logprobs*, or (None) a non-trainable span."""
        self.ids.extend(ids)
        self.trainable.extend([logprobs is not None] * len(ids))
        self.logprobs.extend(logprobs if logprobs is not None else [0.0] * len(ids))


@dataclass(frozen=True, slots=True)
class Finished:
    """The trajectories of :meth:`MultiTurnRollout.run`, their scores (float32), and the
    seconds spent generating (with the tools) and scoring."""

    trajectories: list[Trajectory]
    scores: np.ndarray
    generate_seconds: float
    score_seconds: float


@dataclass(slots=True)
class MultiTurnRollout:
    """``group_size`` multi-turn trajectories per prompt (see the module docstring).

    *sampler* draws each turn (a stand-in makes the layout testable without a model that
    calls tools); *context* is the model's positions, which bound prompt plus response;
    *vocab_size* the ids the model emits, which bound every id of the batch (None: unchecked).
    The step's trajectories become one :class:`~orbiter.train.trajectories.TrajectoryBatch`,
    checked once, which the padded tensors come from.
    """

    data: Tokenized
    tok: TokenizerAdapter
    reward: BatchedReward
    group_size: int
    sampling: Sampling
    device: torch.device
    tools: Sequence[Tool]
    tool_format: ToolCallFormat
    environment: Callable[[], Environment] | None = None
    limits: TurnLimits = TurnLimits()
    context: int | None = None
    vocab_size: int | None = None
    sampler: Sampler = sample

    def collect(
        self, model: nn.Module, indices: list[int], generator: torch.Generator
    ) -> RolloutBatch:
        rows = [i for i in indices for _ in range(self.group_size)]
        done = self.run(model, rows, generator)
        model.train()
        return self._batch(indices, done)

    def run(self, model: nn.Module, rows: list[int], generator: torch.Generator) -> Finished:
        """One trajectory for each of the examples *rows* (repeats allowed), all generated
        together, and their scores; *model* samples in eval mode and is left in the mode it
        had. Every environment made is closed, also when the rollout fails."""
        t0 = time.perf_counter()
        envs: list[Environment | None] = []
        was_training = model.training
        try:
            for i in rows:
                envs.append(self._reset(i))
            toolsets = [ToolSet([*self.tools, *self._own_tools(env)]) for env in envs]
            trajectories = [self._start(self.data.prompts[i]) for i in rows]
            model.eval()
            try:
                for turn in range(self.limits.max_turns):
                    live = [k for k, t in enumerate(trajectories) if not t.done]
                    if not live:
                        break
                    calls = self._sample_turn(model, trajectories, live, turn, generator)
                    self._answer_calls(trajectories, toolsets, calls)
            finally:
                model.train(was_training)
            t1 = time.perf_counter()
            scores = self._score(rows, trajectories, envs)
        finally:
            for env in envs:
                if env is not None:
                    env.close()
        return Finished(trajectories, scores, t1 - t0, time.perf_counter() - t1)

    def _reset(self, row: int) -> Environment | None:
        """A fresh environment for the record *row*, reset with its fields."""
        if self.environment is None:
            return None
        env = self.environment()
        try:
            env.reset(**reset_fields(self.data.examples[row]))
        except Exception as err:
            env.close()
            raise TrainerError(
                f"train_data[{row}]: {type(env).__name__}.reset raised {err!r}"
            ) from err
        return env

    @staticmethod
    def _own_tools(env: Environment | None) -> list[Tool]:
        return list(environment_tools(env)) if env is not None else []

    def _start(self, prompt: list[int]) -> Trajectory:
        budgets = [b for b in (self.limits.max_total_tokens,) if b is not None]
        if self.context is not None:
            budgets.append(self.context - len(prompt))
        budget = min(budgets) if budgets else sys.maxsize
        return Trajectory(list(prompt), budget)

    def _sample_turn(
        self,
        model: nn.Module,
        trajectories: list[Trajectory],
        live: list[int],
        turn: int,
        generator: torch.Generator,
    ) -> dict[int, list[ToolCall]]:
        """Sample one turn for the trajectories *live*, together; the calls of those that
        go on, by trajectory."""
        contexts = [trajectories[k].prompt + trajectories[k].ids for k in live]
        room = [trajectories[k].budget - len(trajectories[k].ids) for k in live]
        ids, mask = pad(contexts, self.tok.pad_token_id, left=True, device=self.device)
        sampling = dataclasses.replace(
            self.sampling, max_new_tokens=max(1, min(self.sampling.max_new_tokens, max(room)))
        )
        out_ids, out_mask, out_logprobs = self.sampler(model, ids, mask, sampling, generator)
        lengths = out_mask.sum(-1).tolist()
        out_rows, out_lp = out_ids.tolist(), out_logprobs.float().tolist()
        calls: dict[int, list[ToolCall]] = {}
        last_turn = turn + 1 == self.limits.max_turns
        for j, k in enumerate(live):
            t = trajectories[k]
            take = min(int(lengths[j]), room[j])
            sampled = out_rows[j][:take]
            t.append(sampled, out_lp[j][:take])
            t.turn_ends.append(len(t.ids))
            t.final = sampled
            parsed = self.tool_format.parse(self.tok.decode(sampled))
            if len(t.ids) >= t.budget:
                t.done, t.truncated = True, True
            elif not parsed:
                t.done = True
            elif last_turn:
                t.done, t.truncated = True, True  # it still wanted a tool
            else:
                calls[k] = parsed
        return calls

    def _answer_calls(
        self,
        trajectories: list[Trajectory],
        toolsets: list[ToolSet],
        calls: dict[int, list[ToolCall]],
    ) -> None:
        """Run each trajectory's calls (beyond ``max_tool_calls``: an error result) and
        append the results' tokens as a non-trainable span."""
        if not calls:
            return
        cap = self.limits.max_tool_calls

        async def run_all() -> list[list[ToolResult]]:
            return list(
                await asyncio.gather(
                    *(
                        execute_calls(toolsets[k], c[:cap], self.limits.tool_timeout)
                        for k, c in calls.items()
                    )
                )
            )

        answered = asyncio.run(run_all())
        for (k, made), results in zip(calls.items(), answered, strict=True):
            t = trajectories[k]
            results += [
                ToolResult(c.name, f"error: more than {cap} tool calls in one turn", error=True)
                for c in made[cap:]
            ]
            t.tool_calls += len(results)
            t.tool_errors += sum(r.error for r in results)
            span = results_span(
                self.tok,
                self.tool_format,
                results,
                ended=bool(t.final) and t.final[-1] == self.tok.eos_token_id,
                max_result_tokens=self.limits.max_tool_result_tokens,
            )
            if len(t.ids) + len(span) >= t.budget:
                t.done, t.truncated = True, True  # no room to answer after the results
                continue
            t.append(span, None)

    def _score(
        self, rows: list[int], trajectories: list[Trajectory], envs: list[Environment | None]
    ) -> np.ndarray:
        """The reward function's scores of the final turns, plus each environment's reward."""
        finals = [t.final for t in trajectories]
        scores = self.reward(
            [self.tok.decode(ids) for ids in finals],
            [self.data.examples[i].answer for i in rows],
            response_tokens=RaggedTokens.from_sequences(finals),
            reference_tokens=RaggedTokens.from_sequences([self.data.answers[i] for i in rows]),
            columns=self.data.columns(rows),
        )
        scores = np.asarray(scores, dtype=np.float32).copy()
        for k, env in enumerate(envs):
            if env is not None:
                scores[k] += float(env.reward())
        return scores

    def _batch(self, indices: list[int], done: Finished) -> RolloutBatch:
        trajectories = done.trajectories
        batch = TrajectoryBatch.from_sequences(
            [t.prompt for t in trajectories],
            [t.ids for t in trajectories],
            [t.trainable for t in trajectories],
            [t.logprobs for t in trajectories],
            [t.turn_ends for t in trajectories],
            rewards=done.scores,
            vocab_size=self.vocab_size,
        )
        padded = batch.to_padded(self.tok.pad_token_id)
        device = self.device
        return RolloutBatch(
            prompt_ids=torch.from_numpy(padded.prompt_ids).to(device),
            prompt_mask=torch.from_numpy(padded.prompt_mask).to(device),
            completion_ids=torch.from_numpy(padded.response_ids).to(device),
            completion_mask=torch.from_numpy(padded.response_mask).to(device),
            trainable_mask=torch.from_numpy(padded.trainable_mask).to(device),
            rollout_logprobs=torch.from_numpy(padded.logprobs).to(device),
            rewards=done.scores,
            group_ids=np.repeat(np.arange(len(indices), dtype=np.int64), self.group_size),
            generate_seconds=done.generate_seconds,
            score_seconds=done.score_seconds,
            turn_ends=[list(t.turn_ends) for t in trajectories],
            trajectories=batch,
            metrics=trajectory_metrics(trajectories),
        )


def trajectory_metrics(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Means over the trajectories: ``turns`` (assistant turns), ``tool_calls``,
    ``tool_use_rate`` (the share with at least one call), ``trajectory_len`` (response
    tokens) and ``truncation_rate``; and ``tool_error_rate``, failed calls / calls (0
    without calls)."""
    n = len(trajectories)
    calls = sum(t.tool_calls for t in trajectories)
    return {
        "turns": sum(len(t.turn_ends) for t in trajectories) / n,
        "tool_calls": calls / n,
        "tool_use_rate": sum(t.tool_calls > 0 for t in trajectories) / n,
        "tool_error_rate": sum(t.tool_errors for t in trajectories) / calls if calls else 0.0,
        "trajectory_len": sum(len(t.ids) for t in trajectories) / n,
        "truncation_rate": sum(t.truncated for t in trajectories) / n,
    }
