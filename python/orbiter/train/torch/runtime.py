"""Where a run executes: the device, the DDP process group, per-step seeds and autocast."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from orbiter.train.errors import TrainerError

# Metrics that add up over ranks (the others are averaged).
SUMMED_METRICS = frozenset({"tokens_per_s"})

# Written into every checkpoint, so that a reader knows how the draws of a step were seeded.
SEED_SCHEME = "per-step: seed*1000003 + step*7919 + rank*104729"


def seed_for(seed: int, step: int, rank: int) -> int:
    """``(seed * 1000003 + step * 7919 + rank * 104729) mod (2^63 - 1)``.

    Every random draw of a step derives from (seed, step, rank), so a resumed run replays
    exactly the draws an uninterrupted one makes.
    """
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when present; a CUDA device without an index is this rank's GPU
    (``LOCAL_RANK`` under ``torchrun``), so ranks never share GPU 0 by accident."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise TrainerError(f"config.device = {name!r} is not a torch device: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainerError(f"config.device = {name!r} but CUDA is not available")
        if device.index is None:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local % torch.cuda.device_count())
    return device


@dataclass(slots=True)
class Distributed:
    """This process's place in the run: one rank of ``world`` (1 without ``torchrun``)."""

    world: int = 1
    rank: int = 0
    owns_group: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Metrics averaged over ranks (throughputs summed), on the device the process group
        serves (NCCL only reduces CUDA tensors)."""
        if self.world == 1 or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return {
            k: float(v) if k in SUMMED_METRICS else float(v) / self.world
            for k, v in zip(keys, t.tolist(), strict=True)
        }

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """``grad = sum over ranks of grad / world`` for parameters outside the DDP wrapper."""
        if self.world == 1:
            return
        for p in params:
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad /= self.world

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the loss differentiates: *model* itself, or under DDP its wrapper."""
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )

    def close(self) -> None:
        """Destroy the process group when this run started it."""
        if self.owns_group:
            torch.distributed.destroy_process_group()


def distributed_from_env(device: torch.device) -> Distributed:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1), NCCL on CUDA and
    gloo on the CPU; one process alone is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    dist = torch.distributed
    owns = False
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL starts: one GPU per rank
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Distributed(
        world=dist.get_world_size(), rank=dist.get_rank(), owns_group=owns, device=device
    )


def autocast_for(dtype: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA by default (``"auto"``); on the CPU only when asked for."""
    if dtype == "bfloat16" or (dtype == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
