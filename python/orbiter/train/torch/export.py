"""The export of a trained policy: ``save_pretrained`` for transformers and peft models,
the built-in model's own format otherwise, and the tokenizer beside it.

A run writes its export to ``output_dir/final/`` when it ends; :func:`export` writes one
anywhere. What each kind of model gets, and what loads it:

- a peft model: only the adapter (``adapter_model.safetensors``, ``adapter_config.json``),
  loaded by ``peft.PeftModel.from_pretrained(base, path)`` on the same base;
- a transformers model: its ``save_pretrained`` (``config.json``, ``model.safetensors``),
  loaded by ``AutoModelForCausalLM.from_pretrained(path)``;
- another torch module: ``model.safetensors`` (safetensors' ``save_model``, a shared tensor
  stored once) and, for :class:`~orbiter.train.torch.TinyCausalLM`, ``model_config.json``
  (its sizes and the agent's instructions), loaded by :func:`load_exported` and
  ``orbiter-train eval``;
- the tokenizer, when it has ``save_pretrained`` (a transformers tokenizer); the built-in
  byte tokenizer needs no files.

The directory is written beside its final place and swapped in by rename, so an export
interrupted half-way leaves the previous one whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model
from torch import nn

from orbiter.train.errors import TrainerError
from orbiter.train.torch.agent import PolicyAgent
from orbiter.train.torch.checkpoint import (
    MODEL_CONFIG,
    WEIGHTS,
    model_config_files,
    replace_directory,
)
from orbiter.train.torch.lora import ADAPTER_CONFIG, is_peft_model
from orbiter.train.torch.model import TinyCausalLM
from orbiter.train.torch.tokenizer import ByteTokenizer

FINAL_DIR = "final"
"""The folder of ``output_dir`` where a finished run exports its policy."""


def _has_save_pretrained(obj: Any) -> bool:
    return callable(getattr(obj, "save_pretrained", None))


def export(agent: PolicyAgent | nn.Module, path: str | Path) -> Path:
    """Write *agent*'s model (only the adapter for a peft model) and its tokenizer to the
    directory *path*, replacing what was there; see the module's documentation for what
    each kind of model gets and what loads it.

    Returns:
        The directory written.
    """
    agent = agent if isinstance(agent, PolicyAgent) else PolicyAgent(agent)
    model: Any = getattr(agent.model, "module", agent.model)  # the model inside DDP
    root = Path(path)
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise TrainerError(f"cannot export to {str(root)!r}: not a directory")

    def fill(new: Path) -> None:
        if is_peft_model(model) or _has_save_pretrained(model):
            model.save_pretrained(str(new))
        else:
            save_model(model, str(new / WEIGHTS))
            for name, text in model_config_files(model, agent.instructions).items():
                (new / name).write_text(text, encoding="utf-8")
        if _has_save_pretrained(agent.tokenizer):
            agent.tokenizer.save_pretrained(str(new))

    return replace_directory(root, fill)


def load_exported(path: str | Path) -> PolicyAgent:
    """The policy of an export at *path*: a :class:`~orbiter.train.torch.TinyCausalLM`
    (``model_config.json``) with the byte tokenizer, or a transformers model with its
    tokenizer (``config.json``, through ``AutoModelForCausalLM``/``AutoTokenizer``).

    Raises:
        TrainerError: *path* holds no export, or only an adapter (which needs its base:
            ``peft.PeftModel.from_pretrained(base, path)``).
    """
    root = Path(path)
    if (root / MODEL_CONFIG).is_file():
        try:
            sizes = json.loads((root / MODEL_CONFIG).read_text(encoding="utf-8"))
            if not isinstance(sizes, dict):
                raise ValueError("not a JSON object")
            instructions = str(sizes.pop("instructions", ""))
            model = TinyCausalLM(**sizes)
        except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as err:
            raise TrainerError(f"{root / MODEL_CONFIG}: not a model config: {err}") from None
        try:
            load_model(model, str(root / WEIGHTS), strict=True)
        except Exception as err:
            raise TrainerError(f"cannot read {root / WEIGHTS}: {err}") from None
        return PolicyAgent(model, ByteTokenizer(), instructions)
    if (root / "config.json").is_file():
        import transformers

        hf_model = transformers.AutoModelForCausalLM.from_pretrained(str(root))
        tokenizer: Any = ByteTokenizer()
        if (root / "tokenizer_config.json").is_file():
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(root))
        return PolicyAgent(hf_model, tokenizer)
    if (root / ADAPTER_CONFIG).is_file():
        raise TrainerError(
            f"{str(root)!r} holds an adapter: load it on its base model with "
            "peft.PeftModel.from_pretrained(base, path)"
        )
    raise TrainerError(
        f"{str(root)!r} holds no export ({MODEL_CONFIG} or a transformers config.json)"
    )
