"""TorchTrainer under ``torchrun --nproc_per_node=2`` on the CPU (gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize(("algorithm", "port"), [("grpo", 29533), ("ppo", 29534)])
def test_two_process_ddp_run(tmp_path: Path, algorithm: str, port: int) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={port}",
            str(WORKER),
            str(tmp_path),
            algorithm,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["steps"] == 3 and r["state"] == "completed" for r in ranks)
    # DDP averages gradients (the PPO critic's by hand): both replicas end with the same
    # weights.
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-6)
    # Rank 0 alone writes metrics and checkpoints.
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [1, 2, 3]
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()
