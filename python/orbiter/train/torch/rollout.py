"""The rollout seam: whatever produces a step's trajectories returns one :class:`RolloutBatch`.

Today's rollout is :class:`SingleTurnRollout` (one sampled completion per prompt and group
member, scored once). A multi-turn agent rollout, whose responses interleave sampled tokens
with tool and template tokens, plugs in beside it: it fills ``completion_mask`` with every
response token and ``trainable_mask`` with the sampled ones, and the loss reads only these.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from orbiter.train.data import RaggedTokens
from orbiter.train.rewards.registry import BatchedReward
from orbiter.train.torch.agent import TokenizerAdapter
from orbiter.train.torch.batches import Tokenized, pad, response_tokens
from orbiter.train.torch.generation import Sampling, sample
from orbiter.train.trajectories import TrajectoryBatch


@dataclass(frozen=True, slots=True)
class RolloutBatch:
    """B trajectories, padded, on the training device.

    Attributes:
        prompt_ids: (B, P) long, left-padded prompts.
        prompt_mask: (B, P) bool, true on prompt tokens.
        completion_ids: (B, N) long, right-padded responses, every token as sampled
            (generated tokens and, in agent rollouts, tool and template tokens).
        completion_mask: (B, N) bool, true on response tokens (what the model attends to).
        trainable_mask: (B, N) bool, true on the tokens the policy sampled (what the loss and
            the advantages cover); equal to ``completion_mask`` for a single turn.
        rollout_logprobs: (B, N) float32, the policy's log-probability of each token when it
            was sampled, 0 off ``trainable_mask``.
        rewards: (B,) float32, one score per trajectory.
        group_ids: (B,) int64, trajectories answering the same prompt share an id.
        generate_seconds: Time spent generating (``time_generate``).
        score_seconds: Time spent decoding and scoring (``time_score``).
        turn_ends: Per trajectory, the response length after each assistant turn (the turn
            boundaries; empty for a single turn).
        metrics: What the rollout reports besides (multi-turn: turns, tool calls, tool
            error rate, trajectory length, truncation rate), added to the step's metrics.
        trajectories: The multi-turn rollout's trajectories as the core checked them (the
            rows of every padded tensor above, with their turns and rewards); None for a
            single turn.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    trainable_mask: torch.Tensor
    rollout_logprobs: torch.Tensor
    rewards: np.ndarray
    group_ids: np.ndarray
    generate_seconds: float = 0.0
    score_seconds: float = 0.0
    turn_ends: list[list[int]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    trajectories: TrajectoryBatch | None = None

    def __len__(self) -> int:
        return int(self.completion_ids.shape[0])


class Rollout(Protocol):
    """Produces and scores the trajectories of one step."""

    def collect(
        self, model: nn.Module, indices: list[int], generator: torch.Generator
    ) -> RolloutBatch:
        """Trajectories for the training examples *indices* under *model* (the unwrapped
        policy), drawing every sample from *generator*; *model* is left in training mode."""
        ...


@dataclass(slots=True)
class SingleTurnRollout:
    """``group_size`` sampled completions per prompt (KV-cached decoding), decoded and
    scored against the example's answer in one batched reward call, which also gets the
    generated ids (``response_tokens``, up to and with the first eos), the answers' ids
    (``reference_tokens``, eos-terminated) and the dataset's other columns."""

    data: Tokenized
    tok: TokenizerAdapter
    reward: BatchedReward
    group_size: int
    sampling: Sampling
    device: torch.device

    def collect(
        self, model: nn.Module, indices: list[int], generator: torch.Generator
    ) -> RolloutBatch:
        group, tok = self.group_size, self.tok
        t0 = time.perf_counter()
        rows = [i for i in indices for _ in range(group)]
        prompts = [self.data.prompts[i] for i in rows]
        references = [self.data.examples[i].answer for i in rows]
        prompt_ids, prompt_mask = pad(prompts, tok.pad_token_id, left=True, device=self.device)
        model.eval()
        completion_ids, completion_mask, logprobs = sample(
            model, prompt_ids, prompt_mask, self.sampling, generator
        )
        model.train()
        t1 = time.perf_counter()
        texts = [tok.decode(row) for row in completion_ids.tolist()]
        scores = self.reward(
            texts,
            references,
            response_tokens=response_tokens(completion_ids, completion_mask),
            reference_tokens=RaggedTokens.from_sequences([self.data.answers[i] for i in rows]),
            columns=self.data.columns(rows),
        )
        t2 = time.perf_counter()
        return RolloutBatch(
            prompt_ids=prompt_ids,
            prompt_mask=prompt_mask,
            completion_ids=completion_ids,
            completion_mask=completion_mask,
            trainable_mask=completion_mask,
            rollout_logprobs=logprobs,
            rewards=scores,
            group_ids=np.repeat(np.arange(len(indices), dtype=np.int64), group),
            generate_seconds=t1 - t0,
            score_seconds=t2 - t1,
        )
