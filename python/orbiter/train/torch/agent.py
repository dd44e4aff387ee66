"""PolicyAgent: a causal LM, its tokenizer and the instructions prepended to every prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from orbiter.train.errors import TrainerError
from orbiter.train.prompts import Prompt, has_chat_template, render_prompt
from orbiter.train.torch.tokenizer import ByteTokenizer


class TokenizerAdapter:
    """One interface over :class:`ByteTokenizer` and transformers tokenizers."""

    def __init__(self, tokenizer: Any) -> None:
        self.inner = tokenizer
        if isinstance(tokenizer, ByteTokenizer):
            self.eos_token_id = tokenizer.eos_token_id
            self.pad_token_id = tokenizer.pad_token_id
            self.bos_token_id: int | None = tokenizer.bos_token_id
            self.vocab_size = tokenizer.vocab_size
            return
        for method in ("encode", "decode"):
            if not callable(getattr(tokenizer, method, None)):
                raise TrainerError(
                    f"agent.tokenizer ({type(tokenizer).__name__}) has no {method}(): use "
                    "ByteTokenizer or a transformers tokenizer"
                )
        eos = getattr(tokenizer, "eos_token_id", None)
        if eos is None:
            raise TrainerError("agent.tokenizer has no eos_token_id")
        pad = getattr(tokenizer, "pad_token_id", None)
        self.eos_token_id = int(eos)
        self.pad_token_id = int(pad) if pad is not None else int(eos)
        self.bos_token_id = getattr(tokenizer, "bos_token_id", None)
        self.vocab_size = len(tokenizer)

    def encode_prompt(self, text: str) -> list[int]:
        """Prompt text's ids, with the tokenizer's own special tokens (bos)."""
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.encode(text, add_bos=True)
        return list(self.inner.encode(text, add_special_tokens=True))

    def prompt_ids(self, prompt: Prompt, instructions: str) -> list[int]:
        """The ids of *prompt* rendered by :func:`orbiter.train.prompts.render_prompt`. A
        chat template's text holds its own special tokens, so it is encoded without adding
        any (as verl and TRL encode it); the fallback text gets them
        (:meth:`encode_prompt`)."""
        text = render_prompt(prompt, instructions, self.inner)
        if has_chat_template(self.inner):
            return list(self.inner.encode(text, add_special_tokens=False))
        return self.encode_prompt(text)

    def encode_answer(self, text: str) -> list[int]:
        """Answer tokens followed by eos: the target of supervised steps and the NLL."""
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.encode(text, add_eos=True)
        return [*self.inner.encode(text, add_special_tokens=False), self.eos_token_id]

    def decode(self, ids: list[int]) -> str:
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.decode(ids)
        if self.eos_token_id in ids:
            ids = ids[: ids.index(self.eos_token_id)]
        return str(self.inner.decode(ids, skip_special_tokens=True))


@dataclass(slots=True)
class PolicyAgent:
    """The policy to train.

    Attributes:
        model: A torch causal LM, ``forward(input_ids, attention_mask) -> logits (B, T, V)``
            (or a transformers model, whose output's ``.logits`` is used).
        tokenizer: :class:`ByteTokenizer` (the default) or a transformers tokenizer.
        instructions: The system prompt of every prompt: rendered with the tokenizer's
            chat template when it has one, else prepended with a newline (see
            :mod:`orbiter.train.prompts`).
    """

    model: nn.Module
    tokenizer: Any = None
    instructions: str = ""

    def __post_init__(self) -> None:
        if self.tokenizer is None:
            self.tokenizer = ByteTokenizer()

    def prompt_text(self, prompt: Prompt) -> str:
        """The text the policy reads for *prompt* (:func:`~orbiter.train.prompts.render_prompt`)."""
        return render_prompt(prompt, self.instructions, self.tokenizer)


def check_policy(agent: Any) -> tuple[PolicyAgent, TokenizerAdapter]:
    """Validate *agent* (a PolicyAgent or a bare nn.Module) and run one tiny forward."""
    if isinstance(agent, nn.Module):
        agent = PolicyAgent(agent)
    if not isinstance(agent, PolicyAgent):
        raise TrainerError(
            f"agent must be a PolicyAgent(model, tokenizer, instructions) or a torch "
            f"nn.Module, got {type(agent).__name__}"
        )
    if not isinstance(agent.model, nn.Module):
        raise TrainerError(f"agent.model must be a torch nn.Module, got {type(agent.model)}")
    if not isinstance(agent.instructions, str):
        raise TrainerError("agent.instructions must be a str")
    trainable = sum(p.numel() for p in agent.model.parameters() if p.requires_grad)
    if trainable == 0:
        raise TrainerError("agent.model has no trainable parameters (requires_grad=False)")
    tokenizer = TokenizerAdapter(agent.tokenizer)
    from orbiter.train.torch.generation import forward_logits

    param = next(agent.model.parameters())
    ids = torch.tensor([tokenizer.encode_prompt("1+1=")[:4]], device=param.device)
    mask = torch.ones_like(ids, dtype=torch.bool)
    was_training = agent.model.training
    agent.model.eval()
    try:
        with torch.no_grad():
            logits = forward_logits(agent.model, ids, mask)
    except Exception as err:
        raise TrainerError(
            f"agent.model failed a forward pass on {tuple(ids.shape)}: {err}"
        ) from err
    finally:
        agent.model.train(was_training)
    if logits.ndim != 3 or logits.shape[:2] != ids.shape:
        raise TrainerError(
            f"agent.model must return logits (B, T, V); for input {tuple(ids.shape)} it "
            f"returned {tuple(logits.shape)}"
        )
    if logits.shape[-1] < tokenizer.vocab_size:
        raise TrainerError(
            f"agent.model's vocabulary ({logits.shape[-1]}) is smaller than the "
            f"tokenizer's ({tokenizer.vocab_size})"
        )
    if not bool(torch.isfinite(logits).all()):
        raise TrainerError("agent.model returned non-finite logits on a tiny input")
    return agent, tokenizer
