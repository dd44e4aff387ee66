"""Evaluation of a policy on examples: greedy, or ``n_samples`` sampled completions per item
scored in the core, with accuracy at a threshold, pass@k and maj@k; for an agent with tools,
multi-turn trajectories scored as in training, with tool-use metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerValueError
from orbiter.train.prompts import prompt_text
from orbiter.train.records import Example
from orbiter.train.rewards import extract_answer
from orbiter.train.rewards.registry import BatchedReward
from orbiter.train.rewards.text import ExtractStyle
from orbiter.train.torch.agent import PolicyAgent, TokenizerAdapter
from orbiter.train.torch.agent_rollout import Trajectory, agent_rollout, trajectory_metrics
from orbiter.train.torch.batches import Tokenized, columns_of, pad, tokenize
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.generation import Sampling, completion_logprobs, generate
from orbiter.train.trainer import TrainMetrics

ANSWER_STYLES = ("gsm8k", "boxed", "last_number")


@dataclass(frozen=True, slots=True)
class EvalSampling:
    """How :func:`evaluate_examples` draws: ``n_samples`` completions per item at
    ``temperature`` (0: greedy, then ``n_samples`` must be 1); maj@k votes on the answers
    that ``extract_answer(style=answer_style)`` finds."""

    n_samples: int = 1
    temperature: float = 0.0
    answer_style: ExtractStyle = "last_number"

    def __post_init__(self) -> None:
        n, t = self.n_samples, self.temperature
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TrainerValueError(f"evaluate(n_samples={n!r}): must be an int >= 1")
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 <= t < float("inf"):
            raise TrainerValueError(f"evaluate(temperature={t!r}): must be a number >= 0")
        if n > 1 and t == 0.0:
            raise TrainerValueError(
                f"evaluate(n_samples={n}, temperature=0): greedy decoding gives one "
                "completion; sample with a temperature > 0"
            )
        if self.answer_style not in ANSWER_STYLES:
            raise TrainerValueError(
                f"evaluate(answer_style={self.answer_style!r}): must be one of {ANSWER_STYLES}"
            )


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator of Chen et al. (2021) from *n* samples of which *c*
    are correct: ``1 - C(n - c, k) / C(n, k)``, computed as
    ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)`` (1 when ``n - c < k``)."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(answers: list[str | None], correct: np.ndarray) -> bool:
    """maj@k of one item: whether the sample carrying the most frequent extracted answer
    is correct (ties: the answer seen first; samples without an answer do not vote; no
    answer at all: False). *answers* and *correct* are the item's k samples."""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    winner = votes.most_common(1)[0][0]
    return bool(correct[answers.index(winner)])


def pass_ks(k: int) -> list[int]:
    """The k of the pass@k a k-sample evaluation reports: 1, 2, 4, ... up to *k*, and k."""
    ks = [1 << i for i in range(k.bit_length()) if 1 << i <= k]
    return ks if ks[-1] == k else [*ks, k]


def evaluate_examples(
    agent: PolicyAgent,
    tok: TokenizerAdapter,
    reward: BatchedReward,
    examples: Sequence[Example],
    cfg: TorchTrainConfig,
    sampling: EvalSampling | None = None,
    data: Tokenized | None = None,
) -> TrainMetrics:
    """``n_samples`` completions of each of *examples* (greedy by default), in chunks of
    ``max(batch_size * group_size, 64)`` completions, on the model's device (sampled ones
    from a generator seeded with ``config.seed``, at ``config.top_p``), the model's
    training mode restored afterwards. An item's sample is correct when its reward is
    ``>= config.accuracy_threshold``. An agent with tools or an environment runs the
    multi-turn rollout instead (:func:`evaluate_multi_turn`). *data* is *examples*
    tokenized already (:func:`~orbiter.train.torch.batches.tokenize`), else they are
    tokenized here.

    Returns:
        ``TrainMetrics(loss = sum of reference-token NLL / reference tokens, accuracy = share
        of correct samples, steps = items, extra = reward mean (mean@k), std, min and max over
        all samples, "pass@j" for j in 1, 2, 4, ..., k (:func:`pass_at_k`, averaged over
        items), "maj@k" (:func:`majority_correct`, averaged), n_samples, temperature,
        accuracy_threshold and the first five items' first samples)``.
    """
    sampling = sampling or EvalSampling()
    if data is None:
        limit = cfg.max_tool_result_tokens
        data = tokenize(examples, "test_data", agent, tok, max_result_tokens=limit)
    if agent.is_agentic:
        return evaluate_multi_turn(agent, tok, reward, examples, cfg, sampling, data)
    k = sampling.n_samples
    model = agent.model
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    generated: list[list[int]] = []
    nll = _Nll()
    size = _chunk(cfg, k)
    generator = _generator(sampling, device, cfg)
    try:
        with torch.no_grad():
            for lo in range(0, len(examples), size):
                chunk = examples[lo : lo + size]
                prompts = data.prompts[lo : lo + size]
                ids, mask = pad(prompts, tok.pad_token_id, left=True, device=device)
                completion, mask_c = generate(
                    model,
                    ids.repeat_interleave(k, 0),
                    mask.repeat_interleave(k, 0),
                    max_new_tokens=cfg.max_new_tokens,
                    eos_token_id=tok.eos_token_id,
                    pad_token_id=tok.pad_token_id,
                    temperature=sampling.temperature,
                    top_p=cfg.top_p if sampling.temperature > 0 else 1.0,
                    generator=generator,
                )
                rows = completion.tolist()
                outputs += [tok.decode(row) for row in rows]
                # the mask is true up to and with the first eos
                lengths = mask_c.sum(dim=1).tolist()
                generated += [row[:n] for row, n in zip(rows, lengths, strict=True)]
                answered = [lo + j for j, e in enumerate(chunk) if e.answer]
                answers = [data.answers[i] for i in answered]
                nll.add(model, tok, [prompts[i - lo] for i in answered], answers, None, device)
    finally:
        model.train(was_training)
    repeated = [e for e in examples for _ in range(k)]
    scores = reward(
        outputs,
        [e.answer for e in repeated],
        response_tokens=RaggedTokens.from_sequences(generated),
        reference_tokens=RaggedTokens.from_sequences(
            [data.answers[i] for i in range(len(examples)) for _ in range(k)]
        ),
        columns=columns_of(repeated),
    )
    samples = [
        {"input": _question(tok, e), "output": outputs[i * k], "answer": e.answer}
        for i, e in enumerate(examples[:5])
    ]
    return _metrics(scores, outputs, examples, sampling, cfg, nll.mean, {}, samples)


def evaluate_multi_turn(
    agent: PolicyAgent,
    tok: TokenizerAdapter,
    reward: BatchedReward,
    examples: Sequence[Example],
    cfg: TorchTrainConfig,
    sampling: EvalSampling,
    data: Tokenized,
) -> TrainMetrics:
    """:func:`evaluate_examples` of an agent with tools or an environment: ``n_samples``
    multi-turn trajectories per item (:class:`~orbiter.train.torch.agent_rollout.MultiTurnRollout`
    under the config's turn and tool limits, ``max_new_tokens`` a turn), each scored as in
    training, the reward function on its final turn plus the environment's reward.

    Returns:
        The metrics of :func:`evaluate_examples` over the final turns, with ``loss`` the NLL
        per trainable token of the items' demonstrations (``messages`` records; 0 when none
        has one), and in ``extra`` the trajectories' means
        (:func:`~orbiter.train.torch.agent_rollout.trajectory_metrics`): ``turns``,
        ``tool_calls`` (per trajectory), ``tool_use_rate`` (the share with at least one
        call), ``tool_error_rate`` (failed calls / calls), ``trajectory_len`` and
        ``truncation_rate``; each sample also shows its ``transcript`` (the whole response,
        tool results included) and its ``tool_calls``.
    """
    k = sampling.n_samples
    model = agent.model
    device = next(model.parameters()).device
    turn = Sampling(
        cfg.max_new_tokens,
        tok.eos_token_id,
        tok.pad_token_id,
        sampling.temperature,
        cfg.top_p if sampling.temperature > 0 else 1.0,
    )
    rollout = agent_rollout(
        agent, data, tok, reward, cfg, group_size=k, sampling=turn, device=device
    )
    # greedy decoding draws nothing from it
    generator = _generator(sampling, device, cfg) or torch.Generator(device=device)
    trajectories: list[Trajectory] = []
    scores: list[np.ndarray] = []
    nll = _Nll()
    size = _chunk(cfg, k)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for lo in range(0, len(examples), size):
                items = range(lo, min(len(examples), lo + size))
                done = rollout.run(model, [i for i in items for _ in range(k)], generator)
                trajectories += done.trajectories
                scores.append(done.scores)
                shown = [i for i in items if i in data.demonstrations]
                nll.add(
                    model,
                    tok,
                    [data.prompts[i] for i in shown],
                    [data.demonstrations[i].ids for i in shown],
                    [data.demonstrations[i].trainable for i in shown],
                    device,
                )
    finally:
        model.train(was_training)
    outputs = [tok.decode(t.final) for t in trajectories]
    samples = [
        {
            "input": _question(tok, e),
            "output": outputs[i * k],
            "answer": e.answer,
            "transcript": tok.decode([t for t in trajectories[i * k].ids if t != tok.eos_token_id]),
            "tool_calls": trajectories[i * k].tool_calls,
        }
        for i, e in enumerate(examples[:5])
    ]
    return _metrics(
        np.concatenate(scores),
        outputs,
        examples,
        sampling,
        cfg,
        nll.mean,
        trajectory_metrics(trajectories),
        samples,
    )


