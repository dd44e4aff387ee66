"""Checkpoints a user can trust (issue 14, items 4, 5, 11, 12): the model config is saved
with the weights it fits, a damaged or tampered checkpoint is a named error, a symlinked
``checkpoint/`` is refused before anything is written, and evaluation checks the context."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from orbiter.train.cli import main
from orbiter.train.torch import arithmetic_task
from orbiter.train.torch.checkpoint import CHECKPOINT_DIR, STATE

MODEL = "d_model = 16\nn_layers = 1\nn_heads = 2\n"


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(tmp: Path, run: Path, model: str = MODEL, steps: int = 2) -> Path:
    train, _ = arithmetic_task(16, 4, max_operand=9, seed=0)
    path = tmp / f"run-{steps}-{len(model)}.toml"
    path.write_text(
        f"""
[trainer]
algorithm = "grpo"
batch_size = 2
group_size = 2
max_new_tokens = 2
max_steps = {steps}
device = "cpu"
output_dir = "{run}"
[data]
train = "{write_jsonl(tmp / "train.jsonl", train)}"
[model]
{model}"""
    )
    return path


def test_a_failed_resume_leaves_a_directory_eval_still_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """model_config.json is written with the checkpoint: a resume with another [model] size
    fails, and the directory still evaluates with the model its weights fit."""
    run = tmp_path / "run"
    _, test = arithmetic_task(16, 4, max_operand=9, seed=0)
    data = write_jsonl(tmp_path / "test.jsonl", test)
    assert main(["train", str(config(tmp_path, run))]) == 0
    saved = json.loads((run / CHECKPOINT_DIR / "model_config.json").read_text())
    assert (saved["d_model"], saved["n_heads"]) == (16, 2)
    assert not (run / "model_config.json").exists()  # nothing written before training
    bigger = config(tmp_path, run, "d_model = 32\nn_layers = 1\nn_heads = 2\n", steps=4)
    capsys.readouterr()
    assert main(["train", str(bigger)]) == 2
    assert "does not fit the model" in capsys.readouterr().err
    assert main(["eval", str(run), str(data), "--max-new-tokens", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == len(test)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (10**9, r"'step' is 1000000000, past this run's 4 steps"),
        (2.7, r"'step' must be an int >= 0, got 2.7"),
        (True, r"'step' must be an int >= 0, got True"),
        (-1, r"'step' must be an int >= 0"),
    ],
)
def test_a_tampered_step_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: object, message: str
) -> None:
    run = tmp_path / "run"
    assert main(["train", str(config(tmp_path, run))]) == 0
    state_file = run / CHECKPOINT_DIR / STATE
    state = json.loads(state_file.read_text())
    state["step"] = step
    state_file.write_text(json.dumps(state))
    capsys.readouterr()
    assert main(["train", str(config(tmp_path, run, steps=4))]) == 2
    err = capsys.readouterr().err
    assert STATE in err
    assert re.search(message, err), err


def test_damaged_weights_are_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    _, test = arithmetic_task(16, 4, max_operand=9, seed=0)
    assert main(["train", str(config(tmp_path, run))]) == 0
    data = write_jsonl(tmp_path / "t.jsonl", test)
    # eval reads the run's final/ export, and without one its checkpoint
    for folder in ("final", CHECKPOINT_DIR):
        weights = run / folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])  # truncated
        capsys.readouterr()
        assert main(["eval", str(run), str(data)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("orbiter-train: error: cannot read") and str(weights) in err
        shutil.rmtree(run / "final", ignore_errors=True)


def test_a_symlinked_checkpoint_dir_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (run / CHECKPOINT_DIR).symlink_to(tmp_path / "elsewhere")
    assert main(["train", str(config(tmp_path, run))]) == 2
    assert "is a symlink" in capsys.readouterr().err
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_eval_checks_the_model_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    _, test = arithmetic_task(16, 4, max_operand=9, seed=0)
    assert main(["train", str(config(tmp_path, run))]) == 0
    capsys.readouterr()
    data = str(write_jsonl(tmp_path / "t.jsonl", test))
    assert main(["eval", str(run), data, "--max-new-tokens", "100000"]) == 2
    err = capsys.readouterr().err
    assert "test_data[" in err and "exceeds the model's 256 positions" in err
