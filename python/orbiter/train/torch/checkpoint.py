"""Checkpoints: safetensors weights and optimizer state plus a JSON trainer state.

Weights go through safetensors' model-level ``save_model``/``load_model``, which store a
tensor that several names share (GPT-2's tied ``wte`` and ``lm_head``) once and tie it
again on loading; the file-level functions refuse shared tensors. Every file is written to
a temporary name in the same directory, fsynced, then renamed over the old one, so a crash
mid-write leaves the previous checkpoint intact. Loading never unpickles: tensors come from
safetensors, everything else from JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from orbiter.train.config import ALGORITHM_ALIASES
from orbiter.train.errors import TrainerError
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.lora import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    adapter_config_json,
    adapter_state,
    is_peft_model,
    load_adapter_state,
    peft_config_dict,
)
from orbiter.train.torch.model import TinyConfig
from orbiter.train.torch.runtime import SEED_SCHEME

logger = logging.getLogger("orbiter.train.torch")

WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "trainer_state.json"
CHECKPOINT_DIR = "checkpoint"


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp)`` on a temporary file beside *path*, fsync it, rename it over
    *path*: a crash leaves the old file or the new one, never a torn one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    """Split the optimizer state into tensors (safetensors) and plain values (JSON)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        plain[str(pid)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain[str(pid)][key] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def _weights_file(name: str, module: nn.Module) -> str:
    # The policy's weights keep the conventional names (peft's for an adapter), so other
    # tools load them directly.
    if name != "model":
        return f"{name}.safetensors"
    return ADAPTER_WEIGHTS if is_peft_model(module) else WEIGHTS


def _save_weights(path: str, module: nn.Module) -> None:
    """The weights of *module* at *path*: only the adapter's for a peft model, else all of
    them (a tensor several names share stored once)."""
    if is_peft_model(module):
        save_file(adapter_state(module), path)
    else:
        save_model(module, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _recover(directory: Path) -> Path:
    """The checkpoint folder, finishing a swap that a crash interrupted."""
    root = directory / CHECKPOINT_DIR
    new, old = directory / (CHECKPOINT_DIR + ".new"), directory / (CHECKPOINT_DIR + ".old")
    if not root.exists():
        # Crashed between the two renames: the complete new one wins, else the old one.
        for candidate in (new, old):
            if (candidate / STATE).is_file():
                os.rename(candidate, root)
                break
    return root


def check_no_symlinks(directory: str | Path) -> None:
    """Refuse a ``checkpoint/`` (or ``.new``/``.old``) that is a symlink: a checkpoint is
    replaced by renames in *directory*, which would swap the link, not what it points to."""
    for suffix in ("", ".new", ".old"):
        path = Path(directory) / (CHECKPOINT_DIR + suffix)
        if path.is_symlink():
            raise TrainerError(
                f"{path} is a symlink; checkpoints are replaced by renames in "
                f"{str(directory)!r}: make it a directory, or set output_dir to its target"
            )


def save_checkpoint(
    directory: str | Path,
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write the weights of *modules*, the optimizer state, *trainer_state* and the text
    *files* (name -> content, e.g. ``model_config.json``) atomically.

    The files are written and fsynced in ``checkpoint.new/``, which then replaces
    ``checkpoint/`` by two renames; a crash at any point leaves one complete checkpoint
    (the previous or the new), never a mix of the two.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    check_no_symlinks(directory)
    root = _recover(directory)
    opt_tensors, opt_plain = _optimizer_tensors(optimizer)
    state = dict(trainer_state, optimizer=opt_plain, modules=sorted(modules))

    def fill(new: Path) -> None:
        for name, module in modules.items():
            weights = new / _weights_file(name, module)
            atomic_write(weights, lambda p, m=module: _save_weights(p, m))
        atomic_write(new / OPTIMIZER, lambda p: save_file(opt_tensors, p))
        for name, text in {
            **(files or {}),
            STATE: json.dumps(state, indent=2, sort_keys=True),
        }.items():
            atomic_write(new / name, lambda p, t=text: Path(p).write_text(t, encoding="utf-8"))

    return replace_directory(root, fill)


def replace_directory(root: Path, fill: Callable[[Path], None]) -> Path:
    """Replace the directory *root* by what ``fill(new)`` writes into an empty ``new``
    beside it (``<root>.new``): every file fsynced, then two renames swap it in (the old one
    goes to ``<root>.old`` and is removed), so a crash leaves the previous or the new one
    whole, never a mix."""
    new = root.with_name(root.name + ".new")
    old = root.with_name(root.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    try:
        fill(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    for path in sorted(new.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
    _fsync_dir(new)
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        os.rename(root, old)
    os.rename(new, root)
    _fsync_dir(root.parent)
    shutil.rmtree(old, ignore_errors=True)
    return root


def discard_checkpoint(directory: str | Path) -> None:
    """Remove the checkpoint in *directory* (and a swap's ``.new``/``.old`` left by a crash),
    so that a run there starts afresh."""
    check_no_symlinks(directory)
    for suffix in ("", ".new", ".old"):
        shutil.rmtree(Path(directory) / (CHECKPOINT_DIR + suffix), ignore_errors=True)


def has_checkpoint(directory: str | Path) -> bool:
    if not directory:
        return False
    directory = Path(directory)
    return any(
        (directory / (CHECKPOINT_DIR + suffix) / STATE).is_file() for suffix in ("", ".new", ".old")
    )


def load_checkpoint(
    directory: str | Path,
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer | None,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Restore *modules* (and *optimizer*) in place; return the JSON trainer state.

    Without an optimizer (weights only, e.g. for evaluation) *modules* may be a subset of
    what was saved. *check* sees the trainer state before any weight is loaded (a resume
    refuses a changed setting there, before the weights of another adapter fail to fit).

    Raises:
        TrainerError: When there is no checkpoint or its state file cannot be read, when the
            checkpoint lacks one of *modules*, or, when resuming with an
            optimizer, holds others (e.g. a PPO value head that this run does not have).
    """
    if not has_checkpoint(directory):
        raise TrainerError(f"no checkpoint in {str(directory)!r} (expected {CHECKPOINT_DIR}/)")
    check_no_symlinks(directory)
    root = _recover(Path(directory))
    try:
        state = _checked_state(json.loads((root / STATE).read_text(encoding="utf-8")), root / STATE)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise TrainerError(f"cannot read {root / STATE}: {err}") from err
    if check is not None:
        check(state)
    saved = state.pop("modules", ["model"])
    missing = set(modules) - set(saved)
    if missing or (optimizer is not None and set(saved) != set(modules)):
        raise TrainerError(
            f"checkpoint in {root} holds {sorted(saved)}, this run has {sorted(modules)}"
        )
    device = next(modules["model"].parameters()).device
    for name, module in modules.items():
        _load_weights(root / _weights_file(name, module), name, module, str(device))
    opt_plain = state.pop("optimizer")
    if optimizer is not None:
        tensors = _load_tensors(root / OPTIMIZER, str(device))
        entries: dict[int, dict[str, Any]] = {}
        for pid, plain in opt_plain["state"].items():
            entries[int(pid)] = dict(plain)
        for name, tensor in tensors.items():
            pid, key = name.split(".", 1)
            entries.setdefault(int(pid), {})[key] = tensor
        optimizer.load_state_dict({"state": entries, "param_groups": opt_plain["param_groups"]})
    return state


def _load_weights(path: Path, name: str, module: nn.Module, device: str) -> None:
    """Load *path* into *module* (the one called *name*), tying shared tensors again (into
    a peft model's adapter only, for an adapter's weights); a missing or damaged file, or
    weights of another model, is a TrainerError."""
    try:
        if is_peft_model(module):
            load_adapter_state(module, load_file(path, device=device))
        else:
            load_model(module, path, strict=True, device=device)
    except (OSError, SafetensorError) as err:
        raise TrainerError(f"cannot read {path}: {err}") from None
    except RuntimeError as err:  # missing keys, shapes of another model size
        raise TrainerError(f"{path} does not fit the {name}: {err}") from None


def _load_tensors(path: Path, device: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing or damaged file is a TrainerError."""
    try:
        return load_file(path, device=device)
    except (OSError, SafetensorError) as err:
        raise TrainerError(f"cannot read {path}: {err}") from None


def _checked_state(state: Any, path: Path) -> dict[str, Any]:
    """*state* (a parsed trainer state) when its fields have the types a checkpoint writes;
    the error names the file and the field."""

    def bad(field: str, why: str) -> TrainerError:
        return TrainerError(f"{path}: {field!r} {why}")

    if not isinstance(state, dict):
        raise TrainerError(f"{path}: not a trainer state (a JSON object)")
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise bad("step", f"must be an int >= 0, got {step!r}")
    modules = state.get("modules", ["model"])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise bad("modules", f"must be a list of module names, got {modules!r}")
    optimizer = state.get("optimizer")
    if not (
        isinstance(optimizer, dict)
        and isinstance(optimizer.get("state"), dict)
        and isinstance(optimizer.get("param_groups"), list)
    ):
        raise bad("optimizer", "must hold 'state' (an object) and 'param_groups' (a list)")
    for field in ("config", "rng", "scheduler"):
        if field in state and not isinstance(state[field], dict):
            raise bad(field, f"must be an object, got {state[field]!r}")
    return state


MODEL_CONFIG = "model_config.json"
"""The model's sizes and the agent's instructions, saved with the weights they fit."""


def model_config_files(model: nn.Module, instructions: str) -> dict[str, str]:
    """``{MODEL_CONFIG: json}`` for a model whose ``config`` is a dataclass of its sizes
    (:class:`~orbiter.train.torch.TinyCausalLM`), so that ``orbiter-train eval`` rebuilds the
    model a checkpoint's weights fit; ``{ADAPTER_CONFIG: json}`` for a peft model (its
    checkpoint then loads with ``PeftModel.from_pretrained``); ``{}`` for others."""
    if is_peft_model(model):
        return {ADAPTER_CONFIG: adapter_config_json(model)}
    config = getattr(model, "config", None)
    # only the built-in model's sizes: a transformers config is a dataclass too (5.x), but
    # holds a torch dtype and is saved by save_pretrained in the export instead
    if not isinstance(config, TinyConfig):
        return {}
    return {MODEL_CONFIG: json.dumps({**asdict(config), "instructions": instructions})}


def check_start(state_step: int, total: int, directory: str | Path) -> None:
    """Refuse a checkpoint past this run's last step (*total* steps)."""
    if state_step > total:
        raise TrainerError(
            f"{Path(directory) / CHECKPOINT_DIR / STATE}: 'step' is {state_step}, past this "
            f"run's {total} steps (use another output_dir, or a larger max_steps or epochs)"
        )


# -- what a training run saves, and when it may resume ----------------------------------------

# Settings that fix which prompts, samples and updates a step makes: a checkpoint resumes
# only under the same values (the others, e.g. epochs or log_every, may change).
TRAJECTORY_FIELDS = (
    "algorithm",
    "seed",
    "batch_size",
    "group_size",
    "grad_accum_steps",
    "peft_config",
)
# max_turns and the tool limits change what a step samples but not which examples it
# takes, so a change of them warns like learning_rate does.


def training_modules(model: nn.Module, value_head: nn.Module | None) -> dict[str, nn.Module]:
    """The modules a run saves: the policy as ``model``, PPO's critic as ``value_head``."""
    return {"model": model} if value_head is None else {"model": model, "value_head": value_head}


def trainer_state(cfg: TorchTrainConfig, step: int, reward_name: str) -> dict[str, Any]:
    """The JSON trainer state of a checkpoint at *step*: the RNG scheme, config and reward."""
    return {
        "step": step,
        "rng": {"seed": cfg.seed, "scheme": SEED_SCHEME},
        "config": config_dict(cfg),
        "reward": reward_name,
    }


# Settings of how a run is started or shown, not of what it trains: never worth a warning.
UNCOMPARED_FIELDS = ("resume", "output_dir", "log_every", "save_final", "report_to")


def check_resumable(saved: dict[str, Any], cfg: TorchTrainConfig, out_dir: Path) -> None:
    """Raise when a :data:`TRAJECTORY_FIELDS` setting differs from the checkpoint's *saved*
    config, naming each; warn of the other settings that changed, which apply from the
    checkpoint's step on (every step reads them from the config, and
    :func:`~orbiter.train.torch.schedule.apply_settings` gives the restored optimizer
    this run's rate and weight decay)."""
    current = config_dict(cfg)
    saved = dict(saved)
    if isinstance(saved.get("algorithm"), str):  # written before the shared spelling
        saved["algorithm"] = ALGORITHM_ALIASES.get(saved["algorithm"], saved["algorithm"])
    changed = [
        f"{key}: checkpoint {saved[key]!r}, now {current[key]!r}"
        for key in TRAJECTORY_FIELDS
        if key in saved and saved[key] != current[key]
    ]
    if changed:
        raise TrainerError(
            f"cannot resume the checkpoint in {str(out_dir)!r} with a different "
            f"{'; '.join(changed)} (use another output_dir to start afresh)"
        )
    others = sorted(
        key
        for key, value in saved.items()
        if key not in TRAJECTORY_FIELDS + UNCOMPARED_FIELDS
        and key in current
        and current[key] != value
    )
    if others:
        logger.warning(
            "resuming %s with changed settings, applied from here on: %s",
            out_dir,
            "; ".join(f"{k}: checkpoint {saved[k]!r}, now {current[k]!r}" for k in others),
        )


def config_dict(cfg: TorchTrainConfig) -> dict[str, Any]:
    """The config as JSON: every field, and the entries of ``extra`` that JSON can hold."""
    out = asdict(dataclasses.replace(cfg, peft_config=None))
    out["peft_config"] = peft_config_dict(cfg.peft_config)
    out["extra"] = {k: v for k, v in cfg.extra.items() if _jsonable(v)}
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
