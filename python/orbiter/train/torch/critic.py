"""PPO's critic: a linear value head on the policy's last hidden state."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from orbiter.train.errors import TrainerError


def value_head_for(model: nn.Module, device: torch.device) -> nn.Module:
    """``Linear(hidden, 1)`` with zero weights and bias (every first value is 0), sized by the
    model config's ``d_model`` or ``hidden_size``."""
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


def hidden_states(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
) -> torch.Tensor:
    """Last-layer hidden states (B, N, H) at the positions that predict each completion
    token."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    hidden_of = getattr(model, "hidden_states", None)
    if callable(hidden_of):
        hidden: torch.Tensor = hidden_of(ids, mask)
    else:
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states[-1]
    n = prompt_ids.shape[1]
    return hidden[:, n - 1 : -1].float()


def values(
    model: nn.Module,
    head: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
) -> np.ndarray:
    """The critic's value (B, N) before each completion token, as float32 numpy."""
    with torch.no_grad():
        hidden = hidden_states(model, prompt_ids, prompt_mask, completion_ids, completion_mask)
        out: np.ndarray = head(hidden).squeeze(-1).float().cpu().numpy()
    return out