def _chunk(cfg: TorchTrainConfig, k: int) -> int:
    """Items per chunk: ``max(batch_size * group_size, 64)`` completions."""
    return max(1, max(cfg.batch_size * cfg.group_size, 64) // k)


def _generator(
    sampling: EvalSampling, device: torch.device, cfg: TorchTrainConfig
) -> torch.Generator | None:
    """The sampling generator, seeded with ``config.seed`` (None when greedy)."""
    if sampling.temperature > 0:
        return torch.Generator(device=device).manual_seed(cfg.seed)
    return None


def _question(tok: TokenizerAdapter, example: Example) -> str:
    return prompt_text(example.prompt) or tok.decode(list(example.prompt_ids or ()))


class _Nll:
    """A running sum of the targets' NLL, ``-sum(logp * mask)``, and of their tokens."""

    def __init__(self) -> None:
        self.total = 0.0
        self.tokens = 0.0

    def add(
        self,
        model: nn.Module,
        tok: TokenizerAdapter,
        prompts: list[list[int]],
        targets: list[list[int]],
        masks: list[list[bool]] | None,
        device: torch.device,
    ) -> None:
        """Add the NLL of *targets* after *prompts*, over *masks* (None: every token)."""
        if not prompts:
            return
        pi, pm = pad(prompts, tok.pad_token_id, left=True, device=device)
        ai, am = pad(targets, tok.pad_token_id, left=False, device=device)
        keep = am.clone()
        if masks is not None:
            keep.zero_()
            for b, m in enumerate(masks):
                keep[b, : len(m)] = torch.tensor(m, dtype=torch.bool)
        logp, _ = completion_logprobs(model, pi, pm, ai, am)
        self.total += float(-(logp * keep.float()).sum())
        self.tokens += float(keep.sum())

    @property
    def mean(self) -> float:
        return self.total / self.tokens if self.tokens else 0.0


def _metrics(
    scores: np.ndarray,
    outputs: list[str],
    examples: Sequence[Example],
    sampling: EvalSampling,
    cfg: TorchTrainConfig,
    loss: float,
    more: dict[str, float],
    samples: list[dict[str, Any]],
) -> TrainMetrics:
    """The evaluation's TrainMetrics from the samples' *scores* and final *outputs* (k per
    item, item-major), *more* metrics put in ``extra`` beside the scores'."""
    k = sampling.n_samples
    correct = (scores >= cfg.accuracy_threshold).reshape(len(examples), k)
    counts = correct.sum(axis=1)
    extracted = extract_answer(outputs, sampling.answer_style)
    extra = {
        "reward_mean": float(scores.mean()),
        "reward_std": float(scores.std()),
        "reward_min": float(scores.min()),
        "reward_max": float(scores.max()),
        **{
            f"pass@{j}": float(np.mean([pass_at_k(k, int(c), j) for c in counts]))
            for j in pass_ks(k)
        },
        f"maj@{k}": float(
            np.mean(
                [
                    majority_correct(extracted[i * k : (i + 1) * k], correct[i])
                    for i in range(len(examples))
                ]
            )
        ),
        **more,
        "n_samples": k,
        "temperature": sampling.temperature,
        "accuracy_threshold": cfg.accuracy_threshold,
        "samples": samples,
    }
    return TrainMetrics(
        loss=loss,
        accuracy=float(correct.mean()),
        steps=len(examples),
        extra=extra,
    )
