"""LoRA and other peft adapters: wrapping the policy, its adapter-only weights, the
reference with the adapter disabled.

peft is imported only when a run asks for an adapter (``config.peft_config``) or hands in a
model that peft already wrapped (then peft is imported already).
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import torch
from torch import nn

from orbiter.train.config import bad_value
from orbiter.train.errors import TrainerTypeError
from orbiter.train.torch.generation import completion_logprobs

ADAPTER_WEIGHTS = "adapter_model.safetensors"
"""peft's own name of an adapter's weights, in checkpoints as in exports."""
ADAPTER_CONFIG = "adapter_config.json"
"""peft's own name of an adapter's config."""


def _peft() -> Any:
    try:
        import peft
    except ImportError as err:
        raise TrainerTypeError(
            "config.peft_config needs peft: pip install 'orbiter-train[lora]' (or pip install peft)"
        ) from err
    return peft


def is_peft_model(model: nn.Module) -> bool:
    """Whether *model* is a peft ``PeftModel`` (an adapter over a base model)."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, peft.PeftModel)


def check_peft_config(value: Any) -> None:
    """Refuse a ``config.peft_config`` that is not a peft ``PeftConfig`` (e.g. ``LoraConfig``)."""
    if value is None:
        return
    if not isinstance(value, _peft().PeftConfig):
        raise bad_value(
            "peft_config",
            value,
            "must be a peft PeftConfig such as peft.LoraConfig(...), or None",
            TrainerTypeError,
        )


def with_adapter(model: nn.Module, peft_config: Any, seed: int) -> nn.Module:
    """*model* with a fresh adapter of *peft_config* (``peft.get_peft_model``), its
    initial weights drawn from *seed*; a peft model is returned as it is (its adapter is
    trained). Only the adapter is trainable: peft freezes the base model's weights."""
    if peft_config is None or is_peft_model(model):
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wrapped: nn.Module = _peft().get_peft_model(model, peft_config)
    return wrapped


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's weights, under the names peft saves them with
    (``peft.get_peft_model_state_dict``): the base model's weights are not among them."""
    state: dict[str, torch.Tensor] = _peft().get_peft_model_state_dict(model)
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_adapter_state(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load adapter weights saved by :func:`adapter_state` into *model*'s adapter.

    Raises:
        RuntimeError: Weights the adapter does not have, or of other shapes.
    """
    expected = set(_peft().get_peft_model_state_dict(model))
    if set(tensors) != expected:
        raise RuntimeError(
            f"adapter weights {sorted(set(tensors) ^ expected)[:4]} are not this adapter's"
        )
    result = _peft().set_peft_model_state_dict(model, tensors)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise RuntimeError(f"unexpected adapter weights {unexpected[:4]}")


def adapter_config_json(model: nn.Module) -> str:
    """The active adapter's config as peft writes ``adapter_config.json`` (sets as lists)."""
    config: Any = getattr(model, "peft_config")[getattr(model, "active_adapter")]  # noqa: B009
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=_plain)


def peft_config_dict(peft_config: Any) -> dict[str, Any] | None:
    """*peft_config* as JSON values (what a checkpoint records and a resume compares)."""
    if peft_config is None:
        return None
    plain: dict[str, Any] = json.loads(json.dumps(peft_config.to_dict(), default=_plain))
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


class AdapterDisabled:
    """The KL reference of a peft policy: the base model itself, run with the adapter
    disabled (``model.disable_adapter()``) in eval mode, so no copy of the model is kept."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def logprobs(self, *batch: torch.Tensor) -> torch.Tensor:
        """:func:`~orbiter.train.torch.generation.completion_logprobs` of the base on
        *batch* (prompt ids and mask, completion ids and mask), without gradients; the
        model's training mode is restored afterwards."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), self.model.disable_adapter():  # type: ignore[operator]
                return completion_logprobs(self.model, *batch)[0]
        finally:
            self.model.train(was_training)


class FrozenCopy:
    """The KL reference of a full fine-tune: a frozen copy of the initial policy."""

    def __init__(self, model: nn.Module) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def logprobs(self, *batch: torch.Tensor) -> torch.Tensor:
        """:func:`~orbiter.train.torch.generation.completion_logprobs` of the copy on
        *batch*, without gradients."""
        with torch.no_grad():
            return completion_logprobs(self.model, *batch)[0]


Reference = AdapterDisabled | FrozenCopy


def reference_for(model: nn.Module) -> Reference:
    """The KL reference of *model*: its base with the adapter disabled for a peft model,
    else a frozen copy."""
    return AdapterDisabled(model) if is_peft_model(model) else FrozenCopy(model)
