"""Greedy evaluation of a policy on examples, scored in the core."""

from __future__ import annotations

import torch

from orbiter.train.data import RaggedTokens
from orbiter.train.prompts import prompt_text
from orbiter.train.records import Example
from orbiter.train.rewards.registry import BatchedReward
from orbiter.train.torch.agent import PolicyAgent, TokenizerAdapter
from orbiter.train.torch.batches import columns_of, pad, prompt_ids
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.generation import completion_logprobs, generate
from orbiter.train.trainer import TrainMetrics


def evaluate_examples(
    agent: PolicyAgent,
    tok: TokenizerAdapter,
    reward: BatchedReward,
    examples: list[Example],
    cfg: TorchTrainConfig,
) -> TrainMetrics:
    """Greedy completions of *examples* in chunks of ``max(batch_size * group_size, 64)``,
    on the model's device, the model's training mode restored afterwards.

    Returns:
        ``TrainMetrics(loss = sum of reference-token NLL / reference tokens, accuracy = share
        with reward >= extra["accuracy_threshold"] (default 1.0), steps = items, extra =
        reward mean, std, min, max and the first five samples)``.
    """
    model = agent.model
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    generated: list[list[int]] = []
    nll_sum = 0.0
    nll_tokens = 0.0
    size = max(cfg.batch_size * cfg.group_size, 64)
    try:
        with torch.no_grad():
            for lo in range(0, len(examples), size):
                chunk = examples[lo : lo + size]
                prompts = [prompt_ids(tok, agent, e) for e in chunk]
                ids, mask = pad(prompts, tok.pad_token_id, left=True, device=device)
                completion, mask_c = generate(
                    model,
                    ids,
                    mask,
                    max_new_tokens=cfg.max_new_tokens,
                    eos_token_id=tok.eos_token_id,
                    pad_token_id=tok.pad_token_id,
                    temperature=0.0,
                )
                rows = completion.tolist()
                outputs += [tok.decode(row) for row in rows]
                # the mask is true up to and with the first eos
                lengths = mask_c.sum(dim=1).tolist()
                generated += [row[:n] for row, n in zip(rows, lengths, strict=True)]
                answers = [tok.encode_answer(e.answer) for e in chunk if e.answer]
                if answers:
                    with_answer = [p for p, e in zip(prompts, chunk, strict=True) if e.answer]
                    pi, pm = pad(with_answer, tok.pad_token_id, left=True, device=device)
                    ai, am = pad(answers, tok.pad_token_id, left=False, device=device)
                    logp, _ = completion_logprobs(model, pi, pm, ai, am)
                    nll_sum += float(-(logp * am.float()).sum())
                    nll_tokens += float(am.sum())
    finally:
        model.train(was_training)
    scores = reward(
        outputs,
        [e.answer for e in examples],
        response_tokens=RaggedTokens.from_sequences(generated),
        reference_tokens=RaggedTokens.from_sequences(
            [tok.encode_answer(e.answer) for e in examples]
        ),
        columns=columns_of(examples),
    )
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
                    "input": prompt_text(e.prompt) or tok.decode(list(e.prompt_ids or ())),
                    "output": o,
                    "answer": e.answer,
                }
                for e, o in zip(examples[:5], outputs[:5], strict=False)
            ],
        },
    )
