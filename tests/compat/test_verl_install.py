"""``train()`` checks that verl can run before it writes anything: the original package's
up-front "VeRL is required ... pip install" error, now naming what is missing."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import orbiter.train
from orbiter.train import TrainerError, TrainerState
from orbiter.train.verl import VeRLTrainer, process
from orbiter.train.verl.process import VeRLNotInstalledError, check_verl_install

ROOT = Path(__file__).parents[2]

NO_VERL = """
import asyncio, os, sys
sys.modules["verl"] = None  # as if verl were not installed
from orbiter.train.verl import VeRLTrainer
from orbiter.train import TrainerError

async def main(method):
    t = VeRLTrainer()
    t.check_agent("agent")
    t.check_dataset([{"input": "q1"}])
    t.check_reward(None)
    t.check_config(None)
    t.mark_validated()
    try:
        await (t.train() if method == "train" else t.evaluate())
    except TrainerError as err:
        print(type(err).__name__, isinstance(err, ImportError), t.state.value)
        print(err)
    print("written:", sorted(os.listdir(".")))

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.parametrize("method", ["train", "evaluate"])
def test_without_verl_the_run_fails_up_front_and_writes_nothing(
    tmp_path: Path, method: str
) -> None:
    # ROOT for the tests package; orbiter itself as this process imports it (the source
    # tree under development, the installed wheel under scripts/test.sh)
    paths = [str(ROOT), str(Path(orbiter.train.__file__).resolve().parents[2])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    out = subprocess.run(
        [sys.executable, "-c", NO_VERL, method],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    expected_state = "failed" if method == "train" else "validated"
    assert lines[0] == f"VeRLNotInstalledError True {expected_state}"
    assert "VeRL is required for VeRLTrainer: verl is not installed" in lines[1]
    assert "pip install 'orbiter-train[verl]'" in lines[1]
    assert lines[-1] == "written: []"  # no ./orbiter-verl-output
    assert not (tmp_path / "orbiter-verl-output").exists()


def _verl_present(monkeypatch: pytest.MonkeyPatch, requires: list[str]) -> None:
    stand_in = types.ModuleType("verl")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("verl", None)
    monkeypatch.setitem(sys.modules, "verl", stand_in)
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: requires)


def test_missing_runtime_requirements_of_verl_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _verl_present(
        monkeypatch,
        [
            "numpy",
            "orbiter-no-such-dist-a>=1",
            "pytest; extra == 'test'",
            "orbiter-no-such-c; sys_platform == 'no-such-platform'",
            "orbiter_no_such_b; python_version >= '3'",
        ],
    )
    with pytest.raises(ImportError, match="VeRL is required") as info:
        check_verl_install("vllm")
    message = str(info.value)
    assert "missing: orbiter-no-such-dist-a, orbiter_no_such_b (" in message
    assert "numpy" not in message and "pytest" not in message  # installed; an extra
    assert "orbiter-no-such-c" not in message  # not for this platform
    assert "pip install 'orbiter-train[verl]'" in message


def test_a_missing_rollout_engine_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _verl_present(monkeypatch, ["numpy"])
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(VeRLNotInstalledError, match="rollout engine 'vllm'") as info:
        check_verl_install("vllm")
    assert "pip install 'verl[vllm]'" in str(info.value)
    monkeypatch.setitem(sys.modules, "sglang", types.ModuleType("sglang"))
    check_verl_install("sglang")  # present (a module without a spec counts)
    check_verl_install("some_new_engine")  # unknown to us: left to verl


async def test_train_checks_the_install_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _verl_present(monkeypatch, ["numpy"])
    monkeypatch.setitem(sys.modules, "vllm", None)
    trainer = VeRLTrainer()
    trainer.check_agent("org/model")
    trainer.check_dataset([{"input": "q", "answer": "a"}])
    trainer.check_config({"output_dir": str(tmp_path / "out")})
    trainer.mark_validated()
    with pytest.raises(TrainerError, match=r"VeRL is required.*'vllm'"):
        await trainer.train()
    assert trainer.state is TrainerState.FAILED
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "extra",
    [{"dry_run": True}, {"verl_entry": str(Path(__file__).parents[1] / "fake_verl_main.py")}],
    ids=["dry_run", "verl_entry"],
)
async def test_a_dry_run_or_own_entry_point_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
) -> None:
    def fail(engine: str) -> None:
        raise AssertionError("checked")

    monkeypatch.setattr(process, "check_verl_install", fail)
    monkeypatch.setattr("orbiter.train.verl.trainer.check_verl_install", fail)
    trainer = VeRLTrainer()
    trainer.check_agent("org/model")
    trainer.check_dataset([{"input": "q", "answer": "a"}])
    env = {"FAKE_VERL_STEPS": "1"}
    trainer.check_config({"output_dir": str(tmp_path / "out"), "env": env, **extra})
    trainer.mark_validated()
    await trainer.train()
    assert trainer.state is TrainerState.COMPLETED
