"""The runnable examples under examples/ run end to end (on the CPU, in a subprocess, as a
user runs them), with fewer steps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_own_model_example(tmp_path: Path) -> None:
    for module in ("torch", "transformers", "peft", "datasets"):
        pytest.importorskip(module)
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "own_model.py"), "--warmup-steps", "20",
         "--steps", "3", "--output-dir", str(out)],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 3
    assert 0.0 <= summary["pass@1"] <= summary["pass@4"] <= 1.0
    assert summary["exported_adapter_parameters"] > 0
    assert (out / "final" / "adapter_model.safetensors").is_file()
    assert (out / "final" / "tokenizer.json").is_file()


def test_agent_transformers_example(tmp_path: Path) -> None:
    for module in ("torch", "transformers"):
        pytest.importorskip(module)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_transformers.py"), "--steps", "2",
         "--output-dir", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2
    assert 1.0 <= summary["turns"] <= 2.0 and summary["trajectory_len"] > 0
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
