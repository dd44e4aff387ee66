"""The torch trainer: RL fine-tuning of causal LMs on the Rust scoring core.

Importing this module imports torch; ``import orbiter.train`` alone never does.
"""

from __future__ import annotations

from orbiter.train.torch.agent import PolicyAgent
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.export import export, load_exported
from orbiter.train.torch.model import TinyCausalLM, TinyConfig
from orbiter.train.torch.task import arithmetic_task
from orbiter.train.torch.tokenizer import ByteTokenizer
from orbiter.train.torch.trainer import TorchTrainer

__all__ = [
    "ByteTokenizer",
    "PolicyAgent",
    "TinyCausalLM",
    "TinyConfig",
    "TorchTrainConfig",
    "TorchTrainer",
    "arithmetic_task",
    "export",
    "load_exported",
]
