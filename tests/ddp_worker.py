"""A two-process DDP run of TorchTrainer, started by tests/test_torch_ddp.py under torchrun."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import torch

from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM, TorchTrainer
from orbiter.train.torch.task import arithmetic_task


def length_reward(output: str, expected: str) -> float:
    """Dense and different on every rank's shard, so unsynchronised replicas would drift."""
    return len(output) / 3.0


def main(output_dir: str, algorithm: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)  # identical initial weights on every rank, as DDP expects
    train, test = arithmetic_task(32, 8, max_operand=9, seed=0)
    trainer = TorchTrainer()
    trainer.check_config(
        {
            "algorithm": algorithm,
            # 3 prompts on 2 ranks: the batch is topped up to 4 so that both ranks run the
            # same number of micro-batches (2, with grad_accum_steps=2) in lockstep.
            "batch_size": 3,
            "grad_accum_steps": 2,
            "group_size": 2,
            "max_new_tokens": 3,
            "max_steps": 3,
            "learning_rate": 1e-3,
            "device": "cpu",
            "output_dir": output_dir,
            "checkpoint_every": 0,
        }
    )
    trainer.check_agent(
        PolicyAgent(TinyCausalLM(d_model=16, n_layers=1, n_heads=2), ByteTokenizer())
    )
    trainer.check_dataset(train, test)
    trainer.check_reward(length_reward)
    trainer.mark_validated()
    metrics = asyncio.run(trainer.train())
    assert trainer._agent is not None
    params = list(trainer._agent.model.parameters())
    if trainer.value_head is not None:
        params += list(trainer.value_head.parameters())
    checksum = float(sum(p.double().sum() for p in params))
    rank = os.environ["RANK"]
    with open(os.path.join(output_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"steps": metrics.steps, "checksum": checksum, "state": trainer.state}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
