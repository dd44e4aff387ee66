"""Checkpoints: safetensors weights and optimizer state plus a JSON trainer state.

Every file is written to a temporary name in the same directory, fsynced, then renamed
over the old one, so a crash mid-write leaves the previous checkpoint intact. Loading
never unpickles: tensors come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "trainer_state.json"
CHECKPOINT_DIR = "checkpoint"


def _atomic_write(path: Path, write: Any) -> None:
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


def save_checkpoint(
    directory: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
) -> Path:
    """Write weights, optimizer state and *trainer_state* (JSON-able) atomically."""
    root = Path(directory) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_plain = _optimizer_tensors(optimizer)
    # Weights and optimizer first, the JSON last: the JSON names the step, so a reader
    # never sees a step whose tensors were not written yet.
    _atomic_write(root / WEIGHTS, lambda p: save_file(weights, p))
    _atomic_write(root / OPTIMIZER, lambda p: save_file(opt_tensors, p))
    state = dict(trainer_state, optimizer=opt_plain)

    def write_json(p: str) -> None:
        Path(p).write_text(json.dumps(state, indent=2, sort_keys=True))

    _atomic_write(root / STATE, write_json)
    return root


def has_checkpoint(directory: str | Path) -> bool:
    return bool(directory) and (Path(directory) / CHECKPOINT_DIR / STATE).is_file()


def load_checkpoint(
    directory: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
) -> dict[str, Any]:
    """Restore *model* (and *optimizer*) in place; return the JSON trainer state."""
    root = Path(directory) / CHECKPOINT_DIR
    state: dict[str, Any] = json.loads((root / STATE).read_text())
    device = next(model.parameters()).device
    model.load_state_dict(load_file(root / WEIGHTS, device=str(device)))
    opt_plain = state.pop("optimizer")
    if optimizer is not None:
        tensors = load_file(root / OPTIMIZER, device=str(device))
        entries: dict[int, dict[str, Any]] = {}
        for pid, plain in opt_plain["state"].items():
            entries[int(pid)] = dict(plain)
        for name, tensor in tensors.items():
            pid, key = name.split(".", 1)
            entries.setdefault(int(pid), {})[key] = tensor
        optimizer.load_state_dict({"state": entries, "param_groups": opt_plain["param_groups"]})
    return state
