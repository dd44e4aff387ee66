"""Batched sampling with a KV cache, and the log-probabilities a policy gives its samples."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


def _logits_of(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple):
        return _logits_of(output[0])
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise TypeError(f"model output has no logits: {type(output).__name__}")


def _unwrapped(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel (or similar) wrapper."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def _is_hf(model: nn.Module) -> bool:
    inner = _unwrapped(model)
    return hasattr(inner, "config") and hasattr(inner, "generation_config")


# Model class -> its KV cache keyword: looked up once per class, since generation asks at
# every decoded token.
_CACHE_KEYWORDS: dict[type, str] = {}


def _hf_cache_argument(model: nn.Module) -> str:
    """The KV cache keyword: ``cache`` in recent transformers, else ``past_key_values``."""
    inner = _unwrapped(model)
    # a peft model passes the keyword on to its base model, whose signature names it
    base = getattr(inner, "get_base_model", None)
    model_class = type(base() if callable(base) else inner)
    keyword = _CACHE_KEYWORDS.get(model_class)
    if keyword is None:
        try:
            names = set(inspect.signature(model_class.forward).parameters)
        except (TypeError, ValueError):  # a C-implemented or otherwise opaque forward
            names = set()
        keyword = "cache" if "cache" in names else "past_key_values"
        _CACHE_KEYWORDS[model_class] = keyword
    return keyword


def forward_logits(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Logits (B, T, V) of any supported causal LM (plain, TinyCausalLM or transformers)."""
    if _is_hf(model):
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return _logits_of(
            model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        )
    return _logits_of(model(input_ids, attention_mask))


def _step(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    cache: Any,
) -> tuple[torch.Tensor, Any]:
    """Logits of the last position, and the cache to pass with the next token."""
    if getattr(model, "supports_kv_cache", False):
        logits, cache = model(input_ids, attention_mask, past_key_values=cache, use_cache=True)
        return logits[:, -1], cache
    if _is_hf(model):
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        position_ids = position_ids[:, -input_ids.shape[1] :]
        name = _hf_cache_argument(model)
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{name: cache},
        )
        return out.logits[:, -1], getattr(out, name)
    return _logits_of(model(input_ids, attention_mask))[:, -1], None


def _sample(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    if temperature <= 0.0:
        return logits.argmax(-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the top token always stays).
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        choice = torch.multinomial(sorted_probs, 1, generator=generator)
        return order.gather(-1, choice).squeeze(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@dataclass(frozen=True, slots=True)
class Sampling:
    """How completions are drawn: up to *max_new_tokens* each, ending at *eos_token_id*,
    padded with *pad_token_id*; ``temperature=0`` is greedy, ``top_p < 1`` nucleus sampling."""

    max_new_tokens: int
    eos_token_id: int
    pad_token_id: int
    temperature: float = 1.0
    top_p: float = 1.0


def generate(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample up to *max_new_tokens* per left-padded prompt; ``temperature=0`` is greedy.

    Decodes incrementally with a KV cache where the model has one (TinyCausalLM,
    transformers models) and recomputes the whole prefix otherwise.

    Returns:
        ``(completion_ids, completion_mask)``, both (B, N): the mask is true up to and
        including the first eos; later positions hold ``pad_token_id``.
    """
    sampling = Sampling(max_new_tokens, eos_token_id, pad_token_id, temperature, top_p)
    ids, mask, _ = _decode(model, prompt_ids, prompt_mask, sampling, generator, logprobs=False)
    return ids, mask


def sample(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    sampling: Sampling,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`generate`, and the log-probabilities of the sampled tokens.

    Returns:
        ``(completion_ids, completion_mask, logprobs)``, all (B, N), with
        ``logprobs[b, t] = log softmax(logits[b, t])[completion_ids[b, t]]`` under the
        policy's own (untempered) logits, as :func:`completion_logprobs` gives them, and 0
        where the mask is false. Taking them draws nothing: the samples are :func:`generate`'s.
    """
    return _decode(model, prompt_ids, prompt_mask, sampling, generator, logprobs=True)


@torch.no_grad()
def _decode(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    sampling: Sampling,
    generator: torch.Generator | None,
    *,
    logprobs: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The one decoding loop of :func:`generate` and :func:`sample` (*logprobs*: also
    gather the sampled tokens' log-probabilities; else the third tensor is empty)."""
    batch = prompt_ids.shape[0]
    device = prompt_ids.device
    tokens: list[torch.Tensor] = []
    alive = torch.ones(batch, dtype=torch.bool, device=device)
    masks: list[torch.Tensor] = []
    token_logprobs: list[torch.Tensor] = []
    ids, mask, cache = prompt_ids, prompt_mask.bool(), None
    step_input = ids
    for _ in range(sampling.max_new_tokens):
        logits, cache = _step(model, step_input, mask, cache)
        token = _sample(logits, sampling.temperature, sampling.top_p, generator)
        token = torch.where(alive, token, torch.full_like(token, sampling.pad_token_id))
        tokens.append(token)
        masks.append(alive.clone())
        if logprobs:
            logp = F.log_softmax(logits.float(), dim=-1).gather(-1, token[:, None]).squeeze(-1)
            token_logprobs.append(torch.where(alive, logp, torch.zeros_like(logp)))
        alive = alive & (token != sampling.eos_token_id)
        mask = torch.cat([mask, masks[-1][:, None]], dim=1)
        if cache is None:
            ids = torch.cat([ids, token[:, None]], dim=1)
            step_input = ids
        else:
            step_input = token[:, None]
        if not bool(alive.any()):
            break
    if not tokens:
        empty = torch.empty(batch, 0, dtype=prompt_ids.dtype, device=device)
        return empty, empty.bool(), empty.float()
    sampled = torch.stack(token_logprobs, 1) if logprobs else torch.empty(0, device=device)
    return torch.stack(tokens, 1), torch.stack(masks, 1), sampled


def completion_logprobs(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities and entropies (B, N) of the completions.

    ``logp[b, t] = log softmax(logits[b, P + t - 1])[completion_ids[b, t]]`` and
    ``entropy[b, t] = -sum_v p_v log p_v`` at the same position.
    """
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask.bool(), completion_mask.bool()], dim=1)
    logits = forward_logits(model, ids, mask)
    n_prompt = prompt_ids.shape[1]
    logits = logits[:, n_prompt - 1 : -1].float()
    logp_all = F.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, completion_ids[..., None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy
